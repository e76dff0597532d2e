//! Reports in the browser: each unit's inbox of 督察单, the weekly reports
//! and bulletins; each as a print-ready page and as PDF, xlsx and docx; the
//! office makes them on demand and sets the ranking weights and bulletin
//! thresholds; the administrator manages webhooks and reads their log.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::auth::audit::AuditAction;
use crate::auth::policy::{Action, Scope};
use crate::domain::assessment::Settings;
use crate::domain::stats::beijing_day;
use crate::error::AppError;
use crate::jobs::reports::{sheets_for, webhook_payload};
use crate::reports::render::{OutputFormat, content_type, render as write};
use crate::reports::{Block, Document, build, kind_label};
use crate::store::reports::{Delivery, ReportRow, Webhook};
use crate::web::dashboard::PeriodQuery;
use crate::web::{Nav, beijing_time, render};

/// A report as listed.
pub struct Listed {
    /// The row.
    pub row: ReportRow,
    /// 督察单, 周报, 通报.
    pub kind: &'static str,
    /// When made, Beijing time.
    pub made: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    nav: Option<Nav>,
    reports: Vec<Listed>,
    can_make: bool,
    csrf: String,
    today: String,
}

/// The units whose reports a user may read: `None` for everyone's.
async fn readable_units(state: &AppState, user: &CurrentUser) -> Result<Option<Vec<i64>>, AppError> {
    if user.scope() == Scope::District {
        return Ok(None);
    }
    let unit = state.store.unit_by_id(user.unit_id).await?;
    Ok(Some(state.store.unit_subtree(&unit).await?.into_iter().map(|u| u.id).collect()))
}

/// `GET /reports`: the inbox.
pub async fn list(State(state): State<AppState>, user: CurrentUser, headers: HeaderMap) -> Result<Response, AppError> {
    user.require(Action::ViewStatistics)?;
    let units = readable_units(&state, &user).await?;
    let rows = state.store.reports(user.district_id, units.as_deref(), 200).await?;
    let reports = rows
        .into_iter()
        .map(|row| Listed { kind: kind_label(&row.kind), made: beijing_time(row.created_at, "%Y-%m-%d %H:%M"), row })
        .collect();
    render(&ReportsPage {
        nav: Some(Nav::of(&state, &user, &headers).await?),
        reports,
        can_make: user.may(Action::ManageReports),
        csrf: crate::auth::csrf_token(&headers),
        today: beijing_day(chrono::Utc::now()).to_string(),
    })
}

/// A report the user may read, or 404.
async fn readable(state: &AppState, user: &CurrentUser, id: i64) -> Result<(ReportRow, Document), AppError> {
    let row = state.store.report(user.district_id, id).await?.ok_or(AppError::NotFound)?;
    if let Some(units) = readable_units(state, user).await? {
        let mine = match row.unit_id {
            Some(unit) => units.contains(&unit),
            None => row.kind != "daily_sheet",
        };
        if !mine {
            return Err(AppError::NotFound);
        }
        if row.unit_id.is_some() {
            state.store.mark_report_read(row.id).await?;
        }
    }
    let doc: Document = serde_json::from_str(&row.body).map_err(|e| AppError::BadRequest(e.to_string()))?;
    Ok((row, doc))
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage<'a> {
    nav: Option<Nav>,
    doc: &'a Document,
    downloads: Vec<(&'static str, String)>,
}

impl ReportPage<'_> {
    fn blocks(&self) -> &[Block] {
        &self.doc.blocks
    }
}

fn downloads(base: &str, kind: &str) -> Vec<(&'static str, String)> {
    let mut out = vec![("PDF", format!("{base}?format=pdf")), ("Excel", format!("{base}?format=xlsx"))];
    if kind == "weekly" {
        out.push(("Word", format!("{base}?format=docx")));
    }
    out
}

/// `GET /reports/{id}`: the print-ready page.
pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Action::ViewStatistics)?;
    let (row, doc) = readable(&state, &user, id).await?;
    render(&ReportPage {
        nav: Some(Nav::of(&state, &user, &headers).await?),
        doc: &doc,
        downloads: downloads(&format!("/reports/{id}/download"), &row.kind),
    })
}

/// `?format=pdf|xlsx|docx`.
#[derive(Debug, Deserialize)]
pub struct FormatQuery {
    /// The format.
    #[serde(default)]
    pub format: String,
}

