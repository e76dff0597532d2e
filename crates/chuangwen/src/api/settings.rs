//! `/api/v1/settings`: the data a district edits — its category table and
//! its working calendar — as text in the shipped files' format.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::auth::audit::AuditAction;
use crate::auth::policy::Action;
use crate::auth::{ApiUser, CurrentUser};
use crate::domain::calendar::{self, WorkCalendar};
use crate::domain::categories::{self, CategoryTable};
use crate::error::{ApiError, AppError};

fn toml_text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/toml; charset=utf-8")], body).into_response()
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError(AppError::Invalid { field: "body".into(), message: message.into() })
}

/// `GET /api/v1/settings/categories`: the table in force (the district's, or the shipped one).
#[utoipa::path(get, path = "/api/v1/settings/categories", tag = "settings", summary = "问题分类与处置时限（TOML）", responses((status = 200, description = "TOML 文本", content_type = "application/toml", body = String), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn categories(State(state): State<AppState>, user: ApiUser) -> Result<Response, ApiError> {
    user.require(Action::WorkCases)?;
    let text = state.store.category_table_text(user.district_id).await?.map(|(_, body)| body);
    Ok(toml_text(text.unwrap_or_else(|| categories::SHIPPED.to_string())))
}

/// `PUT /api/v1/settings/categories`: a new version of the table. It must
/// parse and check, and carry a version not used before; cases filed
/// earlier keep the version they were filed under.
#[utoipa::path(put, path = "/api/v1/settings/categories", tag = "settings", summary = "替换问题分类表（新版本号）", request_body(content = String, content_type = "application/toml", description = "TOML，格式同 crates/chuangwen/data/"), responses((status = 200, description = "保存后的分类表（TOML）", content_type = "application/toml", body = String), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn replace_categories(
    State(state): State<AppState>,
    user: ApiUser,
    body: String,
) -> Result<Response, ApiError> {
    save_categories(&state, &user, &body).await?;
    Ok(toml_text(body))
}

/// Checks and saves a new version of a district's category table.
pub async fn save_categories(state: &AppState, user: &CurrentUser, body: &str) -> Result<CategoryTable, AppError> {
    user.require(Action::ManageSettings)?;
    let table = CategoryTable::parse(body).map_err(|m| invalid(m).0)?;
    let taken = table.version == categories::shipped().version
        || state.store.category_table_version(user.district_id, &table.version).await?.is_some();
    if taken {
        return Err(invalid(format!("版本号“{}”已用过，请换一个（例如 2027.1）", table.version)).0);
    }
    let detail = serde_json::json!({ "version": table.version, "categories": table.categories.len() }).to_string();
    let entry = user.audit(AuditAction::SettingsChanged, "category_table", detail);
    state.store.save_category_table(user.district_id, &table.version, body, user.user_id, &entry).await?;
    Ok(table)
}

/// `GET /api/v1/settings/calendar`: working periods, holidays and make-up days.
#[utoipa::path(get, path = "/api/v1/settings/calendar", tag = "settings", summary = "工作日历（TOML）", responses((status = 200, description = "TOML 文本", content_type = "application/toml", body = String), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn calendar(State(state): State<AppState>, user: ApiUser) -> Result<Response, ApiError> {
    user.require(Action::WorkCases)?;
    let text = state.store.calendar_text(user.district_id).await?;
    Ok(toml_text(text.unwrap_or_else(|| calendar::SHIPPED.to_string())))
}

/// `PUT /api/v1/settings/calendar`: replaces the calendar (e.g. to add next
/// year's holidays when the State Council publishes them).
#[utoipa::path(put, path = "/api/v1/settings/calendar", tag = "settings", summary = "替换工作日历", request_body(content = String, content_type = "application/toml", description = "TOML，格式同 crates/chuangwen/data/"), responses((status = 200, description = "保存后的日历（TOML）", content_type = "application/toml", body = String), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn replace_calendar(
    State(state): State<AppState>,
    user: ApiUser,
    body: String,
) -> Result<Response, ApiError> {
    save_calendar(&state, &user, &body).await?;
    Ok(toml_text(body))
}

/// Checks and saves a district's calendar.
pub async fn save_calendar(state: &AppState, user: &CurrentUser, body: &str) -> Result<(), AppError> {
    user.require(Action::ManageSettings)?;
    if body.trim().is_empty() {
        return Err(invalid("日历不能为空").0);
    }
    WorkCalendar::parse(body).map_err(|m| invalid(m).0)?;
    let entry = user.audit(AuditAction::SettingsChanged, "calendar", "");
    state.store.save_calendar(user.district_id, body, user.user_id, &entry).await?;
    Ok(())
}
