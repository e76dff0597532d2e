//! The pages of the loop: the case list, the report form for phones, the
//! case page with its timeline, photos and the steps the user may take now.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::api::cases::{ReportBody, check_report, perform_step, store_evidence};
use crate::app::AppState;
use crate::auth::audit::AuditAction;
use crate::auth::policy::Action;
use crate::auth::{CurrentUser, check_csrf, csrf_token};
use crate::domain::calendar::{Clock, TimeLimit, beijing};
use crate::domain::cases::{CaseState, Transition, TransitionInput};
use crate::domain::org::UnitKind;
use crate::error::AppError;
use crate::store::cases::{Case, CaseEvent, CaseFilter};
use crate::web::{Nav, day_start, render};

/// Cases on a page of the list.
pub const PAGE: i64 = 30;

pub(crate) fn local(at: DateTime<Utc>) -> String {
    super::beijing_time(at, "%Y-%m-%d %H:%M")
}

fn state_label(code: &str) -> &'static str {
    CaseState::from_code(code).map(CaseState::label).unwrap_or("")
}

/// A row of the case list.
pub struct CaseRow {
    id: i64,
    number: String,
    state: String,
    state_label: &'static str,
    category: String,
    description: String,
    street: String,
    unit: String,
    reported: String,
    deadline: String,
    alert: &'static str,
}

#[derive(Template)]
#[template(path = "cases.html")]
struct CasesPage {
    nav: Option<Nav>,
    /// What is wrong with the filters; nothing is listed until they are mended.
    problems: Vec<String>,
    rows: Vec<CaseRow>,
    states: Vec<(&'static str, &'static str)>,
    choices: ListChoices,
    /// Where the page asks for its total (none while the filters are wrong).
    total_url: Option<String>,
    export_url: String,
    next_url: Option<String>,
    first_url: Option<String>,
    q: ListQuery,
}

/// The options of the list's filter selects: (value, label).
struct ListChoices {
    streets: Vec<(String, String)>,
    communities: Vec<(String, String)>,
    units: Vec<(String, String)>,
    categories: Vec<(String, String)>,
    campaigns: Vec<(String, String)>,
    sources: Vec<(String, String)>,
}

/// Filters of the case list (and of its export), as the query string holds them.
#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    street: String,
    #[serde(default)]
    community: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    campaign: String,
    #[serde(default)]
    source: String,
    /// A bulk intake batch's id.
    #[serde(default)]
    intake: String,
    /// First day, `YYYY-MM-DD` (Beijing time).
    #[serde(default)]
    from: String,
    /// Last day, included.
    #[serde(default)]
    to: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    overdue: String,
    #[serde(default)]
    amber: String,
    #[serde(default)]
    mine: String,
    /// Keyset cursor: cases with a smaller id.
    #[serde(default)]
    before: String,
}

impl ListQuery {
    /// The filters as a query string, without the cursor.
    fn filters(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("state", &self.state),
            ("street", &self.street),
            ("community", &self.community),
            ("unit", &self.unit),
            ("category", &self.category),
            ("campaign", &self.campaign),
            ("source", &self.source),
            ("intake", &self.intake),
            ("from", &self.from),
            ("to", &self.to),
            ("q", &self.q),
            ("overdue", &self.overdue),
            ("amber", &self.amber),
            ("mine", &self.mine),
        ] {
            if !value.is_empty() {
                out.append_pair(key, value);
            }
        }
        out.finish()
    }

    /// Any filter is set.
    fn any(&self) -> bool {
        !self.filters().is_empty()
    }

    /// What is wrong with the filters, in Chinese: a list never quietly
    /// shows (or exports) everything because one condition did not parse.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.state.is_empty() && self.state != REQUESTS && CaseState::from_code(&self.state).is_none() {
            problems.push(format!("未知的状态“{}”", self.state));
        }
        for (label, value) in
            [("街道", &self.street), ("社区", &self.community), ("责任单位", &self.unit), ("翻页位置", &self.before)]
        {
            if !value.is_empty() && value.parse::<i64>().is_err() {
                problems.push(format!("{label}“{value}”无法识别"));
            }
        }
        for (label, value) in [("起始日期", &self.from), ("截止日期", &self.to)] {
            if !value.trim().is_empty() && day_start(value, 0).is_none() {
                problems.push(format!("{label}“{value}”不是有效日期（应为 年-月-日，如 2026-11-27）"));
            }
        }
        if let (Some(from), Some(to)) = (day_start(&self.from, 0), day_start(&self.to, 0))
            && from > to
        {
            problems.push("起始日期晚于截止日期".into());
        }
        problems
    }
}

