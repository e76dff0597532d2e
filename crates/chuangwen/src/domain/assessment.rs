//! Assessment (考核): how streets and departments are ranked (排名) and which
//! are named in a bulletin (通报). The office sets the weights and thresholds
//! as data (`assessment_settings`, TOML); this module scores and explains.

use serde::{Deserialize, Serialize};

use super::stats::{Figures, percent};

/// The settings shipped with the binary, as text (a district's starting point).
pub const SHIPPED: &str = r#"# 考核设置：排名权重与通报条件（创文办可修改）
# 综合得分 = Σ(权重 × 指标得分) ÷ Σ权重，指标得分按百分制：
#   整改率、按期整改率取其百分数；返工率越低越好，按 (1 − 返工率) 计。

[weights]
rectification_rate = 40   # 整改率
on_time_rate = 40         # 按期整改率
rework_rate = 20          # 返工率（反向计分）

[ranking]
minimum_due = 3           # 本期应整改少于此数的单位不参加排名（样本太少）

[bulletin]
# 满足任一条件即在通报中点名
rectification_rate_below = 0.80
on_time_rate_below = 0.70
overdue_at_least = 3
"#;

/// The office's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Ranking weights.
    pub weights: Weights,
    /// Who is ranked.
    pub ranking: Ranking,
    /// Who is named.
    pub bulletin: Bulletin,
}

/// Weights of the measures in the score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// 整改率.
    pub rectification_rate: f64,
    /// 按期整改率.
    pub on_time_rate: f64,
    /// 返工率 (scored as 1 − rate).
    pub rework_rate: f64,
}

/// Who takes part in a ranking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ranking {
    /// Fewer problems due than this: listed apart, not ranked.
    pub minimum_due: i64,
}

/// When a unit is named in a bulletin (any one condition).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bulletin {
    /// 整改率 below this.
    pub rectification_rate_below: f64,
    /// 按期整改率 below this.
    pub on_time_rate_below: f64,
    /// At least this many problems overdue now.
    pub overdue_at_least: i64,
}

impl Settings {
    /// Parses and checks settings text; the message says what is wrong, in Chinese.
    pub fn parse(text: &str) -> Result<Settings, String> {
        let settings: Settings = toml::from_str(text).map_err(|e| format!("考核设置格式有误：{}", e.message()))?;
        let w = &settings.weights;
        for (name, v) in [("整改率", w.rectification_rate), ("按期整改率", w.on_time_rate), ("返工率", w.rework_rate)]
        {
            if !(0.0..=1000.0).contains(&v) || !v.is_finite() {
                return Err(format!("{name}的权重须在 0 到 1000 之间"));
            }
        }
        if w.rectification_rate + w.on_time_rate + w.rework_rate <= 0.0 {
            return Err("权重不能全为 0".into());
        }
        let b = &settings.bulletin;
        for (name, v) in [("整改率", b.rectification_rate_below), ("按期整改率", b.on_time_rate_below)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("通报条件中的{name}须在 0 到 1 之间（如 0.8 表示 80%）"));
            }
        }
        if settings.ranking.minimum_due < 0 || b.overdue_at_least < 0 {
            return Err("数量不能为负数".into());
        }
        Ok(settings)
    }

    /// The shipped settings.
    pub fn shipped() -> Settings {
        Settings::parse(SHIPPED).expect("the shipped settings parse")
    }

    /// The score of a unit's figures, 0–100; `None` when it has too few
    /// problems due to be ranked.
    pub fn score(&self, f: &Figures) -> Option<f64> {
        let basis = f.tally.due - f.tally.deferred;
        if basis < self.ranking.minimum_due.max(1) {
            return None;
        }
        let w = &self.weights;
        let parts = [
            (w.rectification_rate, f.rectification_rate.unwrap_or(0.0)),
            (w.on_time_rate, f.on_time_rate.unwrap_or(0.0)),
            // No handling yet means no rework: full marks for that part.
            (w.rework_rate, 1.0 - f.rework_rate.unwrap_or(0.0)),
        ];
        let total: f64 = parts.iter().map(|(w, _)| w).sum();
        Some(parts.iter().map(|(w, v)| w * v * 100.0).sum::<f64>() / total)
    }

    /// How the score is made, for the screen.
    pub fn explain(&self) -> String {
        let w = &self.weights;
        format!(
            "综合得分 = (整改率×{} + 按期整改率×{} + (1−返工率)×{}) ÷ {}，百分制；本期应整改（扣除挂账）少于 {} 件的单位不参加排名。",
            w.rectification_rate,
            w.on_time_rate,
            w.rework_rate,
            w.rectification_rate + w.on_time_rate + w.rework_rate,
            self.ranking.minimum_due.max(1)
        )
    }

    /// Why a unit is named in a bulletin (empty: it is not).
    pub fn bulletin_reasons(&self, f: &Figures) -> Vec<String> {
        let b = &self.bulletin;
        let mut reasons = Vec::new();
        if let Some(rate) = f.rectification_rate.filter(|r| *r < b.rectification_rate_below) {
            reasons.push(format!("整改率 {}，低于 {}", percent(Some(rate)), percent(Some(b.rectification_rate_below))));
        }
        if let Some(rate) = f.on_time_rate.filter(|r| *r < b.on_time_rate_below) {
            reasons.push(format!("按期整改率 {}，低于 {}", percent(Some(rate)), percent(Some(b.on_time_rate_below))));
        }
        if b.overdue_at_least > 0 && f.tally.overdue >= b.overdue_at_least {
            reasons.push(format!("超期未整改 {} 件，达到 {} 件", f.tally.overdue, b.overdue_at_least));
        }
        reasons
    }
}

