//! `/api/v1/cases`: report a problem, move it through the loop, read it;
//! `/api/v1/attachments`: upload evidence.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::auth::audit::AuditAction;
use crate::auth::policy::Action;
use crate::auth::{ApiUser, CurrentUser};
use crate::domain::calendar::{Clock, TimeLimit, WorkCalendar};
use crate::domain::cases::{Actor, CaseFacts, CaseState, Transition, TransitionError, TransitionInput, apply};
use crate::domain::categories;
use crate::domain::coords::Crs;
use crate::domain::evidence;
use crate::domain::geometry::valid_position;
use crate::domain::org::Role;
use crate::error::{ApiError, AppError};
use crate::places::grid_index_in;
use crate::store::StoreError;
use crate::store::cases::{
    ATTACHMENT_TAKEN, Case, CaseBrief, CaseEvent, CaseFilter, MergedReport, NewAttachment, NewCase,
};

/// Largest evidence file accepted.
pub const MAX_EVIDENCE_BYTES: usize = 20 * 1024 * 1024;

/// A case as the API shows it: the stored row plus the names people read.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CaseView {
    /// The stored case.
    #[serde(flatten)]
    pub case: Case,
    /// State in Chinese.
    pub state_label: &'static str,
    /// Category name.
    pub category_name: String,
    /// Filing condition.
    pub condition_name: String,
    /// Closing condition.
    pub closing_condition: String,
    /// Campaign name.
    pub campaign_name: String,
    /// The time limit, e.g. `1 工作日`.
    pub time_limit: String,
}

/// A case with the names of its category version's table.
pub fn view(case: Case, table: &categories::CategoryTable) -> CaseView {
    let category = table.category(&case.category_code);
    let condition = category.and_then(|c| c.conditions.get(case.condition_index as usize));
    let clock = Clock::from_code(&case.limit_clock);
    CaseView {
        state_label: CaseState::from_code(&case.state).map(CaseState::label).unwrap_or(""),
        category_name: category.map(|c| c.name.clone()).unwrap_or_default(),
        condition_name: condition.map(|c| c.name.clone()).unwrap_or_default(),
        closing_condition: condition.map(|c| c.closing.clone()).unwrap_or_default(),
        campaign_name: table.campaign(&case.campaign).map(|c| c.name.clone()).unwrap_or_default(),
        time_limit: TimeLimit::new(case.limit_amount as u32, clock).to_string(),
        case,
    }
}

fn field_error(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid { field: field.to_string(), message: message.into() }
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError(AppError::Invalid { field: field.to_string(), message: message.into() })
}

/// A report.
#[derive(Deserialize, Serialize, Default, Clone, Debug, utoipa::ToSchema)]
pub struct ReportBody {
    /// Category code (GB/T 47678.5).
    pub category: String,
    /// Index of the filing condition; the first when absent.
    #[serde(default)]
    pub condition: Option<usize>,
    /// What was found.
    pub description: String,
    /// Longitude.
    #[serde(default)]
    pub lon: Option<f64>,
    /// Latitude.
    #[serde(default)]
    pub lat: Option<f64>,
    /// Coordinate system of lon/lat (wgs84 by default).
    #[serde(default)]
    pub crs: Option<String>,
    /// Address.
    #[serde(default)]
    pub address: String,
    /// The evaluation point it was found at.
    #[serde(default)]
    pub point_id: Option<i64>,
    /// Where it came from (the office may set it: hotline, media…).
    #[serde(default)]
    pub source: Option<String>,
}

pub use crate::domain::cases::SOURCES;

fn source_of(user: &CurrentUser, asked: Option<&str>) -> Result<String, AppError> {
    let office = user.roles.iter().any(|r| matches!(r, Role::Office | Role::Admin));
    if let Some(asked) = asked.filter(|s| !s.is_empty()) {
        if !SOURCES.iter().any(|(code, _)| *code == asked) {
            return Err(field_error("source", format!("未知的来源“{asked}”")));
        }
        if office || user.via_token() {
            return Ok(asked.to_string());
        }
    }
    let derived = if user.via_token() {
        "open311"
    } else if user.roles.contains(&Role::Inspector) {
        "inspection"
    } else if user.roles.contains(&Role::Supervisor) {
        "supervisor"
    } else if user.roles.contains(&Role::Evaluator) {
        "third_party"
    } else if user.roles.contains(&Role::Leader) {
        "leader"
    } else if office {
        "office"
    } else {
        "volunteer"
    };
    Ok(derived.to_string())
}

