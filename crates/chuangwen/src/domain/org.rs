//! The organisation (PRODUCT.md M1): kinds of unit and the roles people hold.

use serde::{Deserialize, Serialize};

/// What a unit is. The tree runs district → street/town → community/village;
/// departments and other units hang under the district.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// 区 (the root).
    District,
    /// 街道.
    Street,
    /// 镇.
    Town,
    /// 社区.
    Community,
    /// 村.
    Village,
    /// 职能部门 (城管, 交通, 市场监管…).
    Department,
    /// 学校.
    School,
    /// 医院.
    Hospital,
    /// 市场 (a market operator).
    Market,
    /// 企业 (property companies, utilities…).
    Enterprise,
    /// 其他单位.
    Other,
}

impl UnitKind {
    /// Every kind, in display order.
    pub const ALL: [UnitKind; 11] = [
        UnitKind::District,
        UnitKind::Street,
        UnitKind::Town,
        UnitKind::Community,
        UnitKind::Village,
        UnitKind::Department,
        UnitKind::School,
        UnitKind::Hospital,
        UnitKind::Market,
        UnitKind::Enterprise,
        UnitKind::Other,
    ];

    /// The code stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            UnitKind::District => "district",
            UnitKind::Street => "street",
            UnitKind::Town => "town",
            UnitKind::Community => "community",
            UnitKind::Village => "village",
            UnitKind::Department => "department",
            UnitKind::School => "school",
            UnitKind::Hospital => "hospital",
            UnitKind::Market => "market",
            UnitKind::Enterprise => "enterprise",
            UnitKind::Other => "other",
        }
    }

    /// The Chinese name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            UnitKind::District => "区",
            UnitKind::Street => "街道",
            UnitKind::Town => "镇",
            UnitKind::Community => "社区",
            UnitKind::Village => "村",
            UnitKind::Department => "职能部门",
            UnitKind::School => "学校",
            UnitKind::Hospital => "医院",
            UnitKind::Market => "市场",
            UnitKind::Enterprise => "企业",
            UnitKind::Other => "其他单位",
        }
    }

    /// Parses the stored code.
    pub fn from_code(code: &str) -> Option<UnitKind> {
        UnitKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Streets and towns own territory (属地) below the district.
    pub fn is_street_level(self) -> bool {
        matches!(self, UnitKind::Street | UnitKind::Town)
    }

    /// Communities and villages own grids.
    pub fn is_community_level(self) -> bool {
        matches!(self, UnitKind::Community | UnitKind::Village)
    }
}

/// A role a user holds (PRODUCT.md M1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 系统管理员.
    Admin,
    /// 创文办.
    Office,
    /// 督察组.
    Inspector,
    /// 双创监督员 / 文明交通劝导员.
    Supervisor,
    /// 责任单位经办人.
    Handler,
    /// 责任单位负责人 (receives supervision orders).
    UnitLead,
    /// 区领导.
    Leader,
    /// 第三方测评人员.
    Evaluator,
    /// 志愿者.
    Volunteer,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 9] = [
        Role::Admin,
        Role::Office,
        Role::Inspector,
        Role::Supervisor,
        Role::Handler,
        Role::UnitLead,
        Role::Leader,
        Role::Evaluator,
        Role::Volunteer,
    ];

    /// The code stored in the database and used on the command line.
    pub fn code(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Office => "office",
            Role::Inspector => "inspector",
            Role::Supervisor => "supervisor",
            Role::Handler => "handler",
            Role::UnitLead => "unit_lead",
            Role::Leader => "leader",
            Role::Evaluator => "evaluator",
            Role::Volunteer => "volunteer",
        }
    }

    /// The Chinese name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "系统管理员",
            Role::Office => "创文办",
            Role::Inspector => "督察组",
            Role::Supervisor => "监督员",
            Role::Handler => "责任单位经办人",
            Role::UnitLead => "责任单位负责人",
            Role::Leader => "区领导",
            Role::Evaluator => "第三方测评",
            Role::Volunteer => "志愿者",
        }
    }

    /// Parses a code or a Chinese name.
    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == raw || r.label() == raw)
    }

    /// Roles whose data scope is the whole district, not their unit's subtree.
    pub fn is_district_wide(self) -> bool {
        matches!(self, Role::Admin | Role::Office | Role::Inspector | Role::Leader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_kind_and_role_round_trips_through_its_code() {
        for kind in UnitKind::ALL {
            assert_eq!(UnitKind::from_code(kind.code()), Some(kind));
        }
        for role in Role::ALL {
            assert_eq!(Role::parse(role.code()), Some(role));
            assert_eq!(Role::parse(role.label()), Some(role));
        }
    }

    #[test]
    fn only_office_inspector_leader_and_admin_see_the_whole_district() {
        let wide: Vec<_> = Role::ALL.into_iter().filter(|r| r.is_district_wide()).collect();
        assert_eq!(wide, vec![Role::Admin, Role::Office, Role::Inspector, Role::Leader]);
    }
}