/// The list's pseudo-state: every request awaiting the office (回退、延期、挂账).
const REQUESTS: &str = "requests";

/// The store filter of the list's query.
fn filter_of(q: &ListQuery, user: &CurrentUser, limit: i64) -> CaseFilter {
    let some = |s: &str| Some(s.trim().to_string()).filter(|t| !t.is_empty());
    CaseFilter {
        state: Some(q.state.clone()).filter(|s| CaseState::from_code(s).is_some()),
        any_state: if q.state == REQUESTS {
            [CaseState::ReturnRequested, CaseState::ExtensionRequested, CaseState::DeferralRequested]
                .iter()
                .map(|s| s.code().to_string())
                .collect()
        } else {
            Vec::new()
        },
        street_id: q.street.parse().ok(),
        community_id: q.community.parse().ok(),
        unit_id: q.unit.parse().ok(),
        category: some(&q.category),
        campaign: some(&q.campaign),
        source: some(&q.source),
        intake_batch_id: q.intake.parse().ok(),
        from: day_start(&q.from, 0),
        to: day_start(&q.to, 1),
        overdue: q.overdue == "1",
        amber: q.amber == "1",
        reporter_id: user.user_id.filter(|_| q.mine == "1"),
        text: some(&q.q),
        limit,
        ..Default::default()
    }
}

/// The filter of a request that answers nothing but the cases it finds (a
/// total, an export): filters that do not parse are refused with 400, named
/// after `refusal`, rather than finding everything.
fn checked_filter(q: &ListQuery, user: &CurrentUser, limit: i64, refusal: &str) -> Result<CaseFilter, AppError> {
    let problems = q.problems();
    if !problems.is_empty() {
        return Err(AppError::BadRequest(format!("{refusal}：{}", problems.join("；"))));
    }
    Ok(filter_of(q, user, limit))
}

/// A total says "more than this many" rather than counting millions of rows.
const COUNT_CAP: i64 = 10_000;

/// `GET /cases`. The page of cases comes at once; its total is counted by
/// `GET /cases/total`, which the page asks for after it is shown — a count
/// under several filters reads every case of its widest filter (at ten
/// million cases, the month's 800,000 for 30 days), the page only a page.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    user.require(Action::WorkCases)?;
    let units = state.store.units(user.district_id).await?;
    let names = super::unit_names(&units);
    let problems = q.problems();
    let mut cases = if problems.is_empty() {
        let filter = CaseFilter { before_id: q.before.parse().ok(), ..filter_of(&q, &user, PAGE + 1) };
        state.store.cases(user.district_id, &user.scope(), user.user_id, &filter).await?
    } else {
        Vec::new()
    };
    let filters = q.filters();
    let next_url = (cases.len() as i64 > PAGE).then(|| {
        cases.truncate(PAGE as usize);
        let last = cases.last().map(|c| c.id).unwrap_or_default();
        if filters.is_empty() { format!("/cases?before={last}") } else { format!("/cases?{filters}&before={last}") }
    });
    let first_url = (!q.before.is_empty()).then(|| format!("/cases?{filters}"));
    let total_url = problems.is_empty().then(|| format!("/cases/total?{filters}"));
    let table = state.store.categories(user.district_id).await?;
    let category_names = state.store.category_names(user.district_id, &cases).await?;
    let rows = cases
        .iter()
        .map(|c| CaseRow {
            id: c.id,
            number: c.number.clone(),
            state: c.state.clone(),
            state_label: state_label(&c.state),
            category: category_names.of(c),
            description: c.description.clone(),
            street: c.street_id.and_then(|s| names.get(&s).cloned()).unwrap_or_default(),
            unit: c.unit_id.and_then(|u| names.get(&u).cloned()).unwrap_or_default(),
            reported: local(c.reported_at),
            deadline: c.deadline.map(local).unwrap_or_default(),
            alert: c.alert().css(),
        })
        .collect();
    let of_kind = |test: fn(UnitKind) -> bool| {
        units
            .iter()
            .filter(|u| UnitKind::from_code(&u.kind).is_some_and(test))
            .map(|u| (u.id.to_string(), u.name.clone()))
            .collect::<Vec<_>>()
    };
    let choices = ListChoices {
        streets: of_kind(UnitKind::is_street_level),
        communities: of_kind(UnitKind::is_community_level),
        units: of_kind(|k| !k.is_community_level() && k != UnitKind::District),
        categories: table.categories.iter().map(|c| (c.code.clone(), format!("{} {}", c.code, c.name))).collect(),
        campaigns: table.campaigns.iter().map(|c| (c.code.clone(), c.name.clone())).collect(),
        sources: crate::domain::cases::SOURCES.iter().map(|(c, l)| (c.to_string(), l.to_string())).collect(),
    };
    render(&CasesPage {
        nav: Some(Nav::of(&state, &user, &headers).await?),
        problems,
        rows,
        states: CaseState::ALL
            .iter()
            .map(|s| (s.code(), s.label()))
            .chain([(REQUESTS, "回退、延期、挂账申请")])
            .collect(),
        choices,
        total_url,
        export_url: format!("/cases/export?{filters}"),
        next_url,
        first_url,
        q,
    })
}

