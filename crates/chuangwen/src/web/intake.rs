//! Bulk intake pages (批量导入): upload a spreadsheet of findings, map its
//! columns, watch it checked and filed, read the report, undo a batch; and
//! the list of batches with who imported what.

use askama::Template;
use axum::Json;
use axum::extract::{Multipart, Path, RawForm, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use serde::Serialize;

use crate::app::AppState;
use crate::auth::audit::AuditAction;
use crate::auth::policy::Action;
use crate::auth::{CurrentUser, check_csrf, csrf_token};
use crate::error::AppError;
use crate::intake::check::{self, DuplicateKind, FIELDS, Mapping, source_label};
use crate::intake::{IntakeReport, undo_refusal};
use crate::places::import::RowError;
use crate::sheet::read_table_blocking;
use crate::store::intake::{IntakeBatch, IntakeJob, NewIntakeBatch, UndoRefusal};
use crate::web::{Nav, field, form_pairs, render_form};

/// Batches listed on the intake page.
const LISTED: i64 = 50;
/// Sample values shown per column on the mapping step.
const SAMPLES: usize = 3;

/// A batch as the list shows it.
struct BatchRow {
    id: i64,
    source: &'static str,
    file_name: String,
    state: &'static str,
    total_rows: i64,
    imported: i64,
    created_by_name: String,
    created_at: String,
}

fn state_label(state: &str) -> &'static str {
    match state {
        "mapping" => "待确认列对应",
        "queued" => "排队中",
        "running" => "检查导入中",
        "refused" => "未导入（有错误行）",
        "done" => "已导入",
        "undone" => "已撤销",
        _ => "失败",
    }
}

fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&crate::domain::calendar::beijing()).format("%Y-%m-%d %H:%M").to_string()
}

#[derive(Template)]
#[template(path = "intake.html")]
struct IntakePage {
    nav: Option<Nav>,
    csrf: String,
    sources: Vec<(&'static str, &'static str)>,
    source: String,
    error: Option<String>,
    batches: Vec<BatchRow>,
}

async fn intake_page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    source: String,
    error: Option<String>,
) -> Result<Response, AppError> {
    let batches = state
        .store
        .intake_batches(user.district_id, LISTED)
        .await?
        .into_iter()
        .map(|b| BatchRow {
            id: b.id,
            source: source_label(&b.source),
            file_name: b.file_name,
            state: state_label(&b.state),
            total_rows: b.total_rows,
            imported: b.imported,
            created_by_name: b.created_by_name,
            created_at: when(b.created_at),
        })
        .collect();
    let page = IntakePage {
        nav: Some(Nav::of(state, user, headers).await?),
        csrf: csrf_token(headers),
        sources: check::SOURCES.iter().map(|s| (*s, source_label(s))).collect(),
        source,
        error,
        batches,
    };
    render_form(&page, page.error.is_some())
}

/// `GET /intake`: the upload form and the batches, newest first.
pub async fn index(State(state): State<AppState>, user: CurrentUser, headers: HeaderMap) -> Result<Response, AppError> {
    user.require(Action::ImportCases)?;
    intake_page(&state, &user, &headers, "third_party".into(), None).await
}