/// `POST /api/v1/cases`: files a report. With an `Idempotency-Key` header a
/// retried request gets the first answer and files nothing twice.
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", summary = "上报问题（可带 Idempotency-Key 头，重试不重复立案）", request_body = ReportBody, params(("Idempotency-Key" = Option<String>, Header, description = "幂等键：同一键的重试得到第一次的答复")), responses((status = 201, description = "已上报", body = CaseView), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn report(
    State(state): State<AppState>,
    user: ApiUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    user.require(Action::ReportCase)?;
    let idem = Idempotency::of(&user, &headers, &body)?;
    let key = idem.as_ref().map(|i| i.key.as_str());
    if let Some(idem) = &idem
        && let Some(stored) = state.store.idempotent_response(user.district_id, &idem.key).await?
    {
        idem.same_request(&stored)?;
        return Ok(json_response(stored.status, stored.response));
    }
    let body: ReportBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError(AppError::BadRequest(format!("请求体不是有效的 JSON：{e}"))))?;
    let (new, table) = check_report(&state, &user, &body).await?;
    let audit = user.audit(AuditAction::CaseReported, "", "");
    let idempotency = idem.as_ref().map(Idempotency::parts);
    let shown = table.clone();
    let respond =
        move |case: &Case| (201, serde_json::to_string(&view(case.clone(), &shown)).expect("a case serialises"));
    match state.store.create_case(user.district_id, &new, &audit, &[], idempotency, respond).await {
        Ok((_, status, body)) => Ok(json_response(status, body)),
        // The same key raced in from a retry: answer what the first one got.
        Err(StoreError::Duplicate(_)) if key.is_some() => {
            let idem = idem.as_ref().expect("checked");
            let stored =
                state.store.idempotent_response(user.district_id, &idem.key).await?.ok_or(AppError::NotFound)?;
            idem.same_request(&stored)?;
            Ok(json_response(stored.status, stored.response))
        }
        Err(err) => Err(err.into()),
    }
}

/// Checks a report and places it: the category and filing condition, the
/// location (converted to WGS-84 and resolved to its grid), the source.
pub async fn check_report(
    state: &AppState,
    user: &CurrentUser,
    body: &ReportBody,
) -> Result<(NewCase, std::sync::Arc<categories::CategoryTable>), AppError> {
    let source = source_of(user, body.source.as_deref())?;
    place_report(state, user, body, source).await
}