/// `GET /cases/total`: how many cases the list's filters find, as the
/// words the list shows ("共 N 件", or "超过 10000 件"); filters that do not
/// parse are named, as on the list, with 400.
pub async fn total(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    user.require(Action::WorkCases)?;
    let filter = checked_filter(&q, &user, 0, "筛选条件有误")?;
    let counted =
        state.store.count_cases(user.district_id, &user.scope(), user.user_id, &filter, COUNT_CAP + 1).await?;
    let words = if counted > COUNT_CAP { format!("超过 {COUNT_CAP} 件") } else { format!("共 {counted} 件") };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], words)
        .into_response())
}

/// A category in the report form's picker: code, label, and its filing
/// conditions with their time limits as a JSON list (for the condition picker).
type CategoryOption = (String, String, String);

#[derive(Template)]
#[template(path = "case_new.html")]
struct NewCasePage {
    nav: Option<Nav>,
    map: crate::config::MapConfig,
    csrf: String,
    /// Class name → its categories.
    groups: Vec<(String, Vec<CategoryOption>)>,
    values: ReportBody,
    error: Option<(String, String)>,
}

impl NewCasePage {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.error.as_ref().filter(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
    fn other_error(&self) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| !matches!(f.as_str(), "category" | "condition" | "description" | "lon" | "lat" | "file"))
            .map(|(_, m)| m.as_str())
    }
    /// The chosen filing condition, as the picker's value.
    fn condition_text(&self) -> String {
        self.values.condition.map(|c| c.to_string()).unwrap_or_default()
    }
    fn location_error(&self) -> Option<&str> {
        self.error_for("lon").or(self.error_for("lat"))
    }
    fn lon_text(&self) -> String {
        self.values.lon.map(|v| v.to_string()).unwrap_or_default()
    }
    fn lat_text(&self) -> String {
        self.values.lat.map(|v| v.to_string()).unwrap_or_default()
    }
}

async fn new_case_page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    values: ReportBody,
    error: Option<(String, String)>,
) -> Result<Response, AppError> {
    let table = state.store.categories(user.district_id).await?;
    let groups = table
        .classes
        .iter()
        .map(|class| {
            let items = table
                .categories
                .iter()
                .filter(|c| c.class() == class.code)
                .map(|c| {
                    // Its filing conditions with their time limits, for the condition picker.
                    let conditions: Vec<String> =
                        c.conditions.iter().map(|k| format!("{}（{}）", k.name, k.time_limit())).collect();
                    let conditions = serde_json::to_string(&conditions).unwrap_or_default();
                    (c.code.clone(), format!("{} {}", c.code, c.name), conditions)
                })
                .collect();
            (class.name.clone(), items)
        })
        .collect();
    render(&NewCasePage {
        nav: Some(Nav::of(state, user, headers).await?),
        map: state.config.map.clone(),
        csrf: csrf_token(headers),
        groups,
        values,
        error,
    })
}

/// `GET /cases/new`: the report form for phones.
pub async fn new_case(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    user.require(Action::ReportCase)?;
    new_case_page(&state, &user, &headers, ReportBody::default(), None).await
}