/// `POST /intake`: keeps the file and opens its mapping step.
pub async fn upload(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<Response, AppError> {
    user.require(Action::ImportCases)?;
    let (mut csrf, mut source, mut file) = (String::new(), String::new(), None::<(String, Bytes)>);
    while let Some(field) = form.next_field().await.map_err(|e| AppError::BadRequest(format!("上传的表单有误：{e}")))?
    {
        match field.name().unwrap_or_default() {
            "file" => {
                let file_name = field.file_name().unwrap_or("未命名").to_string();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|_| AppError::BadRequest("文件上传中断或超过大小限制（50 MB）".into()))?;
                if !bytes.is_empty() {
                    file = Some((file_name, bytes));
                }
            }
            "csrf" => csrf = field.text().await.unwrap_or_default(),
            "source" => source = field.text().await.unwrap_or_default(),
            _ => {}
        }
    }
    check_csrf(&headers, &csrf)?;
    if !check::SOURCES.contains(&source.as_str()) {
        return intake_page(&state, &user, &headers, source, Some("请选择来源".into())).await;
    }
    let Some((file_name, bytes)) = file else {
        return intake_page(&state, &user, &headers, source, Some("请选择要导入的文件".into())).await;
    };
    // Read now, so an unreadable file is said at once and nothing is kept.
    let table = match read_table_blocking(bytes.clone()).await {
        Ok(t) => t,
        Err(reason) => return intake_page(&state, &user, &headers, source, Some(reason)).await,
    };
    let saved = state.store.intake_mapping(user.district_id, &source).await?;
    let saved: Option<Mapping> = saved.and_then(|s| serde_json::from_str(&s).ok());
    let proposed = Mapping::propose(&table.headers, saved.as_ref());
    let format = table.format;
    let file_key = format!("intake/{}/{}.{}", user.district_id, uuid::Uuid::new_v4(), format.code());
    state.files.put(&file_key, bytes).await.map_err(AppError::internal)?;
    let id = state
        .store
        .create_intake_batch(
            user.district_id,
            &NewIntakeBatch {
                source: &source,
                file_name: &file_name,
                file_key: &file_key,
                format: format.code(),
                mapping: &serde_json::to_string(&proposed).expect("a mapping serialises"),
                created_by: Some(user.person()?),
                created_by_name: &user.display_name,
            },
        )
        .await?;
    Ok(Redirect::to(&format!("/intake/batches/{id}")).into_response())
}

/// One field on the mapping step.
struct FieldRow {
    key: &'static str,
    label: &'static str,
    required: bool,
    hint: &'static str,
    chosen: String,
}

/// A row of the report's duplicates table.
struct DuplicateRow {
    row: usize,
    case_id: i64,
    case_number: String,
    reason: String,
    filed: bool,
}

#[derive(Template)]
#[template(path = "intake_batch.html")]
struct BatchPage {
    nav: Option<Nav>,
    csrf: String,
    batch: IntakeBatch,
    source: &'static str,
    state_label: &'static str,
    created_at: String,
    undone_at: String,
    // The mapping step.
    mapping_open: bool,
    headers: Vec<String>,
    samples: Vec<Vec<String>>,
    fields: Vec<FieldRow>,
    crs: String,
    mapping_error: Option<String>,
    // Progress and report.
    percent: i64,
    status_text: String,
    summary: Option<String>,
    errors: Vec<RowError>,
    bad_rows: usize,
    duplicates: Vec<DuplicateRow>,
    undo_blocked: Option<String>,
    undo_error: Option<String>,
}

