//! Problem cases: numbered without gaps, moved by transitions under
//! optimistic concurrency, each move recorded as an event and an audit entry
//! in the same transaction.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

use super::{Store, StoreError, StoreResult, now};
use crate::append_audit;
use crate::auth::audit::NewAuditEntry;
use crate::auth::policy::Scope;
use crate::domain::calendar::beijing;
use crate::domain::cases::{Alert, CaseState, Outcome, Transition, TransitionInput};
use crate::domain::words;
use crate::store::dispatch::OrderBatch;
use crate::{read, transaction};

/// A case as stored.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Case {
    /// Row id.
    pub id: i64,
    /// District.
    pub district_id: i64,
    /// Number, per district per year: `2026-000123`.
    pub number: String,
    /// State code.
    pub state: String,
    /// Bumped by every transition.
    pub version: i64,
    /// Where the report came from.
    pub source: String,
    /// Category code.
    pub category_code: String,
    /// Version of the category table it was filed under.
    pub category_version: String,
    /// Index of the filing condition in the category.
    pub condition_index: i64,
    /// Campaign code.
    pub campaign: String,
    /// Time limit amount.
    pub limit_amount: i64,
    /// Time limit clock.
    pub limit_clock: String,
    /// What was found.
    pub description: String,
    /// Address.
    pub address: String,
    /// WGS-84.
    pub lon: Option<f64>,
    /// WGS-84.
    pub lat: Option<f64>,
    /// Grid cell.
    pub grid_id: Option<i64>,
    /// Community.
    pub community_id: Option<i64>,
    /// Street.
    pub street_id: Option<i64>,
    /// Evaluation point.
    pub point_id: Option<i64>,
    /// Reporter.
    pub reporter_id: Option<i64>,
    /// Reporter's name.
    pub reporter_name: String,
    /// Main responsible unit.
    pub unit_id: Option<i64>,
    /// Co-units, comma-separated ids.
    pub co_unit_ids: String,
    /// Current deadline.
    pub deadline: Option<DateTime<Utc>>,
    /// Failed verifications.
    pub rework_count: i64,
    /// The case this one duplicates.
    pub duplicate_of: Option<i64>,
    /// Deferral target date.
    pub deferred_until: Option<String>,
    /// Reported.
    pub reported_at: DateTime<Utc>,
    /// Dispatched.
    pub dispatched_at: Option<DateTime<Utc>>,
    /// Handled.
    pub handled_at: Option<DateTime<Utc>>,
    /// Closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When the current deadline's clock started.
    pub clock_started_at: Option<DateTime<Utc>>,
    /// When 80% of the limit was used (amber).
    pub amber_at: Option<DateTime<Utc>>,
    /// When the deadline passed (red).
    pub overdue_at: Option<DateTime<Utc>>,
    /// The rectification-order batch it was dispatched in.
    pub batch_id: Option<i64>,
    /// Accepted by the office (立案).
    pub accepted_at: Option<DateTime<Utc>>,
    /// Dispatches so far.
    pub dispatch_count: i64,
    /// Approved returns so far.
    pub return_count: i64,
    /// Handlings so far.
    pub handle_count: i64,
    /// Working minutes from the last dispatch to the handling that passed (set at closing).
    pub handling_minutes: Option<i64>,
    /// The bulk intake batch that filed it (导入批次).
    pub intake_batch_id: Option<i64>,
    /// The source's own number for it (工单编号, 问题编号).
    pub external_ref: Option<String>,
    /// When the source found it, if it said.
    pub found_at: Option<DateTime<Utc>>,
}

impl Case {
    /// Amber, red or none (`domain::cases::Alert`).
    pub fn alert(&self) -> Alert {
        match CaseState::from_code(&self.state) {
            Some(state) => Alert::of(state, self.amber_at.is_some(), self.overdue_at.is_some()),
            None => Alert::None,
        }
    }
}

/// A step of a case.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CaseEvent {
    /// Row id.
    pub id: i64,
    /// Transition code, or `report`.
    pub action: String,
    /// State before.
    pub from_state: Option<String>,
    /// State after.
    pub to_state: String,
    /// Acting user.
    pub actor_id: Option<i64>,
    /// Actor's name.
    pub actor: String,
    /// Note or reason.
    pub note: String,
    /// The input, JSON.
    pub detail: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A case to create.
#[derive(Clone, Debug)]
pub struct NewCase {
    /// Source code.
    pub source: String,
    /// Category code.
    pub category_code: String,
    /// Category table version.
    pub category_version: String,
    /// Filing condition index.
    pub condition_index: i64,
    /// Campaign code.
    pub campaign: String,
    /// Limit amount.
    pub limit_amount: i64,
    /// Limit clock code.
    pub limit_clock: String,
    /// What was found.
    pub description: String,
    /// Address.
    pub address: String,
    /// WGS-84 location.
    pub location: Option<(f64, f64)>,
    /// Resolved grid, community, street.
    pub place: Option<(i64, i64, i64)>,
    /// Evaluation point.
    pub point_id: Option<i64>,
    /// Reporter.
    pub reporter_id: Option<i64>,
    /// Reporter's name.
    pub reporter_name: String,
}

/// A step of a bulk-loaded case: (action, from state, to state, when, note).
pub type BulkEvent = (&'static str, Option<&'static str>, &'static str, DateTime<Utc>, &'static str);

/// A case written by the bulk loader (the demo's year of cases, benchmarks).
#[derive(Clone, Debug)]
pub struct BulkCase {
    /// State code.
    pub state: &'static str,
    /// Source code.
    pub source: &'static str,
    /// Category code.
    pub category_code: String,
    /// Which of the category's filing conditions (its limit is `limit`).
    pub condition_index: i64,
    /// Campaign code.
    pub campaign: String,
    /// Limit.
    pub limit: crate::domain::calendar::TimeLimit,
    /// Who reported it, as shown.
    pub reporter_name: String,
    /// Description.
    pub description: String,
    /// Location.
    pub lon: f64,
    /// Location.
    pub lat: f64,
    /// Grid, community, street.
    pub cell: (i64, i64, i64),
    /// Responsible unit, once dispatched.
    pub unit_id: Option<i64>,
    /// Deadline, once dispatched.
    pub deadline: Option<DateTime<Utc>>,
    /// When the current clock started.
    pub clock_started_at: Option<DateTime<Utc>>,
    /// Rework count.
    pub rework_count: i64,
    /// Reported.
    pub reported_at: DateTime<Utc>,
    /// Dispatched.
    pub dispatched_at: Option<DateTime<Utc>>,
    /// Handled.
    pub handled_at: Option<DateTime<Utc>>,
    /// Closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Overdue flag time.
    pub overdue_at: Option<DateTime<Utc>>,
    /// Deferral target date.
    pub deferred_until: Option<String>,
    /// Steps: (action, from, to, at, note).
    pub events: Vec<BulkEvent>,
}

/// A stored idempotent response.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredResponse {
    /// Who sent the first request.
    pub actor: String,
    /// Hash of the first request's body.
    pub request_hash: String,
    /// HTTP status sent.
    pub status: i64,
    /// Body sent.
    pub response: String,
}

/// Filters of the case list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CaseFilter {
    /// Only this state.
    pub state: Option<String>,
    /// Only these states (any of them).
    pub any_state: Vec<String>,
    /// Only this unit.
    pub unit_id: Option<i64>,
    /// Only this category.
    pub category: Option<String>,
    /// Only in this street.
    pub street_id: Option<i64>,
    /// Only open cases past their deadline.
    pub overdue: bool,
    /// Only open cases past 80% of their limit, not yet overdue.
    pub amber: bool,
    /// Only cases this user reported.
    pub reporter_id: Option<i64>,
    /// Number or words of the description.
    pub text: Option<String>,
    /// Only in this community.
    pub community_id: Option<i64>,
    /// Only of this campaign (专项行动).
    pub campaign: Option<String>,
    /// Only from this source.
    pub source: Option<String>,
    /// Only filed by this bulk intake batch.
    pub intake_batch_id: Option<i64>,
    /// Only reported at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only reported before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Only cases whose loop is not finished.
    pub open: bool,
    /// Only cases with a position.
    pub located: bool,
    /// Keyset cursor: cases with a smaller id (newest first).
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// A transition refused because someone else moved the case first.
#[derive(Debug)]
pub struct Conflict {
    /// The case as it now stands.
    pub current: Case,
}

/// The columns of a `Case`, in one place for `SELECT` and `RETURNING`.
macro_rules! case_fields {
    () => {
        "id, district_id, number, state, version, source, category_code, category_version,
    condition_index, campaign, limit_amount, limit_clock, description, address, lon, lat, grid_id, community_id,
    street_id, point_id, reporter_id, reporter_name, unit_id, co_unit_ids, deadline, rework_count, duplicate_of,
    deferred_until, reported_at, dispatched_at, handled_at, closed_at, updated_at, clock_started_at, amber_at,
    overdue_at, batch_id, accepted_at, dispatch_count, return_count, handle_count, handling_minutes, intake_batch_id,
    external_ref, found_at"
    };
}

pub(crate) use case_fields;

pub(crate) const CASE_COLUMNS: &str = concat!("SELECT ", case_fields!(), " FROM cases");

/// `('a', 'b', …)`: the states where `holds` is true, for SQL. Built from the
/// domain's own rules, so the database never counts a different set of states.
pub(crate) fn state_list(holds: fn(CaseState) -> bool) -> String {
    let codes: Vec<String> = CaseState::codes_where(holds).map(|c| format!("'{c}'")).collect();
    format!("({})", codes.join(", "))
}

/// States whose loop is not finished (`CaseState::is_open`).
pub(crate) static OPEN_STATES: LazyLock<String> = LazyLock::new(|| state_list(CaseState::is_open));
/// States whose unit clock runs (`CaseState::unit_clock_runs`).
pub(crate) static RUNNING_STATES: LazyLock<String> = LazyLock::new(|| state_list(CaseState::unit_clock_runs));

