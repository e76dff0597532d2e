//! Problem categories as versioned data (`data/categories.toml`): classes,
//! subclasses with their filing conditions and time limits, and the nine
//! campaigns each category counts toward (PRODUCT.md M3).

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::calendar::{Clock, TimeLimit};

/// One of the speech's nine campaigns (九场攻坚战).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    /// English code.
    pub code: String,
    /// Chinese name.
    pub name: String,
}

/// A class (大类) of GB/T 47678.5.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Class {
    /// Two digits.
    pub code: String,
    /// Chinese name.
    pub name: String,
}

/// A filing condition (立案条件): when a problem is filed, how long the unit
/// has, and when it counts as fixed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// What is found, e.g. 成堆成片垃圾.
    pub name: String,
    /// The time limit's amount.
    pub limit: u32,
    /// The time limit's clock.
    pub clock: Clock,
    /// The closing condition (结案条件), e.g. 清除.
    pub closing: String,
    /// Where the limit comes from.
    pub source: String,
}

impl Condition {
    /// The time limit.
    pub fn time_limit(&self) -> TimeLimit {
        TimeLimit::new(self.limit, self.clock)
    }
}

/// A subclass (小类): the category a case is filed under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// Five digits: class + subclass.
    pub code: String,
    /// Chinese name.
    pub name: String,
    /// GB/T 30428.2 / CJ/T 214 code, where one is known.
    #[serde(default)]
    pub old_code: Option<String>,
    /// Campaign code.
    pub campaign: String,
    /// Filing conditions, at least one.
    #[serde(rename = "condition")]
    pub conditions: Vec<Condition>,
}

impl Category {
    /// The class code (first two digits).
    pub fn class(&self) -> &str {
        &self.code[..2]
    }
}

/// A whole version of the category table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryTable {
    /// Version label, kept with every case filed under it.
    pub version: String,
    /// The standard the codes follow.
    pub standard: String,
    /// The nine campaigns.
    #[serde(rename = "campaign")]
    pub campaigns: Vec<Campaign>,
    /// Classes.
    #[serde(rename = "class")]
    pub classes: Vec<Class>,
    /// Subclasses.
    #[serde(rename = "category")]
    pub categories: Vec<Category>,
}

impl CategoryTable {
    /// Parses and checks a table: every problem is named.
    pub fn parse(text: &str) -> Result<CategoryTable, String> {
        let table: CategoryTable = toml::from_str(text).map_err(|e| format!("分类表格式有误：{}", e.message()))?;
        table.check()?;
        Ok(table)
    }

    fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for c in &self.categories {
            if c.code.len() != 5 || !c.code.bytes().all(|b| b.is_ascii_digit()) {
                problems.push(format!("分类编码“{}”应为 5 位数字", c.code));
                continue;
            }
            if !seen.insert(c.code.as_str()) {
                problems.push(format!("分类编码“{}”重复", c.code));
            }
            if !self.classes.iter().any(|k| k.code == c.class()) {
                problems.push(format!("分类“{}”的大类 {} 不存在", c.name, c.class()));
            }
            if !self.campaigns.iter().any(|k| k.code == c.campaign) {
                problems.push(format!("分类“{}”的攻坚战“{}”不存在", c.name, c.campaign));
            }
            if c.conditions.is_empty() {
                problems.push(format!("分类“{}”没有立案条件", c.name));
            }
            if c.conditions.iter().any(|k| k.limit == 0) {
                problems.push(format!("分类“{}”有时限为 0 的立案条件", c.name));
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(problems.join("；")) }
    }

    /// The category with this code.
    pub fn category(&self, code: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.code == code)
    }

    /// The campaign with this code.
    pub fn campaign(&self, code: &str) -> Option<&Campaign> {
        self.campaigns.iter().find(|c| c.code == code)
    }
}

/// The table shipped with the binary, as text (a district's starting point).
pub const SHIPPED: &str = include_str!("../../data/categories.toml");

/// The shipped table, shared: requests take a reference count, not a copy.
pub fn shipped_arc() -> std::sync::Arc<CategoryTable> {
    static TABLE: OnceLock<std::sync::Arc<CategoryTable>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            std::sync::Arc::new(CategoryTable::parse(SHIPPED).expect("data/categories.toml is checked by a test"))
        })
        .clone()
}

/// The table shipped with the binary (the same one `shipped_arc` shares).
pub fn shipped() -> &'static CategoryTable {
    static TABLE: OnceLock<std::sync::Arc<CategoryTable>> = OnceLock::new();
    TABLE.get_or_init(shipped_arc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_checks_out_and_has_every_class_the_issue_names() {
        let table = shipped();
        for class in ["06", "07", "08", "09", "10"] {
            assert!(table.categories.iter().any(|c| c.class() == class), "class {class}");
        }
        assert!(table.categories.iter().any(|c| c.class() < "06"), "component faults");
        assert_eq!(table.campaigns.len(), 9, "the nine campaigns");
    }

    #[test]
    fn old_codes_follow_the_mapping_rule() {
        // GB/T 47678.5 matter = old event class + 5, subclass zero-padded (01-10 → 06010).
        for c in shipped().categories.iter() {
            if let Some(old) = &c.old_code {
                let (class, sub) = old.split_once('-').unwrap();
                let expected = format!("{:02}{:03}", class.parse::<u32>().unwrap() + 5, sub.parse::<u32>().unwrap());
                assert_eq!(c.code, expected, "{}", c.name);
            }
        }
    }

    #[test]
    fn the_published_examples_are_in_the_table() {
        let table = shipped();
        let limit = |code: &str, i: usize| table.category(code).unwrap().conditions[i].time_limit();
        assert_eq!(limit("06010", 0), TimeLimit::new(1, Clock::WorkingDays), "暴露垃圾");
        assert_eq!(limit("06012", 0), TimeLimit::new(2, Clock::WorkingHours), "道路不洁");
        assert_eq!(limit("06001", 1), TimeLimit::new(15, Clock::WorkingDays), "违法搭建 拆除");
        assert_eq!(table.category("09006").unwrap().campaign, "city_appearance", "占道经营");
        assert_eq!(table.category("09009").unwrap().campaign, "traffic_order", "机动车乱停放");
    }

    #[test]
    fn a_bad_table_names_every_problem() {
        let text = r#"
            version = "x"
            standard = "x"
            [[campaign]]
            code = "a"
            name = "甲"
            [[class]]
            code = "06"
            name = "市容环境类"
            [[category]]
            code = "0601"
            name = "短码"
            campaign = "a"
            [[category.condition]]
            name = "x"
            limit = 1
            clock = "working_days"
            closing = "x"
            source = "x"
            [[category]]
            code = "07001"
            name = "无大类"
            campaign = "b"
            condition = []
        "#;
        let err = CategoryTable::parse(text).unwrap_err();
        for expected in ["5 位数字", "大类 07 不存在", "攻坚战“b”不存在", "没有立案条件"] {
            assert!(err.contains(expected), "{err}");
        }
    }
}
