//! `/api/v1/supervision-orders`: the supervision orders (督办) a unit's lead
//! receives, and orders raised by hand.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{ApiPath, ApiQuery};
use crate::app::AppState;
use crate::auth::audit::AuditAction;
use crate::auth::policy::{Action, Scope};
use crate::auth::{ApiUser, CurrentUser};
use crate::domain::org::Role;
use crate::error::{ApiError, AppError};
use crate::store::supervision::SupervisionOrder;

/// Filters of the order list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrdersQuery {
    case_id: Option<i64>,
    limit: Option<i64>,
}

/// `GET /api/v1/supervision-orders`: orders to the units of the caller's scope.
#[utoipa::path(get, path = "/api/v1/supervision-orders", tag = "supervision", summary = "督办单（本人数据范围内的单位）", params(OrdersQuery), responses((status = 200, description = "督办单，新者在前", body = [Object]), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn orders(
    State(state): State<AppState>,
    user: ApiUser,
    ApiQuery(q): ApiQuery<OrdersQuery>,
) -> Result<Json<Vec<SupervisionOrder>>, ApiError> {
    user.require(Action::WorkCases)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(state.store.supervision_orders(user.district_id, &user.scope(), q.case_id, limit).await?))
}

/// `GET /api/v1/supervision-orders/{id}`: one order; a lead of its unit reading it marks it read.
#[utoipa::path(get, path = "/api/v1/supervision-orders/{id}", tag = "supervision", summary = "一张督办单；责任单位负责人阅读即标为已读", params(("id" = i64, Path, description = "督办单 id")), responses((status = 200, description = "督办单", body = Object), (status = 404, description = "不存在或不可见", body = crate::error::ErrorBody), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn order(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SupervisionOrder>, ApiError> {
    user.require(Action::WorkCases)?;
    let mut order =
        state.store.supervision_order(user.district_id, &user.scope(), id).await?.ok_or(AppError::NotFound)?;
    if read_by_its_unit(&user, &order) {
        state.store.mark_order_read(id).await?;
        order.read_at = Some(chrono::Utc::now());
    }
    Ok(Json(order))
}

/// A manual supervision order.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SuperviseBody {
    // Defaulted so a missing note is answered after authorization, as a field error.
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/cases/{id}/supervise`: the office or a leader raises a
/// supervision order by hand.
#[utoipa::path(post, path = "/api/v1/cases/{id}/supervise", tag = "supervision", summary = "创文办或区领导手动督办（可带 Idempotency-Key 头，重试不重复督办）", request_body = SuperviseBody, params(("id" = i64, Path, description = "案卷 id"), ("Idempotency-Key" = Option<String>, Header, description = "幂等键：同一键的重试得到第一次的督办单")), responses((status = 201, description = "督办单", body = Object), (status = 404, description = "不存在或不可见", body = crate::error::ErrorBody), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn supervise(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i64>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let idem = crate::api::cases::Idempotency::of(&user, &headers, &body)?;
    if let Some(idem) = &idem
        && let Some(stored) = state.store.idempotent_response(user.district_id, &idem.key).await?
    {
        // A retry is answered only to a caller who may still supervise.
        user.require(Action::Supervise)?;
        idem.same_request(&stored)?;
        let order_id: i64 =
            stored.response.parse().map_err(|_| AppError::Conflict("这个幂等键已用于另一个请求".into()))?;
        let order = state
            .store
            .supervision_order(user.district_id, &Scope::District, order_id)
            .await?
            .ok_or(AppError::NotFound)?;
        return Ok((StatusCode::CREATED, Json(order)).into_response());
    }
    let body: SuperviseBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError(AppError::BadRequest(format!("请求体不是有效的 JSON：{e}"))))?;
    let order = supervise_case(&state, &user, id, &body.note, idem.as_ref().map(|i| i.parts())).await?;
    Ok((StatusCode::CREATED, Json(order)).into_response())
}

/// Raises a supervision order on a case by hand, for the API and the case page.
pub async fn supervise_case(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    note: &str,
    idempotency: Option<(&str, &str, &str)>,
) -> Result<SupervisionOrder, AppError> {
    // As with every case step: out of scope is 404, then the role is asked.
    user.require(Action::WorkCases)?;
    let case = state.store.case(user.district_id, &user.scope(), user.user_id, id).await?.ok_or(AppError::NotFound)?;
    user.require(Action::Supervise)?;
    let note = note.trim();
    if note.is_empty() || note.chars().count() > 500 {
        return Err(AppError::Invalid {
            field: "note".into(), message: "请写明督办要求（不超过 500 字）".into()
        });
    }
    let order = state
        .store
        .supervise(user.district_id, case.id, note, user.user_id, idempotency)
        .await?
        .ok_or_else(|| AppError::Conflict("案卷尚未派遣到责任单位，无法督办".into()))?;
    let entry = user.audit(
        AuditAction::CaseTransition,
        format!("case:{}", case.id),
        format!("{{\"supervision_order\":{order}}}"),
    );
    state.store.audit(&entry).await?;
    state.store.supervision_order(user.district_id, &Scope::District, order).await?.ok_or(AppError::NotFound)
}

/// Whether `user` reading `order` is the unit reading it: a lead of the unit
/// the order went to. The API's order page and the web's list both ask.
pub fn read_by_its_unit(user: &CurrentUser, order: &SupervisionOrder) -> bool {
    order.read_at.is_none() && user.unit_id == order.unit_id && user.roles.contains(&Role::UnitLead)
}