/// Limits a case query to a scope: in the scope's territory, or dispatched
/// to a unit of the scope, or reported by the caller (a person, not a token).
pub(crate) fn push_case_scope<'a, DB: sqlx::Database>(
    q: &mut QueryBuilder<DB>,
    district_id: i64,
    scope: &Scope,
    reporter: Option<i64>,
) where
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if let Some(pattern) = scope.path_pattern() {
        for (i, column) in ["street_id", "community_id", "unit_id"].iter().enumerate() {
            q.push(if i == 0 { " AND (" } else { " OR " });
            q.push(*column).push(" IN (SELECT id FROM units WHERE district_id = ");
            q.push_bind(district_id).push(" AND path LIKE ").push_bind(pattern.clone()).push(")");
        }
        if let Some(reporter) = reporter {
            q.push(" OR reporter_id = ").push_bind(reporter);
        }
        q.push(")");
    }
}

/// How the text of a filter (`q`, 编号或描述) is searched.
enum TextSearch {
    /// No text.
    None,
    /// A case number (`domain::words::is_case_number`): that case.
    Number(String),
    /// A keyword: the cases whose description holds it. With character
    /// pairs (`domain::words::keyword_pairs`) the search words (migration
    /// 0015) find the cases that have them all first; without (one
    /// character) every description is read.
    Description {
        /// The keyword's pairs; none for one character.
        pairs: Vec<String>,
        /// The keyword as a `LIKE` pattern, checked on every row found.
        pattern: String,
        /// The keyword has no letter with case (汉字, digits): the
        /// descriptions are matched as stored, not lower-cased first
        /// (`domain::words::is_caseless`).
        caseless: bool,
        /// The keyword is one pair and nothing else (垃圾, 井盖): a case
        /// has that pair among its words exactly when its description
        /// holds the keyword.
        one_pair: bool,
    },
}

impl TextSearch {
    fn of(filter: &CaseFilter) -> TextSearch {
        let Some(text) = filter.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
            return TextSearch::None;
        };
        if words::is_case_number(text) {
            return TextSearch::Number(text.to_string());
        }
        let pairs = words::keyword_pairs(text);
        let one_pair = matches!(pairs.as_slice(), [pair] if *pair == text.to_lowercase());
        TextSearch::Description {
            pairs,
            pattern: super::contains_pattern(text),
            caseless: words::is_caseless(text),
            one_pair,
        }
    }

    /// A keyword looked up by its pairs in `case_words` (one character has none).
    fn by_pairs(&self) -> bool {
        matches!(self, TextSearch::Description { pairs, .. } if !pairs.is_empty())
    }

    /// On SQLite a keyword with pairs is led by the FTS5 table, read newest
    /// first, each match joined to its case: a page stops once it is full.
    fn led_by_words(&self, backend: &str) -> bool {
        self.by_pairs() && backend == "SQLite"
    }
}

/// Whether the list's statement for `filter` may be kept prepared (sqlx's
/// `persistent`). Backend-specific: PostgreSQL plans a kept statement for
/// any parameters once it has run five times, and that plan for a keyword
/// walks every case's words newest first: at ten million cases a word no
/// case has took 4.7 s (6.6 s in another run), where planned for the word
/// itself (the GIN index finds nothing) it takes 0.05 ms (`EXPLAIN EXECUTE`
/// under `plan_cache_mode = force_generic_plan`, PERFORMANCE.md). So on
/// PostgreSQL a keyword's statement is planned again on every run.
/// SQLite plans every run alike.
fn keep_prepared(db: &super::Db, filter: &CaseFilter) -> bool {
    !(TextSearch::of(filter).by_pairs() && matches!(db, super::Db::Postgres(_)))
}

/// The share of the cases a one-pair keyword must hold for its count to
/// read descriptions alone (`Store::common_keyword`): at 10 % a capped
/// count reads about 100,000 descriptions, about as long as the words'
/// 10,001 look-ups it saves.
pub const COMMON_KEYWORD_SHARE: f32 = 0.10;

/// `FROM cases`, or on SQLite for a keyword, the FTS5 table joined to the
/// cases (`CROSS JOIN`: SQLite keeps that order). Returns the column the
/// rows are ordered and paged by.
fn push_from<DB: sqlx::Database>(q: &mut QueryBuilder<DB>, filter: &CaseFilter) -> &'static str {
    if TextSearch::of(filter).led_by_words(DB::NAME) {
        q.push(" FROM case_words CROSS JOIN cases ON cases.id = case_words.rowid");
        "case_words.rowid"
    } else {
        q.push(" FROM cases");
        "id"
    }
}

/// Whether a page of the list walks the cases by report time (then
/// number), not by number alone: for a period without a keyword. Walked by
/// number, a page under a period and other filters read every case below
/// the period once its matches ran out — the page after a filter's last
/// case read all ten million (2.9 s on PostgreSQL), and a first page after
/// a morning's reports passed over every one of them (66–73 ms) — while by
/// report time the walk is an index range that ends with the period
/// (`cases_reported`, `cases_category_reported`: 0.3–2.9 ms;
/// PERFORMANCE.md). Filed cases take their report time from the commit
/// that numbers them, so the two orders differ only for cases loaded with
/// an earlier time (the demo, a bulk load), which a period lists when they
/// were reported.
fn by_report_time(filter: &CaseFilter) -> bool {
    (filter.from.is_some() || filter.to.is_some()) && matches!(TextSearch::of(filter), TextSearch::None)
}

/// What a statement over a case filter reads.
#[derive(Clone, Copy, PartialEq)]
enum Reading {
    /// A page, newest first by number.
    Page,
    /// A page of a period, newest first by report time ([`by_report_time`]).
    PageByTime,
    /// A capped count; a keyword is looked up by its pairs first.
    Count,
    /// A capped count of a keyword so common that reading descriptions
    /// alone reaches the cap sooner than looking up the words of every
    /// case found (`Store::common_keyword`).
    CountByDescription,
}

/// The conditions of a case filter (all but the cursor and the limit).
fn push_filter<'a, DB: sqlx::Database>(q: &mut QueryBuilder<DB>, filter: &CaseFilter, reading: Reading)
where
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if let Some(state) = &filter.state {
        q.push(" AND state = ").push_bind(state.clone());
    }
    if !filter.any_state.is_empty() {
        q.push(" AND state IN (");
        let mut states = q.separated(", ");
        for state in &filter.any_state {
            states.push_bind(state.clone());
        }
        q.push(")");
    }
    if let Some(unit) = filter.unit_id {
        q.push(" AND unit_id = ").push_bind(unit);
    }
    if let Some(category) = &filter.category {
        q.push(" AND category_code = ").push_bind(category.clone());
    }
    if let Some(street) = filter.street_id {
        q.push(" AND street_id = ").push_bind(street);
    }
    // Amber and red as `domain::cases::Alert` has them: a running clock only.
    if filter.amber {
        q.push(" AND amber_at IS NOT NULL AND overdue_at IS NULL AND state IN ").push(RUNNING_STATES.as_str());
    }
    if let Some(reporter) = filter.reporter_id {
        q.push(" AND reporter_id = ").push_bind(reporter);
    }
    if filter.overdue {
        q.push(" AND overdue_at IS NOT NULL AND state IN ").push(RUNNING_STATES.as_str());
    }
    match TextSearch::of(filter) {
        TextSearch::None => {}
        TextSearch::Number(number) => {
            q.push(" AND number = ").push_bind(number);
        }
        TextSearch::Description { pairs, pattern, caseless, .. } => {
            if pairs.is_empty() || reading == Reading::CountByDescription {
                // One character: no pair to look up.
            } else if DB::NAME == "SQLite" {
                // The FTS5 table leads the query (`push_from`); each pair a
                // phrase, all of them required. Pairs hold letters and
                // digits only, never a quote.
                let phrases: Vec<String> = pairs.iter().map(|p| format!("\"{p}\"")).collect();
                q.push(" AND case_words MATCH ").push_bind(phrases.join(" "));
            } else {
                q.push(
                    " AND id IN (SELECT case_id FROM case_words WHERE string_to_array(words, ' ') @> string_to_array(",
                );
                q.push_bind(pairs.join(" ")).push(", ' ')");
                // A page far down: the words from its cursor on too. The
                // planner does not carry `id < …` into the subquery, and its
                // merge join read the words from the newest case down to
                // the cursor (`EXPLAIN ANALYZE`: 27–41 ms against 0.7 ms
                // at a million cases, PERFORMANCE.md).
                if let (Reading::Page, Some(before)) = (reading, filter.before_id) {
                    q.push(" AND case_id < ").push_bind(before);
                }
                q.push(")");
            }
            // Lower-casing every description read cost five times the
            // match itself on PostgreSQL (`EXPLAIN ANALYZE`, PERFORMANCE.md).
            let text = if caseless { "description" } else { "LOWER(description)" };
            q.push(format_args!(" AND {text} LIKE ")).push_bind(pattern).push(" ESCAPE '\\'");
        }
    }
    if let Some(community) = filter.community_id {
        q.push(" AND community_id = ").push_bind(community);
    }
    if let Some(campaign) = &filter.campaign {
        q.push(" AND campaign = ").push_bind(campaign.clone());
    }
    if let Some(batch) = filter.intake_batch_id {
        q.push(" AND intake_batch_id = ").push_bind(batch);
    }
    if let Some(source) = &filter.source {
        q.push(" AND source = ").push_bind(source.clone());
    }
    // A period's page walks the cases by report time ([`by_report_time`]):
    // the period is the walk's own range. A page by number (a period with
    // a keyword) walks the matches newest first and the period filters
    // them; without statistics SQLite would rather read the whole period
    // from `cases_reported` and sort it — at ten million cases, a month is
    // 800,000 rows — so there on SQLite the period is kept out of index
    // choice (`+`, SQLite only: PostgreSQL weighs it with its statistics).
    // Counting still ranges over `cases_reported`.
    let period_column = if reading == Reading::Page && DB::NAME == "SQLite" { "+reported_at" } else { "reported_at" };
    if let Some(from) = filter.from {
        q.push(format_args!(" AND {period_column} >= ")).push_bind(from);
    }
    if let Some(to) = filter.to {
        q.push(format_args!(" AND {period_column} < ")).push_bind(to);
    }
    if filter.open {
        q.push(" AND state IN ").push(OPEN_STATES.as_str());
    }
    if filter.located {
        q.push(" AND lon IS NOT NULL AND lat IS NOT NULL");
    }
}

