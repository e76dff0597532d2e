//! Rounds of evaluation (PRODUCT.md M6): a district's evaluation system,
//! planning a round (the seeded draw by point type, evaluators assigned),
//! taking an evaluator's answers at a point — each failure becoming a case
//! dispatched to the point's responsible unit through the closed loop — and
//! scoring the round (rules in `domain::evaluation`).

pub mod workbook;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::auth::audit::{AuditAction, NewAuditEntry};
use crate::domain::cases::{Transition, TransitionInput};
use crate::domain::evaluation::{Answer, Draw, EvaluationSystem, RoundPoint, RoundScore, draw, score_round};
use crate::domain::org::Role;
use crate::error::AppError;
use crate::store::cases::NewCase;
use crate::store::evaluation::{DrawnPoint, NewAnswer, NewRound, Round, RoundPointRow, StoredSystem};
use crate::store::{Store, StoreError};

/// The kinds of round: (code, Chinese name).
pub const ROUND_KINDS: &[(&str, &str)] =
    &[("simulated", "模拟测评"), ("third_party", "第三方测评"), ("unannounced", "暗访")];

/// The Chinese name of a round kind.
pub fn kind_label(code: &str) -> &'static str {
    ROUND_KINDS.iter().find(|(c, _)| *c == code).map(|(_, l)| *l).unwrap_or("测评")
}

/// A stored system, parsed.
pub fn parse(stored: &StoredSystem) -> Result<Arc<EvaluationSystem>, AppError> {
    EvaluationSystem::parse(&stored.body).map(Arc::new).map_err(AppError::internal)
}

/// The district's system for a year, with its parsed form.
pub async fn system_of(
    store: &Store,
    district_id: i64,
    year: i64,
) -> Result<Option<(StoredSystem, Arc<EvaluationSystem>)>, AppError> {
    match store.evaluation_system(district_id, year).await? {
        Some(stored) => {
            let system = parse(&stored)?;
            Ok(Some((stored, system)))
        }
        None => Ok(None),
    }
}

/// What the office decides when it plans a round.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Kind code.
    pub kind: String,
    /// Name.
    pub name: String,
    /// The draw's seed.
    pub seed: u64,
    /// Points to draw per point type.
    pub quotas: BTreeMap<String, usize>,
    /// Evaluators, assigned in turn to the points drawn.
    pub evaluators: Vec<i64>,
    /// The streets drawn from; empty for the whole district.
    pub streets: Vec<i64>,
}

/// Plans a round: draws its points and assigns them in turn to the
/// evaluators, recorded in one transaction. Returns the round and the draw.
pub async fn plan_round(
    store: &Store,
    district_id: i64,
    system: &StoredSystem,
    plan: &Plan,
    by_name: &str,
    audit: &NewAuditEntry,
) -> Result<(i64, Draw<String>), StoreError> {
    let mut candidates = store.draw_candidates(district_id).await?;
    if !plan.streets.is_empty() {
        candidates.retain(|c| c.street_id.is_some_and(|s| plan.streets.contains(&s)));
    }
    // Drawn by code, not row id: the same seed gives the same sample on any backend.
    let pairs: Vec<(String, String)> = candidates.iter().map(|c| (c.code.clone(), c.point_type.clone())).collect();
    let drawn = draw(&pairs, &plan.quotas, plan.seed);
    let by_code: HashMap<&str, _> = candidates.iter().map(|c| (c.code.as_str(), c)).collect();
    let points: Vec<DrawnPoint> = drawn
        .picked
        .values()
        .flatten()
        .enumerate()
        .map(|(i, code)| {
            let c = by_code[code.as_str()];
            DrawnPoint {
                point_id: c.id,
                point_type: c.point_type.clone(),
                unit_id: c.responsible_unit_id,
                street_id: c.street_id,
                evaluator_id: (!plan.evaluators.is_empty()).then(|| plan.evaluators[i % plan.evaluators.len()]),
            }
        })
        .collect();
    let quotas = serde_json::to_string(&plan.quotas).expect("quotas serialise");
    let scope = serde_json::to_string(&plan.streets).expect("streets serialise");
    let new = NewRound {
        system_id: system.id,
        kind: &plan.kind,
        name: &plan.name,
        // Stored as a signed 64-bit number; read back with `as u64`.
        seed: plan.seed as i64,
        quotas: &quotas,
        scope: &scope,
        created_by_name: by_name,
    };
    let id = store.create_round(district_id, &new, &points, audit).await?;
    Ok((id, drawn))
}

/// An answer given at a point.
#[derive(Clone, Debug)]
pub struct PointAnswer {
    /// The checklist item.
    pub item_code: String,
    /// The answer.
    pub answer: Answer,
    /// The evaluator's note.
    pub note: String,
}

fn result_code(answer: Answer) -> (&'static str, i64) {
    match answer {
        Answer::Pass => ("pass", 0),
        Answer::Fail { occurrences } => ("fail", occurrences.max(1) as i64),
        Answer::Serious => ("serious", 0),
        Answer::NotApplicable => ("not_applicable", 0),
    }
}

