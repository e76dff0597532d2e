//! Reports in the browser: each unit's inbox of 督察单 (a unit sees its own
//! and its subtree's sheets; the district-wide roles see everything, the
//! weekly reports and bulletins included); each as a print-ready page and as
//! PDF, xlsx and docx; the office makes them on demand and sets the ranking
//! weights and bulletin thresholds; the administrator manages webhooks and
//! reads their delivery log.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::audit::AuditAction;
use crate::auth::policy::Action;
use crate::auth::{CurrentUser, check_csrf, csrf_token};
use crate::domain::assessment::Settings;
use crate::domain::stats::{Period, beijing_day};
use crate::error::AppError;
use crate::jobs::reports::{publish, sheets_for};
use crate::reports::render::{OutputFormat, content_type, render as write};
use crate::reports::{Block, Document, build, kind_label};
use crate::store::StoreError;
use crate::store::reports::{Delivery, ReportRow, Webhook};
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
    month_start: String,
}

/// `GET /reports`: the inbox.
pub async fn list(State(state): State<AppState>, user: CurrentUser, headers: HeaderMap) -> Result<Response, AppError> {
    user.require(Action::ViewStatistics)?;
    let pattern = user.scope().path_pattern();
    let rows = state.store.reports(user.district_id, pattern.as_deref(), 200).await?;
    let reports = rows
        .into_iter()
        .map(|row| Listed { kind: kind_label(&row.kind), made: beijing_time(row.created_at, "%Y-%m-%d %H:%M"), row })
        .collect();
    let today = beijing_day(chrono::Utc::now());
    render(&ReportsPage {
        nav: Some(Nav::of(&state, &user, &headers).await?),
        reports,
        can_make: user.may(Action::ManageReports),
        csrf: csrf_token(&headers),
        today: today.to_string(),
        month_start: Period::month_of(today).from.to_string(),
    })
}

/// A report the user may read, or 404; opening one's own unit's sheet marks it read.
async fn readable(state: &AppState, user: &CurrentUser, id: i64) -> Result<(ReportRow, Document), AppError> {
    let pattern = user.scope().path_pattern();
    let (row, body) = state.store.report(user.district_id, pattern.as_deref(), id).await?.ok_or(AppError::NotFound)?;
    if row.unit_id == Some(user.unit_id) && row.read_at.is_none() {
        state.store.mark_report_read(row.id).await?;
    }
    let doc: Document = serde_json::from_str(&body).map_err(AppError::internal)?;
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

/// The document as a file; rendering runs off the async threads.
async fn file(doc: Document, format: &str, name: &str) -> Result<Response, AppError> {
    let format = OutputFormat::parse(format).ok_or_else(|| AppError::Invalid {
        field: "format".into(),
        message: format!("不支持的格式“{format}”，可选 pdf、xlsx、docx"),
    })?;
    let bytes = tokio::task::spawn_blocking(move || write(&doc, format))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
    let (mime, ext) = content_type(format);
    Ok(crate::web::download(bytes, mime, &format!("report.{ext}"), &format!("{name}.{ext}")))
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
    file(doc, &q.format, &row.title).await
}

/// The office's 立即生成 forms.
#[derive(Debug, Deserialize)]
pub struct MakeForm {
    /// The page's CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// Weekly: a day of the week.
    #[serde(default)]
    pub day: String,
    /// Bulletin: first day (empty: the first of the last day's month).
    #[serde(default)]
    pub from: String,
    /// Bulletin: last day (empty: today).
    #[serde(default)]
    pub to: String,
}

/// A form's day, today when left empty.
fn day_of(raw: &str, field: &str, what: &str) -> Result<NaiveDate, AppError> {
    if raw.trim().is_empty() {
        return Ok(beijing_day(chrono::Utc::now()));
    }
    crate::statistics::parse_day(raw, what).map_err(|message| AppError::Invalid { field: field.into(), message })
}

/// `POST /reports/daily-sheets`: every unit's sheet for today, as things stand now.
pub async fn make_sheets(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<MakeForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageReports)?;
    check_csrf(&headers, &form.csrf)?;
    let day = beijing_day(chrono::Utc::now());
    let made = sheets_for(&state.job_context(), user.district_id, day, chrono::Utc::now()).await.map_err(busy)?;
    let detail = serde_json::json!({ "kind": "daily_sheet", "day": day, "sheets": made }).to_string();
    state.store.audit(&user.audit(AuditAction::ReportMade, "reports", detail)).await?;
    state.job_wake.notify_one();
    Ok(Redirect::to("/reports").into_response())
}

/// Two people making the same report at the same moment: the second is told to wait.
fn busy(err: StoreError) -> AppError {
    match err {
        StoreError::Duplicate(_) => AppError::Conflict("同一份报告正在生成，请稍候刷新页面".into()),
        other => other.into(),
    }
}

/// Delivers a report made on demand, audits it and opens it.
async fn publish_made(
    state: &AppState,
    user: &CurrentUser,
    kind: &str,
    day: &str,
    doc: &Document,
) -> Result<Response, AppError> {
    let title = format!("{} · {}", doc.title, doc.subtitle);
    let id = publish(&state.store, user.district_id, kind, None, day, &title, doc).await.map_err(busy)?;
    let detail = serde_json::json!({ "kind": kind, "day": day }).to_string();
    state.store.audit(&user.audit(AuditAction::ReportMade, format!("report:{id}"), detail)).await?;
    state.job_wake.notify_one();
    Ok(Redirect::to(&format!("/reports/{id}")).into_response())
}