async fn batch_page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    batch: IntakeBatch,
    mapping_error: Option<String>,
    undo_error: Option<String>,
) -> Result<Response, AppError> {
    let mapping: Mapping = serde_json::from_str(&batch.mapping).unwrap_or_default();
    let mapping_open = matches!(batch.state.as_str(), "mapping" | "refused" | "failed");
    let (file_headers, samples) = if mapping_open {
        let bytes = state.files.get(&batch.file_key).await.map_err(AppError::internal)?;
        match read_table_blocking(bytes).await {
            Ok(table) => {
                let samples = table.rows.iter().take(SAMPLES).map(|r| r.cells.clone()).collect();
                (table.headers, samples)
            }
            Err(reason) => (vec![], vec![vec![reason]]),
        }
    } else {
        (vec![], vec![])
    };
    let report: Option<IntakeReport> = batch.report.as_deref().and_then(|r| serde_json::from_str(r).ok());
    let progress = progress_of(&batch);
    let fields = FIELDS
        .iter()
        .map(|f| FieldRow {
            key: f.key,
            label: f.label,
            required: f.required,
            hint: f.hint,
            chosen: mapping.columns.get(f.key).cloned().unwrap_or_default(),
        })
        .collect();
    let duplicates = report
        .as_ref()
        .map(|r| {
            r.duplicates
                .iter()
                .map(|d| DuplicateRow {
                    row: d.row,
                    case_id: d.case_id,
                    case_number: d.case_number.clone(),
                    reason: d.reason(),
                    filed: !r.refused && d.kind == DuplicateKind::NearOpenCase && batch.import_duplicates,
                })
                .collect()
        })
        .unwrap_or_default();
    let page = BatchPage {
        nav: Some(Nav::of(state, user, headers).await?),
        csrf: csrf_token(headers),
        source: source_label(&batch.source),
        state_label: state_label(&batch.state),
        created_at: when(batch.created_at),
        undone_at: batch.undone_at.map(when).unwrap_or_default(),
        mapping_open,
        headers: file_headers,
        samples,
        fields,
        crs: mapping.crs.clone(),
        mapping_error,
        percent: progress.percent,
        status_text: progress.status_text,
        summary: report.as_ref().map(IntakeReport::summary),
        bad_rows: report.as_ref().map(|r| r.bad_rows).unwrap_or(0),
        errors: report.map(|r| r.errors).unwrap_or_default(),
        duplicates,
        undo_blocked: undo_refusal(&batch, chrono::Utc::now()).map(|r| r.to_string()),
        undo_error,
        batch,
    };
    render_form(&page, page.mapping_error.is_some() || page.undo_error.is_some())
}

/// `GET /intake/batches/{id}`: the mapping step, the progress, or the report.
pub async fn batch(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Action::ImportCases)?;
    let batch = state.store.intake_batch(user.district_id, id).await?.ok_or(AppError::NotFound)?;
    batch_page(&state, &user, &headers, batch, None, None).await
}

/// `POST /intake/batches/{id}/run`: confirms the mapping (saved for the
/// source's next file) and the choices, and sets the batch running.
pub async fn run(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    RawForm(raw): RawForm,
) -> Result<Response, AppError> {
    user.require(Action::ImportCases)?;
    let pairs = form_pairs(&raw);
    let value = |name: &str| field(&pairs, name);
    check_csrf(&headers, value("csrf"))?;
    let batch = state.store.intake_batch(user.district_id, id).await?.ok_or(AppError::NotFound)?;
    let mapping = Mapping {
        columns: FIELDS
            .iter()
            .filter_map(|f| {
                let header = value(&format!("col_{}", f.key));
                (!header.is_empty()).then(|| (f.key.to_string(), header.to_string()))
            })
            .collect(),
        crs: value("crs").to_string(),
    };
    let bytes = state.files.get(&batch.file_key).await.map_err(AppError::internal)?;
    let file_headers = read_table_blocking(bytes).await.map(|t| t.headers).unwrap_or_default();
    if let Err(reason) = mapping.columns_in(&file_headers) {
        let batch = IntakeBatch { mapping: serde_json::to_string(&mapping).expect("a mapping serialises"), ..batch };
        return batch_page(&state, &user, &headers, batch, Some(reason), None).await;
    }
    let json = serde_json::to_string(&mapping).expect("a mapping serialises");
    let job = IntakeJob {
        batch_id: id,
        actor_id: user.user_id,
        actor: user.username.clone(),
        ip: user.ip.clone(),
        duplicate_radius_m: state.config.duplicate_radius_m,
        duplicate_days: state.config.duplicate_days,
    };
    let (skip, duplicates) = (!value("skip_bad_rows").is_empty(), !value("import_duplicates").is_empty());
    if !state.store.queue_intake_batch(user.district_id, &json, skip, duplicates, &job).await? {
        let batch = state.store.intake_batch(user.district_id, id).await?.ok_or(AppError::NotFound)?;
        return batch_page(&state, &user, &headers, batch, Some("该批次已在导入或已完成".into()), None).await;
    }
    state.store.save_intake_mapping(user.district_id, &batch.source, &json).await?;
    state.job_wake.notify_one();
    Ok(Redirect::to(&format!("/intake/batches/{id}")).into_response())
}

