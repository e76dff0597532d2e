//! Open311 GeoReport v2 under `/open311/v2/`, in XML and JSON, with
//! mySociety's `servicerequestupdates`: services are our problem categories,
//! requests are our cases (numbered as people know them), and a request
//! filed here enters the loop like any other report, from the source
//! `open311`. How our states read is `domain::open311::STATUSES`.
//!
//! Reading services and requests needs no key (the spec's public read);
//! filing a request and reading or posting updates needs the client's
//! `api_key`, made with `chuangwen apikey create`. Errors are the spec's:
//! 403 for a bad or missing key, 404 for an unknown resource, 400 for the
//! rest, each naming the field (shared/reference/open311-and-peers.md §3).

pub mod xml;

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::api::cases::{MAX_EVIDENCE_BYTES, ReportBody, place_report, store_evidence};
use crate::app::AppState;
use crate::auth::audit::AuditAction;
use crate::auth::policy::Scope;
use crate::auth::{ClientIp, CurrentUser, random_token, token_hash};
use crate::domain::calendar::TimeLimit;
use crate::domain::cases::CaseState;
use crate::domain::categories::CategoryTable;
use crate::domain::open311::{self as rules, Status};
use crate::error::AppError;
use crate::store::cases::Case;
use crate::store::open311::{Open311Client, RequestQuery};
use crate::store::org::District;

/// The prefix of every api_key, to recognise one in a log or a paste.
pub const KEY_PREFIX: &str = "o311_";

/// The most requests one page of `GET requests` holds.
const MAX_PAGE_SIZE: i64 = 1000;

/// The most ids one `service_request_id` list may name.
const MAX_IDS: usize = 100;

/// The most updates one `GET servicerequestupdates` returns; a window with
/// more is refused, so a client moving its window never misses one.
const MAX_UPDATES: i64 = 1000;

/// XML (the spec's required format) or JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.xml`
    Xml,
    /// `.json`
    Json,
}

impl Format {
    /// The format a path ends with, and the path without it.
    fn split(path: &str) -> Option<(&str, Format)> {
        if let Some(stem) = path.strip_suffix(".json") {
            Some((stem, Format::Json))
        } else {
            path.strip_suffix(".xml").map(|stem| (stem, Format::Xml))
        }
    }

    fn of(uri: &Uri) -> Format {
        Format::split(uri.path()).map(|(_, f)| f).unwrap_or(Format::Xml)
    }
}

/// An error in the spec's shape: its status and what is wrong.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    description: String,
}

fn refuse(status: StatusCode, description: impl Into<String>) -> Refusal {
    Refusal { status, description: description.into() }
}

fn bad(field: &str, message: impl std::fmt::Display) -> Refusal {
    refuse(StatusCode::BAD_REQUEST, format!("{field}: {message}"))
}

fn forbidden() -> Refusal {
    refuse(StatusCode::FORBIDDEN, "api_key 缺失或无效 / invalid or missing api_key")
}

