//! The evaluation system (测评体系) and the scoring of a round of evaluation
//! (PRODUCT.md M6): the indicator tree as versioned data, the checklists an
//! evaluator answers at each point type, drawing the points of a round, and
//! the score — per item, point, unit, street and indicator, and the
//! district's predicted total, with every lost point traced to the unit
//! responsible for the point where it was lost.
//!
//! The scoring rule, stated once (docs/EVALUATION.md says it for people):
//! - An item answered at a point loses its deduction: `pass` nothing; `fail`
//!   the rule's deduction (per occurrence, at most the cap; or the pass/fail
//!   deduction), never more than the item's weight; `serious` (严重不合格) the
//!   whole weight. Not answered, or not applicable, it is left out: it
//!   neither earns nor loses; the report counts the unanswered ones as
//!   missing.
//! - A field standard (实地考察) scores `points × (1 − Σ deductions ÷ Σ
//!   weights)` over every item answered for it at every point of the round.
//!   Each deduction's share of the lost points, `points × deduction ÷ Σ
//!   weights`, belongs to the point where it was found, and so to the point's
//!   responsible unit and street.
//! - A standard of another method scores what the office entered for the
//!   round, until its own module measures it. A standard with neither is
//!   unassessed.
//! - The predicted total is the sum of the assessed standards' scores; the
//!   report says how many of the system's points were measured, entered and
//!   unassessed, and projects the total as if the unassessed points scored at
//!   the assessed rate.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::rng::SeededRng;

/// How a standard is evaluated (测评方法).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// 实地考察: evaluators at sampled points.
    Field,
    /// 材料审核: archive materials.
    Materials,
    /// 问卷调查: household surveys.
    Survey,
    /// 网上申报: online submissions.
    Online,
    /// 部门评价: evaluations by higher departments.
    Department,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 5] = [Method::Field, Method::Materials, Method::Survey, Method::Online, Method::Department];

    /// Code used in files and the database.
    pub fn code(self) -> &'static str {
        match self {
            Method::Field => "field",
            Method::Materials => "materials",
            Method::Survey => "survey",
            Method::Online => "online",
            Method::Department => "department",
        }
    }

    /// Chinese name.
    pub fn label(self) -> &'static str {
        match self {
            Method::Field => "实地考察",
            Method::Materials => "材料审核",
            Method::Survey => "问卷调查",
            Method::Online => "网上申报",
            Method::Department => "部门评价",
        }
    }

    /// Reads a code or a Chinese name.
    pub fn parse(raw: &str) -> Option<Method> {
        let raw = raw.trim();
        Method::ALL.into_iter().find(|m| m.code() == raw || m.label() == raw)
    }
}

/// A 测评标准: the leaf of the tree, where points are won or lost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standard {
    /// Code, e.g. `02.01.01` (its content's code and its own number).
    pub code: String,
    /// What is required.
    pub text: String,
    /// Its points.
    pub points: f64,
    /// How it is evaluated.
    pub method: Method,
    /// The lead unit's code (牵头单位).
    pub lead: String,
    /// Co-units' codes (配合单位).
    #[serde(default)]
    pub co: Vec<String>,
}

/// A 测评内容.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Content {
    /// Code, e.g. `02.01`.
    pub code: String,
    /// Name.
    pub name: String,
    /// Its standards.
    #[serde(rename = "standard")]
    pub standards: Vec<Standard>,
}

/// A 测评项目.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// Code, e.g. `02`.
    pub code: String,
    /// Name.
    pub name: String,
    /// Its contents.
    #[serde(rename = "content")]
    pub contents: Vec<Content>,
}

/// How a failed checklist item loses points.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rule {
    /// `per` for each occurrence found, at most `cap`.
    PerOccurrence {
        /// Deduction per occurrence.
        per: f64,
        /// The most it deducts.
        cap: f64,
    },
    /// `fail` when failed, whatever the count.
    PassFail {
        /// Deduction when failed.
        fail: f64,
    },
}

/// An item of a checklist.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckItem {
    /// Code, unique in the system.
    pub code: String,
    /// What the evaluator checks.
    pub criterion: String,
    /// The field standard it scores.
    pub standard: String,
    /// The category of the case a failure raises.
    pub category: String,
    /// Its points at one point.
    pub weight: f64,
    /// How a failure deducts.
    pub rule: Rule,
}

/// The items answered at every point of one type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checklist {
    /// The point type's code (data/point_types.toml).
    pub point_type: String,
    /// Its items.
    #[serde(rename = "item")]
    pub items: Vec<CheckItem>,
}