/// [`check_report`] with the source already decided (an Open311 client's
/// reports are `open311`, whatever they say).
pub async fn place_report(
    state: &AppState,
    user: &CurrentUser,
    body: &ReportBody,
    source: String,
) -> Result<(NewCase, std::sync::Arc<categories::CategoryTable>), AppError> {
    // One read at most for the current tables: none when the session brought them.
    let tables = match &user.tables {
        Some(tables) => tables.clone(),
        None => state.store.district_tables(user.district_id).await?,
    };
    let table = state.store.categories_named(user.district_id, tables.categories_version.as_deref()).await?;
    let category = table
        .category(body.category.trim())
        .ok_or_else(|| field_error("category", format!("未知的问题分类“{}”", body.category)))?;
    let condition_index = body.condition.unwrap_or(0);
    let condition = category.conditions.get(condition_index).ok_or_else(|| {
        field_error("condition", format!("分类“{}”没有第 {} 个立案条件", category.name, condition_index + 1))
    })?;
    let description = body.description.trim();
    if description.is_empty() || description.chars().count() > 10_000 {
        return Err(field_error("description", "请描述问题（不超过 10000 字）"));
    }
    let point = match body.point_id {
        Some(id) => Some(
            state
                .store
                .point(user.district_id, &crate::auth::policy::Scope::District, id)
                .await?
                .ok_or_else(|| field_error("point_id", "点位不存在"))?,
        ),
        None => None,
    };
    let location = match (body.lon, body.lat) {
        (Some(lon), Some(lat)) => {
            let crs = match body.crs.as_deref() {
                None | Some("") => Crs::Wgs84,
                Some(raw) => Crs::parse(raw).ok_or_else(|| field_error("crs", "坐标系应为 wgs84、gcj02 或 bd09"))?,
            };
            if !valid_position(lon, lat) {
                return Err(field_error("lon", "经纬度超出范围"));
            }
            Some(crs.to_wgs84(lon, lat))
        }
        (None, None) => point.as_ref().map(|p| (p.lon, p.lat)),
        _ => return Err(field_error("lat", "经度和纬度须同时填写")),
    };
    let place = match location {
        Some((lon, lat)) => {
            let index = grid_index_in(&state.store, user.district_id, &tables).await?;
            match index.resolve(lon, lat) {
                Some(l) => Some((l.grid_id, l.community_id, l.street_id)),
                None if !index.is_empty() => return Err(field_error("lon", "位置不在本区任何网格内")),
                None => None,
            }
        }
        None => None,
    };
    if location.is_none() && body.address.trim().is_empty() {
        return Err(field_error("lon", "请提供位置（经纬度、点位或地址）"));
    }
    let new = NewCase {
        source,
        category_code: category.code.clone(),
        category_version: table.version.clone(),
        condition_index: condition_index as i64,
        campaign: category.campaign.clone(),
        limit_amount: condition.limit as i64,
        limit_clock: condition.clock.code().to_string(),
        description: description.to_string(),
        address: body.address.trim().to_string(),
        location,
        place,
        point_id: point.as_ref().map(|p| p.id),
        reporter_id: user.user_id,
        reporter_name: user.display_name.clone(),
    };
    Ok((new, table))
}

fn json_response(status: i64, body: String) -> Response {
    let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The `Idempotency-Key` of a creation, with who sent it and the hash of
/// its body: a retry of the same request gets the first answer, the same key
/// on another request is refused.
pub struct Idempotency {
    /// The key.
    pub key: String,
    /// `user:ID` or `token:ID`.
    pub actor: String,
    /// SHA-256 of the body.
    pub request_hash: String,
}

impl Idempotency {
    /// The request's key, if it has one.
    pub fn of(user: &CurrentUser, headers: &HeaderMap, body: &[u8]) -> Result<Option<Idempotency>, ApiError> {
        let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::trim) else {
            return Ok(None);
        };
        if key.is_empty() {
            return Ok(None);
        }
        if key.len() > 128 {
            return Err(invalid("Idempotency-Key", "幂等键不能超过 128 个字符"));
        }
        let actor = match (user.user_id, user.token_id) {
            (Some(id), _) => format!("user:{id}"),
            (None, token) => format!("token:{}", token.unwrap_or_default()),
        };
        let request_hash = Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect();
        Ok(Some(Idempotency { key: key.to_string(), actor, request_hash }))
    }

    /// What the store keeps: (key, actor, hash).
    pub fn parts(&self) -> (&str, &str, &str) {
        (&self.key, &self.actor, &self.request_hash)
    }

    /// Refuses a stored answer that belongs to another request.
    pub fn same_request(&self, stored: &crate::store::cases::StoredResponse) -> Result<(), ApiError> {
        if stored.actor != self.actor || stored.request_hash != self.request_hash {
            return Err(invalid("Idempotency-Key", "这个幂等键已用于另一个请求"));
        }
        Ok(())
    }
}

/// A likely duplicate: an open case of the same category nearby.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Duplicate {
    /// The case.
    #[serde(flatten)]
    pub case: CaseBrief,
    /// How far away, in metres.
    pub distance_m: f64,
}

