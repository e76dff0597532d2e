//! Pages of places: the point list, imports with their progress, exports.

use askama::Template;
use axum::Json;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::audit::AuditAction;
use crate::auth::policy::Action;
use crate::auth::{CurrentUser, check_csrf, csrf_token};
use crate::domain::coords::Crs;
use crate::domain::org::UnitKind;
use crate::domain::places::{point_type, point_types};
use crate::error::AppError;
use crate::places::ImportReport;
use crate::places::export::export_places;
use crate::places::import::{FileFormat, PlaceKind, RowError};
use crate::store::places::{NewPlaceImport, PlaceImport, PointFilter};
use crate::web::{Nav, render};

/// Points per page.
const PAGE: i64 = 50;

/// A point as the list shows it.
pub struct PointRow {
    id: i64,
    code: String,
    name: String,
    type_name: String,
    street: String,
    community: String,
    grid: String,
    unit: String,
    leader: String,
}

#[derive(Template)]
#[template(path = "places.html")]
struct PlacesPage {
    nav: Option<Nav>,
    totals: (i64, i64, i64),
    types: Vec<(String, String)>,
    streets: Vec<(String, String)>,
    selected_type: String,
    selected_street: String,
    can_export: bool,
    points: Vec<PointRow>,
    next_url: Option<String>,
}

/// Filters of the point list.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(rename = "type", default)]
    point_type: String,
    #[serde(default)]
    street: String,
    #[serde(default)]
    after: Option<i64>,
}

/// `GET /places`.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    user.require(Action::ViewPlaces)?;
    let district_id = user.district_id;
    let units = state.store.units(district_id).await?;
    let streets: Vec<(String, String)> = units
        .iter()
        .filter(|u| UnitKind::from_code(&u.kind).is_some_and(UnitKind::is_street_level))
        .map(|u| (u.id.to_string(), u.name.clone()))
        .collect();
    let filter = PointFilter {
        point_type: Some(q.point_type.clone()).filter(|t| !t.is_empty()),
        street_id: q.street.parse().ok(),
        after_id: q.after,
        limit: PAGE + 1,
    };
    let mut points = state.store.points(district_id, &user.scope(), &filter).await?;
    let next_url = (points.len() as i64 > PAGE).then(|| {
        points.truncate(PAGE as usize);
        let last = points.last().map(|p| p.id).unwrap_or_default();
        format!("/places?type={}&street={}&after={last}", q.point_type, q.street)
    });
    let rows = points
        .into_iter()
        .map(|p| PointRow {
            type_name: point_type(&p.point_type).map(|t| t.name.clone()).unwrap_or(p.point_type),
            id: p.id,
            code: p.code,
            name: p.name,
            street: p.street_name.unwrap_or_default(),
            community: p.community_name.unwrap_or_default(),
            grid: p.grid_code.unwrap_or_default(),
            unit: p.responsible_unit_name,
            leader: p.leader_name,
        })
        .collect();
    let page = PlacesPage {
        nav: Some(Nav::of(&state, &user, &headers).await?),
        totals: state.store.place_totals(district_id).await?,
        types: point_types().iter().map(|t| (t.code.clone(), t.name.clone())).collect(),
        streets,
        selected_type: q.point_type,
        selected_street: q.street,
        can_export: user.may(Action::ExportPlaces),
        points: rows,
        next_url,
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "import_new.html")]
struct ImportForm {
    nav: Option<Nav>,
    csrf: String,
    kind: String,
    crs: String,
    skip_bad_rows: bool,
    error: Option<String>,
    recent: Vec<(i64, &'static str, String, &'static str, i64, String)>,
}

fn state_label(state: &str) -> &'static str {
    match state {
        "queued" => "排队中",
        "running" => "导入中",
        "done" => "已完成",
        "refused" => "未导入（有错误）",
        _ => "失败",
    }
}

