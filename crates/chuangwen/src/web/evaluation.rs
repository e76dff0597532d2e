//! Evaluation pages (测评, PRODUCT.md M6): the indicator tree, rounds and
//! their planning, the evaluator's checklist at a point (made for a phone),
//! and the score report with every lost point traced to a unit.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Multipart, Path, Query, RawForm, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Datelike;

use crate::app::AppState;
use crate::auth::audit::AuditAction;
use crate::auth::policy::Action;
use crate::auth::{CurrentUser, check_csrf, csrf_token};
use crate::domain::evaluation::{Basis, EvaluationSystem, RoundScore};
use crate::domain::org::Role;
use crate::error::AppError;
use crate::evaluation::{Plan, PointAnswer, ROUND_KINDS, Visit, answer_of, kind_label, plan_round, system_of};
use crate::store::evaluation::{Round, RoundPointRow, StoredSystem};
use crate::web::{Nav, field, form_pairs, render, render_form};

fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&crate::domain::calendar::beijing()).format("%Y-%m-%d %H:%M").to_string()
}

/// Points as people read them: no trailing zeros.
pub fn score_text(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The district's current system: this year's, else the newest.
async fn current_system(
    state: &AppState,
    district_id: i64,
) -> Result<Option<(StoredSystem, std::sync::Arc<EvaluationSystem>)>, AppError> {
    let year = chrono::Utc::now().with_timezone(&crate::domain::calendar::beijing()).year() as i64;
    if let Some(found) = system_of(&state.store, district_id, year).await? {
        return Ok(Some(found));
    }
    match state.store.evaluation_systems(district_id).await?.into_iter().next() {
        Some(stored) => {
            let system = crate::evaluation::parse(&stored)?;
            Ok(Some((stored, system)))
        }
        None => Ok(None),
    }
}

/// A standard as the tree page shows it.
struct StandardRow {
    code: String,
    text: String,
    points: String,
    method: &'static str,
    lead: String,
    co: String,
}

/// A content of the tree page: code, name, its standards.
type ContentRows = (String, String, Vec<StandardRow>);
/// A project of the tree page: code, name, its points, its contents.
type ProjectRows = (String, String, String, Vec<ContentRows>);
/// A checklist item on the tree page: code, criterion, standard, weight.
type ItemText = (String, String, String, String);

#[derive(Template)]
#[template(path = "evaluation.html")]
struct TreePage {
    nav: Option<Nav>,
    csrf: String,
    can_manage: bool,
    error: Option<String>,
    title: String,
    year: i64,
    version: String,
    sample: bool,
    total: String,
    projects: Vec<ProjectRows>,
    checklists: Vec<(String, Vec<ItemText>)>,
}

/// `GET /evaluation`: the indicator tree and the checklists.
pub async fn tree(State(state): State<AppState>, user: CurrentUser, headers: HeaderMap) -> Result<Response, AppError> {
    user.require(Action::ViewEvaluation)?;
    tree_page(&state, &user, &headers, None).await
}

async fn tree_page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    error: Option<String>,
) -> Result<Response, AppError> {
    let Some((stored, system)) = current_system(state, user.district_id).await? else {
        return Err(AppError::NotFound);
    };
    let units: HashMap<String, String> =
        state.store.units(user.district_id).await?.into_iter().map(|u| (u.code, u.name)).collect();
    let unit = |code: &str| units.get(code).cloned().unwrap_or_else(|| code.to_string());
    let projects = system
        .projects
        .iter()
        .map(|p| {
            let sum: f64 = p.contents.iter().flat_map(|c| &c.standards).map(|s| s.points).sum();
            let contents = p
                .contents
                .iter()
                .map(|c| {
                    let standards = c
                        .standards
                        .iter()
                        .map(|s| StandardRow {
                            code: s.code.clone(),
                            text: s.text.clone(),
                            points: score_text(s.points),
                            method: s.method.label(),
                            lead: unit(&s.lead),
                            co: s.co.iter().map(|c| unit(c)).collect::<Vec<_>>().join("、"),
                        })
                        .collect();
                    (c.code.clone(), c.name.clone(), standards)
                })
                .collect();
            (p.code.clone(), p.name.clone(), score_text(sum), contents)
        })
        .collect();
    let checklists = system
        .checklists
        .iter()
        .map(|c| {
            let name = crate::domain::places::point_type(&c.point_type).map(|t| t.name.clone()).unwrap_or_default();
            let items = c
                .items
                .iter()
                .map(|i| (i.code.clone(), i.criterion.clone(), i.standard.clone(), score_text(i.weight)))
                .collect();
            (name, items)
        })
        .collect();
    let page = TreePage {
        nav: Some(Nav::of(state, user, headers).await?),
        csrf: csrf_token(headers),
        can_manage: user.may(Action::ManageEvaluation),
        error,
        title: system.title.clone(),
        year: stored.year,
        version: stored.version.clone(),
        sample: stored.version.contains("示例"),
        total: score_text(system.total_points()),
        projects,
        checklists,
    };
    render_form(&page, page.error.is_some())
}