/// Open cases of `category` within the radius of `(lon, lat)` from the last days.
pub async fn duplicates_near(
    state: &AppState,
    user: &CurrentUser,
    category: &str,
    lon: f64,
    lat: f64,
    except: Option<i64>,
) -> Result<Vec<Duplicate>, ApiError> {
    // How near and how recent: `duplicate_radius_m` (50 m) and `duplicate_days` (7).
    let radius = state.config.duplicate_radius_m;
    // Degrees per metre at this latitude, for the box the database filters by.
    let d_lat = radius / 110_574.0;
    let d_lon = radius / (111_320.0 * lat.to_radians().cos().max(0.01));
    let since = Utc::now() - chrono::Duration::days(state.config.duplicate_days as i64);
    let near = state
        .store
        .open_cases_near(
            user.district_id,
            &user.scope(),
            user.user_id,
            category,
            (lon - d_lon, lat - d_lat, lon + d_lon, lat + d_lat),
            since,
        )
        .await?;
    let mut found: Vec<Duplicate> = near
        .into_iter()
        .filter(|c| Some(c.id) != except)
        .filter_map(|c| {
            let distance_m = crate::domain::coords::distance_m((lon, lat), (c.lon?, c.lat?));
            (distance_m <= radius).then_some(Duplicate { case: c, distance_m: distance_m.round() })
        })
        .collect();
    found.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
    Ok(found)
}

/// Where to look for duplicates before reporting.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DuplicateQuery {
    category: String,
    lon: f64,
    lat: f64,
    #[serde(default)]
    crs: Option<String>,
}

/// `GET /api/v1/cases/duplicates?category=&lon=&lat=`: what a reporter is
/// shown before submitting, to join an open case instead of filing again.
#[utoipa::path(get, path = "/api/v1/cases/duplicates", tag = "cases", summary = "上报前查看附近同类未结问题", params(DuplicateQuery), responses((status = 200, description = "附近的同类问题，近者在前", body = [Duplicate]), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn duplicates(
    State(state): State<AppState>,
    user: ApiUser,
    ApiQuery(q): ApiQuery<DuplicateQuery>,
) -> Result<Json<Vec<Duplicate>>, ApiError> {
    user.require(Action::ReportCase)?;
    let crs = match q.crs.as_deref() {
        None | Some("") => Crs::Wgs84,
        Some(raw) => Crs::parse(raw).ok_or_else(|| invalid("crs", "坐标系应为 wgs84、gcj02 或 bd09"))?,
    };
    if !valid_position(q.lon, q.lat) {
        return Err(invalid("lon", "经纬度超出范围"));
    }
    let (lon, lat) = crs.to_wgs84(q.lon, q.lat);
    Ok(Json(duplicates_near(&state, &user, q.category.trim(), lon, lat, None).await?))
}

/// A case with its steps and the steps the caller may take now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CaseDetail {
    /// The case.
    #[serde(flatten)]
    pub case: CaseView,
    /// Steps so far.
    pub events: Vec<CaseEvent>,
    /// Transition codes the caller may take now.
    pub allowed: Vec<&'static str>,
    /// The unit the dispatch rules suggest, and why.
    pub suggestion: Option<super::dispatch::Suggestion>,
    /// Open cases nearby of the same category (for a report not yet accepted).
    pub possible_duplicates: Vec<Duplicate>,
    /// The case this report was merged into: its reporter follows it there.
    pub merged_into: Option<CaseBrief>,
    /// Reports merged into this case: every reporter is kept informed.
    pub merged_reports: Vec<MergedReport>,
}

async fn load(state: &AppState, user: &ApiUser, id: i64) -> Result<Case, ApiError> {
    Ok(state.store.case(user.district_id, &user.scope(), user.user_id, id).await?.ok_or(AppError::NotFound)?)
}

async fn in_assigned_unit(state: &AppState, user: &ApiUser, case: &Case) -> Result<bool, ApiError> {
    Ok(match case.unit_id {
        Some(unit) => state.store.unit_by_id(unit).await?.path.starts_with(&user.unit_path),
        None => false,
    })
}

/// The facts the case rules need.
pub fn facts_of(case: &Case) -> CaseFacts {
    facts(case)
}