/// Reads a multipart form: its text fields and at most one file.
async fn read_form(mut form: Multipart) -> Result<(HashMap<String, String>, Option<(String, Bytes)>), AppError> {
    let mut fields = HashMap::new();
    let mut file = None;
    while let Some(field) = form.next_field().await.map_err(|e| AppError::BadRequest(format!("表单有误：{e}")))? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "photo" {
            let file_name = field.file_name().unwrap_or("photo.jpg").to_string();
            let bytes = field.bytes().await.map_err(|_| AppError::BadRequest("照片上传中断或超过 20 MB".into()))?;
            if !bytes.is_empty() {
                file = Some((file_name, bytes));
            }
        } else {
            fields.insert(name, field.text().await.unwrap_or_default());
        }
    }
    Ok((fields, file))
}

fn text(fields: &HashMap<String, String>, name: &str) -> String {
    fields.get(name).map(|v| v.trim().to_string()).unwrap_or_default()
}

/// `POST /cases/new`: files the report with its photo, then shows the case.
pub async fn create_case(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    form: Multipart,
) -> Result<Response, AppError> {
    user.require(Action::ReportCase)?;
    let (fields, photo) = read_form(form).await?;
    check_csrf(&headers, &text(&fields, "csrf"))?;
    let values = ReportBody {
        category: text(&fields, "category"),
        description: fields.get("description").cloned().unwrap_or_default(),
        lon: text(&fields, "lon").parse().ok(),
        lat: text(&fields, "lat").parse().ok(),
        address: text(&fields, "address"),
        crs: Some(text(&fields, "crs")).filter(|c| !c.is_empty()),
        condition: text(&fields, "condition").parse().ok(),
        ..Default::default()
    };
    if values.category.is_empty() {
        return new_case_page(&state, &user, &headers, values, Some(("category".into(), "请选择问题分类".into())))
            .await;
    }
    let (new, _) = match check_report(&state, &user, &values).await {
        Ok(checked) => checked,
        Err(AppError::Invalid { field, message }) => {
            return new_case_page(&state, &user, &headers, values, Some((field, message))).await;
        }
        Err(other) => return Err(other),
    };
    // The photo is checked before anything is filed.
    let photo = match photo {
        Some((name, bytes)) => match store_evidence(&state, &user, "before", &name, bytes).await {
            Ok(view) => Some(view.id),
            Err(AppError::Invalid { message, .. }) => {
                return new_case_page(&state, &user, &headers, values, Some(("file".into(), message))).await;
            }
            Err(other) => return Err(other),
        },
        None => None,
    };
    let audit = user.audit(AuditAction::CaseReported, "", "");
    let photos: Vec<i64> = photo.into_iter().collect();
    let (case, _, _) = state
        .store
        .create_case(user.district_id, &new, &audit, &photos, None, |_| (201, String::new()))
        .await
        .map_err(crate::api::cases::attachment_refused)?;
    Ok(Redirect::to(&format!("/cases/{}?done=report", case.id)).into_response())
}

/// A step the user may take, as the case page offers it.
pub struct StepForm {
    code: &'static str,
    label: &'static str,
    needs_note: bool,
    needs_unit: bool,
    needs_deadline: bool,
    needs_plan: bool,
    needs_photo: bool,
    needs_duplicate: bool,
}