impl From<AppError> for Refusal {
    fn from(err: AppError) -> Refusal {
        match err {
            AppError::Invalid { field, message } => bad(&field, message),
            AppError::BadRequest(message) => refuse(StatusCode::BAD_REQUEST, message),
            AppError::NotFound => refuse(StatusCode::NOT_FOUND, "不存在 / not found"),
            AppError::Forbidden | AppError::Unauthenticated => forbidden(),
            // Already logged where it was made.
            AppError::Internal(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
            // The spec has 400 for every other refusal (a conflict, say).
            other => refuse(StatusCode::BAD_REQUEST, other.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for Refusal {
    fn from(err: crate::store::StoreError) -> Refusal {
        AppError::from(err).into()
    }
}

/// The answer in the asked format.
fn answer(format: Format, status: StatusCode, root: &str, value: Value) -> Response {
    match format {
        Format::Json => (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], value.to_string()),
        Format::Xml => (status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml::document(root, &value)),
    }
    .into_response()
}

fn reply(format: Format, root: &str, result: Result<(StatusCode, Value), Refusal>) -> Response {
    match result {
        Ok((status, value)) => answer(format, status, root, value),
        Err(r) => {
            answer(format, r.status, "errors", json!([{ "code": r.status.as_u16(), "description": r.description }]))
        }
    }
}

/// The query's parameters (repeated names kept in order).
fn params(uri: &Uri) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = HashMap::new();
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        out.entry(k.into_owned()).and_modify(|old| *old = format!("{old},{v}")).or_insert_with(|| v.into_owned());
    }
    out
}

fn list(raw: Option<&String>) -> Vec<String> {
    raw.map(|r| r.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default()
}

/// The district a request is about: `jurisdiction_id` (the district's code),
/// needed only where the deployment holds several districts.
async fn jurisdiction(state: &AppState, asked: Option<&String>) -> Result<District, Refusal> {
    let districts = state.store.districts().await?;
    match asked.map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(code) => districts.into_iter().find(|d| d.code == code).ok_or_else(|| {
            refuse(StatusCode::NOT_FOUND, format!("jurisdiction_id: 未知的辖区“{code}” / unknown jurisdiction"))
        }),
        None if districts.len() == 1 => Ok(districts.into_iter().next().expect("one")),
        None => Err(bad(
            "jurisdiction_id",
            "本系统服务多个区，请填写区划代码 / required: this endpoint serves several jurisdictions",
        )),
    }
}

/// The client holding `api_key`, checked against the asked jurisdiction.
async fn client(state: &AppState, key: Option<&String>, asked: Option<&String>) -> Result<Open311Client, Refusal> {
    let key = key.map(|k| k.trim()).filter(|k| k.starts_with(KEY_PREFIX)).ok_or_else(forbidden)?;
    let client = state.store.open311_client_by_hash(&token_hash(key)).await?.ok_or_else(forbidden)?;
    if let Some(code) = asked.map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let district = state.store.district_by_code(code).await?;
        if district.is_none_or(|d| d.id != client.district_id) {
            return Err(forbidden());
        }
    }
    state.store.touch_open311_client(&client).await?;
    Ok(client)
}

/// The client as a caller of the case code: nobody in person, its unit's
/// scope (or the district's).
async fn caller(state: &AppState, client: &Open311Client, ip: String) -> Result<CurrentUser, Refusal> {
    let (unit_id, unit_path) = match client.unit_id {
        Some(id) => {
            let unit = state.store.unit_by_id(id).await?;
            (unit.id, unit.path)
        }
        // District-wide: no unit stands for it (its scope is `Scope::District`).
        None => (0, String::new()),
    };
    Ok(CurrentUser {
        user_id: None,
        token_id: None,
        district_id: client.district_id,
        unit_id,
        unit_path,
        username: format!("open311:{}", client.name),
        display_name: client.name.clone(),
        roles: Vec::new(),
        must_change_password: false,
        session_hash: None,
        ip,
        tables: None,
    })
}

fn scope_of(client: &Open311Client, caller: &CurrentUser) -> Scope {
    match client.unit_id {
        Some(_) => Scope::Subtree(caller.unit_path.clone()),
        None => Scope::District,
    }
}

fn w3c(at: DateTime<Utc>) -> String {
    at.with_timezone(&crate::domain::calendar::beijing()).to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// Who reads: with an `api_key`, the key's district and scope, every state;
/// without one, the asked jurisdiction's public cases only.
async fn reader(state: &AppState, p: &HashMap<String, String>) -> Result<(i64, Option<Scope>), Refusal> {
    match p.get("api_key").filter(|k| !k.trim().is_empty()) {
        Some(_) => {
            let client = client(state, p.get("api_key"), p.get("jurisdiction_id")).await?;
            let caller = caller(state, &client, String::new()).await?;
            Ok((client.district_id, Some(scope_of(&client, &caller))))
        }
        None => Ok((jurisdiction(state, p.get("jurisdiction_id")).await?.id, None)),
    }
}

/// `GET /open311/v2/discovery.{xml,json}`.
pub async fn discovery(uri: Uri, headers: axum::http::HeaderMap) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let value = json!({
        "changeset": "2026-11-27T00:00:00+08:00",
        "contact": "区创文办（创建全国文明城区工作办公室）",
        "key_service": "api_key 由区创文办发放（chuangwen apikey create）/ ask the district's office for an api_key",
        "endpoints": [{
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": format!("http://{host}/open311/v2"),
            "changeset": "2026-11-27T00:00:00+08:00",
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }],
    });
    answer(Format::of(&uri), StatusCode::OK, "discovery", value)
}

fn service(table: &CategoryTable, code: &str) -> Option<Value> {
    let c = table.category(code)?;
    let first = c.conditions.first();
    let group = table.classes.iter().find(|k| c.code.starts_with(&k.code)).map(|k| k.name.clone());
    let description = first.map(|f| format!("{}；处置时限 {}", f.name, TimeLimit::new(f.limit, f.clock)));
    Some(json!({
        "service_code": c.code,
        "service_name": c.name,
        "description": description,
        "metadata": true,
        "type": "realtime",
        "keywords": table.campaign(&c.campaign).map(|k| k.name.clone()),
        "group": group,
    }))
}

/// `GET /open311/v2/services.{xml,json}`: the district's problem categories.
pub async fn services(State(state): State<AppState>, uri: Uri) -> Response {
    let run = async {
        let p = params(&uri);
        let district = jurisdiction(&state, p.get("jurisdiction_id")).await?;
        let table = state.store.categories(district.id).await?;
        let all: Vec<Value> = table.categories.iter().filter_map(|c| service(&table, &c.code)).collect();
        Ok((StatusCode::OK, Value::Array(all)))
    };
    reply(Format::of(&uri), "services", run.await)
}

/// `GET /open311/v2/services/{code}.{xml,json}`: a category's attributes —
/// its filing conditions (立案条件), which set the time limit.
pub async fn service_definition(State(state): State<AppState>, uri: Uri, Path(file): Path<String>) -> Response {
    let format = Format::of(&uri);
    let run = async {
        let (code, _) = Format::split(&file).ok_or_else(|| refuse(StatusCode::NOT_FOUND, "请以 .xml 或 .json 结尾"))?;
        let p = params(&uri);
        let district = jurisdiction(&state, p.get("jurisdiction_id")).await?;
        let table = state.store.categories(district.id).await?;
        let category = table
            .category(code)
            .ok_or_else(|| refuse(StatusCode::NOT_FOUND, format!("service_code: 未知的问题分类“{code}”")))?;
        let values: Vec<Value> = category
            .conditions
            .iter()
            .enumerate()
            .map(|(i, c)| json!({ "key": i.to_string(), "name": format!("{}（{}）", c.name, TimeLimit::new(c.limit, c.clock)) }))
            .collect();
        Ok((
            StatusCode::OK,
            json!({
                "service_code": category.code,
                "attributes": [{
                    "variable": true,
                    "code": "condition",
                    "datatype": "singlevaluelist",
                    "required": false,
                    "datatype_description": "立案条件，决定处置时限；不填为第一项",
                    "order": 1,
                    "description": "立案条件",
                    "values": values,
                }],
            }),
        ))
    };
    reply(format, "service_definition", run.await)
}

/// A request as the spec shows it.
fn request(case: &Case, table: &CategoryTable, units: &HashMap<i64, String>) -> Value {
    let state = CaseState::from_code(&case.state).unwrap_or(CaseState::Reported);
    let (status, _, note) = rules::status_of(state);
    let category = table.category(&case.category_code);
    let notice = category
        .and_then(|c| c.conditions.get(case.condition_index as usize))
        .map(|c| format!("{}；结案条件：{}", TimeLimit::new(c.limit, c.clock), c.closing));
    json!({
        "service_request_id": case.number,
        "status": status.code(),
        "status_notes": note,
        "service_name": category.map(|c| c.name.clone()),
        "service_code": case.category_code,
        "description": rules::mask_personal(&case.description),
        "agency_responsible": case.unit_id.and_then(|u| units.get(&u).cloned()),
        "service_notice": notice,
        "requested_datetime": w3c(case.reported_at),
        "updated_datetime": w3c(case.updated_at),
        "expected_datetime": case.deadline.map(w3c),
        "address": case.address,
        "address_id": null,
        "zipcode": null,
        "lat": case.lat,
        "long": case.lon,
        "media_url": null,
    })
}

async fn unit_names(state: &AppState, district_id: i64) -> Result<HashMap<i64, String>, Refusal> {
    Ok(state.store.units(district_id).await?.into_iter().map(|u| (u.id, u.name)).collect())
}

/// The window of `start_date` and `end_date` (W3C datetimes with offsets).
fn window_of(p: &HashMap<String, String>) -> Result<(DateTime<Utc>, DateTime<Utc>), Refusal> {
    let date = |field: &str| -> Result<Option<DateTime<Utc>>, Refusal> {
        match p.get(field).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(raw) => rules::parse_datetime(raw).map(Some).ok_or_else(|| {
                bad(field, "应为带时区的 W3C 时间，如 2026-11-01T00:00:00+08:00 / expected a W3C datetime")
            }),
        }
    };
    rules::window(date("start_date")?, date("end_date")?, Utc::now())
        .map_err(|m| bad(if p.contains_key("end_date") { "end_date" } else { "start_date" }, m))
}