fn facts(case: &Case) -> CaseFacts {
    CaseFacts {
        state: CaseState::from_code(&case.state).unwrap_or(CaseState::Reported),
        limit: TimeLimit::new(case.limit_amount as u32, Clock::from_code(&case.limit_clock)),
        deadline: case.deadline,
        rework_count: case.rework_count,
        dispatched_at: case.dispatched_at,
        handled_at: case.handled_at,
    }
}

/// The transitions `user` may take on `case` now (those the rules would accept
/// with complete input).
pub fn allowed(case: &Case, roles: &[Role], in_unit: bool, calendar: &WorkCalendar) -> Vec<&'static str> {
    let full = TransitionInput {
        note: "x".into(),
        unit_id: Some(0),
        duplicate_of: Some(0),
        new_deadline: Some(Utc::now() + chrono::Duration::days(3650)),
        plan: "x".into(),
        target_date: Some((Utc::now() + chrono::Duration::days(30)).date_naive()),
        attachment_ids: vec![0],
        ..Default::default()
    };
    let actor = Actor { roles, in_assigned_unit: in_unit };
    let facts = CaseFacts { deadline: Some(Utc::now()), ..facts(case) };
    Transition::ALL
        .into_iter()
        .filter(|t| apply(&facts, *t, &full, &actor, Utc::now(), calendar).is_ok())
        .map(Transition::code)
        .collect()
}

/// `GET /api/v1/cases/{id}`.
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases", summary = "案卷详情、办理过程与可办理的步骤", params(("id" = i64, Path, description = "案卷编号（内部 id）")), responses((status = 200, description = "案卷", body = CaseDetail), (status = 404, description = "不存在或不在数据范围内", body = crate::error::ErrorBody), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn case(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<CaseDetail>, ApiError> {
    user.require(Action::WorkCases)?;
    let case = load(&state, &user, id).await?;
    let in_unit = in_assigned_unit(&state, &user, &case).await?;
    let calendar = state.store.calendar(user.district_id).await?;
    let allowed = allowed(&case, &user.roles, in_unit, &calendar);
    let table = state.store.categories_of_version(user.district_id, &case.category_version).await?;
    let events = state.store.case_events(case.id).await?;
    let suggestion = super::dispatch::suggestion_for(&state.store, &case).await?;
    let possible_duplicates = match (case.state.as_str(), case.lon, case.lat) {
        ("reported", Some(lon), Some(lat)) => {
            duplicates_near(&state, &user, &case.category_code, lon, lat, Some(case.id)).await?
        }
        _ => Vec::new(),
    };
    let merged_into = match case.duplicate_of {
        Some(original) => state.store.case_brief(user.district_id, original).await?,
        None => None,
    };
    let merged_reports = state.store.merged_reports(case.id).await?;
    Ok(Json(CaseDetail {
        case: view(case, &table),
        events,
        allowed,
        suggestion,
        possible_duplicates,
        merged_into,
        merged_reports,
    }))
}

/// Filters of the case list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    state: Option<String>,
    unit_id: Option<i64>,
    category: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}

/// A page of cases.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CasePage {
    /// Newest first.
    pub items: Vec<CaseView>,
    /// Pass as `before` for the next page; absent on the last.
    pub next_before: Option<i64>,
}

/// `GET /api/v1/cases`.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", summary = "案卷列表（键集分页：next_before 传回 before）", params(ListQuery), responses((status = 200, description = "一页案卷，新者在前", body = CasePage), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn cases(
    State(state): State<AppState>,
    user: ApiUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<CasePage>, ApiError> {
    user.require(Action::WorkCases)?;
    if let Some(s) = q.state.as_deref().filter(|s| CaseState::from_code(s).is_none()) {
        return Err(invalid("state", format!("未知的状态“{s}”")));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let filter = CaseFilter {
        state: q.state,
        unit_id: q.unit_id,
        category: q.category,
        before_id: q.before,
        limit: limit + 1,
        ..Default::default()
    };
    let mut items = state.store.cases(user.district_id, &user.scope(), user.user_id, &filter).await?;
    let next_before = (items.len() as i64 > limit).then(|| {
        items.truncate(limit as usize);
        items.last().map(|c| c.id).unwrap_or_default()
    });
    // Cases are shown with the table they were filed under.
    let mut tables: std::collections::HashMap<String, std::sync::Arc<categories::CategoryTable>> = Default::default();
    let mut views = Vec::with_capacity(items.len());
    for case in items {
        if !tables.contains_key(&case.category_version) {
            let table = state.store.categories_of_version(user.district_id, &case.category_version).await?;
            tables.insert(case.category_version.clone(), table);
        }
        let table = tables[&case.category_version].clone();
        views.push(view(case, &table));
    }
    Ok(Json(CasePage { items: views, next_before }))
}

/// A step's body: the input the step needs, and the version the caller saw.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct StepBody {
    /// The version of the case the caller acted on (optimistic concurrency).
    #[serde(default)]
    version: Option<i64>,
    #[serde(flatten)]
    input: TransitionInput,
}