fn step_form(t: Transition) -> StepForm {
    use Transition::*;
    StepForm {
        code: t.code(),
        label: t.label(),
        needs_note: matches!(
            t,
            Reject
                | Void
                | RequestReturn
                | VerifyFail
                | RefuseReturn
                | RefuseExtension
                | RefuseDeferral
                | RequestExtension
        ),
        needs_unit: t == Dispatch,
        needs_deadline: matches!(t, RequestExtension | GrantExtension),
        needs_plan: t == RequestDeferral,
        needs_photo: t == Handle,
        needs_duplicate: t == Merge,
    }
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    nav: Option<Nav>,
    map: crate::config::MapConfig,
    /// Where it is, in the tiles' datum.
    position: Option<(f64, f64)>,
    /// Its grid cell as GeoJSON (in the tiles' datum), for the small map.
    grid_json: String,
    csrf: String,
    case: Case,
    state_label: &'static str,
    category: String,
    condition: String,
    closing: String,
    time_limit: String,
    street: String,
    unit: String,
    reported: String,
    /// When the source found it (imported findings), Beijing time.
    found: String,
    deadline: String,
    time_left: String,
    alert: &'static str,
    events: Vec<(CaseEvent, String, &'static str)>,
    before: Vec<i64>,
    after: Vec<i64>,
    steps: Vec<StepForm>,
    units: Vec<(i64, String)>,
    suggested_unit: Option<i64>,
    suggestion: String,
    message: Option<String>,
    error: Option<(String, String)>,
    /// The fields of a refused step form, shown again in that form.
    typed: HashMap<String, String>,
    /// The office or a leader may raise a supervision order here.
    can_supervise: bool,
}

impl CasePage {
    fn is_suggested(&self, unit: &i64) -> bool {
        match self.typed.get("unit_id").and_then(|u| u.parse::<i64>().ok()) {
            Some(chosen) => chosen == *unit,
            None => self.suggested_unit == Some(*unit),
        }
    }
    /// What was typed into `field` of the form of step `step`, if that form was refused.
    fn typed(&self, step: &str, field: &str) -> &str {
        if step == "supervise" {
            return self.typed.get("supervise_note").map(String::as_str).unwrap_or("");
        }
        match self.typed.get("transition") {
            Some(refused) if refused == step => self.typed.get(field).map(String::as_str).unwrap_or(""),
            _ => "",
        }
    }
    fn error_for(&self, field: &str) -> Option<&str> {
        self.error.as_ref().filter(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
}

/// Messages after a step, by the step's code.
fn done_message(code: &str) -> Option<String> {
    match code {
        "report" => Some("已上报，感谢您的反映。".into()),
        "supervise" => Some("已督办，督办单已发给责任单位负责人。".into()),
        "" => None,
        code => Transition::from_code(code).map(|t| format!("已{}。", t.label())),
    }
}

async fn case_page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    id: i64,
    message: Option<String>,
    error: Option<(String, String)>,
    typed: HashMap<String, String>,
) -> Result<Response, AppError> {
    let case = state.store.case(user.district_id, &user.scope(), user.user_id, id).await?.ok_or(AppError::NotFound)?;
    let units = state.store.units(user.district_id).await?;
    let names = super::unit_names(&units);
    let table = state.store.categories_of_version(user.district_id, &case.category_version).await?;
    let category = table.category(&case.category_code);
    let condition = category.and_then(|c| c.conditions.get(case.condition_index as usize));
    let clock = Clock::from_code(&case.limit_clock);
    let calendar = state.store.calendar(user.district_id).await?;
    let in_unit = case
        .unit_id
        .and_then(|unit| units.iter().find(|u| u.id == unit))
        .is_some_and(|unit| unit.path.starts_with(&user.unit_path));
    let state_now = CaseState::from_code(&case.state).unwrap_or(CaseState::Reported);
    let steps: Vec<StepForm> = crate::api::cases::allowed(&case, &user.roles, in_unit, &calendar)
        .into_iter()
        .filter_map(Transition::from_code)
        .map(step_form)
        .collect();
    let time_left = match (case.deadline, state_now.unit_clock_runs()) {
        (Some(deadline), true) => {
            let left = calendar.elapsed_minutes(Utc::now(), deadline, clock);
            if Utc::now() > deadline {
                format!("已超期 {}", human_minutes(calendar.elapsed_minutes(deadline, Utc::now(), clock), clock))
            } else {
                format!("剩余 {}", human_minutes(left, clock))
            }
        }
        _ => String::new(),
    };
    let events = state
        .store
        .case_events(case.id)
        .await?
        .into_iter()
        .map(|e| {
            let at = local(e.at);
            let label = crate::domain::cases::event_label(&e.action);
            (e, at, label)
        })
        .collect();
    let attachments = state.store.case_attachments(case.id).await?;
    let before = attachments.iter().filter(|a| a.kind != "after").map(|a| a.id).collect();
    let after = attachments.iter().filter(|a| a.kind == "after").map(|a| a.id).collect();
    // The rules' suggestion, only where the dispatch form is offered.
    let suggestion = if steps.iter().any(|s| s.needs_unit) {
        crate::api::dispatch::suggestion_for(&state.store, &case).await.map_err(|e| e.0)?
    } else {
        None
    };
    let crs = &state.config.map.tile_crs;
    let position = case.lon.zip(case.lat).map(|(lon, lat)| crate::api::map::to_tiles(crs, lon, lat));
    let grid_json = match case.grid_id {
        Some(grid) => match state.store.grid(user.district_id, grid).await? {
            Some(g) => crate::api::map::grid_feature_collection(crs, std::slice::from_ref(&g)).to_string(),
            None => String::new(),
        },
        None => String::new(),
    };
    let page = CasePage {
        nav: Some(Nav::of(state, user, headers).await?),
        map: state.config.map.clone(),
        position,
        grid_json,
        csrf: csrf_token(headers),
        state_label: state_label(&case.state),
        category: category.map(|c| format!("{} {}", c.code, c.name)).unwrap_or_default(),
        condition: condition.map(|c| c.name.clone()).unwrap_or_default(),
        closing: condition.map(|c| c.closing.clone()).unwrap_or_default(),
        time_limit: TimeLimit::new(case.limit_amount as u32, clock).to_string(),
        street: case.street_id.and_then(|s| names.get(&s).cloned()).unwrap_or_default(),
        unit: case.unit_id.and_then(|u| names.get(&u).cloned()).unwrap_or_default(),
        reported: local(case.reported_at),
        found: case.found_at.map(local).unwrap_or_default(),
        deadline: case.deadline.map(local).unwrap_or_default(),
        time_left,
        alert: case.alert().css(),
        events,
        before,
        after,
        steps,
        units: super::assignable_units(&units),
        suggested_unit: suggestion.as_ref().map(|s| s.unit_id),
        suggestion: suggestion.map(|s| format!("{}（{}）", s.unit_name, s.reason_label)).unwrap_or_default(),
        message,
        error,
        typed,
        can_supervise: user.may(Action::Supervise)
            && CaseState::from_code(&case.state).is_some_and(CaseState::is_open)
            && case.unit_id.is_some(),
        case,
    };
    render(&page)
}

fn human_minutes(minutes: i64, clock: Clock) -> String {
    let working = matches!(clock, Clock::WorkingHours | Clock::WorkingDays);
    let (h, m) = (minutes / 60, minutes % 60);
    let unit = if working { "工作时" } else { "小时" };
    if h > 0 { format!("{h} {unit} {m} 分") } else { format!("{m} 分钟") }
}

/// What a case page is asked to show after a step.
#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

/// `GET /cases/{id}`.
pub async fn case(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    user.require(Action::WorkCases)?;
    case_page(&state, &user, &headers, id, done_message(&q.done), None, HashMap::new()).await
}

/// `POST /cases/{id}/step`: one step from the case page.
pub async fn step(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    form: Multipart,
) -> Result<Response, AppError> {
    user.require(Action::WorkCases)?;
    let (fields, photo) = read_form(form).await?;
    check_csrf(&headers, &text(&fields, "csrf"))?;
    let transition =
        Transition::from_code(&text(&fields, "transition")).ok_or_else(|| AppError::BadRequest("未知的操作".into()))?;
    let mut input = TransitionInput {
        note: text(&fields, "note"),
        unit_id: text(&fields, "unit_id").parse().ok(),
        duplicate_of: text(&fields, "duplicate_of").parse().ok(),
        new_deadline: chrono::NaiveDateTime::parse_from_str(&text(&fields, "new_deadline"), "%Y-%m-%dT%H:%M")
            .ok()
            .and_then(|t| t.and_local_timezone(beijing()).single())
            .map(|t| t.with_timezone(&Utc)),
        plan: text(&fields, "plan"),
        target_date: chrono::NaiveDate::parse_from_str(&text(&fields, "target_date"), "%Y-%m-%d").ok(),
        ..Default::default()
    };
    if let Some((name, bytes)) = photo {
        match store_evidence(&state, &user, "after", &name, bytes).await {
            Ok(view) => input.attachment_ids.push(view.id),
            Err(AppError::Invalid { message, .. }) => {
                let refused = Some(("attachment_ids".into(), message));
                return case_page(&state, &user, &headers, id, None, refused, fields).await;
            }
            Err(other) => return Err(other),
        }
    }
    let version = text(&fields, "version").parse().ok();
    match perform_step(&state, &user, id, transition, &input, version).await {
        Ok(_) => Ok(Redirect::to(&format!("/cases/{id}?done={}", transition.code())).into_response()),
        Err(AppError::Invalid { field, message }) => {
            case_page(&state, &user, &headers, id, None, Some((field, message)), fields).await
        }
        Err(AppError::Conflict(message)) => {
            case_page(&state, &user, &headers, id, None, Some(("conflict".into(), message)), HashMap::new()).await
        }
        Err(other) => Err(other),
    }
}

/// `POST /cases/{id}/supervise`: the office or a leader raises a supervision order by hand.
pub async fn supervise(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, AppError> {
    // Read as bytes, so the caller's rights are asked before the form is; as
    // with every case step, a case out of scope is 404 before the role is asked.
    user.require(Action::WorkCases)?;
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    check_csrf(&headers, &text(&form, "csrf"))?;
    let note = form.get("note").cloned().unwrap_or_default();
    match crate::api::supervision::supervise_case(&state, &user, id, &note, None).await {
        Ok(_) => Ok(Redirect::to(&format!("/cases/{id}?done=supervise")).into_response()),
        Err(AppError::Invalid { message, .. } | AppError::Conflict(message)) => {
            let typed = HashMap::from([("supervise_note".to_string(), note)]);
            case_page(&state, &user, &headers, id, None, Some(("supervise_note".into(), message)), typed).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "supervision.html")]
struct SupervisionPage {
    nav: Option<Nav>,
    orders: Vec<(crate::store::supervision::SupervisionOrder, &'static str, String)>,
}

/// `GET /supervision`: the supervision orders (督办) of the user's scope.
pub async fn supervision(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    user.require(Action::WorkCases)?;
    let orders = state.store.supervision_orders(user.district_id, &user.scope(), None, 200).await?;
    // A lead of the unit an order went to has now read it (it shows as 未阅 this once).
    for order in orders.iter().filter(|o| crate::api::supervision::read_by_its_unit(&user, o)) {
        state.store.mark_order_read(order.id).await?;
    }
    let orders = orders
        .into_iter()
        .map(|o| {
            let reason = match o.reason.as_str() {
                "overdue" => "超期督办",
                "rework" => "返工督办",
                _ => "专项督办",
            };
            let at = local(o.created_at);
            (o, reason, at)
        })
        .collect();
    render(&SupervisionPage { nav: Some(Nav::of(&state, &user, &headers).await?), orders })
}

/// Rows an export holds at most.
const EXPORT_LIMIT: i64 = 50_000;

/// `GET /cases/export?…`: the current list (same filters) as xlsx.
pub async fn export(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    use rust_xlsxwriter::{Format, Workbook};
    user.require(Action::WorkCases)?;
    let filter = checked_filter(&q, &user, EXPORT_LIMIT, "筛选条件有误，未导出")?;
    let units = state.store.units(user.district_id).await?;
    let names = super::unit_names(&units);
    let cases = state.store.cases(user.district_id, &user.scope(), user.user_id, &filter).await?;
    let category_names = state.store.category_names(user.district_id, &cases).await?;
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let bold = Format::new().set_bold();
    let headers =
        ["编号", "状态", "分类", "描述", "街道", "责任单位", "上报人", "来源", "上报时间", "期限", "返工次数"];
    let fail = |e: rust_xlsxwriter::XlsxError| AppError::internal(e);
    for (col, header) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *header, &bold).map_err(fail)?;
    }
    for (i, c) in cases.iter().enumerate() {
        let row = i as u32 + 1;
        let cells = [
            c.number.clone(),
            state_label(&c.state).to_string(),
            category_names.of(c),
            c.description.clone(),
            c.street_id.and_then(|s| names.get(&s).cloned()).unwrap_or_default(),
            c.unit_id.and_then(|u| names.get(&u).cloned()).unwrap_or_default(),
            c.reporter_name.clone(),
            crate::domain::cases::source_label(&c.source).unwrap_or_default().to_string(),
            local(c.reported_at),
            c.deadline.map(local).unwrap_or_default(),
        ];
        for (col, cell) in cells.iter().enumerate() {
            sheet.write_string(row, col as u16, cell).map_err(fail)?;
        }
        sheet.write_number(row, cells.len() as u16, c.rework_count as f64).map_err(fail)?;
    }
    sheet.autofit();
    let bytes = book.save_to_buffer().map_err(fail)?;
    let detail = serde_json::json!({ "register": "cases", "rows": cases.len() }).to_string();
    state.store.audit(&user.audit(AuditAction::DataExported, "cases", detail)).await?;
    let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    Ok(crate::web::download(bytes, xlsx, "cases.xlsx", "案卷.xlsx"))
}