/// A batch's progress, for the page's script.
#[derive(Serialize)]
pub struct BatchProgress {
    state: String,
    percent: i64,
    status_text: String,
}

fn progress_of(batch: &IntakeBatch) -> BatchProgress {
    let percent = match batch.state.as_str() {
        "done" | "refused" | "failed" | "undone" => 100,
        _ if batch.total_rows > 0 => (batch.done_rows * 100 / batch.total_rows).clamp(0, 100),
        _ => 0,
    };
    let status_text = match batch.state.as_str() {
        "mapping" => "请确认各字段对应的列".to_string(),
        "queued" => "排队中，即将开始…".to_string(),
        "running" => format!("正在检查和导入：{} / {} 行", batch.done_rows, batch.total_rows),
        "done" => format!("已完成：立案 {} 件", batch.imported),
        "refused" => "未导入：文件中有错误，见下表".to_string(),
        "undone" => "已撤销：本批次的案卷已全部移除".to_string(),
        _ => "导入失败：请联系系统管理员查看日志".to_string(),
    };
    BatchProgress { state: batch.state.clone(), percent, status_text }
}

/// `GET /intake/batches/{id}/progress`.
pub async fn progress(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<BatchProgress>, AppError> {
    user.require(Action::ImportCases)?;
    let batch = state.store.intake_batch(user.district_id, id).await?.ok_or(AppError::NotFound)?;
    Ok(Json(progress_of(&batch)))
}

/// `POST /intake/batches/{id}/undo`: removes every case of the batch, if
/// none has moved on and it is within 24 hours.
pub async fn undo(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    RawForm(raw): RawForm,
) -> Result<Response, AppError> {
    user.require(Action::ImportCases)?;
    check_csrf(&headers, field(&form_pairs(&raw), "csrf"))?;
    let batch = state.store.intake_batch(user.district_id, id).await?.ok_or(AppError::NotFound)?;
    let audit = user.audit(AuditAction::ImportUndone, format!("intake:{id}"), String::new());
    match state.store.undo_intake_batch(user.district_id, id, &user.display_name, &audit).await {
        Ok(_) => Ok(Redirect::to(&format!("/intake/batches/{id}")).into_response()),
        Err(UndoRefusal::Store(err)) => Err(err.into()),
        Err(refusal) => batch_page(&state, &user, &headers, batch, None, Some(refusal.to_string())).await,
    }
}

/// `GET /intake/template.xlsx`: an empty workbook with our headers and one
/// example row, for a source that has no export of its own.
pub async fn template(user: CurrentUser) -> Result<Response, AppError> {
    user.require(Action::ImportCases)?;
    let example = crate::domain::categories::shipped().categories.first().map(|c| c.code.clone()).unwrap_or_default();
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let row: [&str; 10] = [
        "CP-2026-0001",
        &example,
        "1",
        "人行道上堆放建筑垃圾约 2 立方米",
        "某街道某路 18 号",
        "",
        "",
        "",
        "2026-11-20 09:30",
        "张三",
    ];
    for (col, (f, value)) in FIELDS.iter().zip(row).enumerate() {
        let col = col as u16;
        sheet.write_with_format(0, col, f.label, &bold).map_err(AppError::internal)?;
        sheet.write(1, col, value).map_err(AppError::internal)?;
        sheet.set_column_width(col, 16).map_err(AppError::internal)?;
    }
    let notes = book.add_worksheet().set_name("填写说明").map_err(AppError::internal)?;
    for (i, f) in FIELDS.iter().enumerate() {
        let r = i as u32;
        notes.write(r, 0, f.label).map_err(AppError::internal)?;
        notes.write(r, 1, if f.required { "必填" } else { "选填" }).map_err(AppError::internal)?;
        notes.write(r, 2, f.hint).map_err(AppError::internal)?;
    }
    let bytes = book.save_to_buffer().map_err(AppError::internal)?;
    let content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    Ok(crate::web::download(bytes, content_type, "intake-template.xlsx", "问题批量导入模板.xlsx"))
}