/// A whole evaluation system of one year: the tree and the checklists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvaluationSystem {
    /// The year it applies to.
    pub year: i32,
    /// Version label, kept with every round scored under it.
    pub version: String,
    /// Title shown to people.
    pub title: String,
    /// The 测评项目.
    #[serde(rename = "project")]
    pub projects: Vec<Project>,
    /// The checklists per point type.
    #[serde(rename = "checklist", default)]
    pub checklists: Vec<Checklist>,
}

/// Largest allowed rounding difference between points.
const EPSILON: f64 = 1e-9;

impl EvaluationSystem {
    /// Parses and checks a system written as TOML: every problem is named.
    pub fn parse(text: &str) -> Result<EvaluationSystem, String> {
        let system: EvaluationSystem =
            toml::from_str(text).map_err(|e| format!("测评体系格式有误：{}", e.message()))?;
        let problems = system.problems();
        if problems.is_empty() { Ok(system) } else { Err(problems.join("；")) }
    }

    /// Everything wrong with the system on its own (codes, points, rules,
    /// references between checklists and standards).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut codes = HashSet::new();
        let mut seen = |code: &str, problems: &mut Vec<String>| {
            if !codes.insert(code.to_string()) {
                problems.push(format!("编码“{code}”重复"));
            }
        };
        if !(2000..=2100).contains(&self.year) {
            problems.push(format!("年度“{}”应为 2000～2100 年", self.year));
        }
        if self.version.trim().is_empty() || self.title.trim().is_empty() {
            problems.push("请填写测评体系的版本和名称".into());
        }
        if self.projects.is_empty() {
            problems.push("测评体系没有任何测评项目".into());
        }
        for p in &self.projects {
            seen(&p.code, &mut problems);
            if p.contents.is_empty() {
                problems.push(format!("测评项目“{}”没有测评内容", p.name));
            }
            for c in &p.contents {
                seen(&c.code, &mut problems);
                if !c.code.starts_with(&format!("{}.", p.code)) {
                    problems.push(format!("测评内容编码“{}”应以所属项目编码“{}.”开头", c.code, p.code));
                }
                if c.standards.is_empty() {
                    problems.push(format!("测评内容“{}”没有测评标准", c.name));
                }
                for s in &c.standards {
                    seen(&s.code, &mut problems);
                    if !s.code.starts_with(&format!("{}.", c.code)) {
                        problems.push(format!("测评标准编码“{}”应以所属内容编码“{}.”开头", s.code, c.code));
                    }
                    if !(s.points > 0.0 && s.points.is_finite()) {
                        problems.push(format!("测评标准“{}”的分值应大于 0", s.code));
                    }
                    if s.lead.trim().is_empty() {
                        problems.push(format!("测评标准“{}”没有牵头单位", s.code));
                    }
                }
            }
        }
        let mut types = HashSet::new();
        for list in &self.checklists {
            if !types.insert(list.point_type.as_str()) {
                problems.push(format!("点位类型“{}”的检查清单重复", list.point_type));
            }
            for item in &list.items {
                seen(&item.code, &mut problems);
                match self.standard(&item.standard) {
                    None => problems.push(format!("检查项“{}”对应的测评标准“{}”不存在", item.code, item.standard)),
                    Some(s) if s.method != Method::Field => problems.push(format!(
                        "检查项“{}”对应的测评标准“{}”不是实地考察（{}）",
                        item.code,
                        item.standard,
                        s.method.label()
                    )),
                    Some(_) => {}
                }
                if !(item.weight > 0.0 && item.weight.is_finite()) {
                    problems.push(format!("检查项“{}”的分值应大于 0", item.code));
                }
                let bad_rule = match item.rule {
                    Rule::PerOccurrence { per, cap } => !(per > 0.0 && cap > 0.0 && cap <= item.weight + EPSILON),
                    Rule::PassFail { fail } => !(fail > 0.0 && fail <= item.weight + EPSILON),
                };
                if bad_rule {
                    problems.push(format!("检查项“{}”的扣分规则应大于 0 且不超过其分值 {}", item.code, item.weight));
                }
            }
        }
        problems
    }

    /// Problems of the system in a district: unit codes, categories and
    /// point types it names that the district does not have.
    pub fn problems_in(
        &self,
        unit_codes: &HashSet<&str>,
        category_codes: &HashSet<&str>,
        point_types: &HashSet<&str>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        for s in self.standards() {
            for unit in std::iter::once(&s.lead).chain(&s.co) {
                if !unit_codes.contains(unit.as_str()) {
                    problems.push(format!("测评标准“{}”的责任单位编码“{unit}”在本区不存在", s.code));
                }
            }
        }
        for list in &self.checklists {
            if !point_types.contains(list.point_type.as_str()) {
                problems.push(format!("检查清单的点位类型“{}”不存在", list.point_type));
            }
            for item in &list.items {
                if !category_codes.contains(item.category.as_str()) {
                    problems.push(format!("检查项“{}”的问题分类“{}”不存在", item.code, item.category));
                }
            }
        }
        problems
    }

    /// Every standard, in the tree's order.
    pub fn standards(&self) -> impl Iterator<Item = &Standard> {
        self.projects.iter().flat_map(|p| p.contents.iter().flat_map(|c| c.standards.iter()))
    }

    /// The standard with this code.
    pub fn standard(&self, code: &str) -> Option<&Standard> {
        self.standards().find(|s| s.code == code)
    }

    /// The sum of every standard's points.
    pub fn total_points(&self) -> f64 {
        self.standards().map(|s| s.points).sum()
    }

    /// The checklist of a point type.
    pub fn checklist(&self, point_type: &str) -> Option<&Checklist> {
        self.checklists.iter().find(|c| c.point_type == point_type)
    }

    /// Every checklist item, by code.
    pub fn items(&self) -> impl Iterator<Item = &CheckItem> {
        self.checklists.iter().flat_map(|c| c.items.iter())
    }
}

