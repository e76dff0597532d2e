//! Server-rendered pages in Chinese (askama templates, checked at compile
//! time), one module per product module.

pub mod admin;
pub mod cases;
pub mod home;
pub mod places;
pub mod session;

use askama::Template;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::app::AppState;
use crate::auth::{CurrentUser, csrf_token, policy::Action};
use crate::error::AppError;

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
    /// Show the administration link.
    pub can_admin: bool,
}

impl Nav {
    /// The top bar of `user`.
    pub async fn of(state: &AppState, user: &CurrentUser, headers: &HeaderMap) -> Result<Nav, AppError> {
        let district = state.store.district(user.district_id).await?;
        Ok(Nav {
            district_name: district.name,
            display_name: user.display_name.clone(),
            roles: user.roles.iter().map(|r| r.label()).collect::<Vec<_>>().join("、"),
            csrf: csrf_token(headers, state.config.security.secure_cookies).0,
            can_import: user.may(Action::ImportPlaces),
            can_admin: user.may(Action::ManageUsers),
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

/// Renders a template into a response.
pub fn render(template: &impl Template) -> Result<Response, AppError> {
    let html = template.render().map_err(AppError::internal)?;
    Ok(Html(html).into_response())
}

/// Answers unknown paths.
pub async fn not_found() -> AppError {
    AppError::NotFound
}

/// The stylesheet, embedded in the binary.
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", include_str!("../../assets/app.css"))
}

/// The report form's script, embedded in the binary.
pub async fn report_script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("../../assets/report.js"))
}

/// The import page's script, embedded in the binary.
pub async fn import_script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("../../assets/import.js"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
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