/// `GET /open311/v2/requests.{xml,json}`: the requests of a window (the last
/// 90 days by default), newest first, `page` / `page_size` at most 1000.
pub async fn requests(State(state): State<AppState>, uri: Uri) -> Response {
    let run = async {
        let p = params(&uri);
        let (district_id, scope) = reader(&state, &p).await?;
        let numbers = list(p.get("service_request_id"));
        if numbers.len() > MAX_IDS {
            return Err(bad("service_request_id", format!("一次最多 {MAX_IDS} 个编号 / at most {MAX_IDS} ids")));
        }
        // A list of ids overrides every other filter (the spec).
        let (from, to) =
            if numbers.is_empty() { window_of(&p).map(|(f, t)| (Some(f), Some(t)))? } else { (None, None) };
        let mut states = Vec::new();
        for raw in list(p.get("status")) {
            let status =
                Status::parse(&raw).ok_or_else(|| bad("status", format!("应为 open 或 closed，而非“{raw}”")))?;
            states.extend(rules::states_of(status).map(str::to_string));
        }
        let number = |field: &str, default: i64, max: i64| -> Result<i64, Refusal> {
            match p.get(field).map(|s| s.trim()).filter(|s| !s.is_empty()) {
                None => Ok(default),
                Some(raw) => raw
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| bad(field, format!("应为 1 到 {max} 之间的整数"))),
            }
        };
        let page = number("page", 1, 1_000_000)?;
        let page_size = number("page_size", MAX_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let query = RequestQuery {
            numbers,
            categories: list(p.get("service_code")),
            states,
            from,
            to,
            offset: (page - 1) * page_size,
            limit: page_size,
            scope,
        };
        let table = state.store.categories(district_id).await?;
        let units = unit_names(&state, district_id).await?;
        let cases = state.store.open311_requests(district_id, &query).await?;
        Ok((StatusCode::OK, Value::Array(cases.iter().map(|c| request(c, &table, &units)).collect())))
    };
    reply(Format::of(&uri), "service_requests", run.await)
}