/// `POST /reports/weekly`: the weekly report of the week holding `day`.
pub async fn make_weekly(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<MakeForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageReports)?;
    check_csrf(&headers, &form.csrf)?;
    let day = day_of(&form.day, "day", "日期")?;
    let doc = build::weekly(&state.store, user.district_id, day).await?;
    publish_made(&state, &user, "weekly", &build::monday_of(day).to_string(), &doc).await
}

/// `POST /reports/bulletin`: a bulletin from `from` to `to` (by default the
/// month so far).
pub async fn make_bulletin(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<MakeForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageReports)?;
    check_csrf(&headers, &form.csrf)?;
    let to = day_of(&form.to, "to", "结束日期")?;
    let from = if form.from.trim().is_empty() {
        to.with_day(1).expect("day 1")
    } else {
        day_of(&form.from, "from", "开始日期")?
    };
    let period = Period::new(from, to)
        .ok_or_else(|| AppError::Invalid {
            field: "to".into(), message: "结束日期不能早于开始日期".into()
        })?;
    let (settings, _) = crate::web::dashboard::settings_of(&state, user.district_id).await?;
    let doc = build::bulletin(&state.store, user.district_id, &period, &settings).await?;
    publish_made(&state, &user, "bulletin", &period.to.to_string(), &doc).await
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
        return file(doc, &q.format, &format!("整改通知单 {}", batch.number)).await;
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

/// `POST /settings/assessment`: ranking weights and bulletin thresholds; a
/// refused text comes back beside its error, nothing saved.
pub async fn save_assessment(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<SettingsForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageReports)?;
    check_csrf(&headers, &form.csrf)?;
    let checked = if form.body.trim().is_empty() {
        Err("考核设置不能为空".to_string())
    } else {
        Settings::parse(&form.body).map(|_| ())
    };
    if let Err(message) = checked {
        let period = Period::month_of(beijing_day(chrono::Utc::now()));
        let page =
            crate::web::dashboard::rankings_page(&state, &user, &headers, period, Some(form.body), Some(message))
                .await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
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
        csrf: csrf_token(headers),
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
    let kinds = || crate::reports::KINDS.iter().map(|(k, _)| *k);
    let events: Vec<&str> = form.events.split([',', '，', ' ']).map(str::trim).filter(|e| !e.is_empty()).collect();
    let events = if events.is_empty() { kinds().collect() } else { events };
    if let Some(bad) = events.iter().find(|e| !kinds().any(|k| k == **e)) {
        return Err(format!("未知的事件“{bad}”，可选 {}", kinds().collect::<Vec<_>>().join("、")));
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
    check_csrf(&headers, &form.csrf)?;
    let (name, url, events) = match check_webhook(&form) {
        Ok(checked) => checked,
        Err(message) => {
            let page = webhooks_page(&state, &user, &headers, None, Some(message), form).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let secret = format!("whsec_{}", crate::auth::random_token());
    let audit = user.audit(AuditAction::SettingsChanged, "webhook", serde_json::json!({ "url": url }).to_string());
    state.store.create_webhook(user.district_id, &name, &url, &state.crypto.encrypt(&secret), &events, &audit).await?;
    webhooks_page(&state, &user, &headers, Some((name, secret)), None, WebhookForm::default()).await
}

/// The stop/start and retry forms.
#[derive(Debug, Deserialize)]
pub struct WebhookAction {
    /// The page's CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// Stop/start: `1` to deliver, `0` to stop.
    #[serde(default)]
    pub active: String,
}

/// `POST /admin/webhooks/{id}/active`: stops or restarts a webhook.
pub async fn set_active(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<WebhookAction>,
) -> Result<Response, AppError> {
    user.require(Action::ManageWebhooks)?;
    check_csrf(&headers, &form.csrf)?;
    let active = form.active == "1";
    let detail = serde_json::json!({ "active": active }).to_string();
    let audit = user.audit(AuditAction::SettingsChanged, format!("webhook:{id}"), detail);
    if !state.store.set_webhook_active(user.district_id, id, active, &audit).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/admin/webhooks").into_response())
}

/// `POST /admin/webhooks/deliveries/{id}/retry`: 立即重试 a delivery not yet delivered.
pub async fn retry(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<WebhookAction>,
) -> Result<Response, AppError> {
    user.require(Action::ManageWebhooks)?;
    check_csrf(&headers, &form.csrf)?;
    let delivery = state.store.delivery(id).await?.filter(|d| d.district_id == user.district_id);
    let Some(delivery) = delivery else { return Err(AppError::NotFound) };
    if delivery.state == "delivered" {
        return Err(AppError::Conflict("这次投递已经送达，不再重发".into()));
    }
    if !state.store.retry_delivery_now(user.district_id, id).await? {
        return Err(AppError::Conflict("这次投递正在进行，请稍候刷新页面".into()));
    }
    state.job_wake.notify_one();
    Ok(Redirect::to("/admin/webhooks").into_response())
}