/// One transition to record: the case as the caller read it, the version it
/// expects, and what `domain::cases::apply` decided.
pub struct Step<'a> {
    /// The case as read.
    pub case: &'a Case,
    /// The version the caller saw; another writer's change makes it a conflict.
    pub expected_version: i64,
    /// The transition.
    pub transition: Transition,
    /// What it changes.
    pub outcome: &'a Outcome,
    /// What the person supplied.
    pub input: &'a TransitionInput,
}

/// The columns a step writes, worked out before the transaction.
struct CaseUpdate {
    from: String,
    to: &'static str,
    detail: String,
    co_units: String,
    unit: Option<i64>,
    deadline: Option<DateTime<Utc>>,
    deferred_until: Option<String>,
    dispatched_at: Option<DateTime<Utc>>,
    handled_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    clock_started_at: Option<DateTime<Utc>>,
    /// A new or cleared deadline: amber and red start over. Otherwise the
    /// marks stay as the row has them (the watcher may have set one since
    /// the caller read the case).
    reset_alerts: bool,
    accepted_at: Option<DateTime<Utc>>,
    dispatches: i64,
    returns: i64,
    handlings: i64,
    /// Set at closing: working minutes from the last dispatch to the handling.
    handling_minutes: Option<i64>,
}

impl CaseUpdate {
    fn of(step: &Step<'_>, at: DateTime<Utc>) -> CaseUpdate {
        let Step { case, transition, outcome, input, .. } = *step;
        let co_units = if transition == Transition::Dispatch {
            input.co_unit_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        } else {
            case.co_unit_ids.clone()
        };
        let deferred_until = match outcome.deferred_until {
            Some(date) => date.map(|d| d.to_string()),
            None => case.deferred_until.clone(),
        };
        let stamp = |state: CaseState| if outcome.state == state { Some(at) } else { None };
        let clock_started_at = if outcome.restart_clock {
            Some(at)
        } else if outcome.clear_deadline {
            None
        } else {
            case.clock_started_at
        };
        let reset_alerts = outcome.deadline.is_some() || outcome.clear_deadline;
        CaseUpdate {
            from: case.state.clone(),
            to: outcome.state.code(),
            detail: serde_json::to_string(input).expect("input serialises"),
            co_units,
            unit: if outcome.clear_unit { None } else { outcome.unit_id.or(case.unit_id) },
            deadline: if outcome.clear_deadline { None } else { outcome.deadline.or(case.deadline) },
            deferred_until,
            dispatched_at: (transition == Transition::Dispatch).then_some(at),
            handled_at: stamp(CaseState::Handled),
            closed_at: stamp(CaseState::Closed),
            clock_started_at,
            reset_alerts,
            accepted_at: (transition == Transition::Accept).then_some(at),
            dispatches: (transition == Transition::Dispatch) as i64,
            returns: (transition == Transition::ApproveReturn) as i64,
            handlings: (transition == Transition::Handle) as i64,
            handling_minutes: outcome.handling_minutes,
        }
    }
}

/// What a step names as an attachment that is not free: not of the
/// district, already part of a case, or uploaded by someone else.
pub const ATTACHMENT_TAKEN: &str = "attachment taken";

/// Ties uploaded files to a case and one of its events inside `$tx`. Only
/// a file not yet tied to any case, uploaded by the same caller, may be tied;
/// otherwise the whole transaction is abandoned (`ATTACHMENT_TAKEN`).
macro_rules! link_attachments {
    ($tx:ident, $district:expr, $case:expr, $event:expr, $ids:expr, $uploader:expr) => {
        for attachment in $ids {
            let uploader: Option<i64> = $uploader;
            let linked = sqlx::query(
                "UPDATE attachments SET case_id = $1, event_id = $2
                 WHERE id = $3 AND district_id = $4 AND case_id IS NULL AND event_id IS NULL
                   AND (uploaded_by = $5 OR ($5 IS NULL AND uploaded_by IS NULL))",
            )
            .bind($case)
            .bind($event)
            .bind(attachment)
            .bind($district)
            .bind(uploader)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
            if linked != 1 {
                return Err(StoreError::Duplicate($crate::store::cases::ATTACHMENT_TAKEN.into()));
            }
        }
    };
}

pub(crate) use link_attachments;