/// `GET /open311/v2/requests/{id}.{xml,json}`: an array of one request.
pub async fn request_one(State(state): State<AppState>, uri: Uri, Path(file): Path<String>) -> Response {
    let format = Format::of(&uri);
    let run = async {
        let (number, _) =
            Format::split(&file).ok_or_else(|| refuse(StatusCode::NOT_FOUND, "请以 .xml 或 .json 结尾"))?;
        let p = params(&uri);
        let (district_id, scope) = reader(&state, &p).await?;
        let query = RequestQuery { numbers: vec![number.to_string()], limit: 1, scope, ..Default::default() };
        let case = state.store.open311_requests(district_id, &query).await?.pop().ok_or_else(|| {
            refuse(StatusCode::NOT_FOUND, format!("service_request_id: 没有编号为“{number}”的问题 / unknown request"))
        })?;
        let table = state.store.categories(district_id).await?;
        let units = unit_names(&state, district_id).await?;
        Ok((StatusCode::OK, json!([request(&case, &table, &units)])))
    };
    reply(format, "service_requests", run.await)
}

/// `GET /open311/v2/tokens/{token}.{xml,json}`: the request a token stands for.
pub async fn token(State(state): State<AppState>, uri: Uri, Path(file): Path<String>) -> Response {
    let format = Format::of(&uri);
    let run = async {
        let (token, _) =
            Format::split(&file).ok_or_else(|| refuse(StatusCode::NOT_FOUND, "请以 .xml 或 .json 结尾"))?;
        let p = params(&uri);
        let district = jurisdiction(&state, p.get("jurisdiction_id")).await?;
        let number = state
            .store
            .open311_token(district.id, token)
            .await?
            .ok_or_else(|| refuse(StatusCode::NOT_FOUND, "token: 未知的令牌 / unknown token"))?;
        Ok((StatusCode::OK, json!([{ "service_request_id": number, "token": token }])))
    };
    reply(format, "service_requests", run.await)
}

