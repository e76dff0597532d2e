//! Dashboards (PRODUCT.md M5, 挂图作战): the office's and each unit's own
//! (`/dashboard`), the leaders' rankings and map (`/dashboard/rankings`), a
//! wall display (`/dashboard/screen`), the definitions (`/dashboard/measures`),
//! and the figures as JSON (`/api/v1/statistics`). Every figure comes from
//! the kept sums (store::stats), never from scanning cases.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::auth::policy::{Action, Scope};
use crate::domain::assessment::{Ranked, Settings};
use crate::domain::org::UnitKind;
use crate::domain::stats::{Dim, Figures, MEASURES, Measure, Period, beijing_day, percent};
use crate::error::AppError;
use crate::statistics::{self, Focus, Names, Overview, Row};
use crate::store::cases::{Case, CaseFilter};
use crate::web::{Nav, render};

/// `?from=&to=&preset=`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// First day, YYYY-MM-DD.
    #[serde(default)]
    pub from: Option<String>,
    /// Last day.
    #[serde(default)]
    pub to: Option<String>,
    /// week, month, quarter, year, all.
    #[serde(default)]
    pub preset: Option<String>,
    /// For `/api/v1/statistics`: the dimension.
    #[serde(default)]
    pub dim: Option<String>,
}

impl PeriodQuery {
    /// The period asked for, or a Chinese message.
    pub fn period(&self) -> Result<Period, AppError> {
        statistics::period_of(
            self.from.as_deref(),
            self.to.as_deref(),
            self.preset.as_deref(),
            beijing_day(chrono::Utc::now()),
        )
        .map_err(|m| AppError::Invalid { field: "period".into(), message: m })
    }
}

/// Whose figures a user sees: the whole district for district-wide roles,
/// otherwise their own unit (a street sees its territory).
pub async fn focus_of(state: &AppState, user: &CurrentUser) -> Result<Focus, AppError> {
    if user.scope() == Scope::District {
        return Ok(Focus { dim: Dim::All, value: String::new(), name: "全区".into() });
    }
    let unit = state.store.unit_by_id(user.unit_id).await?;
    let street = UnitKind::from_code(&unit.kind).is_some_and(UnitKind::is_street_level);
    Ok(Focus { dim: if street { Dim::Street } else { Dim::Unit }, value: unit.id.to_string(), name: unit.name })
}

/// A measure's tile: the value now, and the change on the period before and a year before.
pub struct Tile {
    /// The measure.
    pub measure: Measure,
    /// Shown value.
    pub value: String,
    /// 环比.
    pub previous: String,
    /// 同比.
    pub year_before: String,
}

fn shown(code: &str, v: Option<f64>) -> String {
    match code {
        "average_handling_hours" => v.map_or("—".into(), |h| format!("{h:.1} 小时")),
        "reported" | "overdue" | "deferred" | "open" => v.map_or("—".into(), |n| format!("{n:.0}")),
        _ => percent(v),
    }
}

fn delta(code: &str, now: Option<f64>, before: Option<f64>) -> String {
    match (now, before) {
        (Some(a), Some(b)) => match code {
            "reported" | "overdue" | "deferred" | "open" => format!("{:+.0}", a - b),
            "average_handling_hours" => format!("{:+.1} 小时", a - b),
            _ => format!("{:+.1} 个百分点", (a - b) * 100.0),
        },
        _ => "—".into(),
    }
}

fn tiles(o: &Overview) -> Vec<Tile> {
    MEASURES
        .iter()
        .map(|m| Tile {
            measure: *m,
            value: shown(m.code, o.now.get(m.code)),
            previous: delta(m.code, o.now.get(m.code), o.previous.get(m.code)),
            year_before: delta(m.code, o.now.get(m.code), o.year_before.get(m.code)),
        })
        .collect()
}

/// A breakdown for the page: its title and rows.
pub struct Breakdown {
    /// 按街道, 按专项行动…
    pub title: String,
    /// The column of names.
    pub label: &'static str,
    /// Rows, most reported first.
    pub rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    nav: Option<Nav>,
    overview: Overview,
    tiles: Vec<Tile>,
    breakdowns: Vec<Breakdown>,
    overdue: Vec<(Case, String)>,
    trend_json: String,
    district_wide: bool,
    query: String,
}

/// The rates of a row as shown in tables.
pub fn rate(r: &Option<f64>) -> String {
    percent(*r)
}

/// `GET /dashboard`.
pub async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, AppError> {
    user.require(Action::ViewStatistics)?;
    let period = q.period()?;
    let focus = focus_of(&state, &user).await?;
    let district = user.district_id;
    let overview = statistics::overview(&state.store, district, focus.clone(), period).await?;
    let names = Names::of(&state.store, district).await?;
    let dims: &[(Dim, &str)] = if focus.dim == Dim::All {
        &[
            (Dim::Street, "按街道（问题所在地）"),
            (Dim::Unit, "按责任单位"),
            (Dim::Campaign, "按专项行动"),
            (Dim::Category, "按问题类别"),
            (Dim::Source, "按来源"),
        ]
    } else {
        &[]
    };
    let mut breakdowns = Vec::new();
    for (dim, title) in dims {
        let mut rows = statistics::breakdown(&state.store, district, *dim, &period, &names).await?;
        rows.truncate(30);
        breakdowns.push(Breakdown { title: title.to_string(), label: dim.label(), rows });
    }
    let filter = CaseFilter {
        overdue: true,
        unit_id: (focus.dim == Dim::Unit).then(|| focus.value.parse().ok()).flatten(),
        limit: 20,
        ..CaseFilter::default()
    };
    let overdue_cases = state.store.cases(district, &user.scope(), None, &filter).await?;
    let overdue = overdue_cases
        .into_iter()
        .map(|c| {
            let unit = c.unit_id.map(|u| names.name(Dim::Unit, &u.to_string())).unwrap_or_default();
            (c, unit)
        })
        .collect();
    let trend_json = serde_json::to_string(&overview.trend).unwrap_or_else(|_| "[]".into());
    let query = format!("from={}&to={}", period.from, period.to);
    render(&DashboardPage {
        nav: Some(Nav::of(&state, &user, &headers).await?),
        tiles: tiles(&overview),
        overview,
        breakdowns,
        overdue,
        trend_json,
        district_wide: focus.dim == Dim::All,
        query,
    })
}

