//! Which unit a case goes to (PRODUCT.md M3): the rule table first, at the
//! most specific place it names (point, grid, street), then the point's
//! responsible unit, then the category's department, then the street that
//! owns the place (属地). The office sees the reason and may override.

use serde::{Deserialize, Serialize};

/// Where a rule applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceKind {
    /// One evaluation point.
    Point,
    /// One grid cell.
    Grid,
    /// One street or town.
    Street,
    /// Anywhere: the category's department.
    Category,
}

impl PlaceKind {
    /// Stored code.
    pub fn code(self) -> &'static str {
        match self {
            PlaceKind::Point => "point",
            PlaceKind::Grid => "grid",
            PlaceKind::Street => "street",
            PlaceKind::Category => "category",
        }
    }
    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<PlaceKind> {
        [PlaceKind::Point, PlaceKind::Grid, PlaceKind::Street, PlaceKind::Category]
            .into_iter()
            .find(|k| k.code() == code)
    }
}

/// A row of the rule table: category × place → unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Category code, or `*` for any.
    pub category_code: String,
    /// Kind of place.
    pub place_kind: PlaceKind,
    /// The place (absent for `Category`).
    pub place_id: Option<i64>,
    /// The unit.
    pub unit_id: i64,
}

/// What the rules need to know about a case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// Category code.
    pub category_code: String,
    /// Evaluation point.
    pub point_id: Option<i64>,
    /// The point's responsible unit.
    pub point_unit_id: Option<i64>,
    /// Grid cell.
    pub grid_id: Option<i64>,
    /// Street.
    pub street_id: Option<i64>,
}

/// Why a unit is suggested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A rule for this category at this point.
    PointRule,
    /// A rule for this category in this grid cell.
    GridRule,
    /// A rule for this category in this street.
    StreetRule,
    /// The point's responsible unit.
    PointUnit,
    /// The category's department.
    CategoryDepartment,
    /// The street that owns the place (属地).
    Territory,
}

impl Reason {
    /// Chinese explanation shown to the office.
    pub fn label(self) -> &'static str {
        match self {
            Reason::PointRule => "派遣规则：该点位的此类问题",
            Reason::GridRule => "派遣规则：该网格的此类问题",
            Reason::StreetRule => "派遣规则：该街道的此类问题",
            Reason::PointUnit => "点位责任单位",
            Reason::CategoryDepartment => "问题分类的主管部门",
            Reason::Territory => "属地街道（镇）",
        }
    }
}

/// The suggested unit and why, if any rule or place gives one.
pub fn suggest(rules: &[Rule], place: &Place) -> Option<(i64, Reason)> {
    let rule = |kind: PlaceKind, id: Option<i64>| {
        // A rule for the exact category beats a rule for any category.
        [place.category_code.as_str(), "*"].into_iter().find_map(|category| {
            rules
                .iter()
                .find(|r| r.category_code == category && r.place_kind == kind && r.place_id == id)
                .map(|r| r.unit_id)
        })
    };
    let at = |kind: PlaceKind, id: Option<i64>| id.and_then(|id| rule(kind, Some(id)));
    at(PlaceKind::Point, place.point_id)
        .map(|u| (u, Reason::PointRule))
        .or_else(|| at(PlaceKind::Grid, place.grid_id).map(|u| (u, Reason::GridRule)))
        .or_else(|| at(PlaceKind::Street, place.street_id).map(|u| (u, Reason::StreetRule)))
        .or_else(|| place.point_unit_id.map(|u| (u, Reason::PointUnit)))
        .or_else(|| rule(PlaceKind::Category, None).map(|u| (u, Reason::CategoryDepartment)))
        .or_else(|| place.street_id.map(|u| (u, Reason::Territory)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(category: &str, kind: PlaceKind, place: Option<i64>, unit: i64) -> Rule {
        Rule { category_code: category.into(), place_kind: kind, place_id: place, unit_id: unit }
    }

    fn place() -> Place {
        Place {
            category_code: "09009".into(),
            point_id: Some(1),
            point_unit_id: Some(50),
            grid_id: Some(2),
            street_id: Some(3),
        }
    }

    #[test]
    fn the_most_specific_rule_wins_then_the_point_then_the_department_then_the_street() {
        let rules = vec![
            rule("09009", PlaceKind::Category, None, 60),
            rule("09009", PlaceKind::Street, Some(3), 70),
            rule("09009", PlaceKind::Grid, Some(2), 80),
            rule("09009", PlaceKind::Point, Some(1), 90),
        ];
        assert_eq!(suggest(&rules, &place()), Some((90, Reason::PointRule)));
        assert_eq!(suggest(&rules[..3], &place()), Some((80, Reason::GridRule)));
        assert_eq!(suggest(&rules[..2], &place()), Some((70, Reason::StreetRule)));
        assert_eq!(suggest(&rules[..1], &place()), Some((50, Reason::PointUnit)));
        let no_point = Place { point_id: None, point_unit_id: None, ..place() };
        assert_eq!(suggest(&rules[..1], &no_point), Some((60, Reason::CategoryDepartment)));
        assert_eq!(suggest(&[], &no_point), Some((3, Reason::Territory)));
        assert_eq!(suggest(&[], &Place::default()), None);
    }

    #[test]
    fn a_rule_for_the_category_beats_a_rule_for_any_category_and_other_categories_do_not_match() {
        let rules = vec![rule("*", PlaceKind::Street, Some(3), 11), rule("09009", PlaceKind::Street, Some(3), 12)];
        let no_point = Place { point_id: None, point_unit_id: None, ..place() };
        assert_eq!(suggest(&rules, &no_point), Some((12, Reason::StreetRule)));
        let other = Place { category_code: "07001".into(), ..no_point.clone() };
        assert_eq!(suggest(&rules, &other), Some((11, Reason::StreetRule)));
        let only_other = vec![rule("06010", PlaceKind::Category, None, 13)];
        assert_eq!(suggest(&only_other, &no_point), Some((3, Reason::Territory)));
    }
}