/// The fields of a posted form (url-encoded or multipart) and its `media` file.
/// Fields of the query string come first (some clients send `api_key`
/// there); the body's win.
async fn form(
    state: &AppState,
    uri: &Uri,
    req: Request,
) -> Result<(HashMap<String, String>, Option<(String, Bytes)>), Refusal> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let mut fields: HashMap<String, String> = params(uri);
    let mut media = None;
    if multipart {
        let mut parts = axum::extract::Multipart::from_request(req, state).await.map_err(|e| {
            refuse(StatusCode::BAD_REQUEST, format!("表单有误 / bad multipart form: {}", e.body_text()))
        })?;
        while let Some(field) = parts
            .next_field()
            .await
            .map_err(|e| refuse(StatusCode::BAD_REQUEST, format!("表单有误 / bad form: {e}")))?
        {
            let name = field.name().unwrap_or("").to_string();
            if name == "media" || name == "media[]" {
                let file_name = field.file_name().unwrap_or("media").to_string();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|_| bad("media", format!("文件过大，上限 {} MB", MAX_EVIDENCE_BYTES / 1048576)))?;
                if media.is_none() && !bytes.is_empty() {
                    media = Some((file_name, bytes));
                }
            } else {
                let text = field.text().await.map_err(|_| bad(&name, "不是有效的 UTF-8 文本"))?;
                fields.insert(name, text);
            }
        }
    } else {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| refuse(StatusCode::BAD_REQUEST, "请求体过大或无法读取 / unreadable body"))?;
        for (k, v) in form_urlencoded::parse(&body) {
            fields.insert(k.into_owned(), v.into_owned());
        }
    }
    Ok((fields, media))
}