/// Records one step inside an open transaction `$tx`: the optimistic update
/// of the case, its event, its attachments, the audit entry and a rework
/// supervision order; `Ok((case after, case before))` — the caller adds the
/// difference to the statistics — or `Err(Conflict)` when the case moved.
/// A macro, as `transaction!` is: the same statements on either backend.
macro_rules! transition_in {
    ($tx:ident, $algorithm:expr, $at:expr, $step:expr, $update:expr, $actor_id:expr, $actor:expr, $audit:expr, $batch:expr) => {{
        let (step, update, at): (&Step<'_>, CaseUpdate, DateTime<Utc>) = (&$step, $update, $at);
        let Step { case, expected_version, transition, outcome, input } = *step;
        // Lock the row and read it as it is (a no-op update returning it):
        // the statistics take out exactly what the row contributed, even a
        // mark the deadline watcher made without changing the version.
        let before = sqlx::query_as::<_, Case>(concat!(
            "UPDATE cases SET version = version WHERE id = $1 RETURNING ",
            case_fields!()
        ))
        .bind(case.id)
        .fetch_one(&mut *$tx)
        .await?;
        if before.version != expected_version {
            Err(Conflict { current: before })
        } else {
            let updated = sqlx::query_as::<_, Case>(concat!(
                "UPDATE cases SET state = $1, version = version + 1, unit_id = $2, co_unit_ids = $3, deadline = $4,
                 rework_count = $5, duplicate_of = COALESCE($6, duplicate_of), deferred_until = $7, updated_at = $8,
                 dispatched_at = COALESCE($9, dispatched_at), handled_at = COALESCE($10, handled_at),
                 closed_at = COALESCE($11, closed_at), clock_started_at = $13,
                 amber_at = CASE WHEN $14 THEN NULL ELSE amber_at END,
                 overdue_at = CASE WHEN $14 THEN NULL ELSE overdue_at END,
                 batch_id = COALESCE($15, batch_id), accepted_at = COALESCE(accepted_at, $16),
                 dispatch_count = dispatch_count + $17, return_count = return_count + $18,
                 handle_count = handle_count + $19, handling_minutes = COALESCE($20, handling_minutes)
                 WHERE id = $12 RETURNING ",
                case_fields!()
            ))
            .bind(update.to)
            .bind(update.unit)
            .bind(&update.co_units)
            .bind(update.deadline)
            .bind(outcome.rework_count)
            .bind(if transition == Transition::Merge { input.duplicate_of } else { None })
            .bind(&update.deferred_until)
            .bind(at)
            .bind(update.dispatched_at)
            .bind(update.handled_at)
            .bind(update.closed_at)
            .bind(case.id)
            .bind(update.clock_started_at)
            .bind(update.reset_alerts)
            .bind($batch)
            .bind(update.accepted_at)
            .bind(update.dispatches)
            .bind(update.returns)
            .bind(update.handlings)
            .bind(update.handling_minutes)
            .fetch_one(&mut *$tx)
            .await?;
            let event_id: i64 = sqlx::query_scalar(
                "INSERT INTO case_events (case_id, district_id, action, from_state, to_state, actor_id, actor, note, detail, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(case.id)
            .bind(case.district_id)
            .bind(transition.code())
            .bind(&update.from)
            .bind(update.to)
            .bind($actor_id)
            .bind($actor)
            .bind(input.note.trim())
            .bind(&update.detail)
            .bind(at)
            .fetch_one(&mut *$tx)
            .await?;
            link_attachments!($tx, case.district_id, case.id, event_id, &input.attachment_ids, $actor_id);
            let entry = NewAuditEntry {
                object: format!("case:{}", case.id),
                detail: serde_json::json!({
                    "number": case.number, "from": update.from, "to": update.to, "action": transition.code()
                })
                .to_string(),
                ..$audit.clone()
            };
            append_audit!($tx, $algorithm, &entry);
            // A case reworked twice raises a supervision order to the unit's lead, once.
            let rework_unit = update.unit.filter(|_| transition == Transition::VerifyFail && outcome.rework_count >= 2);
            if let Some(unit) = rework_unit {
                sqlx::query(
                    "INSERT INTO supervision_orders (district_id, case_id, unit_id, reason, stage, note, created_at)
                     VALUES ($1, $2, $3, 'rework', 'rework', $4, $5) ON CONFLICT (case_id, reason, stage) DO NOTHING",
                )
                .bind(case.district_id)
                .bind(case.id)
                .bind(unit)
                .bind(format!("案卷 {} 已返工 {} 次", case.number, outcome.rework_count))
                .bind(at)
                .execute(&mut *$tx)
                .await?;
            }
            Ok((updated, before))
        }
    }};
}

impl Store {
    /// Files a report: a number from the district's counter for the year, the
    /// case, its first event and the audit entry, committed with whatever
    /// other reports are waiting (`store::filing`); with an idempotency key,
    /// the response is stored with it. Answers after the commit.
    pub async fn create_case(
        &self,
        district_id: i64,
        new: &NewCase,
        audit: &NewAuditEntry,
        photos: &[i64],
        idempotency: Option<(&str, &str, &str)>,
        respond: impl Fn(&Case) -> (i64, String) + Send + Sync + 'static,
    ) -> StoreResult<(Case, i64, String)> {
        let report = super::filing::Report {
            district_id,
            case: new.clone(),
            audit: audit.clone(),
            photos: photos.to_vec(),
            idempotency: idempotency.map(|(k, a, h)| (k.to_string(), a.to_string(), h.to_string())),
            respond: Box::new(respond),
        };
        self.filing.file(self.audit_hash, report).await
    }

    /// Writes the search words (migration 0015) of every case after the last
    /// one that has them, a chunk a transaction: the cases of a database
    /// from before the keyword search. Every way a case is written records
    /// its words with it, so on a database that has them all this reads
    /// one row. Returns how many cases got words.
    pub async fn index_case_words(&self) -> StoreResult<u64> {
        const CHUNK: i64 = 5_000;
        let mut after: i64 = read!(&self.db, |pool| {
            let key = if self.backend() == "sqlite" { "rowid" } else { "case_id" };
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {key} FROM case_words ORDER BY {key} DESC LIMIT 1")))
                .fetch_optional(pool)
                .await
        })?
        .unwrap_or(0);
        let mut indexed = 0;
        loop {
            let chunk: Vec<(i64, String)> = read!(&self.db, |pool| {
                sqlx::query_as("SELECT id, description FROM cases WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(CHUNK)
                    .fetch_all(pool)
                    .await
            })?;
            let Some(last) = chunk.last().map(|c| c.0) else { return Ok(indexed) };
            transaction!(&self.db, |tx| {
                crate::record_words!(tx, chunk.iter().map(|(id, d)| (*id, d.as_str())), BULK_ROWS);
            });
            indexed += chunk.len() as u64;
            after = last;
        }
    }

    /// Files reports in one transaction of their own, all or none, without
    /// the queue (the benchmark's ceilings; `create_case` is the way in).
    pub async fn file_reports(&self, reports: Vec<super::filing::Report>) -> StoreResult<Vec<super::filing::Filed>> {
        let reports: Vec<_> = reports.into_iter().map(|r| (self.audit_hash, r)).collect();
        super::filing::file_reports(&self.db, &reports).await
    }

    /// The response stored under an idempotency key.
    pub async fn idempotent_response(&self, district_id: i64, key: &str) -> StoreResult<Option<StoredResponse>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, StoredResponse>(
            "SELECT actor, request_hash, status, response FROM idempotency_keys WHERE district_id = $1 AND key = $2"
        )
        .bind(district_id)
        .bind(key)
        .fetch_optional(pool)
        .await)?)
    }

    /// One case, if the scope sees it.
    pub async fn case(
        &self,
        district_id: i64,
        scope: &Scope,
        reporter: Option<i64>,
        id: i64,
    ) -> StoreResult<Option<Case>> {
        Ok(read!(&self.db, |pool| {
            let mut q = QueryBuilder::new(CASE_COLUMNS);
            q.push(" WHERE district_id = ").push_bind(district_id).push(" AND id = ").push_bind(id);
            push_case_scope(&mut q, district_id, scope, reporter);
            q.build_query_as::<Case>().fetch_optional(pool).await
        })?)
    }

    /// A page of the cases a scope sees, newest first (keyset): by number,
    /// or within a period ([`by_report_time`]) by report time, then number.
    pub async fn cases(
        &self,
        district_id: i64,
        scope: &Scope,
        reporter: Option<i64>,
        filter: &CaseFilter,
    ) -> StoreResult<Vec<Case>> {
        let keep = keep_prepared(&self.db, filter);
        let by_time = by_report_time(filter);
        // Within a period the cursor is its case's report time and number
        // (a case gone, an undone import's, leaves its number alone).
        let cursor: Option<(DateTime<Utc>, i64)> = match filter.before_id {
            Some(before) if by_time => read!(&self.db, |pool| sqlx::query_scalar(
                "SELECT reported_at FROM cases WHERE id = $1 AND district_id = $2"
            )
            .bind(before)
            .bind(district_id)
            .fetch_optional(pool)
            .await)?
            .map(|at| (at, before)),
            _ => None,
        };
        // A cursor inside the period ends the walk in place of the period's
        // end: SQLite seeks from the first upper bound it is given, not the
        // tighter one.
        let filter_within = match cursor {
            Some((at, _)) if filter.to.is_none_or(|to| at < to) => {
                std::borrow::Cow::Owned(CaseFilter { to: None, ..filter.clone() })
            }
            _ => std::borrow::Cow::Borrowed(filter),
        };
        let reading = if by_time { Reading::PageByTime } else { Reading::Page };
        Ok(read!(&self.db, |pool| {
            let mut q = QueryBuilder::new(concat!("SELECT ", case_fields!()));
            let key = push_from(&mut q, filter);
            q.push(" WHERE district_id = ").push_bind(district_id);
            push_case_scope(&mut q, district_id, scope, reporter);
            push_filter(&mut q, &filter_within, reading);
            match (cursor, filter.before_id) {
                (Some((at, id)), _) => {
                    q.push(" AND reported_at <= ").push_bind(at);
                    q.push(" AND (reported_at < ").push_bind(at).push(" OR id < ").push_bind(id).push(")");
                }
                (None, Some(before)) => {
                    q.push(format_args!(" AND {key} < ")).push_bind(before);
                }
                (None, None) => {}
            }
            if by_time {
                q.push(" ORDER BY reported_at DESC, id DESC LIMIT ");
            } else {
                q.push(format_args!(" ORDER BY {key} DESC LIMIT "));
            }
            q.push_bind(filter.limit.max(1));
            q.build_query_as::<Case>().persistent(keep).fetch_all(pool).await
        })?)
    }

    /// How many cases the scope sees under a filter, counted up to `cap`
    /// (a list says "more than …" rather than scanning millions of rows).
    pub async fn count_cases(
        &self,
        district_id: i64,
        scope: &Scope,
        reporter: Option<i64>,
        filter: &CaseFilter,
        cap: i64,
    ) -> StoreResult<i64> {
        let common = self.common_keyword(district_id, scope, filter).await?;
        let reading = if common { Reading::CountByDescription } else { Reading::Count };
        // Read without the words, a common keyword's count is one plan for
        // any keyword (the cases in order, each description matched), so it
        // is kept prepared: planned for the keyword, PostgreSQL matched the
        // pattern against its statistics of the descriptions first, 3–5 ms
        // a count at ten million cases (PERFORMANCE.md).
        let keep = common || keep_prepared(&self.db, filter);
        Ok(read!(&self.db, |pool| {
            let mut q = QueryBuilder::new("SELECT COUNT(*) FROM (SELECT 1");
            push_from(&mut q, filter);
            q.push(" WHERE district_id = ").push_bind(district_id);
            push_case_scope(&mut q, district_id, scope, reporter);
            push_filter(&mut q, filter, reading);
            // No order: a common keyword's count is read in the table's own
            // order, page after page. Newest first it read the newest cases'
            // pages wherever their rows had gone — after a morning's reports
            // and an undone import, 21,000 pages for one count, 85 ms
            // against 16 ms (PERFORMANCE.md).
            q.push(" LIMIT ").push_bind(cap).push(") AS capped");
            q.build_query_scalar::<i64>().persistent(keep).fetch_one(pool).await
        })?)
    }

    /// Whether the capped count of a search for a keyword alone, over a
    /// whole district, may read descriptions without the words: the
    /// keyword is one pair, PostgreSQL's statistics of the words' index (its
    /// most common elements, kept by `ANALYZE`) put that pair in at least
    /// [`COMMON_KEYWORD_SHARE`] of the cases, and the district holds at
    /// least half of the cases (the statistics are of every district's).
    /// A word that common is found every few rows, while looking the words
    /// up again for each case found cost 2–3 µs a case, 10,001 times
    /// (PERFORMANCE.md). Any other filter or a narrower scope keeps the
    /// words: the word may be rare among the cases it leaves. The index's
    /// statistics are shown to its owner, the role that ran the migrations;
    /// another role sees none and keeps the words. SQLite's count is led by
    /// its FTS5 table and stops at the cap.
    pub async fn common_keyword(&self, district_id: i64, scope: &Scope, filter: &CaseFilter) -> StoreResult<bool> {
        let super::Db::Postgres(pool) = &self.db else { return Ok(false) };
        let TextSearch::Description { pairs, caseless: true, one_pair: true, .. } = TextSearch::of(filter) else {
            return Ok(false);
        };
        let keyword_alone = CaseFilter { text: filter.text.clone(), limit: filter.limit, ..Default::default() };
        if *scope != Scope::District || *filter != keyword_alone {
            return Ok(false);
        }
        let (share, district_share): (Option<f32>, Option<f64>) = sqlx::query_as(
            "SELECT (SELECT e.share FROM pg_stats s,
                            unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS e(elem, share)
                      WHERE s.schemaname = current_schema() AND s.tablename = 'case_words_pairs' AND e.elem = $1),
                    (SELECT CAST(SUM(cases) FILTER (WHERE district_id = $2) AS DOUBLE PRECISION)
                            / NULLIF(SUM(cases), 0) FROM case_counts)",
        )
        .bind(&pairs[0])
        .bind(district_id)
        .fetch_one(pool)
        .await?;
        Ok(share.is_some_and(|share| share >= COMMON_KEYWORD_SHARE) && district_share.is_some_and(|d| d >= 0.5))
    }

    /// The steps of a case, oldest first.
    pub async fn case_events(&self, case_id: i64) -> StoreResult<Vec<CaseEvent>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, CaseEvent>(
            "SELECT id, action, from_state, to_state, actor_id, actor, note, detail, at FROM case_events
             WHERE case_id = $1 ORDER BY id"
        )
        .bind(case_id)
        .fetch_all(pool)
        .await)?)
    }

    /// Records a transition if the case is still at `expected_version`;
    /// otherwise nothing changes and the case as it now stands is returned.
    #[allow(clippy::too_many_arguments)]
    pub async fn transition_case(
        &self,
        case: &Case,
        expected_version: i64,
        transition: Transition,
        outcome: &Outcome,
        input: &TransitionInput,
        actor_id: Option<i64>,
        actor: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<Result<Case, Conflict>> {
        let (algorithm, at) = (self.audit_hash, now());
        let step = Step { case, expected_version, transition, outcome, input };
        let update = CaseUpdate::of(&step, at);
        let result = transaction!(&self.db, |tx| {
            match transition_in!(tx, algorithm, at, step, update, actor_id, actor, audit, None::<i64>) {
                Ok((updated, before)) => {
                    let deltas = crate::store::stats::step_delta(Some(&before), &updated);
                    crate::record_stats!(tx, case.district_id, deltas);
                    Ok(updated)
                }
                Err(conflict) => Err(conflict),
            }
        });
        Ok(result)
    }

    /// Dispatches cases together as one numbered batch of rectification
    /// orders (整改单), in one transaction: if any case moved meanwhile, no
    /// case is dispatched, no number is used, and that case is returned.
    pub async fn dispatch_batch(
        &self,
        district_id: i64,
        note: &str,
        steps: &[Step<'_>],
        actor_id: Option<i64>,
        actor: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<Result<(OrderBatch, Vec<Case>), Conflict>> {
        let (algorithm, at) = (self.audit_hash, now());
        let year = at.with_timezone(&beijing()).year() as i64;
        let out = transaction!(&self.db, |tx| {
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO batch_numbers (district_id, year, last) VALUES ($1, $2, 1)
                 ON CONFLICT (district_id, year) DO UPDATE SET last = batch_numbers.last + 1 RETURNING last",
            )
            .bind(district_id)
            .bind(year)
            .fetch_one(&mut *tx)
            .await?;
            let batch = sqlx::query_as::<_, OrderBatch>(
                "INSERT INTO order_batches (district_id, number, note, created_by, created_at) VALUES ($1, $2, $3, $4, $5)
                 RETURNING id, number, note, created_by, created_at",
            )
            .bind(district_id)
            .bind(format!("{year}-第{seq:03}批"))
            .bind(note)
            .bind(actor_id)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            let mut dispatched = Vec::with_capacity(steps.len());
            // The batch's statistics go in at once, in key order, so it locks
            // those rows in the same order as every other writer.
            let mut sums = crate::store::stats::Deltas::default();
            for step in steps {
                let update = CaseUpdate::of(step, at);
                match transition_in!(tx, algorithm, at, step, update, actor_id, actor, audit, Some(batch.id)) {
                    Ok((case, before)) => {
                        sums.add(crate::store::stats::step_delta(Some(&before), &case));
                        dispatched.push(case);
                    }
                    // Returning drops the transaction: everything above rolls back.
                    Err(conflict) => return Ok(Err(conflict)),
                }
            }
            let sums = sums.into_rows();
            crate::record_stats!(tx, district_id, sums);
            Ok((batch, dispatched))
        });
        Ok(out)
    }

    /// The ids of a district's cases, in order (tests and tools).
    pub async fn case_ids(&self, district_id: i64) -> StoreResult<Vec<i64>> {
        Ok(read!(&self.db, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT id FROM cases WHERE district_id = $1 ORDER BY id"
        )
        .bind(district_id)
        .fetch_all(pool)
        .await)?)
    }

    /// A district's cases after `after_id`, in id order (for rebuilds and recounts).
    pub async fn cases_after(&self, district_id: i64, after_id: i64, limit: i64) -> StoreResult<Vec<Case>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, Case>(sqlx::AssertSqlSafe(format!(
            "{CASE_COLUMNS} WHERE district_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        )))
        .bind(district_id)
        .bind(after_id)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// Counts of a district's cases by state (for tests and the home page).
    pub async fn case_state_counts(&self, district_id: i64) -> StoreResult<Vec<(String, i64)>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, (String, i64)>(
            "SELECT state, COUNT(*) FROM cases WHERE district_id = $1 GROUP BY state ORDER BY state"
        )
        .bind(district_id)
        .fetch_all(pool)
        .await)?)
    }
}