/// The sample system shipped with the demo district, as text.
pub const SHIPPED: &str = include_str!("../../data/evaluation.toml");

/// The sample system, parsed (checked by a unit test).
pub fn shipped() -> &'static EvaluationSystem {
    static SYSTEM: OnceLock<EvaluationSystem> = OnceLock::new();
    SYSTEM.get_or_init(|| EvaluationSystem::parse(SHIPPED).expect("data/evaluation.toml is checked by a unit test"))
}

/// An evaluator's answer to one item at one point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Answer {
    /// 合格.
    Pass,
    /// 不合格, with how many occurrences were found (at least one).
    Fail {
        /// Occurrences found.
        occurrences: u32,
    },
    /// 严重不合格: the item's whole weight is lost.
    Serious,
    /// 不适用 at this point: left out.
    NotApplicable,
}

impl Answer {
    /// True when the answer raises a case.
    pub fn failed(self) -> bool {
        matches!(self, Answer::Fail { .. } | Answer::Serious)
    }
}

/// What an item loses with an answer, or `None` when it is left out (not
/// answered, or not applicable).
pub fn deduction(item: &CheckItem, answer: Option<Answer>) -> Option<f64> {
    let lost = match answer? {
        Answer::NotApplicable => return None,
        Answer::Pass => 0.0,
        Answer::Fail { occurrences } => match item.rule {
            Rule::PerOccurrence { per, cap } => (per * occurrences.max(1) as f64).min(cap),
            Rule::PassFail { fail } => fail,
        },
        Answer::Serious => item.weight,
    };
    Some(lost.min(item.weight))
}

/// The draw of a round: per point type, the points picked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draw<K> {
    /// Points drawn, by point type (ascending within a type).
    pub picked: BTreeMap<String, Vec<K>>,
    /// Types with fewer points than their quota: (type, quota, available).
    pub short: Vec<(String, usize, usize)>,
}

/// A stable number for a point type, so each type's draw depends only on
/// the seed and its own points.
fn type_salt(point_type: &str) -> u64 {
    point_type.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Draws each type's quota of points at random, as the national evaluation
/// samples points by type: the same seed and points give the same draw. A
/// type with fewer points than its quota gives all it has and is reported.
/// Points are named by a key that does not depend on the database (their
/// codes), so a district moved to another backend draws the same sample.
pub fn draw<K: Ord + Clone>(candidates: &[(K, String)], quotas: &BTreeMap<String, usize>, seed: u64) -> Draw<K> {
    let mut by_type: HashMap<&str, Vec<K>> = HashMap::new();
    for (key, point_type) in candidates {
        by_type.entry(point_type.as_str()).or_default().push(key.clone());
    }
    let mut picked = BTreeMap::new();
    let mut short = Vec::new();
    for (point_type, &quota) in quotas {
        let mut ids = by_type.remove(point_type.as_str()).unwrap_or_default();
        ids.sort();
        ids.dedup();
        if ids.len() < quota {
            short.push((point_type.clone(), quota, ids.len()));
        }
        let take = quota.min(ids.len());
        // A partial Fisher–Yates shuffle: the first `take` places are the draw.
        let mut rng = SeededRng::new(seed ^ type_salt(point_type));
        for i in 0..take {
            let j = i + rng.below(ids.len() - i);
            ids.swap(i, j);
        }
        let mut chosen = ids[..take].to_vec();
        chosen.sort();
        if quota > 0 {
            picked.insert(point_type.clone(), chosen);
        }
    }
    Draw { picked, short }
}

/// A point of a round, as scoring needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundPoint {
    /// Point id.
    pub id: i64,
    /// Point type code.
    pub point_type: String,
    /// The responsible unit.
    pub unit_id: i64,
    /// Its street, if it lies in one.
    pub street_id: Option<i64>,
}