/// `POST /api/v1/cases/{id}/{transition}`: one step of the loop.
#[utoipa::path(post, path = "/api/v1/cases/{id}/{transition}", tag = "cases", summary = "流转一步：受理、派遣、签收、处置、核查……", request_body = StepBody, params(("id" = i64, Path, description = "案卷 id"), ("transition" = String, Path, description = "步骤代码：accept, reject, merge, dispatch, acknowledge, request_return, approve_return, refuse_return, request_extension, grant_extension, refuse_extension, request_deferral, approve_deferral, refuse_deferral, resume, handle, verify_pass, verify_fail, void")), responses((status = 200, description = "流转后的案卷", body = CaseView), (status = 404, description = "不存在", body = crate::error::ErrorBody), (status = 409, description = "案卷已被他人改动", body = crate::error::ErrorBody), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn step(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath((id, code)): ApiPath<(i64, String)>,
    ApiJson(body): ApiJson<StepBody>,
) -> Result<Json<CaseView>, ApiError> {
    user.require(Action::WorkCases)?;
    let transition = Transition::from_code(&code).ok_or(AppError::NotFound)?;
    let updated = perform_step(&state, &user, id, transition, &body.input, body.version).await?;
    let table = state.store.categories_of_version(user.district_id, &updated.category_version).await?;
    Ok(Json(view(updated, &table)))
}

/// One step of the loop, for the API and the pages alike: the case in the
/// caller's scope (404 outside), the case rules, the references, and the
/// write at the version the caller saw.
pub async fn perform_step(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    transition: Transition,
    input: &TransitionInput,
    version: Option<i64>,
) -> Result<Case, AppError> {
    let case = state.store.case(user.district_id, &user.scope(), user.user_id, id).await?.ok_or(AppError::NotFound)?;
    let in_unit = match case.unit_id {
        Some(unit) => state.store.unit_by_id(unit).await?.path.starts_with(&user.unit_path),
        None => false,
    };
    let calendar = state.store.calendar(user.district_id).await?;
    let now: DateTime<Utc> = Utc::now();
    let actor = Actor { roles: &user.roles, in_assigned_unit: in_unit };
    let outcome = apply(&facts(&case), transition, input, &actor, now, &calendar).map_err(|e| match e {
        TransitionError::IllegalFrom { .. } => AppError::Conflict(e.to_string()),
        TransitionError::NotAllowed { .. } => AppError::Forbidden,
        TransitionError::Missing { field, message } => field_error(field, message),
    })?;
    // References must name things of this district.
    if let Some(unit) = input.unit_id.filter(|_| transition == Transition::Dispatch) {
        let found = state.store.unit_by_id(unit).await.ok().filter(|u| u.district_id == user.district_id);
        if found.is_none() {
            return Err(field_error("unit_id", "责任单位不存在"));
        }
        for co in &input.co_unit_ids {
            if state.store.unit_by_id(*co).await.ok().filter(|u| u.district_id == user.district_id).is_none() {
                return Err(field_error("co_unit_ids", "协办单位不存在"));
            }
        }
    }
    if transition == Transition::Merge {
        let target = input.duplicate_of.unwrap_or_default();
        let original = state.store.case(user.district_id, &crate::auth::policy::Scope::District, None, target).await?;
        match original {
            Some(o) if o.id != case.id && CaseState::from_code(&o.state).is_some_and(CaseState::is_open) => {}
            _ => return Err(field_error("duplicate_of", "只能合并到本区另一个未结案的案卷")),
        }
    }
    let expected = version.unwrap_or(case.version);
    let audit = user.audit(AuditAction::CaseTransition, "", "");
    let actor_id = user.user_id;
    match state
        .store
        .transition_case(&case, expected, transition, &outcome, input, actor_id, &user.display_name, &audit)
        .await
        .map_err(attachment_refused)?
    {
        Ok(updated) => Ok(updated),
        Err(conflict) => {
            let now_state = CaseState::from_code(&conflict.current.state).map(CaseState::label).unwrap_or("");
            Err(AppError::Conflict(format!("案卷 {} 已被他人处理（当前状态：{now_state}），请刷新后重试", case.number)))
        }
    }
}