/// An attachment to record.
pub struct NewAttachment<'a> {
    /// before, after or other.
    pub kind: &'a str,
    /// Original name.
    pub file_name: &'a str,
    /// MIME type, from the content.
    pub content_type: &'a str,
    /// Bytes.
    pub size: i64,
    /// Where the file store keeps it.
    pub file_key: &'a str,
    /// SHA-256, hex.
    pub sha256: &'a str,
    /// Uploader.
    pub uploaded_by: Option<i64>,
    /// EXIF time.
    pub taken_at: Option<DateTime<Utc>>,
    /// EXIF position.
    pub position: Option<(f64, f64)>,
}

/// An attachment as stored.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Attachment {
    /// Id.
    pub id: i64,
    /// The case it belongs to, once used by a step.
    pub case_id: Option<i64>,
    /// before, after or other.
    pub kind: String,
    /// Original name.
    pub file_name: String,
    /// MIME type.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// Where the file store keeps it.
    #[serde(skip)]
    pub file_key: String,
    /// SHA-256.
    pub sha256: String,
    /// EXIF time.
    pub taken_at: Option<DateTime<Utc>>,
    /// EXIF position.
    pub lon: Option<f64>,
    /// EXIF position.
    pub lat: Option<f64>,
    /// Uploader.
    pub uploaded_by: Option<i64>,
    /// Uploaded.
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Records an uploaded file (not yet tied to a case step).
    pub async fn create_attachment(&self, district_id: i64, new: &NewAttachment<'_>) -> StoreResult<i64> {
        let at = now();
        let id = transaction!(&self.db, |tx| {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO attachments (district_id, kind, file_name, content_type, size, file_key, sha256, uploaded_by,
                 created_at, taken_at, lon, lat)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            )
            .bind(district_id)
            .bind(new.kind)
            .bind(new.file_name)
            .bind(new.content_type)
            .bind(new.size)
            .bind(new.file_key)
            .bind(new.sha256)
            .bind(new.uploaded_by)
            .bind(at)
            .bind(new.taken_at)
            .bind(new.position.map(|p| p.0))
            .bind(new.position.map(|p| p.1))
            .fetch_one(&mut *tx)
            .await?
        });
        Ok(id)
    }

    /// One attachment of a district.
    pub async fn attachment(&self, district_id: i64, id: i64) -> StoreResult<Option<Attachment>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, Attachment>(
            "SELECT id, case_id, kind, file_name, content_type, size, file_key, sha256, taken_at, lon, lat, uploaded_by, created_at
             FROM attachments WHERE district_id = $1 AND id = $2"
        )
        .bind(district_id)
        .bind(id)
        .fetch_optional(pool)
        .await
        })?)
    }

    /// The attachments of a case, in upload order.
    pub async fn case_attachments(&self, case_id: i64) -> StoreResult<Vec<Attachment>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, Attachment>(
            "SELECT id, case_id, kind, file_name, content_type, size, file_key, sha256, taken_at, lon, lat, uploaded_by, created_at
             FROM attachments WHERE case_id = $1 ORDER BY id"
        )
        .bind(case_id)
        .fetch_all(pool)
        .await
        })?)
    }

    /// How many attachments a district has (tests: nothing stored on refusal).
    pub async fn attachment_count(&self, district_id: i64) -> StoreResult<i64> {
        Ok(read!(&self.db, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM attachments WHERE district_id = $1"
        )
        .bind(district_id)
        .fetch_one(pool)
        .await)?)
    }
}

/// What a bulk-loaded case has been through, read from its steps.
struct BulkHistory {
    accepted_at: Option<DateTime<Utc>>,
    dispatches: i64,
    returns: i64,
    handlings: i64,
    handling_minutes: Option<i64>,
}

impl BulkHistory {
    fn of(c: &BulkCase, calendar: &crate::domain::calendar::WorkCalendar) -> BulkHistory {
        let count = |t: Transition| c.events.iter().filter(|e| e.0 == t.code()).count() as i64;
        let handling_minutes = match (c.state, c.dispatched_at, c.handled_at) {
            ("closed", Some(d), Some(h)) => {
                Some(calendar.elapsed_minutes(d, h, crate::domain::calendar::Clock::WorkingHours))
            }
            _ => None,
        };
        BulkHistory {
            accepted_at: c.events.iter().find(|e| e.0 == Transition::Accept.code()).map(|e| e.3),
            dispatches: count(Transition::Dispatch),
            returns: count(Transition::ApproveReturn),
            handlings: count(Transition::Handle),
            handling_minutes,
        }
    }
}

/// The kept counts of the home inbox recounted from the cases, as migration
/// 0017 first counted them: after a bulk load that suspended their trigger.
const RECOUNT_CASE_COUNTS: &str = "DELETE FROM case_counts;
INSERT INTO case_counts (district_id, street_id, community_id, unit_id, state, alert, cases)
SELECT district_id, COALESCE(street_id, 0), COALESCE(community_id, 0), COALESCE(unit_id, 0), state,
       case_alert(amber_at, overdue_at), COUNT(*)
  FROM cases
 GROUP BY 1, 2, 3, 4, 5, 6;";

/// What a bulk load suspends on SQLite, as `(name, the statement that
/// suspends it, the statement that brings it back)`: the non-unique
/// secondary indexes of the cases and their events.
const SUSPENDED_ON_SQLITE: &str = "SELECT name, 'DROP INDEX \"' || replace(name, '\"', '\"\"') || '\"', sql
  FROM sqlite_master
 WHERE type = 'index' AND tbl_name IN ('cases', 'case_events')
   AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'";

/// What a bulk load suspends on PostgreSQL, as on SQLite: the non-unique
/// indexes of the cases, their events and their words (an index built again
/// sorts in 512 MB, not the server's default 64 MB: ten million rows would
/// sort on disk); the foreign keys from those three tables, whose adding
/// back checks every row in one join; and the trigger keeping `case_counts`
/// (migration 0017), enabled again in the transaction that recounts them.
static SUSPENDED_ON_POSTGRES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT indexname, format('DROP INDEX %I', indexname),
                'SET LOCAL maintenance_work_mem = ''512MB''; ' || indexdef || ';'
           FROM pg_indexes
          WHERE schemaname = current_schema() AND tablename IN ('cases', 'case_events', 'case_words')
            AND indexdef NOT LIKE 'CREATE UNIQUE%'
         UNION ALL
         SELECT conname, format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
                format('ALTER TABLE %s ADD CONSTRAINT %I %s;', conrelid::regclass, conname, pg_get_constraintdef(oid))
           FROM pg_constraint
          WHERE contype = 'f' AND connamespace = current_schema()::regnamespace
            AND conrelid IN ('cases'::regclass, 'case_events'::regclass, 'case_words'::regclass)
         UNION ALL
         SELECT tgname, format('ALTER TABLE cases DISABLE TRIGGER %I', tgname),
                format('ALTER TABLE cases ENABLE TRIGGER %I; ', tgname) || '{}'
           FROM pg_trigger
          WHERE tgrelid = 'cases'::regclass AND tgname = 'case_counts_insert_delete' AND tgenabled <> 'D'",
        RECOUNT_CASE_COUNTS.replace('\'', "''")
    )
});