/// Where a standard's score comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Measured from the round's answers.
    Measured,
    /// Entered by the office for the round.
    Entered,
    /// Neither: no answer and nothing entered.
    Unassessed,
}

/// One standard's score in a round.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StandardScore {
    /// Standard code.
    pub code: String,
    /// Its points.
    pub points: f64,
    /// Where the score comes from.
    pub basis: Basis,
    /// The score, when assessed.
    pub score: Option<f64>,
    /// Points lost (0 when unassessed).
    pub lost: f64,
    /// Items answered for it (measured standards).
    pub answered: usize,
}

/// A lost share of points: where, which item, how much.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Loss {
    /// The point.
    pub point_id: i64,
    /// The checklist item.
    pub item: String,
    /// The standard.
    pub standard: String,
    /// The point's responsible unit.
    pub unit_id: i64,
    /// The point's street.
    pub street_id: Option<i64>,
    /// The item's deduction at the point (in the item's own points).
    pub deduction: f64,
    /// Its share of the standard's lost points.
    pub lost: f64,
}

/// A round's score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoundScore {
    /// The system's points.
    pub total_points: f64,
    /// Every standard, in the tree's order.
    pub standards: Vec<StandardScore>,
    /// Every deduction that lost points, biggest first.
    pub losses: Vec<Loss>,
    /// The predicted total: the assessed standards' scores.
    pub total: f64,
    /// Points measured from answers.
    pub measured_points: f64,
    /// Points entered by the office.
    pub entered_points: f64,
    /// Points not assessed.
    pub unassessed_points: f64,
    /// Items of the drawn points' checklists left unanswered.
    pub missing: usize,
}

impl RoundScore {
    /// The total as if the unassessed points scored at the assessed rate.
    pub fn projected(&self) -> Option<f64> {
        let assessed = self.measured_points + self.entered_points;
        (assessed > 0.0).then(|| self.total / assessed * self.total_points)
    }

    /// Points lost, all told.
    pub fn lost(&self) -> f64 {
        self.standards.iter().map(|s| s.lost).sum()
    }

    /// Lost points by a key of the loss (unit, street, point…), biggest first.
    pub fn lost_by<K: Ord + Clone>(&self, key: impl Fn(&Loss) -> K) -> Vec<(K, f64)> {
        let mut sums: BTreeMap<K, f64> = BTreeMap::new();
        for l in &self.losses {
            *sums.entry(key(l)).or_default() += l.lost;
        }
        let mut out: Vec<(K, f64)> = sums.into_iter().collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }

    /// A standard's score.
    pub fn standard(&self, code: &str) -> Option<&StandardScore> {
        self.standards.iter().find(|s| s.code == code)
    }

    /// Score and lost points of every standard whose code starts with
    /// `prefix` (a project's or a content's code followed by a dot).
    pub fn under(&self, prefix: &str) -> (f64, f64) {
        let dotted = format!("{prefix}.");
        self.standards
            .iter()
            .filter(|s| s.code.starts_with(&dotted))
            .fold((0.0, 0.0), |(score, lost), s| (score + s.score.unwrap_or(0.0), lost + s.lost))
    }
}