fn file(doc: &Document, format: &str, name: &str) -> Result<Response, AppError> {
    let format = match format {
        "pdf" => OutputFormat::Pdf,
        "xlsx" => OutputFormat::Xlsx,
        "docx" => OutputFormat::Docx,
        other => {
            return Err(AppError::Invalid {
                field: "format".into(),
                message: format!("不支持的格式“{other}”，可选 pdf、xlsx、docx"),
            });
        }
    };
    let bytes = write(doc, format).map_err(|e| AppError::BadRequest(format!("生成文件失败：{e}")))?;
    let (mime, ext) = content_type(format);
    let encoded: String = form_urlencoded::byte_serialize(format!("{name}.{ext}").as_bytes()).collect();
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"report.{ext}\"; filename*=UTF-8''{encoded}"))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// `GET /reports/{id}/download?format=`.
pub async fn download(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<FormatQuery>,
) -> Result<Response, AppError> {
    user.require(Action::ViewStatistics)?;
    let (row, doc) = readable(&state, &user, id).await?;
    file(&doc, &q.format, &row.title)
}

/// The office's 立即生成 form.
#[derive(Debug, Deserialize)]
pub struct MakeForm {
    /// The page's CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// The day (sheets), a day of the week (weekly), or the period's ends (bulletin).
    #[serde(default)]
    pub day: String,
    /// Bulletin: first day.
    #[serde(default)]
    pub from: String,
    /// Bulletin: last day.
    #[serde(default)]
    pub to: String,
}

fn day_of(raw: &str) -> Result<chrono::NaiveDate, AppError> {
    if raw.trim().is_empty() {
        return Ok(beijing_day(chrono::Utc::now()));
    }
    chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::Invalid {
            field: "day".into(), message: format!("“{raw}”不是日期（格式 2026-11-27）")
        })
}

/// `POST /reports/daily-sheets`: every unit's sheet for a day, now.
pub async fn make_sheets(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<MakeForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageReports)?;
    crate::auth::check_csrf(&headers, &form.csrf)?;
    let day = day_of(&form.day)?;
    sheets_for(&state.job_context(), user.district_id, day, chrono::Utc::now()).await?;
    state
        .store
        .audit(&user.audit(
            AuditAction::ReportMade,
            "reports",
            format!("{{\"kind\":\"daily_sheet\",\"day\":\"{day}\"}}"),
        ))
        .await?;
    Ok(Redirect::to("/reports").into_response())
}

async fn store_document(
    state: &AppState,
    district: i64,
    kind: &str,
    day: &str,
    doc: &Document,
) -> Result<i64, AppError> {
    let body = serde_json::to_string(doc).expect("a document serialises");
    let title = format!("{} · {}", doc.title, doc.subtitle);
    Ok(state
        .store
        .deliver_report(district, kind, None, day, &title, &body, |id| webhook_payload(id, kind, &title, None, &body))
        .await?)
}

/// `POST /reports/weekly`: the weekly report of the week holding `day`.
pub async fn make_weekly(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<MakeForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageReports)?;
    crate::auth::check_csrf(&headers, &form.csrf)?;
    let day = day_of(&form.day)?;
    let doc = build::weekly(&state.store, user.district_id, day).await?;
    let id = store_document(&state, user.district_id, "weekly", &build::monday_of(day).to_string(), &doc).await?;
    state.store.audit(&user.audit(AuditAction::ReportMade, format!("report:{id}"), "{\"kind\":\"weekly\"}")).await?;
    state.job_wake.notify_one();
    Ok(Redirect::to(&format!("/reports/{id}")).into_response())
}

/// `POST /reports/bulletin`: a bulletin over a period (this month by default).
pub async fn make_bulletin(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<MakeForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageReports)?;
    crate::auth::check_csrf(&headers, &form.csrf)?;
    let q = PeriodQuery { from: Some(form.from.clone()), to: Some(form.to.clone()), preset: None, dim: None };
    let period = q.period()?;
    let (settings, _) = crate::web::dashboard::settings_of(&state, user.district_id).await?;
    let doc = build::bulletin(&state.store, user.district_id, &period, &settings).await?;
    let id = store_document(&state, user.district_id, "bulletin", &period.to.to_string(), &doc).await?;
    state.store.audit(&user.audit(AuditAction::ReportMade, format!("report:{id}"), "{\"kind\":\"bulletin\"}")).await?;
    state.job_wake.notify_one();
    Ok(Redirect::to(&format!("/reports/{id}")).into_response())
}