#[derive(Template)]
#[template(path = "rankings.html")]
struct RankingsPage {
    nav: Option<Nav>,
    period: Period,
    explanation: String,
    groups: Vec<(&'static str, Vec<Ranked<Row>>)>,
    settings_text: String,
    map: crate::config::MapConfig,
    can_configure: bool,
    grid_json: String,
    error: Option<String>,
}

/// The office's settings, or the shipped ones.
pub async fn settings_of(state: &AppState, district_id: i64) -> Result<(Settings, String), AppError> {
    Ok(match state.store.assessment_text(district_id).await? {
        Some(text) => match Settings::parse(&text) {
            Ok(settings) => (settings, text),
            // Saved settings are checked; one that no longer parses (a newer
            // binary's stricter rules) ranks by the shipped ones, said in the log.
            Err(message) => {
                tracing::warn!(district = district_id, %message, "saved assessment settings do not parse; using the shipped ones");
                (Settings::shipped(), text)
            }
        },
        None => (Settings::shipped(), crate::domain::assessment::SHIPPED.to_string()),
    })
}

/// `GET /dashboard/rankings`: streets and departments ranked, and the map of
/// grids coloured by their rectification rate.
pub async fn rankings(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, AppError> {
    user.require(Action::ViewDistrictStatistics)?;
    rankings_page(&state, &user, &headers, q.period()?, None, None).await
}

/// The rankings page, with a refused settings text kept beside its error.
pub async fn rankings_page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    period: Period,
    typed: Option<String>,
    error: Option<String>,
) -> Result<Response, AppError> {
    let district = user.district_id;
    let names = Names::of(&state.store, district).await?;
    let (settings, text) = settings_of(state, district).await?;
    let r = statistics::rankings(&state.store, district, &period, &settings, &names).await?;
    let grids: Vec<(String, Option<f64>, i64)> = state
        .store
        .stats_by(district, Dim::Grid, &period, None)
        .await?
        .into_iter()
        .map(|(v, t)| {
            let f = Figures::of(t);
            (v, f.rectification_rate, t.open)
        })
        .collect();
    render(&RankingsPage {
        nav: Some(Nav::of(state, user, headers).await?),
        period,
        explanation: r.explanation,
        groups: vec![("街道（按问题所在地）", r.streets), ("职能部门（按交办给本部门的问题）", r.departments)],
        map: state.config.map.clone(),
        settings_text: typed.unwrap_or(text),
        can_configure: user.may(Action::ManageReports),
        grid_json: serde_json::to_string(&grids).unwrap_or_else(|_| "[]".into()),
        error,
    })
}

#[derive(Template)]
#[template(path = "screen.html")]
struct ScreenPage {
    district_name: String,
    overview: Overview,
    tiles: Vec<Tile>,
    groups: Vec<(&'static str, Vec<Ranked<Row>>)>,
    trend_json: String,
    campaigns_json: String,
}

/// `GET /dashboard/screen`: the wall display (1920×1080), refreshing itself.
pub async fn screen(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, AppError> {
    user.require(Action::ViewDistrictStatistics)?;
    let period = q.period()?;
    let district = user.district_id;
    let names = Names::of(&state.store, district).await?;
    let focus = Focus { dim: Dim::All, value: String::new(), name: "全区".into() };
    let overview = statistics::overview(&state.store, district, focus, period).await?;
    let (settings, _) = settings_of(&state, district).await?;
    let r = statistics::rankings(&state.store, district, &period, &settings, &names).await?;
    let campaigns = statistics::breakdown(&state.store, district, Dim::Campaign, &period, &names).await?;
    let campaigns: Vec<(String, i64, i64)> =
        campaigns.iter().map(|c| (c.name.clone(), c.figures.tally.reported, c.figures.tally.closed)).collect();
    render(&ScreenPage {
        district_name: state.store.district(district).await?.name,
        tiles: tiles(&overview),
        trend_json: serde_json::to_string(&overview.trend).unwrap_or_else(|_| "[]".into()),
        campaigns_json: serde_json::to_string(&campaigns).unwrap_or_else(|_| "[]".into()),
        overview,
        groups: vec![
            ("街道排名", r.streets.into_iter().take(10).collect()),
            ("部门排名", r.departments.into_iter().take(10).collect()),
        ],
    })
}

#[derive(Template)]
#[template(path = "measures.html")]
struct MeasuresPage {
    nav: Option<Nav>,
    measures: &'static [Measure],
}

/// `GET /dashboard/measures`: what each figure means (PRODUCT.md §4).
pub async fn measures(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    user.require(Action::ViewStatistics)?;
    render(&MeasuresPage { nav: Some(Nav::of(&state, &user, &headers).await?), measures: &MEASURES })
}