/// `GET /evaluation/system/download?format=xlsx|toml`: the current system.
pub async fn export_system(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    user.require(Action::ViewEvaluation)?;
    let (stored, system) = current_system(&state, user.district_id).await?.ok_or(AppError::NotFound)?;
    let (bytes, content_type, ext) = match query.get("format").map(String::as_str) {
        Some("xlsx") => (
            crate::evaluation::workbook::export(&system).map_err(AppError::internal)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        Some("toml") => (stored.body.clone().into_bytes(), "application/toml; charset=utf-8", "toml"),
        _ => return Err(AppError::BadRequest("格式应为 xlsx 或 toml".into())),
    };
    let ascii = format!("evaluation-{}.{ext}", stored.year);
    Ok(crate::web::download(bytes, content_type, &ascii, &format!("{}（{}）.{ext}", system.title, stored.version)))
}

/// `POST /evaluation/system`: loads a district's own system (xlsx or TOML),
/// checked whole and against the district's units, categories and point
/// types; kept as a new version of its year.
pub async fn import_system(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<Response, AppError> {
    user.require(Action::ManageEvaluation)?;
    let (mut csrf, mut file) = (String::new(), None);
    while let Some(part) = form.next_field().await.map_err(|e| AppError::BadRequest(format!("表单有误：{e}")))? {
        match part.name().unwrap_or_default() {
            "file" => {
                let bytes = part.bytes().await.map_err(|_| AppError::BadRequest("文件上传中断或过大".into()))?;
                if !bytes.is_empty() {
                    file = Some(bytes);
                }
            }
            "csrf" => csrf = part.text().await.unwrap_or_default(),
            _ => {}
        }
    }
    check_csrf(&headers, &csrf)?;
    let Some(bytes) = file else {
        return tree_page(&state, &user, &headers, Some("请选择测评体系文件（Excel 或 TOML）".into())).await;
    };
    let parsed = if bytes.starts_with(b"PK\x03\x04") {
        let copy = bytes.clone();
        tokio::task::spawn_blocking(move || crate::evaluation::workbook::import(&copy))
            .await
            .map_err(AppError::internal)?
    } else {
        match std::str::from_utf8(&bytes) {
            Ok(text) => EvaluationSystem::parse(text.trim_start_matches('\u{feff}')),
            Err(_) => Err("文件不是 Excel，也不是 UTF-8 编码的 TOML".to_string()),
        }
    };
    let system = match parsed {
        Ok(system) => system,
        Err(reason) => return tree_page(&state, &user, &headers, Some(reason)).await,
    };
    let units = state.store.units(user.district_id).await?;
    let table = state.store.categories(user.district_id).await?;
    let unit_codes = units.iter().map(|u| u.code.as_str()).collect();
    let categories = table.categories.iter().map(|c| c.code.as_str()).collect();
    let types = crate::domain::places::point_types().iter().map(|t| t.code.as_str()).collect();
    let problems = system.problems_in(&unit_codes, &categories, &types);
    if !problems.is_empty() {
        return tree_page(&state, &user, &headers, Some(problems.join("；"))).await;
    }
    let body = toml::to_string(&system).map_err(AppError::internal)?;
    let audit = user.audit(AuditAction::EvaluationChanged, "", "");
    match state
        .store
        .save_evaluation_system(
            user.district_id,
            system.year as i64,
            &system.version,
            &body,
            &user.display_name,
            Some(&audit),
        )
        .await
    {
        Ok(_) => Ok(Redirect::to("/evaluation").into_response()),
        Err(crate::store::StoreError::Duplicate(_)) => {
            let reason = format!("{} 年的版本“{}”已存在：请换一个版本号", system.year, system.version);
            tree_page(&state, &user, &headers, Some(reason)).await
        }
        Err(other) => Err(other.into()),
    }
}

/// A round as the list shows it.
struct RoundRow {
    id: i64,
    name: String,
    kind: &'static str,
    state: &'static str,
    points: i64,
    done: i64,
    created: String,
}

#[derive(Template)]
#[template(path = "evaluation_rounds.html")]
struct RoundsPage {
    nav: Option<Nav>,
    csrf: String,
    rounds: Vec<RoundRow>,
    can_manage: bool,
    kinds: Vec<(&'static str, &'static str)>,
    types: Vec<(String, String, usize)>,
    evaluators: Vec<(i64, String, String)>,
    streets: Vec<(i64, String)>,
    seed: u64,
    error: Option<String>,
}

async fn rounds_page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    error: Option<String>,
) -> Result<Response, AppError> {
    // An evaluator (often a third party's) sees the rounds they evaluate in, and nothing else.
    let own: Option<Vec<i64>> = match (sees_all_rounds(user), user.user_id) {
        (true, _) => None,
        (false, Some(id)) => Some(state.store.rounds_evaluated_by(id).await?),
        (false, None) => Some(vec![]),
    };
    let rounds = state
        .store
        .rounds(user.district_id)
        .await?
        .into_iter()
        .filter(|r| own.as_ref().is_none_or(|ids| ids.contains(&r.id)))
        .map(|r| RoundRow {
            id: r.id,
            name: r.name,
            kind: kind_label(&r.kind),
            state: if r.state == "open" { "进行中" } else { "已结束" },
            points: r.points,
            done: r.done,
            created: when(r.created_at),
        })
        .collect();
    let system = current_system(state, user.district_id).await?;
    let types = match &system {
        Some((_, s)) => s
            .checklists
            .iter()
            .map(|c| {
                let name = crate::domain::places::point_type(&c.point_type).map(|t| t.name.clone()).unwrap_or_default();
                (c.point_type.clone(), name, 0)
            })
            .collect(),
        None => vec![],
    };
    let evaluators = evaluators_of(state, user.district_id).await?;
    let streets = streets_of(state, user.district_id).await?;
    let page = RoundsPage {
        nav: Some(Nav::of(state, user, headers).await?),
        csrf: csrf_token(headers),
        rounds,
        can_manage: user.may(Action::ManageEvaluation) && system.is_some(),
        kinds: ROUND_KINDS.to_vec(),
        types,
        evaluators,
        streets,
        seed: u64::from_le_bytes(*uuid::Uuid::new_v4().as_bytes().first_chunk().expect("16 bytes")) % 1_000_000,
        error,
    };
    render_form(&page, page.error.is_some())
}

/// Who may be sent to evaluate: the district's evaluators (第三方测评) and
/// inspectors (督察组): (id, name, username).
async fn evaluators_of(state: &AppState, district_id: i64) -> Result<Vec<(i64, String, String)>, AppError> {
    let mut out = Vec::new();
    for role in [Role::Evaluator, Role::Inspector] {
        let filter =
            crate::store::users::UserFilter { role: Some(role.code().into()), limit: 500, ..Default::default() };
        for u in state.store.users_page(district_id, &filter).await? {
            if !u.disabled {
                out.push((u.id, u.display_name, u.username));
            }
        }
    }
    Ok(out)
}

/// District-wide roles see every round and every point; an evaluator only
/// the rounds and points they are given.
fn sees_all_rounds(user: &CurrentUser) -> bool {
    user.may(Action::ViewDistrictStatistics)
}

/// The district's streets and towns: (id, name).
async fn streets_of(state: &AppState, district_id: i64) -> Result<Vec<(i64, String)>, AppError> {
    Ok(state
        .store
        .units(district_id)
        .await?
        .into_iter()
        .filter(|u| crate::domain::org::UnitKind::from_code(&u.kind).is_some_and(|k| k.is_street_level()))
        .map(|u| (u.id, u.name))
        .collect())
}

/// `GET /evaluation/rounds`.
pub async fn rounds(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    user.require(Action::ViewEvaluation)?;
    rounds_page(&state, &user, &headers, None).await
}

/// `POST /evaluation/rounds`: plans a round and draws its points.
pub async fn plan(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    RawForm(raw): RawForm,
) -> Result<Response, AppError> {
    user.require(Action::ManageEvaluation)?;
    let pairs = form_pairs(&raw);
    check_csrf(&headers, field(&pairs, "csrf"))?;
    let Some((stored, system)) = current_system(&state, user.district_id).await? else {
        return Err(AppError::NotFound);
    };
    let name = field(&pairs, "name").to_string();
    let kind = field(&pairs, "kind").to_string();
    let mut problems = Vec::new();
    if name.is_empty() || name.chars().count() > 60 {
        problems.push("请填写测评名称（不超过 60 字）".to_string());
    }
    if !ROUND_KINDS.iter().any(|(c, _)| *c == kind) {
        problems.push("请选择测评类型".into());
    }
    let seed = field(&pairs, "seed").parse::<u64>();
    if seed.is_err() {
        problems.push("随机种子应为非负整数".into());
    }
    let mut quotas = BTreeMap::new();
    for list in &system.checklists {
        let raw = field(&pairs, &format!("quota_{}", list.point_type));
        match raw.parse::<usize>() {
            Ok(0) => {}
            Ok(n) if n <= 500 => {
                quotas.insert(list.point_type.clone(), n);
            }
            _ if raw.is_empty() => {}
            _ => problems.push(format!("抽样数“{raw}”应为 0～500 的整数")),
        }
    }
    if quotas.is_empty() {
        problems.push("请至少为一类点位填写抽样数".into());
    }
    let evaluators: Vec<i64> =
        pairs.iter().filter(|(k, _)| k == "evaluator").filter_map(|(_, v)| v.parse().ok()).collect();
    let known = evaluators_of(&state, user.district_id).await?;
    if evaluators.iter().any(|id| !known.iter().any(|u| u.0 == *id)) {
        problems.push("测评员不存在".into());
    }
    let streets: Vec<i64> = pairs.iter().filter(|(k, _)| k == "street").filter_map(|(_, v)| v.parse().ok()).collect();
    let known_streets = streets_of(&state, user.district_id).await?;
    if streets.iter().any(|id| !known_streets.iter().any(|s| s.0 == *id)) {
        problems.push("街道不存在".into());
    }
    if !problems.is_empty() {
        return rounds_page(&state, &user, &headers, Some(problems.join("；"))).await;
    }
    // A round that would draw nothing is not made.
    let available = state
        .store
        .draw_candidates(user.district_id)
        .await?
        .iter()
        .filter(|c| quotas.contains_key(&c.point_type))
        .filter(|c| streets.is_empty() || c.street_id.is_some_and(|s| streets.contains(&s)))
        .count();
    if available == 0 {
        return rounds_page(&state, &user, &headers, Some("所选范围内没有这些类型的点位，无法抽取".into())).await;
    }
    let plan = Plan { kind, name, seed: seed.unwrap_or_default(), quotas, evaluators, streets };
    let audit = user.audit(AuditAction::EvaluationChanged, "", "");
    let (id, _) = plan_round(&state.store, user.district_id, &stored, &plan, &user.display_name, &audit).await?;
    Ok(Redirect::to(&format!("/evaluation/rounds/{id}")).into_response())
}

/// A point on the round page.
struct PointRow {
    id: i64,
    code: String,
    name: String,
    type_name: String,
    unit: String,
    evaluator: String,
    state: &'static str,
    state_class: &'static str,
    mine: bool,
}

#[derive(Template)]
#[template(path = "evaluation_round.html")]
struct RoundPage {
    nav: Option<Nav>,
    csrf: String,
    round: Round,
    kind: &'static str,
    seed: u64,
    quotas: String,
    scope: String,
    short: Vec<String>,
    points: Vec<PointRow>,
    failed: usize,
    can_manage: bool,
    can_score: bool,
    entered: Vec<(String, String, String, String)>,
    message: Option<String>,
    map: crate::config::MapConfig,
    /// The points for the map: lon, lat, state, name.
    points_json: String,
}

async fn round_of(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
) -> Result<(Round, std::sync::Arc<EvaluationSystem>), AppError> {
    let round = state.store.round(user.district_id, id).await?.ok_or(AppError::NotFound)?;
    let stored =
        state.store.evaluation_system_by_id(user.district_id, round.system_id).await?.ok_or(AppError::NotFound)?;
    let system = crate::evaluation::parse(&stored)?;
    Ok((round, system))
}

/// `GET /evaluation/rounds/{id}`: progress, the points and who evaluates each.
pub async fn round(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    user.require(Action::ViewEvaluation)?;
    let (round, system) = round_of(&state, &user, id).await?;
    let all = state.store.round_points(round.district_id, round.id).await?;
    let short = shortfall(&round.quotas, &all);
    let mut rows = all;
    if !sees_all_rounds(&user) {
        rows.retain(|p| p.evaluator_id.is_some() && p.evaluator_id == user.user_id);
        if rows.is_empty() {
            return Err(AppError::Forbidden);
        }
    }
    let manage = user.may(Action::ManageEvaluation);
    let points: Vec<PointRow> = rows
        .iter()
        .map(|p| PointRow {
            id: p.point_id,
            code: p.code.clone(),
            name: p.name.clone(),
            type_name: crate::domain::places::point_type(&p.point_type).map(|t| t.name.clone()).unwrap_or_default(),
            unit: p.unit_name.clone(),
            evaluator: p.evaluator_name.clone().unwrap_or_else(|| "未分配".into()),
            state: match (p.done_at, p.failed) {
                (None, _) => "待测评",
                (Some(_), 0) => "合格",
                (Some(_), _) => "有不合格",
            },
            state_class: match (p.done_at, p.failed) {
                (None, _) => "pending",
                (Some(_), 0) => "done",
                (Some(_), _) => "failed",
            },
            mine: round.state == "open" && may_answer(&user, p),
        })
        .collect();
    let points_json = serde_json::Value::Array(
        rows.iter()
            .zip(&points)
            .map(|(p, row)| {
                serde_json::json!({ "lon": p.lon, "lat": p.lat, "state": row.state_class, "label": row.state, "name": p.name })
            })
            .collect(),
    )
    .to_string();
    let entered_values: HashMap<String, f64> = serde_json::from_str(&round.entered).unwrap_or_default();
    let entered = system
        .standards()
        .filter(|s| s.method != crate::domain::evaluation::Method::Field)
        .map(|s| {
            let value = entered_values.get(&s.code).map(|v| score_text(*v)).unwrap_or_default();
            (s.code.clone(), format!("{}（{}）", s.text, s.method.label()), score_text(s.points), value)
        })
        .collect();
    let page = RoundPage {
        nav: Some(Nav::of(&state, &user, &headers).await?),
        csrf: csrf_token(&headers),
        kind: kind_label(&round.kind),
        seed: round.seed as u64,
        quotas: quotas_text(&round.quotas),
        short,
        scope: {
            let ids: Vec<i64> = serde_json::from_str(&round.scope).unwrap_or_default();
            let streets = streets_of(&state, user.district_id).await?;
            let names: Vec<String> =
                streets.into_iter().filter(|(id, _)| ids.contains(id)).map(|(_, name)| name).collect();
            if names.is_empty() { "全区".to_string() } else { names.join("、") }
        },
        failed: rows.iter().filter(|p| p.failed > 0).count(),
        points,
        can_manage: manage,
        can_score: user.may(Action::ViewDistrictStatistics),
        entered,
        message: query.get("cases").and_then(|n| n.parse::<usize>().ok()).map(|n| match n {
            0 => "已提交测评结果：全部合格".to_string(),
            n => format!("已提交测评结果：{n} 个不合格项已生成问题案卷，派遣至责任单位"),
        }),
        map: state.config.map.clone(),
        points_json,
        round,
    };
    render(&page)
}

/// The point types that drew fewer points than their quota, said for people.
fn shortfall(quotas: &str, drawn: &[RoundPointRow]) -> Vec<String> {
    let quotas: BTreeMap<String, usize> = serde_json::from_str(quotas).unwrap_or_default();
    quotas
        .iter()
        .filter_map(|(t, wanted)| {
            let got = drawn.iter().filter(|p| &p.point_type == t).count();
            let name = crate::domain::places::point_type(t).map(|p| p.name.clone()).unwrap_or_else(|| t.clone());
            (got < *wanted).then(|| format!("{name}要求 {wanted} 个，范围内仅有 {got} 个"))
        })
        .collect()
}

fn quotas_text(json: &str) -> String {
    let quotas: BTreeMap<String, usize> = serde_json::from_str(json).unwrap_or_default();
    quotas
        .iter()
        .map(|(t, n)| {
            let name = crate::domain::places::point_type(t).map(|p| p.name.clone()).unwrap_or_else(|| t.clone());
            format!("{name} {n} 个")
        })
        .collect::<Vec<_>>()
        .join("、")
}

/// Whether the caller may answer at this point: its evaluator, or the office.
fn may_answer(user: &CurrentUser, point: &RoundPointRow) -> bool {
    user.may(Action::EvaluatePoints)
        && (user.may(Action::ManageEvaluation) || (user.user_id.is_some() && point.evaluator_id == user.user_id))
}

/// An item on the checklist page.
struct ItemRow {
    code: String,
    criterion: String,
    standard: String,
    weight: String,
    per_occurrence: bool,
    chosen: String,
    occurrences: i64,
    note: String,
}

#[derive(Template)]
#[template(path = "evaluation_point.html")]
struct PointPage {
    nav: Option<Nav>,
    csrf: String,
    round_id: i64,
    round_name: String,
    point: RoundPointRow,
    type_name: String,
    items: Vec<ItemRow>,
    error: Option<String>,
    open: bool,
}

async fn point_of(
    state: &AppState,
    user: &CurrentUser,
    round_id: i64,
    point_id: i64,
) -> Result<(Round, std::sync::Arc<EvaluationSystem>, RoundPointRow), AppError> {
    user.require(Action::EvaluatePoints)?;
    let (round, system) = round_of(state, user, round_id).await?;
    let point = state
        .store
        .round_points(round.district_id, round.id)
        .await?
        .into_iter()
        .find(|p| p.point_id == point_id)
        .ok_or(AppError::NotFound)?;
    if !may_answer(user, &point) {
        return Err(AppError::Forbidden);
    }
    Ok((round, system, point))
}

async fn point_page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    (round, system, point): (Round, std::sync::Arc<EvaluationSystem>, RoundPointRow),
    given: HashMap<String, (String, i64, String)>,
    error: Option<String>,
) -> Result<Response, AppError> {
    let stored: HashMap<String, (String, i64, String)> = state
        .store
        .round_answers(round.district_id, round.id)
        .await?
        .into_iter()
        .filter(|a| a.point_id == point.point_id)
        .map(|a| (a.item_code, (a.result, a.occurrences, a.note)))
        .collect();
    let items = system
        .checklist(&point.point_type)
        .map(|c| c.items.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            let (chosen, occurrences, note) =
                given.get(&i.code).or_else(|| stored.get(&i.code)).cloned().unwrap_or_default();
            ItemRow {
                code: i.code.clone(),
                criterion: i.criterion.clone(),
                standard: i.standard.clone(),
                weight: score_text(i.weight),
                per_occurrence: matches!(i.rule, crate::domain::evaluation::Rule::PerOccurrence { .. }),
                chosen,
                occurrences: occurrences.max(1),
                note,
            }
        })
        .collect();
    let page = PointPage {
        nav: Some(Nav::of(state, user, headers).await?),
        csrf: csrf_token(headers),
        round_id: round.id,
        round_name: round.name.clone(),
        type_name: crate::domain::places::point_type(&point.point_type).map(|t| t.name.clone()).unwrap_or_default(),
        open: round.state == "open",
        point,
        items,
        error,
    };
    render_form(&page, page.error.is_some())
}

