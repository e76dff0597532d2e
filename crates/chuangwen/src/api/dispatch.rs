//! Dispatch: the suggested unit of a case, batches of rectification orders
//! (整改单), and the rule table the office edits.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::auth::audit::AuditAction;
use crate::auth::policy::{Action, Scope};
use crate::auth::{ApiUser, CurrentUser};
use crate::domain::cases::{Actor, Transition, TransitionInput, apply};
use crate::domain::dispatch::{Place, Reason, Rule, suggest};
use crate::error::{ApiError, AppError};
use crate::store::Store;
use crate::store::cases::{Case, Step};
use crate::store::dispatch::OrderBatch;

/// The unit the rules suggest for a case, and why.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    /// The unit.
    pub unit_id: i64,
    /// Its name.
    pub unit_name: String,
    /// Why (a code).
    #[schema(value_type = String)]
    pub reason: Reason,
    /// Why, in Chinese.
    pub reason_label: &'static str,
}

/// Works out the suggestion for a case.
pub async fn suggestion_for(store: &Store, case: &Case) -> Result<Option<Suggestion>, ApiError> {
    Ok(suggestions_for(store, case.district_id, std::slice::from_ref(case)).await?.pop().flatten())
}

/// The suggestions for many cases of one district, reading the rule table and
/// the units once.
pub async fn suggestions_for(
    store: &Store,
    district_id: i64,
    cases: &[Case],
) -> Result<Vec<Option<Suggestion>>, ApiError> {
    let rules = store.dispatch_rules(district_id).await?;
    let units = store.units(district_id).await?;
    let mut out = Vec::with_capacity(cases.len());
    for case in cases {
        let point_unit_id = match case.point_id {
            Some(point) => match store.point(district_id, &Scope::District, point).await? {
                Some(p) => units.iter().find(|u| u.code == p.responsible_unit_code).map(|u| u.id),
                None => None,
            },
            None => None,
        };
        let place = Place {
            category_code: case.category_code.clone(),
            point_id: case.point_id,
            point_unit_id,
            grid_id: case.grid_id,
            street_id: case.street_id,
        };
        out.push(suggest(&rules, &place).and_then(|(unit_id, reason)| {
            let unit = units.iter().find(|u| u.id == unit_id)?;
            Some(Suggestion { unit_id, unit_name: unit.name.clone(), reason, reason_label: reason.label() })
        }));
    }
    Ok(out)
}

/// `GET /api/v1/cases/{id}/suggestion`.
#[utoipa::path(get, path = "/api/v1/cases/{id}/suggestion", tag = "dispatch", summary = "派遣规则建议的责任单位及理由", params(("id" = i64, Path, description = "案卷 id")), responses((status = 200, description = "建议；无规则适用时为 null", body = Option<Suggestion>), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn suggestion(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Option<Suggestion>>, ApiError> {
    user.require(Action::WorkCases)?;
    let case = state.store.case(user.district_id, &user.scope(), user.user_id, id).await?.ok_or(AppError::NotFound)?;
    Ok(Json(suggestion_for(&state.store, &case).await?))
}

/// One case of a batch; without a unit, the suggestion is taken.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct BatchCase {
    id: i64,
    #[serde(default)]
    unit_id: Option<i64>,
}

/// A batch to issue.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct BatchBody {
    #[serde(default)]
    cases: Vec<BatchCase>,
    #[serde(default)]
    note: String,
}

/// An issued batch.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BatchView {
    /// The batch.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub batch: OrderBatch,
    /// Its cases, dispatched.
    pub case_ids: Vec<i64>,
}