/// `POST /open311/v2/requests.{xml,json}`: files a report from a client.
pub async fn create_request(State(state): State<AppState>, uri: Uri, ClientIp(ip): ClientIp, req: Request) -> Response {
    let format = Format::of(&uri);
    let run = async {
        let (f, media) = form(&state, &uri, req).await?;
        let client = client(&state, f.get("api_key"), f.get("jurisdiction_id")).await?;
        let caller = caller(&state, &client, ip).await?;
        let text = |k: &str| f.get(k).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let code = text("service_code").ok_or_else(|| bad("service_code", "必填 / required"))?;
        let coordinate = |k: &str| -> Result<Option<f64>, Refusal> {
            text(k).map(|raw| raw.parse::<f64>().map_err(|_| bad(k, "应为数字 / not a number"))).transpose()
        };
        let (lat, lon) = (coordinate("lat")?, coordinate("long")?);
        let address = text("address_string").unwrap_or_default();
        match (lat, lon) {
            (Some(_), None) => return Err(bad("long", "与 lat 须同时填写 / required with lat")),
            (None, Some(_)) => return Err(bad("lat", "与 long 须同时填写 / required with long")),
            (None, None) if address.is_empty() => {
                return Err(bad("lat", "请提供位置：lat 与 long，或 address_string / a location is required"));
            }
            _ => {}
        }
        let mut description = text("description").unwrap_or_default();
        if description.chars().count() > rules::MAX_DESCRIPTION {
            return Err(bad("description", "不能超过 4000 字 / at most 4000 characters"));
        }
        if let Some(url) = text("media_url") {
            description.push_str(&format!("\n照片链接：{url}"));
        }
        let condition = match f.iter().find_map(|(k, v)| (rules::attribute_code(k) == Some("condition")).then_some(v)) {
            None => None,
            Some(raw) => {
                Some(raw.trim().parse::<usize>().map_err(|_| bad("attribute[condition]", "应为立案条件的序号"))?)
            }
        };
        let table = state.store.categories(client.district_id).await?;
        let Some(category) = table.category(&code) else {
            return Err(bad("service_code", format!("未知的问题分类“{code}” / unknown service_code")));
        };
        // The spec lets a request come without a description; a case has one.
        if description.trim().is_empty() {
            description = format!("{}（{}经 Open311 上报，未附描述）", category.name, client.name);
        }
        let body = ReportBody {
            category: code,
            condition,
            description,
            lon,
            lat,
            crs: None,
            address,
            point_id: None,
            source: None,
        };
        let (mut new, table) = place_report(&state, &caller, &body, "open311".into()).await.map_err(|e| match e {
            AppError::Invalid { field, message } if field == "lon" => bad("long", message),
            AppError::Invalid { field, message } if field == "condition" => bad("attribute[condition]", message),
            other => other.into(),
        })?;
        let person: Vec<String> = ["first_name", "last_name"].iter().filter_map(|k| text(k)).collect();
        if !person.is_empty() {
            new.reporter_name = format!("{}（{}）", client.name, person.join(""));
        }
        let photos = match media {
            Some((name, bytes)) => vec![
                store_evidence(&state, &caller, "before", &name, bytes)
                    .await
                    .map_err(|e| match e {
                        AppError::Invalid { message, .. } => bad("media", message),
                        other => other.into(),
                    })?
                    .id,
            ],
            None => Vec::new(),
        };
        let audit = caller.audit(AuditAction::CaseReported, "", format!("open311 client {}", client.id));
        // The token is kept with the case, in its transaction: a request
        // acknowledged is never half-written.
        let token = random_token();
        let (key, actor) = (format!("open311:{token}"), format!("open311:{}", client.id));
        let filed = state
            .store
            .create_case(client.district_id, &new, &audit, &photos, Some((&key, &actor, "")), |case| {
                (201, case.number.clone())
            })
            .await;
        let case = match filed {
            Ok((case, _, _)) => case,
            Err(err) => {
                // The photo of a request that was not filed must not stay
                // free for another caller without a user id to take.
                for id in photos {
                    let _ = state.store.delete_unlinked_attachment(client.district_id, id).await;
                }
                return Err(crate::api::cases::attachment_refused(err).into());
            }
        };
        let notice = table
            .category(&case.category_code)
            .and_then(|c| c.conditions.get(case.condition_index as usize))
            .map(|c| format!("已收到，编号 {}；处置时限 {}", case.number, TimeLimit::new(c.limit, c.clock)));
        Ok((
            StatusCode::CREATED,
            json!([{ "service_request_id": case.number, "token": token, "service_notice": notice, "account_id": null }]),
        ))
    };
    reply(format, "service_requests", run.await)
}

/// `GET /open311/v2/servicerequestupdates.{xml,json}` (mySociety): the steps
/// of the cases the key's scope sees, in a window (the last 90 days by
/// default), oldest first.
pub async fn updates(State(state): State<AppState>, uri: Uri, ClientIp(ip): ClientIp) -> Response {
    let run = async {
        let p = params(&uri);
        let client = client(&state, p.get("api_key"), p.get("jurisdiction_id")).await?;
        let caller = caller(&state, &client, ip).await?;
        let (from, to) = window_of(&p)?;
        let rows = state
            .store
            .case_updates(client.district_id, &scope_of(&client, &caller), from, to, MAX_UPDATES + 1)
            .await?;
        if rows.len() as i64 > MAX_UPDATES {
            return Err(bad(
                "start_date",
                format!(
                    "该时段内的更新超过 {MAX_UPDATES} 条，请缩小时间范围 / more than {MAX_UPDATES} updates: narrow the window"
                ),
            ));
        }
        let all: Vec<Value> = rows
            .iter()
            .map(|u| {
                let state = CaseState::from_code(&u.to_state).unwrap_or(CaseState::Reported);
                let (_, extended, note) = rules::status_of(state);
                // Internal notes stay inside; what the reporter is owed goes out, masked.
                let description = if u.note.is_empty() || !rules::note_is_public(&u.action) {
                    note.to_string()
                } else {
                    rules::mask_personal(&u.note)
                };
                json!({
                    "update_id": u.id.to_string(),
                    "service_request_id": u.number,
                    "status": extended,
                    "updated_datetime": w3c(u.at),
                    "description": description,
                    "media_url": null,
                    "external_status_code": u.to_state,
                })
            })
            .collect();
        Ok((StatusCode::OK, Value::Array(all)))
    };
    reply(Format::of(&uri), "service_request_updates", run.await)
}