/// Scores a round: its points, the answers by (point, item code), and the
/// scores the office entered by standard code (non-field methods).
pub fn score_round(
    system: &EvaluationSystem,
    points: &[RoundPoint],
    answers: &HashMap<(i64, String), Answer>,
    entered: &HashMap<String, f64>,
) -> RoundScore {
    // Every answered item of every point, grouped by standard.
    struct Answered<'a> {
        point: &'a RoundPoint,
        item: &'a CheckItem,
        deduction: f64,
    }
    let mut by_standard: HashMap<&str, Vec<Answered<'_>>> = HashMap::new();
    let mut missing = 0;
    for point in points {
        let Some(list) = system.checklist(&point.point_type) else { continue };
        for item in &list.items {
            let answer = answers.get(&(point.id, item.code.clone())).copied();
            if answer.is_none() {
                missing += 1;
            }
            if let Some(deduction) = deduction(item, answer) {
                by_standard.entry(item.standard.as_str()).or_default().push(Answered { point, item, deduction });
            }
        }
    }
    let mut standards = Vec::new();
    let mut losses = Vec::new();
    let (mut measured_points, mut entered_points, mut unassessed_points, mut total) = (0.0, 0.0, 0.0, 0.0);
    for s in system.standards() {
        let answered = by_standard.get(s.code.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        let weights: f64 = answered.iter().map(|a| a.item.weight).sum();
        let (basis, score) = if s.method == Method::Field && weights > 0.0 {
            let deducted: f64 = answered.iter().map(|a| a.deduction).sum();
            for a in answered.iter().filter(|a| a.deduction > 0.0) {
                losses.push(Loss {
                    point_id: a.point.id,
                    item: a.item.code.clone(),
                    standard: s.code.clone(),
                    unit_id: a.point.unit_id,
                    street_id: a.point.street_id,
                    deduction: a.deduction,
                    lost: s.points * a.deduction / weights,
                });
            }
            (Basis::Measured, Some(s.points * (1.0 - deducted / weights)))
        } else if let Some(value) = entered.get(&s.code) {
            (Basis::Entered, Some(value.clamp(0.0, s.points)))
        } else {
            (Basis::Unassessed, None)
        };
        match basis {
            Basis::Measured => measured_points += s.points,
            Basis::Entered => entered_points += s.points,
            Basis::Unassessed => unassessed_points += s.points,
        }
        total += score.unwrap_or(0.0);
        standards.push(StandardScore {
            code: s.code.clone(),
            points: s.points,
            basis,
            score,
            lost: score.map(|v| s.points - v).unwrap_or(0.0),
            answered: answered.len(),
        });
    }
    losses.sort_by(|a, b| b.lost.total_cmp(&a.lost).then(a.point_id.cmp(&b.point_id)).then(a.item.cmp(&b.item)));
    RoundScore {
        total_points: system.total_points(),
        standards,
        losses,
        total,
        measured_points,
        entered_points,
        unassessed_points,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn the_shipped_system_is_whole_and_adds_up_to_100() {
        let system = shipped();
        assert_eq!(system.problems(), Vec::<String>::new());
        assert!(close(system.total_points(), 100.0), "{}", system.total_points());
        assert_eq!(system.projects.len(), 8);
        // Every method appears, and every checklist's type is a shipped point type.
        for m in Method::ALL {
            assert!(system.standards().any(|s| s.method == m), "{m:?}");
        }
        for list in &system.checklists {
            assert!(crate::domain::places::point_type(&list.point_type).is_some(), "{}", list.point_type);
            for item in &list.items {
                assert!(crate::domain::categories::shipped().category(&item.category).is_some(), "{}", item.category);
            }
        }
    }

    #[test]
    fn a_system_written_back_as_toml_reads_the_same() {
        let text = toml::to_string(shipped()).unwrap();
        assert_eq!(&EvaluationSystem::parse(&text).unwrap(), shipped());
    }

    #[test]
    fn a_system_with_mistakes_names_each_one() {
        let text = r#"
            year = 2026
            version = "x"
            title = "x"
            [[project]]
            code = "01"
            name = "甲"
              [[project.content]]
              code = "02.01"
              name = "乙"
                [[project.content.standard]]
                code = "02.01.01"
                text = "丙"
                points = 0
                method = "survey"
                lead = ""
            [[checklist]]
            point_type = "park"
              [[checklist.item]]
              code = "A"
              criterion = "丁"
              standard = "02.01.01"
              category = "06010"
              weight = 1
              rule = { kind = "per_occurrence", per = 1, cap = 2 }
              [[checklist.item]]
              code = "A"
              criterion = "戊"
              standard = "09.09.09"
              category = "06010"
              weight = 1
              rule = { kind = "pass_fail", fail = 1 }
        "#;
        let err = EvaluationSystem::parse(text).unwrap_err();
        for expected in [
            "测评内容编码“02.01”应以所属项目编码“01.”开头",
            "测评标准“02.01.01”的分值应大于 0",
            "测评标准“02.01.01”没有牵头单位",
            "不是实地考察（问卷调查）",
            "检查项“A”的扣分规则应大于 0 且不超过其分值 1",
            "编码“A”重复",
            "测评标准“09.09.09”不存在",
        ] {
            assert!(err.contains(expected), "missing “{expected}” in {err}");
        }
        assert!(EvaluationSystem::parse("year = ").unwrap_err().starts_with("测评体系格式有误"));
    }

    #[test]
    fn problems_in_a_district_name_its_missing_units_categories_and_types() {
        let system = shipped();
        let units: HashSet<&str> = ["D001", "D003"].into();
        let categories: HashSet<&str> = ["06010"].into();
        let types: HashSet<&str> = ["main_road"].into();
        let problems = system.problems_in(&units, &categories, &types);
        assert!(problems.iter().any(|p| p.contains("“D006”在本区不存在")));
        assert!(problems.iter().any(|p| p.contains("点位类型“residential_compound”不存在")));
        assert!(problems.iter().any(|p| p.contains("问题分类“07001”不存在")));
    }

    fn item(weight: f64, rule: Rule) -> CheckItem {
        CheckItem {
            code: "X".into(),
            criterion: String::new(),
            standard: String::new(),
            category: String::new(),
            weight,
            rule,
        }
    }

    #[test]
    fn deductions_follow_the_rule_up_to_the_cap_and_the_weight() {
        let per = item(2.0, Rule::PerOccurrence { per: 0.5, cap: 1.5 });
        assert_eq!(deduction(&per, Some(Answer::Pass)), Some(0.0));
        assert_eq!(deduction(&per, Some(Answer::Fail { occurrences: 1 })), Some(0.5));
        assert_eq!(deduction(&per, Some(Answer::Fail { occurrences: 2 })), Some(1.0));
        assert_eq!(deduction(&per, Some(Answer::Fail { occurrences: 7 })), Some(1.5), "capped");
        assert_eq!(deduction(&per, Some(Answer::Fail { occurrences: 0 })), Some(0.5), "a fail counts once at least");
        assert_eq!(deduction(&per, Some(Answer::Serious)), Some(2.0), "a serious fail loses the whole weight");
        assert_eq!(deduction(&per, Some(Answer::NotApplicable)), None);
        assert_eq!(deduction(&per, None), None, "missing: left out");
        let pass_fail = item(1.0, Rule::PassFail { fail: 0.6 });
        assert_eq!(deduction(&pass_fail, Some(Answer::Fail { occurrences: 3 })), Some(0.6));
        assert_eq!(deduction(&pass_fail, Some(Answer::Serious)), Some(1.0));
    }

    /// A small system: one field standard of 10 points scored by two items
    /// at two point types, a survey standard of 5, a field standard of 5 no
    /// checklist covers.
    fn small() -> EvaluationSystem {
        EvaluationSystem::parse(
            r#"
            year = 2026
            version = "t"
            title = "t"
            [[project]]
            code = "01"
            name = "市容"
              [[project.content]]
              code = "01.01"
              name = "卫生"
                [[project.content.standard]]
                code = "01.01.01"
                text = "无垃圾"
                points = 10
                method = "field"
                lead = "D003"
                [[project.content.standard]]
                code = "01.01.02"
                text = "无小广告"
                points = 5
                method = "field"
                lead = "D003"
            [[project]]
            code = "02"
            name = "满意度"
              [[project.content]]
              code = "02.01"
              name = "问卷"
                [[project.content.standard]]
                code = "02.01.01"
                text = "满意率"
                points = 5
                method = "survey"
                lead = "D001"
            [[checklist]]
            point_type = "main_road"
              [[checklist.item]]
              code = "R1"
              criterion = "无暴露垃圾"
              standard = "01.01.01"
              category = "06010"
              weight = 2
              rule = { kind = "per_occurrence", per = 0.5, cap = 1.5 }
            [[checklist]]
            point_type = "park"
              [[checklist.item]]
              code = "P1"
              criterion = "无暴露垃圾"
              standard = "01.01.01"
              category = "06010"
              weight = 2
              rule = { kind = "pass_fail", fail = 1 }
              [[checklist.item]]
              code = "P2"
              criterion = "设施完好"
              standard = "01.01.01"
              category = "06010"
              weight = 1
              rule = { kind = "pass_fail", fail = 1 }
            "#,
        )
        .unwrap()
    }

    fn point(id: i64, point_type: &str, unit_id: i64) -> RoundPoint {
        RoundPoint { id, point_type: point_type.into(), unit_id, street_id: Some(unit_id * 10) }
    }

    #[test]
    fn a_round_scores_by_hand_with_caps_serious_fails_and_missing_answers() {
        let system = small();
        let points = [point(1, "main_road", 7), point(2, "main_road", 8), point(3, "park", 8)];
        let answers: HashMap<(i64, String), Answer> = [
            ((1, "R1"), Answer::Fail { occurrences: 5 }), // 2.5 capped at 1.5
            ((2, "R1"), Answer::Pass),                    // 0
            ((3, "P1"), Answer::Serious),                 // the whole 2
                                                          // (3, "P2") missing: left out
        ]
        .into_iter()
        .map(|((p, i), a)| ((p, i.to_string()), a))
        .collect();
        let entered = HashMap::from([("02.01.01".to_string(), 4.2)]);
        let score = score_round(&system, &points, &answers, &entered);

        // 01.01.01: weights answered 2 + 2 + 2 = 6, deducted 1.5 + 0 + 2 = 3.5:
        // 10 × (1 − 3.5/6) = 4.1666…; lost 5.8333…
        let s = score.standard("01.01.01").unwrap();
        assert_eq!((s.basis, s.answered), (Basis::Measured, 3));
        assert!(close(s.score.unwrap(), 10.0 * (1.0 - 3.5 / 6.0)));
        assert!(close(s.lost, 10.0 * 3.5 / 6.0));
        // Shares: point 1 lost 10 × 1.5/6 = 2.5 (unit 7); point 3 lost 10 × 2/6 = 3.333… (unit 8).
        assert_eq!(score.losses.len(), 2);
        assert_eq!((score.losses[0].point_id, score.losses[0].item.as_str()), (3, "P1"));
        assert!(close(score.losses[0].lost, 10.0 / 3.0));
        assert!(close(score.losses[1].lost, 2.5));
        let by_unit = score.lost_by(|l| l.unit_id);
        assert_eq!(by_unit[0].0, 8);
        assert!(close(by_unit[0].1, 10.0 / 3.0) && close(by_unit[1].1, 2.5));
        // 01.01.02 is a field standard no checklist covers: unassessed.
        assert_eq!(score.standard("01.01.02").unwrap().basis, Basis::Unassessed);
        // The survey's entered score; the total and its parts.
        assert_eq!(score.standard("02.01.01").unwrap().basis, Basis::Entered);
        assert!(close(score.total, 10.0 * (1.0 - 3.5 / 6.0) + 4.2));
        assert_eq!((score.measured_points, score.entered_points, score.unassessed_points), (10.0, 5.0, 5.0));
        assert_eq!(score.missing, 1);
        assert!(close(score.projected().unwrap(), score.total / 15.0 * 20.0));
        let (project_score, project_lost) = score.under("01");
        assert!(close(project_score, s.score.unwrap()) && close(project_lost, s.lost));
    }

    #[test]
    fn an_entered_score_is_kept_within_its_points_and_a_round_without_answers_is_unassessed() {
        let system = small();
        let entered = HashMap::from([("02.01.01".to_string(), 9.0)]);
        let score = score_round(&system, &[point(1, "main_road", 7)], &HashMap::new(), &entered);
        assert_eq!(score.standard("02.01.01").unwrap().score, Some(5.0));
        assert_eq!(score.standard("01.01.01").unwrap().basis, Basis::Unassessed, "no answer, no measure");
        assert_eq!(score.missing, 1);
        assert!(close(score.total, 5.0));
    }

    fn candidates() -> Vec<(i64, String)> {
        (1..=40).map(|id| (id, if id % 4 == 0 { "park" } else { "main_road" }.to_string())).collect()
    }

    #[test]
    fn the_same_seed_draws_the_same_points_and_every_quota_is_honoured() {
        let quotas = BTreeMap::from([("main_road".to_string(), 6), ("park".to_string(), 3)]);
        let a = draw(&candidates(), &quotas, 42);
        assert_eq!(a, draw(&candidates(), &quotas, 42), "reproducible");
        // The candidates' order does not matter.
        let mut reversed = candidates();
        reversed.reverse();
        assert_eq!(a, draw(&reversed, &quotas, 42));
        assert_eq!(a.picked["main_road"].len(), 6);
        assert_eq!(a.picked["park"].len(), 3);
        assert!(a.picked["park"].iter().all(|id| id % 4 == 0), "a type's points come from that type");
        assert!(a.short.is_empty());
        let others: Vec<Draw<i64>> = (43..53).map(|seed| draw(&candidates(), &quotas, seed)).collect();
        assert!(others.iter().any(|d| d.picked != a.picked), "different seeds differ");
        // The generator and the shuffle are pinned: a change to either changes every district's samples.
        assert_eq!(a.picked["park"], [20, 24, 36], "seed 42's parks");
        // More than there are: all of them, and the shortfall said.
        let greedy = BTreeMap::from([("park".to_string(), 20), ("square".to_string(), 2)]);
        let d = draw(&candidates(), &greedy, 1);
        assert_eq!(d.picked["park"].len(), 10);
        assert_eq!(d.short, vec![("park".to_string(), 20, 10), ("square".to_string(), 2, 0)]);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn answer() -> impl Strategy<Value = Option<Answer>> {
            prop_oneof![
                Just(None),
                Just(Some(Answer::Pass)),
                (0u32..9).prop_map(|n| Some(Answer::Fail { occurrences: n })),
                Just(Some(Answer::Serious)),
                Just(Some(Answer::NotApplicable)),
            ]
        }

        proptest! {
            /// The predicted total and every lost point equal a recount from the answers.
            #[test]
            fn the_total_and_lost_points_equal_a_recount(
                types in proptest::collection::vec(0usize..8, 1..25),
                answers in proptest::collection::vec(answer(), 200),
                entered in proptest::collection::vec(proptest::option::of(0.0f64..12.0), 40),
            ) {
                let system = shipped();
                let point_types: Vec<&str> = system.checklists.iter().map(|c| c.point_type.as_str()).collect();
                let points: Vec<RoundPoint> = types
                    .iter()
                    .enumerate()
                    .map(|(i, t)| point(i as i64 + 1, point_types[t % point_types.len()], (i % 3) as i64 + 1))
                    .collect();
                let mut given = HashMap::new();
                let mut k = 0;
                for p in &points {
                    for item in &system.checklist(&p.point_type).unwrap().items {
                        if let Some(a) = answers[k % answers.len()] {
                            given.insert((p.id, item.code.clone()), a);
                        }
                        k += 1;
                    }
                }
                let entered: HashMap<String, f64> = system
                    .standards()
                    .zip(&entered)
                    .filter(|(s, _)| s.method != Method::Field)
                    .filter_map(|(s, v)| v.map(|v| (s.code.clone(), v)))
                    .collect();
                let score = score_round(system, &points, &given, &entered);

                // The recount: straight from the answers, standard by standard.
                let mut recount_total = 0.0;
                let mut recount_lost_by_unit: BTreeMap<i64, f64> = BTreeMap::new();
                for s in system.standards() {
                    let mut weights = 0.0;
                    let mut deducted_by_unit: BTreeMap<i64, f64> = BTreeMap::new();
                    for p in &points {
                        for item in system.checklist(&p.point_type).unwrap().items.iter().filter(|i| i.standard == s.code) {
                            if let Some(d) = deduction(item, given.get(&(p.id, item.code.clone())).copied()) {
                                weights += item.weight;
                                *deducted_by_unit.entry(p.unit_id).or_default() += d;
                            }
                        }
                    }
                    if weights > 0.0 {
                        let deducted: f64 = deducted_by_unit.values().sum();
                        recount_total += s.points * (1.0 - deducted / weights);
                        for (unit, d) in deducted_by_unit {
                            *recount_lost_by_unit.entry(unit).or_default() += s.points * d / weights;
                        }
                    } else if let Some(v) = entered.get(&s.code) {
                        recount_total += v.clamp(0.0, s.points);
                    }
                }
                prop_assert!((score.total - recount_total).abs() < 1e-6, "{} vs {}", score.total, recount_total);
                let measured_lost: f64 = score.standards.iter().filter(|s| s.basis == Basis::Measured).map(|s| s.lost).sum();
                let losses: f64 = score.losses.iter().map(|l| l.lost).sum();
                prop_assert!((measured_lost - losses).abs() < 1e-6, "every measured lost point is traced to a point");
                let by_unit: BTreeMap<i64, f64> = score.lost_by(|l| l.unit_id).into_iter().collect();
                recount_lost_by_unit.retain(|_, lost| *lost > 1e-12);
                prop_assert_eq!(by_unit.keys().collect::<Vec<_>>(), recount_lost_by_unit.keys().collect::<Vec<_>>());
                for (unit, lost) in by_unit {
                    let expected = recount_lost_by_unit[&unit];
                    prop_assert!((lost - expected).abs() < 1e-6, "unit {unit}: {lost} vs {expected}");
                }
                let assessed = score.measured_points + score.entered_points;
                prop_assert!((score.total + score.lost() - assessed).abs() < 1e-6, "score + lost = assessed points");
                prop_assert!((assessed + score.unassessed_points - score.total_points).abs() < 1e-6);
            }
        }
    }
}