/// Rows per multi-row INSERT of the bulk loader (under SQLite's 32,766 parameters).
const BULK_ROWS: usize = 400;

/// How a bulk load writes its cases and their steps, by backend: SQLite
/// takes multi-row `INSERT … VALUES` of [`BULK_ROWS`] rows; PostgreSQL one
/// array a column, unnested (`INSERT … SELECT … FROM unnest(…)`). A
/// `VALUES` list costs PostgreSQL the set-up of every row's expressions and
/// a parameter for every value — the largest parts of a profile of its
/// server processes during a load that is otherwise spread thin
/// (PERFORMANCE.md); an array a column is one parameter and one
/// expression each.
trait BulkWrite {
    /// Writes the cases of a batch with their ids, numbers and histories.
    async fn insert_bulk_cases(
        &mut self,
        district_id: i64,
        category_version: &str,
        rows: &[BulkRow],
        history: &[BulkHistory],
    ) -> Result<(), sqlx::Error>;

    /// Writes the steps of a batch's cases, `(case id, step)`.
    async fn insert_bulk_events(&mut self, district_id: i64, events: &[(i64, &BulkEvent)]) -> Result<(), sqlx::Error>;
}

impl BulkCase {
    /// When it last changed: its last step, or its report.
    fn updated_at(&self) -> DateTime<Utc> {
        self.events.last().map(|e| e.3).unwrap_or(self.reported_at)
    }
}

/// A case of a bulk load: its id, its number and the case.
type BulkRow = (i64, String, BulkCase);

/// The columns a bulk load writes of a case, in the order of its values.
const BULK_CASE_COLUMNS: &str =
    "id, district_id, number, state, source, category_code, category_version, condition_index,
     campaign, limit_amount, limit_clock, description, address, lon, lat, grid_id, community_id, street_id,
     reporter_name, unit_id, deadline, rework_count, deferred_until, reported_at, dispatched_at, handled_at,
     closed_at, updated_at, clock_started_at, overdue_at, accepted_at, dispatch_count, return_count,
     handle_count, handling_minutes";

impl BulkWrite for sqlx::Transaction<'_, sqlx::Sqlite> {
    async fn insert_bulk_cases(
        &mut self,
        district_id: i64,
        category_version: &str,
        rows: &[BulkRow],
        history: &[BulkHistory],
    ) -> Result<(), sqlx::Error> {
        for (chunk, histories) in rows.chunks(BULK_ROWS).zip(history.chunks(BULK_ROWS)) {
            let mut q = QueryBuilder::new(format!("INSERT INTO cases ({BULK_CASE_COLUMNS}) "));
            q.push_values(chunk.iter().zip(histories), |mut row, ((id, number, c), h)| {
                row.push_bind(*id)
                    .push_bind(district_id)
                    .push_bind(number.clone())
                    .push_bind(c.state)
                    .push_bind(c.source)
                    .push_bind(c.category_code.clone())
                    .push_bind(category_version.to_string())
                    .push_bind(c.condition_index)
                    .push_bind(c.campaign.clone())
                    .push_bind(c.limit.amount as i64)
                    .push_bind(c.limit.clock.code())
                    .push_bind(c.description.clone())
                    .push_bind(String::new())
                    .push_bind(c.lon)
                    .push_bind(c.lat)
                    .push_bind(c.cell.0)
                    .push_bind(c.cell.1)
                    .push_bind(c.cell.2)
                    .push_bind(c.reporter_name.clone())
                    .push_bind(c.unit_id)
                    .push_bind(c.deadline)
                    .push_bind(c.rework_count)
                    .push_bind(c.deferred_until.clone())
                    .push_bind(c.reported_at)
                    .push_bind(c.dispatched_at)
                    .push_bind(c.handled_at)
                    .push_bind(c.closed_at)
                    .push_bind(c.updated_at())
                    .push_bind(c.clock_started_at)
                    .push_bind(c.overdue_at)
                    .push_bind(h.accepted_at)
                    .push_bind(h.dispatches)
                    .push_bind(h.returns)
                    .push_bind(h.handlings)
                    .push_bind(h.handling_minutes);
            });
            q.build().execute(&mut **self).await?;
        }
        Ok(())
    }

    async fn insert_bulk_events(&mut self, district_id: i64, events: &[(i64, &BulkEvent)]) -> Result<(), sqlx::Error> {
        for chunk in events.chunks(BULK_ROWS * 2) {
            let mut q = QueryBuilder::new(
                "INSERT INTO case_events (case_id, district_id, action, from_state, to_state, actor, note, at) ",
            );
            q.push_values(chunk, |mut row, (id, e)| {
                row.push_bind(*id)
                    .push_bind(district_id)
                    .push_bind(e.0)
                    .push_bind(e.1)
                    .push_bind(e.2)
                    .push_bind("演示数据")
                    .push_bind(e.4)
                    .push_bind(e.3);
            });
            q.build().execute(&mut **self).await?;
        }
        Ok(())
    }
}

impl BulkWrite for sqlx::Transaction<'_, sqlx::Postgres> {
    async fn insert_bulk_cases(
        &mut self,
        district_id: i64,
        category_version: &str,
        rows: &[BulkRow],
        history: &[BulkHistory],
    ) -> Result<(), sqlx::Error> {
        let column = |f: &dyn Fn(&BulkRow, &BulkHistory) -> Option<i64>| -> Vec<Option<i64>> {
            rows.iter().zip(history).map(|(r, h)| f(r, h)).collect()
        };
        let text = |f: &dyn Fn(&BulkCase) -> Option<String>| -> Vec<Option<String>> {
            rows.iter().map(|(_, _, c)| f(c)).collect()
        };
        let time = |f: &dyn Fn(&BulkCase, &BulkHistory) -> Option<DateTime<Utc>>| -> Vec<Option<DateTime<Utc>>> {
            rows.iter().zip(history).map(|((_, _, c), h)| f(c, h)).collect()
        };
        let real = |f: &dyn Fn(&BulkCase) -> f64| -> Vec<f64> { rows.iter().map(|(_, _, c)| f(c)).collect() };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO cases ({BULK_CASE_COLUMNS})
             SELECT id, $2, number, state, source, category_code, $3, condition_index, campaign, limit_amount,
                    limit_clock, description, '', lon, lat, grid_id, community_id, street_id, reporter_name, unit_id,
                    deadline, rework_count, deferred_until, reported_at, dispatched_at, handled_at, closed_at,
                    updated_at, clock_started_at, overdue_at, accepted_at, dispatch_count, return_count,
                    handle_count, handling_minutes
               FROM unnest($1::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[],
                           $10::bigint[], $11::text[], $12::text[], $13::float8[], $14::float8[], $15::bigint[],
                           $16::bigint[], $17::bigint[], $18::text[], $19::bigint[], $20::timestamptz[],
                           $21::bigint[], $22::text[], $23::timestamptz[], $24::timestamptz[], $25::timestamptz[],
                           $26::timestamptz[], $27::timestamptz[], $28::timestamptz[], $29::timestamptz[],
                           $30::timestamptz[], $31::bigint[], $32::bigint[], $33::bigint[], $34::bigint[])
                    AS c(id, number, state, source, category_code, condition_index, campaign, limit_amount,
                         limit_clock, description, lon, lat, grid_id, community_id, street_id, reporter_name,
                         unit_id, deadline, rework_count, deferred_until, reported_at, dispatched_at, handled_at,
                         closed_at, updated_at, clock_started_at, overdue_at, accepted_at, dispatch_count,
                         return_count, handle_count, handling_minutes)"
        )))
        .bind(column(&|(id, _, _), _| Some(*id)))
        .bind(district_id)
        .bind(category_version)
        .bind(rows.iter().map(|(_, number, _)| number.clone()).collect::<Vec<String>>())
        .bind(text(&|c| Some(c.state.to_string())))
        .bind(text(&|c| Some(c.source.to_string())))
        .bind(text(&|c| Some(c.category_code.clone())))
        .bind(column(&|(_, _, c), _| Some(c.condition_index)))
        .bind(text(&|c| Some(c.campaign.clone())))
        .bind(column(&|(_, _, c), _| Some(c.limit.amount as i64)))
        .bind(text(&|c| Some(c.limit.clock.code().to_string())))
        .bind(text(&|c| Some(c.description.clone())))
        .bind(real(&|c| c.lon))
        .bind(real(&|c| c.lat))
        .bind(column(&|(_, _, c), _| Some(c.cell.0)))
        .bind(column(&|(_, _, c), _| Some(c.cell.1)))
        .bind(column(&|(_, _, c), _| Some(c.cell.2)))
        .bind(text(&|c| Some(c.reporter_name.clone())))
        .bind(column(&|(_, _, c), _| c.unit_id))
        .bind(time(&|c, _| c.deadline))
        .bind(column(&|(_, _, c), _| Some(c.rework_count)))
        .bind(text(&|c| c.deferred_until.clone()))
        .bind(time(&|c, _| Some(c.reported_at)))
        .bind(time(&|c, _| c.dispatched_at))
        .bind(time(&|c, _| c.handled_at))
        .bind(time(&|c, _| c.closed_at))
        .bind(time(&|c, _| Some(c.updated_at())))
        .bind(time(&|c, _| c.clock_started_at))
        .bind(time(&|c, _| c.overdue_at))
        .bind(time(&|_, h| h.accepted_at))
        .bind(column(&|_, h| Some(h.dispatches)))
        .bind(column(&|_, h| Some(h.returns)))
        .bind(column(&|_, h| Some(h.handlings)))
        .bind(column(&|_, h| h.handling_minutes))
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    async fn insert_bulk_events(&mut self, district_id: i64, events: &[(i64, &BulkEvent)]) -> Result<(), sqlx::Error> {
        let text = |f: &dyn Fn(&BulkEvent) -> Option<&'static str>| -> Vec<Option<&'static str>> {
            events.iter().map(|(_, e)| f(e)).collect()
        };
        sqlx::query(
            "INSERT INTO case_events (case_id, district_id, action, from_state, to_state, actor, note, at)
             SELECT case_id, $2, action, from_state, to_state, '演示数据', note, at
               FROM unnest($1::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
                    AS e(case_id, action, from_state, to_state, note, at)",
        )
        .bind(events.iter().map(|(id, _)| *id).collect::<Vec<i64>>())
        .bind(district_id)
        .bind(text(&|e| Some(e.0)))
        .bind(text(&|e| e.1))
        .bind(text(&|e| Some(e.2)))
        .bind(text(&|e| Some(e.4)))
        .bind(events.iter().map(|(_, e)| e.3).collect::<Vec<DateTime<Utc>>>())
        .execute(&mut **self)
        .await?;
        Ok(())
    }
}