/// `GET /evaluation/rounds/{id}/points/{point}`: the checklist, for a phone.
pub async fn point(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path((round_id, point_id)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    let found = point_of(&state, &user, round_id, point_id).await?;
    point_page(&state, &user, &headers, found, HashMap::new(), None).await
}

/// `POST /evaluation/rounds/{id}/points/{point}`: the answers, photos and
/// location; each failed item raises a dispatched case.
pub async fn answer(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path((round_id, point_id)): Path<(i64, i64)>,
    mut form: Multipart,
) -> Result<Response, AppError> {
    user.require(Action::EvaluatePoints)?;
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut files = Vec::new();
    while let Some(part) = form.next_field().await.map_err(|e| AppError::BadRequest(format!("表单有误：{e}")))? {
        let name = part.name().unwrap_or_default().to_string();
        if name == "photos" {
            let file_name = part.file_name().unwrap_or("photo.jpg").to_string();
            let bytes = part.bytes().await.map_err(|_| AppError::BadRequest("照片上传中断或超过 20 MB".into()))?;
            if !bytes.is_empty() {
                files.push((file_name, bytes));
            }
        } else {
            fields.push((name, part.text().await.unwrap_or_default()));
        }
    }
    check_csrf(&headers, field(&fields, "csrf"))?;
    let found = point_of(&state, &user, round_id, point_id).await?;
    let (round, system, point) = (&found.0, &found.1, &found.2);
    let list = system.checklist(&point.point_type).cloned().ok_or(AppError::NotFound)?;
    let mut answers = Vec::new();
    let mut given = HashMap::new();
    let mut problems = Vec::new();
    for item in &list.items {
        let result = field(&fields, &format!("result_{}", item.code)).to_string();
        let count_text = field(&fields, &format!("count_{}", item.code));
        let note = field(&fields, &format!("note_{}", item.code)).to_string();
        let occurrences = match count_text.parse::<i64>() {
            Ok(n) if (1..=999).contains(&n) => n,
            _ if result != "fail" || count_text.is_empty() => 1,
            _ => {
                problems.push(format!("“{}”的处数应为 1～999 的整数", item.criterion));
                1
            }
        };
        given.insert(item.code.clone(), (result.clone(), occurrences, note.clone()));
        match answer_of(&result, occurrences) {
            Some(answer) => answers.push(PointAnswer { item_code: item.code.clone(), answer, note }),
            None if result.is_empty() => {}
            None => problems.push(format!("“{}”的选项无效", item.criterion)),
        }
    }
    if !problems.is_empty() {
        return point_page(&state, &user, &headers, found, given, Some(problems.join("；"))).await;
    }
    // Checked before any photo is kept, so a refusal leaves nothing behind.
    let table = state.store.categories(user.district_id).await?;
    if let Err(AppError::Invalid { message, .. }) = crate::evaluation::check_visit(&list, &answers, &table) {
        return point_page(&state, &user, &headers, found, given, Some(message)).await;
    }
    if answers.iter().any(|a| a.answer.failed()) && files.is_empty() {
        let message = "有不合格项时，请拍摄现场照片".to_string();
        return point_page(&state, &user, &headers, found, given, Some(message)).await;
    }
    let location = match (field(&fields, "lon").parse::<f64>(), field(&fields, "lat").parse::<f64>()) {
        (Ok(lon), Ok(lat)) if crate::domain::geometry::valid_position(lon, lat) => Some((lon, lat)),
        _ => None,
    };
    let mut photos = Vec::new();
    for (name, bytes) in files {
        match crate::api::cases::store_evidence(&state, &user, "before", &name, bytes).await {
            Ok(view) => photos.push(view.id),
            Err(AppError::Invalid { message, .. }) => {
                return point_page(&state, &user, &headers, found, given, Some(message)).await;
            }
            Err(other) => return Err(other),
        }
    }
    let visit = Visit { answers, photos, location };
    match crate::evaluation::submit_point(&state, &user, round, point, system, &visit).await {
        Ok(raised) => {
            let to = format!("/evaluation/rounds/{}?done={}&cases={}", round.id, point.point_id, raised.len());
            Ok(Redirect::to(&to).into_response())
        }
        Err(AppError::Invalid { message, .. }) => {
            point_page(&state, &user, &headers, found, given, Some(message)).await
        }
        Err(other) => Err(other),
    }
}

/// `POST /evaluation/rounds/{id}/entered`: the office's scores for the
/// standards not measured in the field.
pub async fn enter(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    RawForm(raw): RawForm,
) -> Result<Response, AppError> {
    user.require(Action::ManageEvaluation)?;
    let pairs = form_pairs(&raw);
    check_csrf(&headers, field(&pairs, "csrf"))?;
    let (round, system) = round_of(&state, &user, id).await?;
    let mut entered = BTreeMap::new();
    for s in system.standards().filter(|s| s.method != crate::domain::evaluation::Method::Field) {
        let raw = field(&pairs, &format!("score_{}", s.code));
        if raw.is_empty() {
            continue;
        }
        match raw.parse::<f64>() {
            Ok(v) if (0.0..=s.points).contains(&v) => {
                entered.insert(s.code.clone(), v);
            }
            _ => {
                return Err(AppError::Invalid {
                    field: format!("score_{}", s.code),
                    message: format!("“{}”的得分应在 0～{} 之间", s.text, score_text(s.points)),
                });
            }
        }
    }
    let json = serde_json::to_string(&entered).expect("scores serialise");
    state.store.set_round_entered(user.district_id, round.id, &json).await?;
    let detail = serde_json::json!({ "entered": entered, "before": serde_json::from_str::<serde_json::Value>(&round.entered).ok() }).to_string();
    state
        .store
        .audit(&user.audit(AuditAction::EvaluationChanged, format!("evaluation_round:{}", round.id), detail))
        .await?;
    Ok(Redirect::to(&format!("/evaluation/rounds/{}", round.id)).into_response())
}

/// `POST /evaluation/rounds/{id}/close`: no answers after.
pub async fn close(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    RawForm(raw): RawForm,
) -> Result<Response, AppError> {
    user.require(Action::ManageEvaluation)?;
    check_csrf(&headers, field(&form_pairs(&raw), "csrf"))?;
    let (round, _) = round_of(&state, &user, id).await?;
    if state.store.close_round(user.district_id, round.id).await? {
        state
            .store
            .audit(&user.audit(
                AuditAction::EvaluationChanged,
                format!("evaluation_round:{}", round.id),
                "{\"closed\":true}",
            ))
            .await?;
    }
    Ok(Redirect::to(&format!("/evaluation/rounds/{}", round.id)).into_response())
}

/// A line of the score report's tree.
struct ScoreLine {
    level: u8,
    code: String,
    name: String,
    points: String,
    score: String,
    lost: String,
    basis: &'static str,
    /// Lost much last year (去年丢分较多).
    flagged: bool,
}

/// Last year's latest round: its name, its total, and by project the points
/// lost then and in this round.
type LastYear = (String, String, Vec<(String, String, String)>);

/// Everything the score report says, for the page and the downloads.
struct ScoreView {
    round: Round,
    kind: &'static str,
    total: String,
    total_points: String,
    projected: String,
    measured: String,
    entered: String,
    unassessed: String,
    missing: usize,
    lines: Vec<ScoreLine>,
    by_standard: Vec<(String, String, String)>,
    by_unit: Vec<(String, String)>,
    by_street: Vec<(String, String)>,
    by_point: Vec<(String, String, String)>,
    losses: Vec<(String, String, String, String, String)>,
    earlier: Vec<(i64, String, String, String)>,
    /// Last year's latest round: its name, total, and lost points by project.
    last_year: Option<LastYear>,
}

#[derive(Template)]
#[template(path = "evaluation_score.html")]
struct ScorePage {
    nav: Option<Nav>,
    view: ScoreView,
}

fn basis_label(basis: Basis) -> &'static str {
    match basis {
        Basis::Measured => "实测",
        Basis::Entered => "录入",
        Basis::Unassessed => "未评",
    }
}