/// One line of a ranking.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ranked<T> {
    /// 1, 2, 3…; equal scores share a place. `None`: not ranked.
    pub place: Option<usize>,
    /// The score, when ranked.
    pub score: Option<f64>,
    /// What is ranked.
    pub item: T,
}

/// Ranks items by score, best first; equal scores (to 0.01) share a place;
/// the unranked follow in their given order.
pub fn rank<T>(items: Vec<(T, Option<f64>)>) -> Vec<Ranked<T>> {
    let (mut scored, unscored): (Vec<_>, Vec<_>) = items.into_iter().partition(|(_, s)| s.is_some());
    scored.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
    let mut out = Vec::with_capacity(scored.len() + unscored.len());
    let mut last: Option<(f64, usize)> = None;
    for (i, (item, score)) in scored.into_iter().enumerate() {
        let s = score.expect("scored");
        let place = match last {
            Some((prev, place)) if (prev - s).abs() < 0.005 => place,
            _ => i + 1,
        };
        last = Some((s, place));
        out.push(Ranked { place: Some(place), score: Some(s), item });
    }
    out.extend(unscored.into_iter().map(|(item, _)| Ranked { place: None, score: None, item }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::stats::Tally;

    fn figures(due: i64, closed: i64, on_time: i64, handled: i64, reworked: i64, overdue: i64) -> Figures {
        Figures::of(Tally { due, closed, closed_on_time: on_time, handled, reworked, overdue, ..Tally::default() })
    }

    #[test]
    fn the_shipped_settings_parse_and_explain_themselves() {
        let s = Settings::shipped();
        assert_eq!(s.weights.rectification_rate, 40.0);
        assert!(s.explain().contains("整改率×40"));
    }

    #[test]
    fn a_score_weighs_the_rates_and_reverses_rework() {
        let s = Settings::shipped();
        // 整改率 0.8, 按期 0.6, 返工率 0.25: (40×80 + 40×60 + 20×75) / 100 = 71.
        let f = figures(10, 8, 6, 8, 2, 0);
        assert!((s.score(&f).unwrap() - 71.0).abs() < 1e-9);
        assert_eq!(s.score(&figures(2, 2, 2, 2, 0, 0)), None, "fewer than 3 due: not ranked");
    }

    #[test]
    fn equal_scores_share_a_place_and_the_unranked_come_last() {
        let ranked = rank(vec![("a", Some(70.0)), ("b", None), ("c", Some(90.0)), ("d", Some(70.001))]);
        let places: Vec<_> = ranked.iter().map(|r| (r.item, r.place)).collect();
        assert_eq!(places, [("c", Some(1)), ("d", Some(2)), ("a", Some(2)), ("b", None)]);
    }

    #[test]
    fn a_bulletin_names_each_threshold_crossed() {
        let s = Settings::shipped();
        let reasons = s.bulletin_reasons(&figures(10, 7, 5, 7, 0, 4));
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].contains("整改率 70.0%，低于 80.0%"));
        assert!(s.bulletin_reasons(&figures(10, 9, 8, 9, 0, 0)).is_empty());
    }

    #[test]
    fn bad_settings_are_refused_in_chinese() {
        let bad = SHIPPED.replace("rectification_rate_below = 0.80", "rectification_rate_below = 80");
        assert!(Settings::parse(&bad).unwrap_err().contains("0 到 1"));
        let unknown = format!("{SHIPPED}\n[other]\nx = 1\n");
        assert!(Settings::parse(&unknown).unwrap_err().contains("格式有误"));
        let zero = SHIPPED.replace("= 40", "= 0").replace("rework_rate = 20", "rework_rate = 0");
        assert!(Settings::parse(&zero).unwrap_err().contains("全为 0"));
    }
}