/// A file named in a step or report that is not the caller's own free
/// upload becomes a message beside the field; any other failure stays as it is.
pub fn attachment_refused(err: StoreError) -> AppError {
    match err {
        StoreError::Duplicate(what) if what == ATTACHMENT_TAKEN => {
            field_error("attachment_ids", "附件不存在、不是您上传的，或已用于其他案卷")
        }
        other => other.into(),
    }
}

/// An uploaded file's record.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttachmentView {
    /// Id, to name in a step's `attachment_ids`.
    pub id: i64,
    /// MIME type, from the content.
    pub content_type: &'static str,
    /// Bytes.
    pub size: usize,
    /// SHA-256.
    pub sha256: String,
    /// When the photo was taken (EXIF).
    pub taken_at: Option<DateTime<Utc>>,
    /// Where the photo was taken (EXIF GPS, WGS-84): `[lon, lat]`.
    #[schema(value_type = Option<Vec<f64>>)]
    pub position: Option<(f64, f64)>,
    /// A thumbnail was made.
    pub thumbnail: bool,
}

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_PX: u32 = 320;

fn thumbnail_key(key: &str) -> String {
    format!("{key}.thumb.jpg")
}

/// `POST /api/v1/attachments` (multipart `file`, `kind`): stores evidence
/// after checking its content and size; a refused file leaves nothing behind.
#[utoipa::path(post, path = "/api/v1/attachments", tag = "cases", summary = "上传照片或 PDF 证据（multipart：file、kind）", request_body(content_type = "multipart/form-data", description = "file：文件；kind：before | after | other"), responses((status = 201, description = "已保存", body = AttachmentView), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn upload(State(state): State<AppState>, user: ApiUser, mut form: Multipart) -> Result<Response, ApiError> {
    user.require(Action::WorkCases)?;
    let (mut kind, mut file) = ("other".to_string(), None);
    while let Some(field) =
        form.next_field().await.map_err(|e| ApiError(AppError::BadRequest(format!("上传的表单有误：{e}"))))?
    {
        match field.name() {
            Some("file") => {
                let name = field.file_name().unwrap_or("photo").to_string();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|_| invalid("file", format!("文件过大，上限 {} MB", MAX_EVIDENCE_BYTES / 1048576)))?;
                file = Some((name, bytes));
            }
            Some("kind") => kind = field.text().await.unwrap_or_default(),
            _ => {}
        }
    }
    let (name, bytes) = file.ok_or_else(|| invalid("file", "请选择文件"))?;
    let view = store_evidence(&state, &user, &kind, &name, bytes).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Checks and keeps one evidence file (content type, size, EXIF, thumbnail);