/// Writes the words of new cases for the keyword search (`domain::words`,
/// migration 0015) in the transaction that writes the cases: `$cases`
/// yields `(id, description)`, written `$rows` to a statement.
#[macro_export]
macro_rules! record_words {
    ($tx:ident, $cases:expr, $rows:expr) => {
        let words: Vec<(i64, String)> =
            $cases.into_iter().map(|(id, description)| (id, $crate::domain::words::case_words(description))).collect();
        for chunk in words.chunks($rows) {
            let mut q = sqlx::QueryBuilder::new($crate::store::cases::words_head(&$tx));
            q.push_values(chunk, |mut row, (id, words)| {
                row.push_bind(*id).push_bind(words.clone());
            });
            q.build().execute(&mut *$tx).await?;
        }
    };
}

/// `INSERT INTO case_words (…) ` for `record_words!`: the FTS5 table is
/// keyed by its rowid, PostgreSQL's by `case_id`.
pub fn words_head<DB: sqlx::Database>(_: &sqlx::Transaction<'_, DB>) -> &'static str {
    if DB::NAME == "SQLite" {
        "INSERT INTO case_words (rowid, words) "
    } else {
        "INSERT INTO case_words (case_id, words) "
    }
}

/// Cases ready for the bulk loader: each with what it has been through and,
/// for the whole batch, the sums they add to. Made by [`BulkBatch::prepare`]
/// away from the database, so a loader can prepare the next batch while the
/// last one is written.
pub struct BulkBatch {
    rows: Vec<(i64, String, BulkCase)>,
    history: Vec<BulkHistory>,
    sums: Vec<(crate::domain::stats::Key, crate::domain::stats::Tally)>,
}

impl BulkBatch {
    /// Reads each case's history from its steps and adds up its sums.
    pub fn prepare(rows: Vec<(i64, String, BulkCase)>, calendar: &crate::domain::calendar::WorkCalendar) -> BulkBatch {
        let history: Vec<BulkHistory> = rows.iter().map(|(_, _, c)| BulkHistory::of(c, calendar)).collect();
        let mut sums = crate::store::stats::Deltas::default();
        for ((_, _, c), h) in rows.iter().zip(&history) {
            let Some(state) = CaseState::from_code(c.state) else { continue };
            let facts = crate::domain::stats::CaseFacts {
                state,
                accepted: h.accepted_at.is_some(),
                dispatch_count: h.dispatches,
                return_count: h.returns,
                handle_count: h.handlings,
                rework_count: c.rework_count,
                unit_id: c.unit_id,
                deadline: c.deadline,
                handled_at: c.handled_at,
                overdue: c.overdue_at.is_some(),
                handling_minutes: h.handling_minutes,
                reported_at: c.reported_at,
                street_id: Some(c.cell.2),
                grid_id: Some(c.cell.0),
                point_id: None,
                category_code: &c.category_code,
                campaign: &c.campaign,
                source: c.source,
                reporter_id: None,
            };
            sums.add(crate::domain::stats::contributions(&facts));
        }
        let sums = sums.into_rows();
        BulkBatch { rows, history, sums }
    }

    /// Cases in the batch.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the batch has no case.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl Store {
    /// The next free case id (the bulk loader numbers its rows itself).
    pub async fn next_case_id(&self) -> StoreResult<i64> {
        let max: Option<i64> =
            read!(&self.db, |pool| sqlx::query_scalar("SELECT MAX(id) FROM cases").fetch_one(pool).await)?;
        Ok(max.unwrap_or(0) + 1)
    }

    /// Cases filed from id `first_id` on: how many, and in how many commits
    /// (the reports of one commit share their time).
    pub async fn reports_since(&self, district_id: i64, first_id: i64) -> StoreResult<(i64, i64)> {
        Ok(read!(&self.db, |pool| sqlx::query_as(
            "SELECT COUNT(*), COUNT(DISTINCT reported_at) FROM cases WHERE district_id = $1 AND id >= $2"
        )
        .bind(district_id)
        .bind(first_id)
        .fetch_one(pool)
        .await)?)
    }

    /// Writes a prepared batch of cases with their ids, numbers, events and
    /// the sums they add to, in one transaction.
    pub async fn bulk_insert_cases(
        &self,
        district_id: i64,
        category_version: &str,
        batch: &BulkBatch,
    ) -> StoreResult<()> {
        let BulkBatch { rows, history, sums } = batch;
        transaction!(&self.db, |tx| {
            tx.insert_bulk_cases(district_id, category_version, rows, history).await?;
            crate::record_words!(tx, rows.iter().map(|(id, _, c)| (*id, c.description.as_str())), BULK_ROWS);
            let events: Vec<(i64, &BulkEvent)> =
                rows.iter().flat_map(|(id, _, c)| c.events.iter().map(move |e| (*id, e))).collect();
            tx.insert_bulk_events(district_id, &events).await?;
            crate::record_stats!(tx, district_id, sums);
        });
        Ok(())
    }

    /// After a bulk load: the year counters continue from the highest number,
    /// and PostgreSQL's id sequences from the highest id.
    pub async fn finish_bulk_cases(&self, district_id: i64, last_numbers: &[(i64, i64)]) -> StoreResult<()> {
        transaction!(&self.db, |tx| {
            for (year, last) in last_numbers {
                sqlx::query(
                    "INSERT INTO case_numbers (district_id, year, last) VALUES ($1, $2, $3)
                     ON CONFLICT (district_id, year) DO UPDATE SET last = excluded.last",
                )
                .bind(district_id)
                .bind(year)
                .bind(last)
                .execute(&mut *tx)
                .await?;
            }
        });
        // Backend-specific: rows written with explicit ids leave PostgreSQL's
        // identity sequences behind; SQLite takes MAX(rowid) + 1 by itself.
        if let super::Db::Postgres(pool) = &self.db {
            for table in ["cases", "case_events"] {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))"
                )))
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Before a bulk load: suspends what every row of the cases, their
    /// events and their words would otherwise pay for, each written down in
    /// `suspended_indexes` with the statement that brings it back, in the
    /// same transaction; returns how many. Unique indexes and primary keys
    /// stay (they keep the rows right). Until [`Store::restore_suspended`] the
    /// list and the sheets read without their indexes: only a load no one is
    /// reading or writing meanwhile (the demo generator) should do this.
    ///
    /// On both backends the non-unique secondary indexes are dropped. On
    /// PostgreSQL also (a profile of its server process during a load of one
    /// million cases, `perf record -g -p …`: 64 % of its time went on the
    /// after-row triggers, 45 % the foreign-key checks and 12 % the counts'
    /// trigger; PostgreSQL's manual, "Populating a Database", advises
    /// the same):
    /// - the words' GIN index, which SQLite's FTS5 table does not have;
    /// - the foreign keys from these three tables, added again at the end,
    ///   which checks every row in one join;
    /// - the trigger keeping `case_counts` on insert and delete (migration 0017),
    ///   enabled again and the counts recounted from the cases at the end.
    pub async fn suspend_for_bulk_load(&self) -> StoreResult<usize> {
        let listed = match &self.db {
            super::Db::Sqlite { .. } => SUSPENDED_ON_SQLITE,
            super::Db::Postgres(_) => SUSPENDED_ON_POSTGRES.as_str(),
        };
        let n = transaction!(&self.db, |tx| {
            let suspended: Vec<(String, String, String)> = sqlx::query_as(listed).fetch_all(&mut *tx).await?;
            for (name, suspend, restore) in &suspended {
                sqlx::query("INSERT INTO suspended_indexes (name, body) VALUES ($1, $2)")
                    .bind(name)
                    .bind(restore)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(sqlx::AssertSqlSafe(suspend.clone())).execute(&mut *tx).await?;
            }
            suspended.len()
        });
        Ok(n)
    }

    /// Brings back everything [`Store::suspend_for_bulk_load`] suspended,
    /// one transaction each (so a long index build does not hold the
    /// others); returns how many this call brought back. Run after a bulk
    /// load, and at every start for a load that stopped midway. Each is
    /// claimed by deleting its row before its statement runs, so two
    /// processes restoring at once (a server starting while the generator
    /// finishes) build each index once. One that fails stays recorded, the
    /// rest are still brought back, and the first failure is returned.
    pub async fn restore_suspended(&self) -> StoreResult<usize> {
        let suspended: Vec<(String, String)> =
            read!(&self.db, |pool| sqlx::query_as("SELECT name, body FROM suspended_indexes ORDER BY name")
                .fetch_all(pool)
                .await)?;
        let (mut built, mut failed) = (0, None);
        for (name, body) in &suspended {
            // One that fails (a foreign key that rows written meanwhile
            // break, a full disk) stays recorded and the others still come
            // back; the first failure is returned once all were tried.
            let attempt: StoreResult<bool> = async {
                Ok(transaction!(&self.db, |tx| {
                    let claimed = sqlx::query("DELETE FROM suspended_indexes WHERE name = $1")
                        .bind(name)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 1;
                    if claimed {
                        sqlx::raw_sql(sqlx::AssertSqlSafe(body.clone())).execute(&mut *tx).await?;
                    }
                    claimed
                }))
            }
            .await;
            match attempt {
                Ok(claimed) => built += usize::from(claimed),
                Err(err) => {
                    tracing::error!(name, error = %err, "a suspended index, key or trigger could not be brought back");
                    failed.get_or_insert(err);
                }
            }
        }
        // Backend-specific: PostgreSQL plans by the statistics it gathered
        // and answers from an index alone only for pages it knows are all
        // visible; a server may run without autovacuum (this machine's does),
        // so after a bulk load both are brought up to date here. Without
        // them, at ten million cases, the case list's total took 342 ms and
        // a keyword's page 10.6 s. SQLite plans without statistics.
        if built > 0
            && let super::Db::Postgres(pool) = &self.db
        {
            // The indexes are built: a failure here leaves plans worse, not
            // data wrong, so it is told and the store opens.
            if let Err(err) = sqlx::query("VACUUM (ANALYZE) cases, case_events, case_words").execute(pool).await {
                tracing::warn!(error = %err, "VACUUM (ANALYZE) after the bulk load failed: run it by hand");
            }
        }
        match failed {
            Some(err) => Err(err),
            None => Ok(built),
        }
    }
}