async fn import_form(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    values: ImportValues,
    error: Option<String>,
) -> Result<Response, AppError> {
    let recent = state
        .store
        .recent_place_imports(user.district_id, 10)
        .await?
        .into_iter()
        .map(|r| {
            let kind = PlaceKind::parse(&r.kind).map(PlaceKind::label).unwrap_or("");
            let at = super::beijing_time(r.created_at, "%Y-%m-%d %H:%M");
            (r.id, kind, r.file_name, state_label(&r.state), r.imported, at)
        })
        .collect();
    let csrf = csrf_token(headers);
    let page = ImportForm {
        nav: Some(Nav::of(state, user, headers).await?),
        csrf,
        kind: values.kind,
        crs: values.crs,
        skip_bad_rows: values.skip_bad_rows,
        error,
        recent,
    };
    render(&page)
}

/// What the import form holds, kept when it is refused.
#[derive(Default)]
struct ImportValues {
    kind: String,
    crs: String,
    skip_bad_rows: bool,
}

/// `GET /places/import`.
pub async fn import_page(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    user.require(Action::ImportPlaces)?;
    let values = ImportValues { kind: "points".into(), crs: "wgs84".into(), skip_bad_rows: false };
    import_form(&state, &user, &headers, values, None).await
}

/// `POST /places/import`: keeps the file, queues the job, shows its progress.
pub async fn start_import(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<Response, AppError> {
    user.require(Action::ImportPlaces)?;
    let mut values = ImportValues::default();
    let (mut csrf, mut file): (String, Option<(String, Bytes)>) = (String::new(), None);
    while let Some(field) = form.next_field().await.map_err(|e| AppError::BadRequest(format!("上传的表单有误：{e}")))?
    {
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
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
            _ => {
                let text = field.text().await.unwrap_or_default();
                match name.as_str() {
                    "csrf" => csrf = text,
                    "kind" => values.kind = text,
                    "crs" => values.crs = text,
                    "skip_bad_rows" => values.skip_bad_rows = !text.is_empty(),
                    _ => {}
                }
            }
        }
    }
    check_csrf(&headers, &csrf)?;
    let Some(kind) = PlaceKind::parse(&values.kind) else {
        return import_form(&state, &user, &headers, values, Some("请选择导入内容".into())).await;
    };
    let Some(crs) = Crs::parse(&values.crs) else {
        return import_form(&state, &user, &headers, values, Some("请选择坐标系".into())).await;
    };
    let Some((file_name, bytes)) = file else {
        return import_form(&state, &user, &headers, values, Some("请选择要导入的文件".into())).await;
    };
    let Some(format) = FileFormat::sniff(&bytes) else {
        return import_form(
            &state,
            &user,
            &headers,
            values,
            Some("无法识别的文件格式：请上传 GeoJSON 或 Excel（.xlsx）文件".into()),
        )
        .await;
    };
    let district_id = user.district_id;
    let file_key = format!("imports/{district_id}/{}.{}", uuid::Uuid::new_v4(), format.code());
    state.files.put(&file_key, bytes).await.map_err(AppError::internal)?;
    let id = state
        .store
        .create_place_import(
            district_id,
            &NewPlaceImport {
                user_id: user.person()?,
                kind: kind.code(),
                format: format.code(),
                crs: crs.code(),
                file_name: &file_name,
                file_key: &file_key,
                skip_bad_rows: values.skip_bad_rows,
            },
        )
        .await?;
    let detail = serde_json::json!({ "register": kind.code(), "file": file_name, "import": id });
    state.store.audit(&user.audit(AuditAction::DataImported, format!("import:{id}"), detail.to_string())).await?;
    state.job_wake.notify_one();
    Ok(Redirect::to(&format!("/places/imports/{id}")).into_response())
}

/// An import's progress, for the page's script.
#[derive(Serialize)]
pub struct ImportProgress {
    state: String,
    done: i64,
    total: i64,
    percent: i64,
    status_text: String,
}

