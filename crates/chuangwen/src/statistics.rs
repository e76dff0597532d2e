//! Figures as people read them: the kept sums (store::stats) with names,
//! comparisons and rankings, shared by the dashboards, the reports and the
//! API. Nothing here scans cases; every figure is a few bucket rows.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::domain::assessment::{Ranked, Settings, rank};
use crate::domain::org::UnitKind;
use crate::domain::stats::{Dim, Figures, Grain, Period};
use crate::store::{Store, StoreResult};

/// Names of every value a breakdown may show.
#[derive(Clone, Debug, Default)]
pub struct Names {
    units: HashMap<String, (String, Option<UnitKind>)>,
    categories: HashMap<String, String>,
    campaigns: HashMap<String, String>,
}

impl Names {
    /// The names of a district's units, categories and campaigns.
    pub async fn of(store: &Store, district_id: i64) -> StoreResult<Names> {
        let units = store
            .units(district_id)
            .await?
            .into_iter()
            .map(|u| (u.id.to_string(), (u.name, UnitKind::from_code(&u.kind))))
            .collect();
        let table = store.categories(district_id).await?;
        let categories = table.categories.iter().map(|c| (c.code.clone(), c.name.clone())).collect();
        let campaigns = table.campaigns.iter().map(|c| (c.code.clone(), c.name.clone())).collect();
        Ok(Names { units, categories, campaigns })
    }

    /// The name of `value` in `dim`.
    pub fn name(&self, dim: Dim, value: &str) -> String {
        let found = match dim {
            Dim::All => Some("全区".to_string()),
            Dim::Unit | Dim::Street => self.units.get(value).map(|u| u.0.clone()),
            Dim::Category => self.categories.get(value).cloned(),
            Dim::Campaign => self.campaigns.get(value).cloned(),
            Dim::Source => crate::domain::cases::source_label(value).map(str::to_string),
            Dim::Reporter => Some(format!("上报人 {value}")),
            Dim::Grid | Dim::Point => None,
        };
        found.unwrap_or_else(|| value.to_string())
    }

    /// The kind of a unit.
    pub fn unit_kind(&self, value: &str) -> Option<UnitKind> {
        self.units.get(value).and_then(|u| u.1)
    }
}

/// One value of a breakdown with its figures.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The value (unit id, category code…).
    pub value: String,
    /// Its name.
    pub name: String,
    /// Its figures.
    pub figures: Figures,
}

/// The figures of every value of `dim` over `period`, most reported first.
pub async fn breakdown(
    store: &Store,
    district_id: i64,
    dim: Dim,
    period: &Period,
    names: &Names,
) -> StoreResult<Vec<Row>> {
    let mut rows: Vec<Row> = store
        .stats_by(district_id, dim, period, None)
        .await?
        .into_iter()
        .map(|(value, t)| Row { name: names.name(dim, &value), value, figures: Figures::of(t) })
        .collect();
    rows.sort_by(|a, b| b.figures.tally.reported.cmp(&a.figures.tally.reported).then(a.name.cmp(&b.name)));
    Ok(rows)
}

/// What a dashboard is about: the district, a street, or a unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Focus {
    /// `Dim::All`, `Dim::Street` or `Dim::Unit`.
    pub dim: Dim,
    /// The value (`""` for the district).
    pub value: String,
    /// Its name.
    pub name: String,
}

/// A point of a trend.
#[derive(Clone, Debug, Serialize)]
pub struct TrendPoint {
    /// `2026-11-27` or `2026-11`.
    pub bucket: String,
    /// Reported that day or month.
    pub reported: i64,
    /// Of those, closed.
    pub closed: i64,
    /// Of those, overdue now.
    pub overdue: i64,
    /// Their rectification rate (percent), when defined.
    pub rectification_rate: Option<f64>,
}

/// The head of a dashboard: the figures, the same period before (环比) and
/// a year before (同比), and the trend bucket by bucket.
#[derive(Clone, Debug, Serialize)]
pub struct Overview {
    /// Whose figures.
    pub focus: Focus,
    /// The period.
    pub period: Period,
    /// The period before.
    pub previous_period: Period,
    /// A year before.
    pub year_before_period: Period,
    /// Figures of the period.
    pub now: Figures,
    /// Of the period before.
    pub previous: Figures,
    /// Of the same period a year before.
    pub year_before: Figures,
    /// Days or months.
    pub grain: &'static str,
    /// The trend.
    pub trend: Vec<TrendPoint>,
}