fn score_lines(system: &EvaluationSystem, score: &RoundScore, flagged: &[String]) -> Vec<ScoreLine> {
    let mut lines = Vec::new();
    let line = |level, code: &str, name: &str, pts: f64, (s, l): (f64, f64)| ScoreLine {
        level,
        code: code.to_string(),
        name: name.to_string(),
        points: score_text(pts),
        score: score_text(s),
        lost: score_text(l),
        basis: "",
        flagged: flagged.iter().any(|f| f == code),
    };
    for p in &system.projects {
        let pts: f64 = p.contents.iter().flat_map(|c| &c.standards).map(|s| s.points).sum();
        lines.push(line(1, &p.code, &p.name, pts, score.under(&p.code)));
        for c in &p.contents {
            let pts: f64 = c.standards.iter().map(|s| s.points).sum();
            lines.push(line(2, &c.code, &c.name, pts, score.under(&c.code)));
            for st in &c.standards {
                let Some(found) = score.standard(&st.code) else { continue };
                lines.push(ScoreLine {
                    score: found.score.map(score_text).unwrap_or_else(|| "—".into()),
                    basis: basis_label(found.basis),
                    ..line(3, &st.code, &st.text, st.points, (0.0, found.lost))
                });
            }
        }
    }
    lines
}

