//! Server-rendered pages in Chinese (askama templates, checked at compile
//! time), one module per product module.

pub mod admin;
pub mod api_docs;
pub mod cases;
pub mod dashboard;
pub mod dispatch;
pub mod evaluation;
pub mod home;
pub mod intake;
pub mod map;
pub mod places;
pub mod reports;
pub mod session;
pub mod settings;

use askama::Template;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::app::AppState;
use crate::auth::{CurrentUser, csrf_token, policy::Action};
use crate::error::AppError;

/// An instant as people here read it: Beijing time in `format`.
pub fn beijing_time(at: chrono::DateTime<chrono::Utc>, format: &str) -> String {
    at.with_timezone(&crate::domain::calendar::beijing()).format(format).to_string()
}

/// The start of a Beijing day (`YYYY-MM-DD`), `days` after it; `None` if it is not a date.
pub fn day_start(raw: &str, days: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    let day = chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok()? + chrono::Duration::days(days);
    let local = day.and_hms_opt(0, 0, 0)?.and_local_timezone(crate::domain::calendar::beijing()).single()?;
    Some(local.with_timezone(&chrono::Utc))
}

/// Unit names by id, for the columns that name a case's street and unit.
pub fn unit_names(units: &[crate::store::org::Unit]) -> std::collections::HashMap<i64, String> {
    units.iter().map(|u| (u.id, u.name.clone())).collect()
}

/// The units a case may be given to, as `(id, name)` options: all but the district itself.
pub fn assignable_units(units: &[crate::store::org::Unit]) -> Vec<(i64, String)> {
    units.iter().filter(|u| u.parent_id.is_some()).map(|u| (u.id, u.name.clone())).collect()
}

/// A file to download: its content type, an ASCII name for old clients and
/// the Chinese name, percent-encoded as RFC 6266/5987 ask.
pub fn download(bytes: Vec<u8>, content_type: &str, ascii_name: &str, name: &str) -> Response {
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let ascii: String = ascii_name.chars().filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\').collect();
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    ([(header::CONTENT_TYPE, content_type.to_string()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response()
}

/// What the top bar shows for a logged-in user.
pub struct Nav {
    /// District name.
    pub district_name: String,
    /// The user's name.
    pub display_name: String,
    /// The user's roles, in Chinese.
    pub roles: String,
    /// CSRF token for the logout form.
    pub csrf: String,
    /// Show the import link.
    pub can_import: bool,
    /// Show the bulk intake link.
    pub can_intake: bool,
    /// Show the evaluation link.
    pub can_evaluate: bool,
    /// Show the administration link.
    pub can_admin: bool,
    /// Show the batch-dispatch link.
    pub can_dispatch: bool,
    /// Show the settings link (categories, calendar, dispatch rules).
    pub can_configure: bool,
    /// Show the rankings link (district-wide roles).
    pub can_rank: bool,
    /// Show the webhooks link.
    pub can_webhooks: bool,
}

impl Nav {
    /// The top bar of `user`.
    pub async fn of(state: &AppState, user: &CurrentUser, headers: &HeaderMap) -> Result<Nav, AppError> {
        let district = state.store.district(user.district_id).await?;
        Ok(Nav {
            district_name: district.name,
            display_name: user.display_name.clone(),
            roles: user.roles.iter().map(|r| r.label()).collect::<Vec<_>>().join("、"),
            csrf: csrf_token(headers),
            can_import: user.may(Action::ImportPlaces),
            can_intake: user.may(Action::ImportCases),
            can_evaluate: user.may(Action::ViewEvaluation),
            can_admin: user.may(Action::ManageUsers),
            can_dispatch: crate::domain::cases::Transition::Dispatch.may_take(&user.roles, false),
            can_configure: user.may(Action::ManageDispatchRules) || user.may(Action::ManageSettings),
            can_rank: user.may(Action::ViewDistrictStatistics),
            can_webhooks: user.may(Action::ManageWebhooks),
        })
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Option<Nav>,
    status: u16,
    heading: &'a str,
    message: &'a str,
}

/// The HTML of an error page.
pub fn error_page(status: StatusCode, message: &str) -> String {
    let heading = match status {
        StatusCode::NOT_FOUND => "页面不存在",
        StatusCode::FORBIDDEN => "无权访问",
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "请求有误",
        _ => "出错了",
    };
    ErrorPage { nav: None, status: status.as_u16(), heading, message }.render().unwrap_or_else(|_| message.to_string())
}

/// A form body as repeated key/value pairs (role checkboxes repeat a key;
/// the mapping step names its fields).
pub fn form_pairs(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The first value of a form field, trimmed; empty when absent.
pub fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).unwrap_or("")
}

/// Renders a template into a response.
pub fn render(template: &impl Template) -> Result<Response, AppError> {
    let html = template.render().map_err(AppError::internal)?;
    Ok(Html(html).into_response())
}

/// Renders a form page: 422 when it shows a refusal, 200 otherwise.
pub fn render_form(template: &impl Template, refused: bool) -> Result<Response, AppError> {
    let status = if refused { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok((status, render(template)?).into_response())
}

/// Answers unknown paths.
pub async fn not_found() -> AppError {
    AppError::NotFound
}

/// The embedded assets: the project's own and the npm packages build.rs fetched.
pub mod assets {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

/// Query of an asset link: `?v=` the build's asset version.
#[derive(serde::Deserialize)]
pub struct AssetQuery {
    #[serde(default)]
    v: String,
}

/// `GET /assets/{*path}`: an embedded file. Links carry `?v=ASSET_VERSION`,
/// so a versioned request may be cached for a year; an unversioned one briefly.
pub async fn asset(
    axum::extract::Path(path): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<AssetQuery>,
    headers: HeaderMap,
) -> Response {
    let Some((_, content_type, body)) = assets::ASSETS.iter().find(|(name, _, _)| *name == path) else {
        return AppError::NotFound.into_response();
    };
    let etag = format!("\"{}\"", assets::ASSET_VERSION);
    let cache =
        if q.v == assets::ASSET_VERSION { "public, max-age=31536000, immutable" } else { "public, max-age=300" };
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), (header::CACHE_CONTROL, cache.to_string())])
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache.to_string()),
        ],
        *body,
    )
        .into_response()
}

/// `GET /healthz`: answers 200 when the database answers.
pub async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(err) => {
            tracing::error!(error = %err, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    if let Ok(counts) = state.store.job_counts().await {
        for (job_state, n) in counts {
            metrics::gauge!("chuangwen_jobs", "state" => job_state).set(n as f64);
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}