/// `GET /reports/batches/{id}?format=`: the rectification orders of a batch
/// (a page, or a file).
pub async fn batch(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<FormatQuery>,
) -> Result<Response, AppError> {
    user.require(Action::ManageReports)?;
    let batch = state.store.order_batch(user.district_id, id).await?.ok_or(AppError::NotFound)?;
    let doc = build::batch(&state.store, user.district_id, id, &batch.number, &batch.note).await?;
    if !q.format.is_empty() {
        return file(&doc, &q.format, &format!("整改通知单 {}", batch.number));
    }
    render(&ReportPage {
        nav: Some(Nav::of(&state, &user, &headers).await?),
        doc: &doc,
        downloads: downloads(&format!("/reports/batches/{id}"), "batch"),
    })
}

/// The settings form.
#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    /// The page's CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// TOML text.
    #[serde(default)]
    pub body: String,
}

/// `POST /settings/assessment`: ranking weights and bulletin thresholds.
pub async fn save_assessment(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<SettingsForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageReports)?;
    crate::auth::check_csrf(&headers, &form.csrf)?;
    let period = PeriodQuery::default().period()?;
    if let Err(message) = Settings::parse(&form.body) {
        let page =
            crate::web::dashboard::rankings_page(&state, &user, &headers, period, Some(form.body), Some(message))
                .await?;
        return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let audit = user.audit(AuditAction::SettingsChanged, "assessment", "{}");
    state.store.save_assessment(user.district_id, &form.body, user.user_id, &audit).await?;
    Ok(Redirect::to("/dashboard/rankings").into_response())
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    nav: Option<Nav>,
    hooks: Vec<Webhook>,
    deliveries: Vec<(Delivery, String)>,
    csrf: String,
    created: Option<(String, String)>,
    error: Option<String>,
    form: WebhookForm,
}

/// The new-webhook form.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct WebhookForm {
    /// The page's CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// URL.
    #[serde(default)]
    pub url: String,
    /// Kinds, comma-separated (default: all).
    #[serde(default)]
    pub events: String,
}

async fn webhooks_page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    created: Option<(String, String)>,
    error: Option<String>,
    form: WebhookForm,
) -> Result<Response, AppError> {
    let deliveries = state
        .store
        .deliveries(user.district_id, 100)
        .await?
        .into_iter()
        .map(|d| {
            let when = d.last_attempt_at.map(|t| beijing_time(t, "%m-%d %H:%M:%S")).unwrap_or_default();
            (d, when)
        })
        .collect();
    render(&WebhooksPage {
        nav: Some(Nav::of(state, user, headers).await?),
        hooks: state.store.webhooks(user.district_id).await?,
        deliveries,
        csrf: crate::auth::csrf_token(headers),
        created,
        error,
        form,
    })
}

/// `GET /admin/webhooks`.
pub async fn webhooks(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    user.require(Action::ManageWebhooks)?;
    webhooks_page(&state, &user, &headers, None, None, WebhookForm::default()).await
}

/// Checks a webhook form: `(name, url, events)` or a Chinese message.
pub fn check_webhook(form: &WebhookForm) -> Result<(String, String, String), String> {
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err("请填写名称（不超过 60 字）".into());
    }
    let url = form.url.trim();
    let parsed = url.parse::<axum::http::Uri>().map_err(|_| format!("“{url}”不是有效的网址"))?;
    if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
        return Err("网址须以 http:// 或 https:// 开头".into());
    }
    let events: Vec<&str> = form.events.split([',', '，', ' ']).map(str::trim).filter(|e| !e.is_empty()).collect();
    let events = if events.is_empty() { crate::reports::KINDS.iter().map(|(k, _)| *k).collect() } else { events };
    if let Some(bad) = events.iter().find(|e| !crate::reports::KINDS.iter().any(|(k, _)| k == *e)) {
        return Err(format!("未知的事件“{bad}”，可选 daily_sheet、weekly、bulletin"));
    }
    Ok((name.to_string(), url.to_string(), events.join(",")))
}

/// `POST /admin/webhooks`: adds a webhook; its signing secret is shown once.
pub async fn create_webhook(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<WebhookForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageWebhooks)?;
    crate::auth::check_csrf(&headers, &form.csrf)?;
    let (name, url, events) = match check_webhook(&form) {
        Ok(checked) => checked,
        Err(message) => {
            let page = webhooks_page(&state, &user, &headers, None, Some(message), form).await?;
            return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let secret = format!("whsec_{}", crate::auth::random_token());
    let audit = user.audit(AuditAction::SettingsChanged, "webhook", format!("{{\"url\":{}}}", serde_json::json!(url)));
    state.store.create_webhook(user.district_id, &name, &url, &state.crypto.encrypt(&secret), &events, &audit).await?;
    webhooks_page(&state, &user, &headers, Some((name, secret)), None, WebhookForm::default()).await
}