/// Lost points by project of the district's latest round under last year's
/// system: (round name, total, [(project, lost)] biggest first).
async fn last_year_of(
    state: &AppState,
    district_id: i64,
    year: i64,
) -> Result<Option<(String, f64, Vec<(String, String, f64)>)>, AppError> {
    let last_year: HashMap<i64, StoredSystem> = state
        .store
        .evaluation_systems(district_id)
        .await?
        .into_iter()
        .filter(|s| s.year == year - 1)
        .map(|s| (s.id, s))
        .collect();
    // The newest round scored under one of last year's versions.
    let Some(round) = state.store.rounds(district_id).await?.into_iter().find(|r| last_year.contains_key(&r.system_id))
    else {
        return Ok(None);
    };
    let round_system = crate::evaluation::parse(&last_year[&round.system_id])?;
    let score = crate::evaluation::score(&state.store, &round, &round_system).await?;
    let mut by_project: Vec<(String, String, f64)> =
        round_system.projects.iter().map(|p| (p.code.clone(), p.name.clone(), score.under(&p.code).1)).collect();
    by_project.sort_by(|a, b| b.2.total_cmp(&a.2));
    Ok(Some((round.name, score.total, by_project)))
}

async fn score_view(state: &AppState, user: &CurrentUser, id: i64) -> Result<ScoreView, AppError> {
    user.require(Action::ViewEvaluation)?;
    user.require(Action::ViewDistrictStatistics)?;
    let (round, system) = round_of(state, user, id).await?;
    let score = crate::evaluation::score(&state.store, &round, &system).await?;
    let units: HashMap<i64, String> =
        state.store.units(user.district_id).await?.into_iter().map(|u| (u.id, u.name)).collect();
    let name = |id: &i64| units.get(id).cloned().unwrap_or_default();
    let rows = state.store.round_points(round.district_id, round.id).await?;
    let point_names: HashMap<i64, String> =
        rows.iter().map(|p| (p.point_id, format!("{}（{}）", p.name, p.code))).collect();
    let by_unit = score.lost_by(|l| l.unit_id).iter().map(|(u, v)| (name(u), score_text(*v))).collect();
    let mut lost_standards: Vec<_> = score.standards.iter().filter(|s| s.lost > 0.0).collect();
    lost_standards.sort_by(|a, b| b.lost.total_cmp(&a.lost));
    let by_standard = lost_standards
        .iter()
        .map(|s| {
            let text = system.standard(&s.code).map(|st| st.text.clone()).unwrap_or_default();
            (s.code.clone(), text, score_text(s.lost))
        })
        .collect();
    let by_street = score
        .lost_by(|l| l.street_id.unwrap_or(0))
        .iter()
        .map(|(s, v)| (if *s == 0 { "（无街道）".to_string() } else { name(s) }, score_text(*v)))
        .collect();
    let point_unit: HashMap<i64, i64> = rows.iter().map(|p| (p.point_id, p.unit_id)).collect();
    let by_point = score
        .lost_by(|l| l.point_id)
        .iter()
        .map(|(p, v)| {
            (
                point_names.get(p).cloned().unwrap_or_default(),
                name(&point_unit.get(p).copied().unwrap_or(0)),
                score_text(*v),
            )
        })
        .collect();
    let items: HashMap<&str, &str> = system.items().map(|i| (i.code.as_str(), i.criterion.as_str())).collect();
    let losses = score
        .losses
        .iter()
        .map(|l| {
            (
                point_names.get(&l.point_id).cloned().unwrap_or_default(),
                items.get(l.item.as_str()).copied().unwrap_or_default().to_string(),
                l.standard.clone(),
                name(&l.unit_id),
                score_text(l.lost),
            )
        })
        .collect();
    // Earlier rounds under the same system, for comparison.
    let mut earlier = Vec::new();
    for r in state
        .store
        .rounds(user.district_id)
        .await?
        .into_iter()
        .filter(|r| r.id != round.id && r.system_id == round.system_id)
    {
        let s = crate::evaluation::score(&state.store, &r, &system).await?;
        earlier.push((r.id, r.name.clone(), score_text(s.total), score_text(s.lost())));
    }
    // Last year: the projects that lost most (丢分较多的项目) are flagged in this year's tree.
    let last = last_year_of(state, user.district_id, system.year as i64).await?;
    let flagged: Vec<String> = last
        .as_ref()
        .map(|(_, _, projects)| projects.iter().filter(|p| p.2 > 0.0).take(3).map(|p| p.0.clone()).collect())
        .unwrap_or_default();
    let last_year = last.map(|(name, total, projects)| {
        let this_year = |code: &str| score_text(score.under(code).1);
        let rows = projects.iter().map(|(code, n, lost)| (n.clone(), score_text(*lost), this_year(code))).collect();
        (name, score_text(total), rows)
    });
    Ok(ScoreView {
        kind: kind_label(&round.kind),
        total: score_text(score.total),
        total_points: score_text(score.total_points),
        projected: score.projected().map(score_text).unwrap_or_else(|| "—".into()),
        measured: score_text(score.measured_points),
        entered: score_text(score.entered_points),
        unassessed: score_text(score.unassessed_points),
        missing: score.missing,
        lines: score_lines(&system, &score, &flagged),
        by_standard,
        by_unit,
        by_street,
        by_point,
        losses,
        earlier,
        last_year,
        round,
    })
}