/// a refused file leaves nothing behind.
pub async fn store_evidence(
    state: &AppState,
    user: &CurrentUser,
    kind: &str,
    name: &str,
    bytes: Bytes,
) -> Result<AttachmentView, AppError> {
    if !matches!(kind, "before" | "after" | "other") {
        return Err(field_error("kind", "照片类别应为 before（整改前）、after（整改后）或 other"));
    }
    if let Some(reason) = evidence::refusal(&bytes, MAX_EVIDENCE_BYTES) {
        return Err(field_error("file", reason));
    }
    let kind_of = evidence::sniff(&bytes).expect("refusal checked the type");
    let sha256: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    let key = format!("attachments/{}/{}.{}", user.district_id, uuid::Uuid::new_v4(), kind_of.extension());
    let size = bytes.len();
    // EXIF and the thumbnail decode the image: off the async threads.
    let (facts, thumb) = if kind_of.is_photo() {
        let copy = bytes.clone();
        tokio::task::spawn_blocking(move || (evidence::photo_facts(&copy), evidence::thumbnail(&copy, THUMBNAIL_PX)))
            .await
            .map_err(AppError::internal)?
    } else {
        (evidence::PhotoFacts::default(), None)
    };
    state.files.put(&key, bytes).await.map_err(AppError::internal)?;
    if let Some(thumb) = &thumb {
        state.files.put(&thumbnail_key(&key), Bytes::from(thumb.clone())).await.map_err(AppError::internal)?;
    }
    let new = NewAttachment {
        kind,
        file_name: name,
        content_type: kind_of.content_type(),
        size: size as i64,
        file_key: &key,
        sha256: &sha256,
        uploaded_by: user.user_id,
        taken_at: facts.taken_at,
        position: facts.position,
    };
    let id = match state.store.create_attachment(user.district_id, &new).await {
        Ok(id) => id,
        Err(err) => {
            let _ = state.files.delete(&key).await;
            let _ = state.files.delete(&thumbnail_key(&key)).await;
            return Err(err.into());
        }
    };
    let view = AttachmentView {
        id,
        content_type: kind_of.content_type(),
        size,
        sha256,
        taken_at: facts.taken_at,
        position: facts.position,
        thumbnail: thumb.is_some(),
    };
    Ok(view)
}

/// An attachment, if the caller may see it: through its case, or as its
/// uploader before it is used.
async fn visible_attachment(
    state: &AppState,
    user: &ApiUser,
    id: i64,
) -> Result<crate::store::cases::Attachment, ApiError> {
    let attachment = state.store.attachment(user.district_id, id).await?.ok_or(AppError::NotFound)?;
    let visible = match attachment.case_id {
        Some(case) => state.store.case(user.district_id, &user.scope(), user.user_id, case).await?.is_some(),
        None => user.user_id.is_some() && attachment.uploaded_by == user.user_id,
    };
    if visible { Ok(attachment) } else { Err(ApiError(AppError::NotFound)) }
}

async fn file_response(state: &AppState, key: &str, content_type: &str) -> Result<Response, ApiError> {
    let bytes = state.files.get(key).await.map_err(|_| ApiError(AppError::NotFound))?;
    let headers = [
        (axum::http::header::CONTENT_TYPE, content_type.to_string()),
        (axum::http::header::CACHE_CONTROL, "private, max-age=86400".to_string()),
    ];
    Ok((headers, bytes).into_response())
}

/// `GET /api/v1/attachments/{id}`: the file.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "cases", summary = "下载证据文件", params(("id" = i64, Path, description = "附件 id")), responses((status = 200, description = "文件本身"), (status = 404, description = "不存在或不可见", body = crate::error::ErrorBody), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn attachment(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    user.require(Action::WorkCases)?;
    let attachment = visible_attachment(&state, &user, id).await?;
    file_response(&state, &attachment.file_key, &attachment.content_type).await
}

/// `GET /api/v1/attachments/{id}/thumbnail`: the photo's thumbnail.
#[utoipa::path(get, path = "/api/v1/attachments/{id}/thumbnail", tag = "cases", summary = "照片缩略图（JPEG）", params(("id" = i64, Path, description = "附件 id")), responses((status = 200, description = "JPEG 缩略图"), (status = 404, description = "不存在或不可见", body = crate::error::ErrorBody), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn attachment_thumbnail(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    user.require(Action::WorkCases)?;
    let attachment = visible_attachment(&state, &user, id).await?;
    file_response(&state, &thumbnail_key(&attachment.file_key), "image/jpeg").await
}
