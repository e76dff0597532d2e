//! The API's description, generated from the handlers' own annotations
//! (`#[utoipa::path]`) and types (`ToSchema`): `GET /api/v1/openapi.json`,
//! and a page people read, `GET /api/v1/docs`. A test fails when a route of
//! `/api/v1` is served but not described.

use axum::Json;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{cases, dispatch, map, places, settings, statistics, supervision};
use crate::error::{ErrorBody, ErrorDetail};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "创文通 Chuangwen API",
        description = "创建全国文明城区工作平台的 JSON 接口。认证：`Authorization: Bearer cwt_…`（系统管理 → API 令牌）或登录会话。\
                       错误统一为 `{\"error\": {\"code\", \"message\", \"field\"}}`，message 为中文。列表用键集分页（next_before / next_after），\
                       上报可带 `Idempotency-Key`。Open311 GeoReport v2 另见 `/open311/v2/discovery.json`。",
    ),
    paths(
        cases::report, cases::cases, cases::duplicates, cases::case, cases::step, cases::upload,
        cases::attachment, cases::attachment_thumbnail,
        supervision::supervise, supervision::orders, supervision::order,
        dispatch::suggestion, dispatch::issue_batch, dispatch::batch, dispatch::rules, dispatch::replace_rules,
        settings::categories, settings::replace_categories, settings::calendar, settings::replace_calendar,
        map::layers, statistics::statistics, places::resolve, places::points, places::point,
        document, docs,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Security),
    tags(
        (name = "cases", description = "问题案卷：上报、流转、证据"),
        (name = "supervision", description = "督办"),
        (name = "dispatch", description = "派遣与整改通知单"),
        (name = "settings", description = "问题分类、时限与工作日历"),
        (name = "map", description = "地图"),
        (name = "statistics", description = "统计指标"),
        (name = "places", description = "网格与点位"),
        (name = "docs", description = "本说明"),
    )
)]
pub struct ApiDoc;

/// The two ways to call: a token or a session cookie.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("API 令牌 cwt_…（系统管理 → API 令牌）"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description("cw_session", "登录会话"))),
        );
    }
}

/// `GET /api/v1/openapi.json`: the OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "docs", summary = "本接口的 OpenAPI 文档", responses((status = 200, description = "OpenAPI 文档", body = Object)))]
pub async fn document() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

/// `GET /api/v1/docs`: the same document as a page to read.
#[utoipa::path(get, path = "/api/v1/docs", tag = "docs", summary = "接口说明页", responses((status = 200, description = "HTML 页面", content_type = "text/html")))]
pub async fn docs() -> Result<Response, crate::error::AppError> {
    crate::web::render(&crate::web::api_docs::page(&ApiDoc::openapi()))
}