/// What an evaluator brings back from a point.
#[derive(Clone, Debug, Default)]
pub struct Visit {
    /// An answer to every item of the point type's checklist.
    pub answers: Vec<PointAnswer>,
    /// Photos: ids of the evaluator's own uploads.
    pub photos: Vec<i64>,
    /// Where the evaluator stood, WGS-84.
    pub location: Option<(f64, f64)>,
}

/// Reads a stored answer back.
pub fn answer_of(result: &str, occurrences: i64) -> Option<Answer> {
    match result {
        "pass" => Some(Answer::Pass),
        "fail" => Some(Answer::Fail { occurrences: occurrences.max(1) as u32 }),
        "serious" => Some(Answer::Serious),
        "not_applicable" => Some(Answer::NotApplicable),
        _ => None,
    }
}

/// The office, as the system acts for it when a failed item's case is
/// accepted and dispatched: a caller of the district's whole scope who is
/// nobody (no person signs the step).
async fn office_of(store: &Store, user: &CurrentUser, round: &Round) -> Result<CurrentUser, AppError> {
    let district_id = user.district_id;
    let units = store.units(district_id).await?;
    let root = units.iter().find(|u| u.parent_id.is_none()).ok_or(AppError::NotFound)?;
    Ok(CurrentUser {
        user_id: None,
        token_id: None,
        district_id,
        unit_id: root.id,
        unit_path: root.path.clone(),
        // The audit names who set it off: the evaluator, through the round.
        username: format!("{}@evaluation-round:{}", user.username, round.id),
        display_name: format!("创文办（{}自动派遣）", kind_label(&round.kind)),
        roles: vec![Role::Office],
        must_change_password: false,
        session_hash: None,
        ip: user.ip.clone(),
        tables: user.tables.clone(),
    })
}

/// Checks a visit before anything is kept: every item of the checklist
/// answered, and every failed item's category one the district files.
pub fn check_visit(
    list: &crate::domain::evaluation::Checklist,
    answers: &[PointAnswer],
    categories: &crate::domain::categories::CategoryTable,
) -> Result<(), AppError> {
    let by_code: HashMap<&str, &PointAnswer> = answers.iter().map(|a| (a.item_code.as_str(), a)).collect();
    let unanswered: Vec<&str> =
        list.items.iter().filter(|i| !by_code.contains_key(i.code.as_str())).map(|i| i.criterion.as_str()).collect();
    if !unanswered.is_empty() {
        return Err(AppError::Invalid {
            field: "answers".into(),
            message: format!("还有 {} 项未作答：{}", unanswered.len(), unanswered.join("；")),
        });
    }
    let unknown: Vec<&str> = list
        .items
        .iter()
        .filter(|i| by_code[i.code.as_str()].answer.failed() && categories.category(&i.category).is_none())
        .map(|i| i.category.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(AppError::Invalid {
            field: "answers".into(),
            message: format!("检查清单中的问题分类 {} 在本区分类表中不存在，请创文办修正测评体系", unknown.join("、")),
        });
    }
    Ok(())
}