/// `POST /open311/v2/servicerequestupdates.{xml,json}` (mySociety): what a
/// client says about a request joins its history as 外部补充说明. It never
/// moves the case: closing stays the inspector's.
pub async fn post_update(State(state): State<AppState>, uri: Uri, ClientIp(ip): ClientIp, req: Request) -> Response {
    let format = Format::of(&uri);
    let run = async {
        let (f, _) = form(&state, &uri, req).await?;
        let client = client(&state, f.get("api_key"), f.get("jurisdiction_id")).await?;
        let caller = caller(&state, &client, ip).await?;
        let text = |k: &str| f.get(k).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let number = text("service_request_id").ok_or_else(|| bad("service_request_id", "必填 / required"))?;
        let description = text("description").ok_or_else(|| bad("description", "必填 / required"))?;
        if description.chars().count() > rules::MAX_DESCRIPTION {
            return Err(bad("description", "不能超过 4000 字 / at most 4000 characters"));
        }
        // Only a case the key's scope sees may be spoken of.
        let scope = Some(scope_of(&client, &caller));
        let query = RequestQuery { numbers: vec![number.clone()], limit: 1, scope, ..Default::default() };
        let case = state.store.open311_requests(client.district_id, &query).await?.pop().ok_or_else(|| {
            refuse(StatusCode::NOT_FOUND, format!("service_request_id: 没有编号为“{number}”的问题 / unknown request"))
        })?;
        let said = match text("status") {
            Some(status) => format!("{description}（对方状态：{status}）"),
            None => description,
        };
        let detail = json!({ "client": client.id, "status": text("status") }).to_string();
        let audit = caller.audit(AuditAction::CaseNoted, "", format!("open311 client {}", client.id));
        let id = state
            .store
            .add_external_update(&case, &format!("{}（Open311）", client.name), &said, &detail, &audit)
            .await?;
        Ok((StatusCode::CREATED, json!([{ "update_id": id.to_string() }])))
    };
    reply(format, "service_request_updates", run.await)
}

/// Makes a client's key: `o311_` and 64 hex characters. Only its hash is kept.
pub fn new_key() -> String {
    format!("{KEY_PREFIX}{}", random_token())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_the_path_s_ending() {
        assert_eq!(Format::split("09006.json"), Some(("09006", Format::Json)));
        assert_eq!(Format::split("2026-000001.xml"), Some(("2026-000001", Format::Xml)));
        assert_eq!(Format::split("09006"), None);
        assert_eq!(Format::of(&"/open311/v2/services.json?x=1".parse().unwrap()), Format::Json);
        assert_eq!(Format::of(&"/open311/v2/services.xml".parse().unwrap()), Format::Xml);
    }

    #[test]
    fn repeated_parameters_join_as_a_list() {
        let p = params(&"/x?status=open&status=closed&service_code=09006,%2006010".parse().unwrap());
        assert_eq!(list(p.get("status")), ["open", "closed"]);
        assert_eq!(list(p.get("service_code")), ["09006", "06010"]);
        assert!(list(p.get("nothing")).is_empty());
    }

    #[test]
    fn keys_are_recognisable_and_unguessable() {
        let (a, b) = (new_key(), new_key());
        assert!(a.starts_with(KEY_PREFIX) && a.len() == KEY_PREFIX.len() + 64);
        assert_ne!(a, b);
    }
}