/// `POST /api/v1/dispatch-batches`: dispatches accepted cases together as one
/// numbered batch of rectification orders.
#[utoipa::path(post, path = "/api/v1/dispatch-batches", tag = "dispatch", summary = "批量派遣，生成一批编号的整改通知单", request_body = BatchBody, responses((status = 201, description = "已派遣的批次", body = BatchView), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn issue_batch(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<BatchBody>,
) -> Result<Response, ApiError> {
    user.require(Action::WorkCases)?;
    let items: Vec<(i64, Option<i64>)> = body.cases.iter().map(|c| (c.id, c.unit_id)).collect();
    let view = dispatch_batch(&state, &user, &items, &body.note).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Dispatches `(case, unit)` pairs as one batch; without a unit, the
/// suggestion is taken. Every case is checked first; if any cannot go, none
/// goes, and each problem is named (field `cases`). The batch is written in
/// one transaction: a case someone else moved meanwhile stops the whole batch.
pub async fn dispatch_batch(
    state: &AppState,
    user: &CurrentUser,
    items: &[(i64, Option<i64>)],
    note: &str,
) -> Result<BatchView, AppError> {
    if items.is_empty() || items.len() > 500 {
        return Err(AppError::Invalid { field: "cases".into(), message: "一批须包含 1～500 个案卷".into() });
    }
    let calendar = state.store.calendar(user.district_id).await?;
    let units = state.store.units(user.district_id).await?;
    let now = chrono::Utc::now();
    let actor = Actor { roles: &user.roles, in_assigned_unit: false };
    let mut problems = Vec::new();
    let mut cases = Vec::new();
    for &(id, unit) in items {
        match state.store.case(user.district_id, &user.scope(), user.user_id, id).await? {
            Some(case) => cases.push((case, unit)),
            None => problems.push(format!("案卷 {id} 不存在")),
        }
    }
    let unchosen: Vec<Case> = cases.iter().filter(|(_, unit)| unit.is_none()).map(|(c, _)| c.clone()).collect();
    let mut suggested = suggestions_for(&state.store, user.district_id, &unchosen).await.map_err(|e| e.0)?.into_iter();
    let mut ready = Vec::new();
    for (case, unit) in cases {
        let unit = match unit {
            Some(unit) => Some(unit),
            None => suggested.next().flatten().map(|s| s.unit_id),
        };
        if let Some(unit) = unit.filter(|u| !units.iter().any(|known| known.id == *u)) {
            problems.push(format!("{}：责任单位 {unit} 不是本区的单位", case.number));
            continue;
        }
        let input = TransitionInput { unit_id: unit, ..Default::default() };
        match apply(&super::cases::facts_of(&case), Transition::Dispatch, &input, &actor, now, &calendar) {
            Ok(outcome) => ready.push((case, input, outcome)),
            Err(err) => problems.push(format!("{}：{err}", case.number)),
        }
    }
    if !problems.is_empty() {
        return Err(AppError::Invalid { field: "cases".into(), message: problems.join("；") });
    }
    let steps: Vec<Step<'_>> = ready
        .iter()
        .map(|(case, input, outcome)| Step {
            case,
            expected_version: case.version,
            transition: Transition::Dispatch,
            outcome,
            input,
        })
        .collect();
    let audit = user.audit(AuditAction::CaseTransition, "", "");
    match state
        .store
        .dispatch_batch(user.district_id, note.trim(), &steps, user.user_id, &user.display_name, &audit)
        .await?
    {
        Ok((batch, dispatched)) => Ok(BatchView { batch, case_ids: dispatched.iter().map(|c| c.id).collect() }),
        Err(conflict) => {
            Err(AppError::Conflict(format!("案卷 {} 刚被他人处理，整批未派遣，请刷新后重试", conflict.current.number)))
        }
    }
}

/// `GET /api/v1/dispatch-batches/{id}`.
#[utoipa::path(get, path = "/api/v1/dispatch-batches/{id}", tag = "dispatch", summary = "一批整改通知单", params(("id" = i64, Path, description = "批次 id")), responses((status = 200, description = "批次", body = BatchView), (status = 404, description = "不存在", body = crate::error::ErrorBody), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn batch(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<BatchView>, ApiError> {
    user.require(Action::WorkCases)?;
    let batch = state.store.order_batch(user.district_id, id).await?.ok_or(AppError::NotFound)?;
    let mut case_ids = Vec::new();
    for case_id in state.store.batch_case_ids(batch.id).await? {
        if state.store.case(user.district_id, &user.scope(), user.user_id, case_id).await?.is_some() {
            case_ids.push(case_id);
        }
    }
    Ok(Json(BatchView { batch, case_ids }))
}

/// `GET /api/v1/dispatch-rules`.
#[utoipa::path(get, path = "/api/v1/dispatch-rules", tag = "dispatch", summary = "派遣规则表", responses((status = 200, description = "规则：分类 × 地点 → 单位", body = [Object]), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn rules(State(state): State<AppState>, user: ApiUser) -> Result<Json<Vec<Rule>>, ApiError> {
    user.require(Action::ManageDispatchRules)?;
    Ok(Json(state.store.dispatch_rules(user.district_id).await?))
}

/// `PUT /api/v1/dispatch-rules`: replaces the table; every unit and place must exist.
#[utoipa::path(put, path = "/api/v1/dispatch-rules", tag = "dispatch", summary = "替换派遣规则表", request_body(content = Vec<Object>, description = "规则行：category_code、place_kind、place_id、unit_id"), responses((status = 200, description = "保存后的规则", body = [Object]), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn replace_rules(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(rules): ApiJson<Vec<Rule>>,
) -> Result<Json<Vec<Rule>>, ApiError> {
    Ok(Json(save_rules(&state, &user, &rules).await?))
}

/// Checks and saves a district's dispatch rules; a refused table changes nothing.
pub async fn save_rules(state: &AppState, user: &CurrentUser, rules: &[Rule]) -> Result<Vec<Rule>, AppError> {
    user.require(Action::ManageDispatchRules)?;
    let table = state.store.categories(user.district_id).await?;
    for (i, rule) in rules.iter().enumerate() {
        let bad = |message: String| AppError::Invalid { field: format!("[{i}]"), message };
        if rule.category_code != "*" && table.category(&rule.category_code).is_none() {
            return Err(bad(format!("第 {} 条：未知的问题分类“{}”", i + 1, rule.category_code)));
        }
        if state.store.unit_by_id(rule.unit_id).await.ok().filter(|u| u.district_id == user.district_id).is_none() {
            return Err(bad(format!("第 {} 条：单位不存在", i + 1)));
        }
        let needs_place = rule.place_kind != crate::domain::dispatch::PlaceKind::Category;
        if needs_place != rule.place_id.is_some() {
            return Err(bad(format!("第 {} 条：按点位、网格、街道的规则须指明地点，按分类的规则不填地点", i + 1)));
        }
    }
    state.store.replace_dispatch_rules(user.district_id, rules).await?;
    let entry = user.audit(AuditAction::SettingsChanged, "dispatch_rules", format!("{{\"rules\":{}}}", rules.len()));
    state.store.audit(&entry).await?;
    Ok(state.store.dispatch_rules(user.district_id).await?)
}