/// A report merged into another case.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MergedReport {
    /// The merged case.
    pub id: i64,
    /// Its number.
    pub number: String,
    /// Who reported it.
    pub reporter_name: String,
    /// When.
    pub reported_at: DateTime<Utc>,
}

/// Another case, briefly: for duplicates and merges.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CaseBrief {
    /// Id.
    pub id: i64,
    /// Number.
    pub number: String,
    /// State code.
    pub state: String,
    /// Category.
    pub category_code: String,
    /// Description.
    pub description: String,
    /// Location.
    pub lon: Option<f64>,
    /// Location.
    pub lat: Option<f64>,
    /// Reported.
    pub reported_at: DateTime<Utc>,
}

impl Store {
    /// Open cases of a category reported since `since`, seen by the scope,
    /// whose location lies in the box around a point (the caller keeps those
    /// within its radius).
    #[allow(clippy::too_many_arguments)]
    pub async fn open_cases_near(
        &self,
        district_id: i64,
        scope: &Scope,
        reporter: Option<i64>,
        category: &str,
        bbox: (f64, f64, f64, f64),
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<CaseBrief>> {
        Ok(read!(&self.db, |pool| {
            let mut q = QueryBuilder::new(
                "SELECT id, number, state, category_code, description, lon, lat, reported_at FROM cases WHERE district_id = ",
            );
            q.push_bind(district_id);
            push_case_scope(&mut q, district_id, scope, reporter);
            q.push(" AND category_code = ").push_bind(category.to_string());
            q.push(" AND reported_at >= ").push_bind(since);
            q.push(" AND state IN ").push(OPEN_STATES.as_str());
            q.push(" AND lon BETWEEN ").push_bind(bbox.0).push(" AND ").push_bind(bbox.2);
            q.push(" AND lat BETWEEN ").push_bind(bbox.1).push(" AND ").push_bind(bbox.3);
            q.push(" ORDER BY reported_at DESC LIMIT 20");
            q.build_query_as::<CaseBrief>().fetch_all(pool).await
        })?)
    }

    /// One case, briefly, whatever the caller's scope (a reporter follows
    /// the case their report was merged into).
    pub async fn case_brief(&self, district_id: i64, id: i64) -> StoreResult<Option<CaseBrief>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, CaseBrief>(
            "SELECT id, number, state, category_code, description, lon, lat, reported_at FROM cases
             WHERE district_id = $1 AND id = $2"
        )
        .bind(district_id)
        .bind(id)
        .fetch_optional(pool)
        .await)?)
    }

    /// The reports merged into a case.
    pub async fn merged_reports(&self, case_id: i64) -> StoreResult<Vec<MergedReport>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, MergedReport>(
            "SELECT id, number, reporter_name, reported_at FROM cases WHERE duplicate_of = $1 ORDER BY id"
        )
        .bind(case_id)
        .fetch_all(pool)
        .await)?)
    }
}

/// How many cases a scope has in each pile of the home inbox.
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Inbox {
    /// 待受理.
    pub reported: i64,
    /// 待派遣.
    pub accepted: i64,
    /// 待签收.
    pub dispatched: i64,
    /// 待处置.
    pub in_progress: i64,
    /// 申请回退、延期、挂账.
    pub requests: i64,
    /// 待核查.
    pub handled: i64,
    /// 即将超期.
    pub amber: i64,
    /// 已超期.
    pub overdue: i64,
    /// My own open reports.
    pub mine: i64,
}

/// The piles, summed: `count` is what one row adds (`1` for a case,
/// `cases` for a row of kept counts); `amber` and `overdue` are its alert tests.
fn pile_sums(count: &str, amber: &str, overdue: &str) -> String {
    let running = RUNNING_STATES.as_str();
    // CAST: PostgreSQL sums a BIGINT column as NUMERIC.
    let pile = |test: &str| format!("CAST(COALESCE(SUM(CASE WHEN {test} THEN {count} ELSE 0 END), 0) AS BIGINT)");
    [
        format!("{} AS reported", pile("state = 'reported'")),
        format!("{} AS accepted", pile("state = 'accepted'")),
        format!("{} AS dispatched", pile("state = 'dispatched'")),
        format!("{} AS in_progress", pile("state = 'in_progress'")),
        format!("{} AS requests", pile("state IN ('return_requested', 'extension_requested', 'deferral_requested')")),
        format!("{} AS handled", pile("state = 'handled'")),
        format!("{} AS amber", pile(&format!("state IN {running} AND {amber}"))),
        format!("{} AS overdue", pile(&format!("state IN {running} AND {overdue}"))),
    ]
    .join(", ")
}

/// A scope's territory over columns where 0 stands for none (`case_counts`),
/// or, `outside`, everything else.
fn push_territory<'a, DB: sqlx::Database>(q: &mut QueryBuilder<DB>, district_id: i64, pattern: &str, outside: bool)
where
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push(if outside { " AND NOT (" } else { " AND (" });
    for (i, column) in ["street_id", "community_id", "unit_id"].iter().enumerate() {
        if i > 0 {
            q.push(" OR ");
        }
        q.push(format_args!("COALESCE({column}, 0) IN (SELECT id FROM units WHERE district_id = "));
        q.push_bind(district_id).push(" AND path LIKE ").push_bind(pattern.to_string()).push(")");
    }
    q.push(")");
}

impl Inbox {
    fn add(&mut self, other: &Inbox) {
        self.reported += other.reported;
        self.accepted += other.accepted;
        self.dispatched += other.dispatched;
        self.in_progress += other.in_progress;
        self.requests += other.requests;
        self.handled += other.handled;
        self.amber += other.amber;
        self.overdue += other.overdue;
        self.mine += other.mine;
    }
}

impl Store {
    /// The home inbox of a scope, from the kept counts (migration 0017): the
    /// piles of its territory, then the caller's own open reports — the
    /// `mine` pile, and those outside the territory added to their piles,
    /// as the case list shows them (`push_case_scope`).
    pub async fn inbox(&self, district_id: i64, scope: &Scope, reporter: Option<i64>) -> StoreResult<Inbox> {
        let kept = format!(
            "SELECT {}, CAST(0 AS BIGINT) AS mine FROM case_counts",
            pile_sums("cases", "alert = 'amber'", "alert = 'overdue'")
        );
        let mut inbox = read!(&self.db, |pool| {
            let mut q = QueryBuilder::new(kept.clone());
            q.push(" WHERE district_id = ").push_bind(district_id);
            q.push(" AND state IN ").push(OPEN_STATES.as_str());
            if let Some(pattern) = scope.path_pattern() {
                push_territory(&mut q, district_id, &pattern, false);
            }
            q.build_query_as::<Inbox>().fetch_one(pool).await
        })?;
        let Some(reporter) = reporter else { return Ok(inbox) };
        let own = format!(
            "SELECT {}, COUNT(*) AS mine FROM cases",
            pile_sums("1", "amber_at IS NOT NULL AND overdue_at IS NULL", "overdue_at IS NOT NULL")
        );
        let pattern = scope.path_pattern();
        let mut outside = read!(&self.db, |pool| {
            let mut q = QueryBuilder::new(own.clone());
            q.push(" WHERE district_id = ").push_bind(district_id);
            q.push(" AND reporter_id = ").push_bind(reporter);
            q.push(" AND state IN ").push(OPEN_STATES.as_str());
            q.build_query_as::<Inbox>().fetch_one(pool).await
        })?;
        inbox.mine = outside.mine;
        if let Some(pattern) = pattern {
            outside = read!(&self.db, |pool| {
                let mut q = QueryBuilder::new(own.clone());
                q.push(" WHERE district_id = ").push_bind(district_id);
                q.push(" AND reporter_id = ").push_bind(reporter);
                q.push(" AND state IN ").push(OPEN_STATES.as_str());
                push_territory(&mut q, district_id, &pattern, true);
                q.build_query_as::<Inbox>().fetch_one(pool).await
            })?;
            outside.mine = 0;
            inbox.add(&outside);
        }
        Ok(inbox)
    }

    /// The same inbox counted from the cases, one pass over the scope's open
    /// cases: what the kept counts are checked against (tests, `bench`).
    pub async fn recount_inbox(&self, district_id: i64, scope: &Scope, reporter: Option<i64>) -> StoreResult<Inbox> {
        let sql = format!(
            "SELECT {}, COALESCE(SUM(CASE WHEN reporter_id = ",
            pile_sums("1", "amber_at IS NOT NULL AND overdue_at IS NULL", "overdue_at IS NOT NULL")
        );
        Ok(read!(&self.db, |pool| {
            let mut q = QueryBuilder::new(sql.clone());
            q.push_bind(reporter);
            q.push(" THEN 1 ELSE 0 END), 0) AS mine FROM cases WHERE district_id = ");
            q.push_bind(district_id);
            q.push(" AND state IN ").push(OPEN_STATES.as_str());
            push_case_scope(&mut q, district_id, scope, reporter);
            q.build_query_as::<Inbox>().fetch_one(pool).await
        })?)
    }
}