/// `GET /evaluation/rounds/{id}/score`: the predicted total, the tree's
/// scores, and the lost points by unit, street and point.
pub async fn score(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let view = score_view(&state, &user, id).await?;
    render(&ScorePage { nav: Some(Nav::of(&state, &user, &headers).await?), view })
}

/// The score report as a document for PDF, xlsx and docx.
fn score_document(v: &ScoreView) -> crate::reports::Document {
    use crate::reports::{Block, Cell, Document, Table};
    let text = |s: &str| Cell::Text(s.to_string());
    let table = |caption: &str, headers: &[&str], rows: Vec<Vec<Cell>>| {
        Block::Table(Table { caption: caption.into(), headers: headers.iter().map(|h| h.to_string()).collect(), rows })
    };
    let mut blocks = vec![Block::Paragraph {
        text: format!(
            "预测得分 {}（已评部分：实测 {} 分、录入 {} 分；未评 {} 分），推算总分 {}（满分 {}）。{}",
            v.total,
            v.measured,
            v.entered,
            v.unassessed,
            v.projected,
            v.total_points,
            if v.missing > 0 { format!("尚有 {} 个检查项未作答。", v.missing) } else { String::new() }
        ),
    }];
    blocks.push(Block::Heading { text: "各项得分".into() });
    blocks.push(table(
        "各项得分",
        &["编码", "测评项目 / 内容 / 标准", "分值", "得分", "失分", "来源"],
        v.lines
            .iter()
            .map(|l| {
                let name = if l.flagged { format!("{}（去年丢分较多）", l.name) } else { l.name.clone() };
                vec![text(&l.code), Cell::Text(name), text(&l.points), text(&l.score), text(&l.lost), text(l.basis)]
            })
            .collect(),
    ));
    blocks.push(Block::Heading { text: "失分：测评标准".into() });
    blocks.push(table(
        "测评标准",
        &["编码", "测评标准", "失分"],
        v.by_standard.iter().map(|s| vec![text(&s.0), text(&s.1), text(&s.2)]).collect(),
    ));
    blocks.push(Block::Heading { text: "失分：责任单位".into() });
    blocks.push(table(
        "责任单位",
        &["责任单位", "失分"],
        v.by_unit.iter().map(|u| vec![text(&u.0), text(&u.1)]).collect(),
    ));
    blocks.push(Block::Heading { text: "失分：街道".into() });
    blocks.push(table("街道", &["街道", "失分"], v.by_street.iter().map(|u| vec![text(&u.0), text(&u.1)]).collect()));
    blocks.push(Block::Heading { text: "失分明细".into() });
    blocks.push(table(
        "失分明细",
        &["点位", "检查项", "测评标准", "责任单位", "失分"],
        v.losses.iter().map(|l| vec![text(&l.0), text(&l.1), text(&l.2), text(&l.3), text(&l.4)]).collect(),
    ));
    Document {
        title: format!("{}得分报告", v.round.name),
        subtitle: format!("{} · {}", v.kind, when(chrono::Utc::now())),
        blocks,
    }
}

/// `GET /evaluation/rounds/{id}/score/download?format=pdf|xlsx|docx`.
pub async fn download(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let format = query
        .get("format")
        .and_then(|f| crate::reports::render::OutputFormat::parse(f))
        .ok_or_else(|| AppError::BadRequest("格式应为 pdf、xlsx 或 docx".into()))?;
    let view = score_view(&state, &user, id).await?;
    let doc = score_document(&view);
    let bytes = tokio::task::spawn_blocking(move || crate::reports::render::render(&doc, format))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
    let (content_type, ext) = crate::reports::render::content_type(format);
    let detail = serde_json::json!({ "register": "evaluation_score", "round": id, "format": ext }).to_string();
    state.store.audit(&user.audit(AuditAction::DataExported, format!("evaluation_round:{id}"), detail)).await?;
    Ok(crate::web::download(
        bytes,
        content_type,
        &format!("evaluation-round-{id}.{ext}"),
        &format!("{}得分报告.{ext}", view.round.name),
    ))
}