fn progress_of(run: &PlaceImport) -> ImportProgress {
    let percent = match run.state.as_str() {
        "done" | "refused" | "failed" => 100,
        _ if run.total_rows > 0 => (run.done_rows * 100 / run.total_rows).clamp(0, 100),
        _ => 0,
    };
    let status_text = match run.state.as_str() {
        "queued" => "排队中，即将开始…".to_string(),
        "running" => format!("正在导入：{percent}%"),
        "done" => format!("已完成：写入 {} 行", run.imported),
        "refused" => "未导入：文件中有错误，见下表".to_string(),
        _ => "导入失败：请联系系统管理员查看日志".to_string(),
    };
    ImportProgress { state: run.state.clone(), done: run.done_rows, total: run.total_rows, percent, status_text }
}

#[derive(Template)]
#[template(path = "import_run.html")]
struct ImportRunPage {
    nav: Option<Nav>,
    id: i64,
    kind_label: &'static str,
    file_name: String,
    state: String,
    percent: i64,
    status_text: String,
    summary: Option<String>,
    errors: Vec<RowError>,
}

/// `GET /places/imports/{id}`.
pub async fn import_run(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Action::ImportPlaces)?;
    let run = state.store.place_import(user.district_id, id).await?.ok_or(AppError::NotFound)?;
    let progress = progress_of(&run);
    let report: Option<ImportReport> = run.report.as_deref().and_then(|r| serde_json::from_str(r).ok());
    let page = ImportRunPage {
        nav: Some(Nav::of(&state, &user, &headers).await?),
        id: run.id,
        kind_label: PlaceKind::parse(&run.kind).map(PlaceKind::label).unwrap_or(""),
        file_name: run.file_name.clone(),
        state: run.state.clone(),
        percent: progress.percent,
        status_text: progress.status_text,
        summary: report.as_ref().map(ImportReport::summary),
        errors: report.map(|r| r.errors).unwrap_or_default(),
    };
    render(&page)
}

/// `GET /places/imports/{id}/progress`.
pub async fn import_progress(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<ImportProgress>, AppError> {
    user.require(Action::ImportPlaces)?;
    let run = state.store.place_import(user.district_id, id).await?.ok_or(AppError::NotFound)?;
    Ok(Json(progress_of(&run)))
}

/// What to export.
#[derive(Deserialize)]
pub struct ExportQuery {
    kind: String,
    format: String,
}

/// `GET /places/export?kind=…&format=…`.
pub async fn export(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ExportQuery>,
) -> Result<Response, AppError> {
    user.require(Action::ExportPlaces)?;
    let kind = PlaceKind::parse(&q.kind)
        .ok_or_else(|| AppError::BadRequest("导出内容应为 units、grids、points 或 shop_fronts".into()))?;
    let format = match q.format.as_str() {
        "geojson" => FileFormat::Geojson,
        "xlsx" => FileFormat::Xlsx,
        _ => return Err(AppError::BadRequest("导出格式应为 geojson 或 xlsx".into())),
    };
    let district = state.store.district(user.district_id).await?;
    let bytes = export_places(&state.store, district.id, kind, format).await.map_err(AppError::internal)?;
    let detail = serde_json::json!({ "register": kind.code(), "format": format.code(), "bytes": bytes.len() });
    state.store.audit(&user.audit(AuditAction::DataExported, kind.code(), detail.to_string())).await?;
    let (content_type, ext) = match format {
        FileFormat::Geojson => ("application/geo+json", "geojson"),
        FileFormat::Xlsx => ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    };
    let ascii = format!("{}-{}.{ext}", district.code, kind.code());
    Ok(crate::web::download(bytes, content_type, &ascii, &format!("{}-{}.{ext}", district.name, kind.label())))
}

#[derive(Template)]
#[template(path = "point.html")]
struct PointPage {
    nav: Option<Nav>,
    point: crate::store::places::Point,
    type_name: String,
}

/// `GET /places/points/{id}`: one point, if the user's scope sees it.
pub async fn point(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Action::ViewPlaces)?;
    let point = state.store.point(user.district_id, &user.scope(), id).await?.ok_or(AppError::NotFound)?;
    let type_name = point_type(&point.point_type).map(|t| t.name.clone()).unwrap_or(point.point_type.clone());
    render(&PointPage { nav: Some(Nav::of(&state, &user, &headers).await?), point, type_name })
}