/// The overview of `focus` over `period`.
pub async fn overview(store: &Store, district_id: i64, focus: Focus, period: Period) -> StoreResult<Overview> {
    let total = |p: Period| {
        let focus = focus.clone();
        async move { store.stats_total(district_id, focus.dim, &focus.value, &p).await }
    };
    let (previous_period, year_before_period) = (period.previous(), period.year_before());
    let now = total(period).await?;
    let previous = total(previous_period).await?;
    let year_before = total(year_before_period).await?;
    let (grain, series) = store.stats_series(district_id, focus.dim, &focus.value, &period).await?;
    let trend = series
        .into_iter()
        .map(|(bucket, t)| TrendPoint {
            bucket,
            reported: t.reported,
            closed: t.closed,
            overdue: t.overdue,
            rectification_rate: Figures::of(t).rectification_rate.map(|r| (r * 1000.0).round() / 10.0),
        })
        .collect();
    Ok(Overview {
        focus,
        period,
        previous_period,
        year_before_period,
        now: Figures::of(now),
        previous: Figures::of(previous),
        year_before: Figures::of(year_before),
        grain: if grain == Grain::Day { "day" } else { "month" },
        trend,
    })
}

/// Streets (by territory) and departments (by the problems dispatched to
/// them), ranked by the office's weights.
#[derive(Clone, Debug, Serialize)]
pub struct Rankings {
    /// The period.
    pub period: Period,
    /// How the score is made.
    pub explanation: String,
    /// Streets.
    pub streets: Vec<Ranked<Row>>,
    /// Departments.
    pub departments: Vec<Ranked<Row>>,
}

/// The rankings over `period`.
pub async fn rankings(
    store: &Store,
    district_id: i64,
    period: &Period,
    settings: &Settings,
    names: &Names,
) -> StoreResult<Rankings> {
    let score = |rows: Vec<Row>| {
        rank(
            rows.into_iter()
                .map(|r| {
                    let s = settings.score(&r.figures);
                    (r, s)
                })
                .collect(),
        )
    };
    let streets = breakdown(store, district_id, Dim::Street, period, names).await?;
    let departments: Vec<Row> = breakdown(store, district_id, Dim::Unit, period, names)
        .await?
        .into_iter()
        .filter(|r| names.unit_kind(&r.value).is_some_and(|k| !k.is_street_level() && !k.is_community_level()))
        .collect();
    Ok(Rankings {
        period: *period,
        explanation: settings.explain(),
        streets: score(streets),
        departments: score(departments),
    })
}

/// A day as forms send it (`2026-11-27`), or a Chinese message naming `what`.
pub fn parse_day(raw: &str, what: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| format!("{what}“{raw}”不是日期（格式 2026-11-27）"))
}

/// The period a page asks for: `from`/`to` (YYYY-MM-DD), or a preset —
/// `week`, `month` (the default), `quarter`, `year` — ending today.
pub fn period_of(
    from: Option<&str>,
    to: Option<&str>,
    preset: Option<&str>,
    today: NaiveDate,
) -> Result<Period, String> {
    let parse = parse_day;
    match (from.filter(|s| !s.trim().is_empty()), to.filter(|s| !s.trim().is_empty())) {
        (Some(f), Some(t)) => {
            let (f, t) = (parse(f, "开始日期")?, parse(t, "结束日期")?);
            if (t - f).num_days() > 366 * 10 {
                return Err("统计期间不能超过十年".into());
            }
            Period::new(f, t).ok_or_else(|| "结束日期不能早于开始日期".to_string())
        }
        (Some(_), None) | (None, Some(_)) => Err("请同时填写开始日期和结束日期".into()),
        (None, None) => Ok(match preset.unwrap_or("month") {
            "week" => {
                let monday = today - chrono::Duration::days(today.weekday().num_days_from_monday() as i64);
                Period { from: monday, to: monday + chrono::Duration::days(6) }
            }
            "quarter" => {
                let first = NaiveDate::from_ymd_opt(today.year(), (today.month() - 1) / 3 * 3 + 1, 1).expect("quarter");
                Period { from: first, to: first + chrono::Months::new(3) - chrono::Duration::days(1) }
            }
            "year" => Period {
                from: NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("1 January"),
                to: NaiveDate::from_ymd_opt(today.year(), 12, 31).expect("31 December"),
            },
            "all" => Period { from: today - chrono::Duration::days(3 * 366), to: today },
            "month" => Period::month_of(today),
            other => return Err(format!("未知的统计期间“{other}”，可选 week、month、quarter、year、all")),
        }),
    }
}