/// Takes an evaluator's answers at a point of an open round ([`check_visit`]
/// first). The answers are kept first, in one transaction; then each failed
/// item raises a case of its category at the point — accepted and
/// dispatched to the point's responsible unit with the category's time limit
/// — linked to the answer at once. Photos (ids of the evaluator's own
/// uploads) go with the first case. Safe to repeat: an item whose answer
/// already has a case keeps it, a case filed by an attempt that failed
/// midway is found by its key, and a case not yet dispatched is taken on
/// from where it stands.
pub async fn submit_point(
    state: &AppState,
    user: &CurrentUser,
    round: &Round,
    point: &RoundPointRow,
    system: &EvaluationSystem,
    visit: &Visit,
) -> Result<Vec<i64>, AppError> {
    let Visit { answers, photos, location } = visit;
    let location = *location;
    let store = &state.store;
    let list =
        system.checklist(&point.point_type).ok_or_else(|| AppError::BadRequest("该点位类型没有检查清单".into()))?;
    let table = store.categories(user.district_id).await?;
    check_visit(list, answers, &table)?;
    let by_code: HashMap<&str, &PointAnswer> = answers.iter().map(|a| (a.item_code.as_str(), a)).collect();
    let rows: Vec<NewAnswer> = list
        .items
        .iter()
        .map(|item| {
            let a = by_code[item.code.as_str()];
            let (result, occurrences) = result_code(a.answer);
            NewAnswer { item_code: item.code.clone(), result, occurrences, note: a.note.trim().to_string() }
        })
        .collect();
    let linked: HashMap<String, i64> = store
        .round_answers(round.district_id, round.id)
        .await?
        .into_iter()
        .filter(|a| a.point_id == point.point_id)
        .filter_map(|a| Some((a.item_code, a.case_id?)))
        .collect();
    let audit = user.audit(AuditAction::EvaluationAnswered, format!("evaluation_round:{}", round.id), "");
    let by_name = user.display_name.clone();
    if !store.record_answers(round.id, point.point_id, &rows, location, user.user_id, &by_name, &audit).await? {
        return Err(AppError::Conflict("本轮测评已结束，不能再作答".into()));
    }
    // Each failure becomes a case dispatched to the point's responsible unit.
    let grids = crate::places::load_grid_index(store, user.district_id).await?;
    let office = office_of(store, user, round).await?;
    let mut raised = Vec::new();
    let mut photos = photos.clone();
    for item in &list.items {
        let a = by_code[item.code.as_str()];
        if !a.answer.failed() {
            continue;
        }
        let case_id = match linked.get(&item.code) {
            Some(id) => *id,
            None => {
                let Some(category) = table.category(&item.category) else { continue };
                let key = format!("evaluation:{}:{}:{}", round.id, point.point_id, item.code);
                let filed = match store.idempotent_response(user.district_id, &key).await? {
                    Some(earlier) => earlier.response.parse::<i64>().ok(),
                    None => None,
                };
                let id = match filed {
                    Some(id) => id,
                    None => {
                        let condition = &category.conditions[0];
                        let how = match a.answer {
                            Answer::Fail { occurrences } => format!("不合格 {} 处", occurrences.max(1)),
                            _ => "严重不合格".to_string(),
                        };
                        let note =
                            if a.note.trim().is_empty() { String::new() } else { format!("。{}", a.note.trim()) };
                        // The case sits at the point, in the point's grid: where it is counted is where it is shown.
                        let place =
                            grids.resolve(point.lon, point.lat).map(|l| (l.grid_id, l.community_id, l.street_id));
                        let new = NewCase {
                            source: "eval_round".into(),
                            category_code: category.code.clone(),
                            category_version: table.version.clone(),
                            condition_index: 0,
                            campaign: category.campaign.clone(),
                            limit_amount: condition.limit as i64,
                            limit_clock: condition.clock.code().to_string(),
                            description: format!(
                                "{}（{}）：{}（{}）检查项“{}”{how}{note}",
                                round.name,
                                kind_label(&round.kind),
                                point.name,
                                point.code,
                                item.criterion
                            ),
                            address: point.address.clone(),
                            location: Some((point.lon, point.lat)),
                            place,
                            point_id: Some(point.point_id),
                            reporter_id: user.user_id,
                            reporter_name: user.display_name.clone(),
                        };
                        let report_audit = user.audit(AuditAction::CaseReported, "", "");
                        let keyed = Some((key.as_str(), user.username.as_str(), ""));
                        let (case, _, _) = store
                            .create_case(
                                user.district_id,
                                &new,
                                &report_audit,
                                &std::mem::take(&mut photos),
                                keyed,
                                |c| (201, c.id.to_string()),
                            )
                            .await
                            .map_err(crate::api::cases::attachment_refused)?;
                        case.id
                    }
                };
                store.link_answer_case(round.id, point.point_id, &item.code, id).await?;
                id
            }
        };
        take_on(state, &office, case_id, point.unit_id).await?;
        raised.push(case_id);
    }
    Ok(raised)
}

/// Accepts and dispatches a raised case from wherever it stands (a retry
/// finishes what an attempt left); a case the office has moved on is left.
async fn take_on(state: &AppState, office: &CurrentUser, case_id: i64, unit_id: i64) -> Result<(), AppError> {
    use crate::domain::cases::CaseState;
    let state_of = |case: crate::store::cases::Case| CaseState::from_code(&case.state);
    let case = state.store.case(office.district_id, &crate::auth::policy::Scope::District, None, case_id).await?;
    let Some(case) = case else { return Ok(()) };
    if state_of(case) == Some(CaseState::Reported) {
        crate::api::cases::perform_step(state, office, case_id, Transition::Accept, &TransitionInput::default(), None)
            .await?;
    }
    let case = state.store.case(office.district_id, &crate::auth::policy::Scope::District, None, case_id).await?;
    if case.and_then(state_of) == Some(CaseState::Accepted) {
        let dispatch = TransitionInput { unit_id: Some(unit_id), ..TransitionInput::default() };
        crate::api::cases::perform_step(state, office, case_id, Transition::Dispatch, &dispatch, None).await?;
    }
    Ok(())
}

/// A round's score from its answers and the scores the office entered.
pub async fn score(store: &Store, round: &Round, system: &EvaluationSystem) -> Result<RoundScore, StoreError> {
    let points: Vec<RoundPoint> = store
        .round_points(round.district_id, round.id)
        .await?
        .into_iter()
        .map(|p| RoundPoint { id: p.point_id, point_type: p.point_type, unit_id: p.unit_id, street_id: p.street_id })
        .collect();
    let answers: HashMap<(i64, String), Answer> = store
        .round_answers(round.district_id, round.id)
        .await?
        .into_iter()
        .filter_map(|a| Some(((a.point_id, a.item_code), answer_of(&a.result, a.occurrences)?)))
        .collect();
    let entered: HashMap<String, f64> = serde_json::from_str(&round.entered).unwrap_or_default();
    Ok(score_round(system, &points, &answers, &entered))
}
