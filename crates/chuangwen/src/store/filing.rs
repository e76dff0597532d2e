//! Filing reports with shared commits (group commit).
//!
//! A report is acknowledged only once its case, first event, audit entry and
//! statistics are committed to disk (SQLite `synchronous = FULL`, PostgreSQL
//! `synchronous_commit = on`). A commit costs one flush of the log, and on
//! SQLite there is one writer; filing every report in its own transaction
//! would cap intake at the disk's flush rate. So every report goes through
//! one queue: a single task takes the reports waiting, files them all in one
//! transaction and answers each only after that commit. Under load many
//! reports share one commit; a lone report is committed at once — no timer
//! waits for company.
//!
//! A batch that fails as a whole (an idempotency key racing its own retry, a
//! photo already used) is filed again one report per transaction, so a bad
//! report fails alone and the others are still filed.

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;

use chrono::{DateTime, Datelike, Utc};
use futures::FutureExt;
use sqlx::QueryBuilder;
use tokio::sync::{mpsc, oneshot};

use super::cases::{Case, NewCase, case_fields};
use super::stats::{self, Deltas, STATS_ROWS};
use super::{Db, StoreError, StoreResult, audit, now};
use crate::auth::audit::{HashAlgorithm, NewAuditEntry};
use crate::domain::calendar::beijing;
use crate::domain::words;

/// The most reports one transaction files.
pub const BATCH_REPORTS: usize = 128;

/// Reports waiting for the filing task before callers wait to queue.
const QUEUE_DEPTH: usize = 4096;

/// Writes the stored answer of an idempotent request from the filed case:
/// `(status, body)`, kept with the key in the same transaction.
pub type Respond = Box<dyn Fn(&Case) -> (i64, String) + Send + Sync>;

/// One report to file.
pub struct Report {
    /// The district it is filed in.
    pub district_id: i64,
    /// The case, checked and placed.
    pub case: NewCase,
    /// The audit entry (its object and detail are filled in with the number).
    pub audit: NewAuditEntry,
    /// Photos uploaded by the reporter, tied to the case's first event.
    pub photos: Vec<i64>,
    /// `(key, actor, request hash)` of an `Idempotency-Key`.
    pub idempotency: Option<(String, String, String)>,
    /// The answer to keep with the idempotency key.
    pub respond: Respond,
}

/// A filed report: the case and the answer made for it.
pub type Filed = (Case, i64, String);

type Waiting = (HashAlgorithm, Report, oneshot::Sender<StoreResult<Filed>>);

/// The queue in front of the filing task.
#[derive(Clone, Debug)]
pub struct FilingQueue {
    sender: mpsc::Sender<Waiting>,
    /// The connection the task files on (closed with the store).
    db: Db,
}

impl FilingQueue {
    /// Starts the filing task on `db` (it ends when every clone is dropped),
    /// on a thread of its own with a runtime of its own, so that between
    /// its statements, woken by sqlx's SQLite worker, it does not wait
    /// behind the requests' tasks. Measured (`chuangwen bench reports`,
    /// PERFORMANCE.md): at 20,000 cases +9 % over HTTP, within the
    /// machine's noise; at ten million the p99 under 50 ms in three runs of
    /// three. On PostgreSQL its connection's socket may still be watched by
    /// the runtime that made the pool; not measured there.
    pub fn start(db: Db) -> FilingQueue {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let task_db = db.clone();
        std::thread::Builder::new()
            .name("chuangwen-filing".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the filing task's runtime starts");
                runtime.block_on(run(task_db, receiver));
            })
            .expect("the filing task's thread starts");
        FilingQueue { sender, db }
    }

    /// Closes the task's own connection (PostgreSQL: its pool of one).
    pub async fn close(&self) {
        if let Db::Postgres(pool) = &self.db {
            pool.close().await;
        }
    }

    /// Files one report; answers after the commit that holds it.
    pub async fn file(&self, algorithm: HashAlgorithm, report: Report) -> StoreResult<Filed> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Database(sqlx::Error::PoolClosed);
        self.sender.send((algorithm, report, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(db: Db, mut receiver: mpsc::Receiver<Waiting>) {
    let mut waiting = Vec::with_capacity(BATCH_REPORTS);
    while receiver.recv_many(&mut waiting, BATCH_REPORTS).await > 0 {
        let (reports, replies): (Vec<_>, Vec<_>) =
            waiting.drain(..).map(|(algorithm, report, reply)| ((algorithm, report), reply)).unzip();
        // A panic while filing (a broken `respond`, say) comes before the
        // commit: the batch is rolled back, its callers are told, the task goes on.
        let outcome = AssertUnwindSafe(file_reports(&db, &reports)).catch_unwind().await;
        match outcome {
            Ok(Ok(filed)) => {
                metrics::histogram!("chuangwen_reports_per_commit").record(filed.len() as f64);
                for (reply, filed) in replies.into_iter().zip(filed) {
                    let _ = reply.send(Ok(filed));
                }
            }
            Ok(Err(err)) if reports.len() > 1 && caused_by_one_report(&err) => {
                tracing::debug!(%err, reports = reports.len(), "a shared commit failed: filing its reports one by one");
                for (report, reply) in reports.into_iter().zip(replies) {
                    let answer =
                        AssertUnwindSafe(file_reports(&db, std::slice::from_ref(&report))).catch_unwind().await;
                    let answer = answer.unwrap_or_else(|_| {
                        tracing::error!("filing a report panicked: it was not filed");
                        Err(panicked())
                    });
                    let _ = reply.send(answer.map(|mut filed| filed.pop().expect("one report, one case")));
                }
            }
            // A lone report's own failure; or the database itself failed
            // (unreachable, timed out, the commit interrupted — it may even
            // have been applied): filing again could file twice, so every
            // caller hears of it.
            Ok(Err(err)) => {
                if !caused_by_one_report(&err) {
                    tracing::error!(%err, reports = reports.len(), "reports could not be filed");
                }
                let message = err.to_string();
                let mut first = Some(err);
                for reply in replies {
                    let err = first.take().unwrap_or_else(|| {
                        StoreError::Database(sqlx::Error::Io(std::io::Error::other(message.clone())))
                    });
                    let _ = reply.send(Err(err));
                }
            }
            Err(_) => {
                tracing::error!(reports = reports.len(), "filing reports panicked: none of them was filed");
                for reply in replies {
                    let _ = reply.send(Err(panicked()));
                }
            }
        }
    }
}

/// What a caller hears when filing its report panicked (before the commit:
/// it was not filed).
fn panicked() -> StoreError {
    StoreError::Database(sqlx::Error::Io(std::io::Error::other("filing reports panicked")))
}

/// Whether a failed batch failed for one of its reports (a key or a photo
/// already taken, a row gone), so that the others may be filed without it.
fn caused_by_one_report(err: &StoreError) -> bool {
    matches!(err, StoreError::Duplicate(_) | StoreError::NotFound)
}

/// Rows per multi-row statement: 500 (22 values a case, well under SQLite's
/// limit of 32,766 bound values and PostgreSQL's 65,535). Under sqlx 0.9.0
/// PostgreSQL got 16: that release left Nagle's algorithm on for TCP (its
/// issue #4335), so a message larger than the socket's first send buffer
/// waited 40 ms for the server's delayed ACK. 0.9.1 turns it off.
const ROWS_PER_STATEMENT: usize = 500;

/// Files `reports` in one transaction, all or none: per district a run of
/// numbers from its counter for the year; the cases, their words, their
/// `report` events and the idempotent answers each written by one
/// multi-row statement; the photos tied; the audit entries chained in
/// order; the statistics merged and written once.
pub async fn file_reports(db: &Db, reports: &[(HashAlgorithm, Report)]) -> StoreResult<Vec<Filed>> {
    let at = now();
    let year = at.with_timezone(&beijing()).year() as i64;
    let mut per_district: BTreeMap<i64, i64> = BTreeMap::new();
    for (_, report) in reports {
        *per_district.entry(report.district_id).or_default() += 1;
    }
    match db {
        Db::Sqlite { writer, .. } => file_on_sqlite(writer, reports, at, year, &per_district).await,
        Db::Postgres(pg) => file_on_postgres(pg, reports, at, year, &per_district).await,
    }
}

/// The filing statements on SQLite, sent to sqlx's worker thread in three
/// calls of several statements each (and for a report with photos, one for
/// its event and one per photo), besides `BEGIN` and `COMMIT`: every call is a hand-off from the filing
/// thread to the worker and back, and with the requests' threads busy on
/// the same two cores each hand-off waited for a core (a `perf` profile of
/// `chuangwen bench reports`: the writer off the processor 46 % of the
/// HTTP run, a fifth of its samples switching tasks; PERFORMANCE.md).
/// SQLite runs the statements of one call in order, each bound to its own
/// parameters. Cases are found again by `(district_id, number)`, the
/// unique index `cases_number`, to write their words and events in the
/// same call that inserts them. The last two calls' text changes with the
/// batch, so they are not kept prepared (they would push the writer's
/// other statements out of its cache).
async fn file_on_sqlite(
    writer: &sqlx::SqlitePool,
    reports: &[(HashAlgorithm, Report)],
    at: DateTime<Utc>,
    year: i64,
    per_district: &BTreeMap<i64, i64>,
) -> StoreResult<Vec<Filed>> {
    use sqlx::Row;
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    // The numbers, each district's counter moved once, and the audit
    // chain's head moved once for every report.
    let mut q = QueryBuilder::<sqlx::Sqlite>::new("");
    for (&district_id, &count) in per_district {
        q.push("INSERT INTO case_numbers (district_id, year, last) VALUES (").push_bind(district_id);
        q.push(", ").push_bind(year).push(", ").push_bind(count);
        q.push(") ON CONFLICT (district_id, year) DO UPDATE SET last = case_numbers.last + excluded.last RETURNING last;\n");
    }
    q.push("UPDATE audit_head SET seq = seq + ").push_bind(reports.len() as i64);
    q.push(" WHERE id = 1 RETURNING seq, last_hash");
    let rows = q.build().fetch_all(&mut *tx).await?;
    let (counters, head) = rows.split_at(per_district.len().min(rows.len()));
    let [head] = head else { return Err(StoreError::NotFound) };
    let mut next = BTreeMap::new();
    for ((&district_id, &count), row) in per_district.iter().zip(counters) {
        next.insert(district_id, row.try_get::<i64, _>(0)? - count + 1);
    }
    let (audit_seq, audit_prev): (i64, String) = (head.try_get(0)?, head.try_get(1)?);
    let numbers = number_reports(reports, year, next);

    // The cases, their words and the events of those without photos, one
    // call a chunk.
    let mut inserted: HashMap<(i64, String), Case> = HashMap::with_capacity(reports.len());
    for (chunk, numbers) in reports.chunks(ROWS_PER_STATEMENT).zip(numbers.chunks(ROWS_PER_STATEMENT)) {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(CASE_INSERT);
        push_case_rows(&mut q, chunk, numbers, at);
        q.push(concat!(" RETURNING ", case_fields!(), ";\n"));
        q.push("INSERT INTO case_words (rowid, words) SELECT cases.id, v.column3 FROM (VALUES ");
        let mut rows = q.separated(", ");
        for ((_, report), number) in chunk.iter().zip(numbers) {
            rows.push("(").push_bind_unseparated(report.district_id);
            rows.push_unseparated(", ").push_bind_unseparated(number.clone());
            rows.push_unseparated(", ").push_bind_unseparated(words::case_words(&report.case.description));
            rows.push_unseparated(")");
        }
        q.push(") AS v JOIN cases ON cases.district_id = v.column1 AND cases.number = v.column2");
        let plain: Vec<_> = chunk.iter().zip(numbers).filter(|((_, r), _)| r.photos.is_empty()).collect();
        if !plain.is_empty() {
            q.push(";\nINSERT INTO case_events (case_id, district_id, action, from_state, to_state, actor_id, actor, note, detail, at)
                 SELECT cases.id, cases.district_id, 'report', NULL, 'reported', cases.reporter_id, cases.reporter_name,
                        cases.description, '', cases.reported_at
                 FROM (VALUES ");
            let mut rows = q.separated(", ");
            for ((_, report), number) in plain {
                rows.push("(").push_bind_unseparated(report.district_id);
                rows.push_unseparated(", ").push_bind_unseparated(number.clone()).push_unseparated(")");
            }
            q.push(") AS v JOIN cases ON cases.district_id = v.column1 AND cases.number = v.column2");
        }
        for case in q.build_query_as::<Case>().persistent(false).fetch_all(&mut *tx).await? {
            inserted.insert((case.district_id, case.number.clone()), case);
        }
    }
    let cases = in_report_order(reports, &numbers, inserted);
    for ((_, report), case) in reports.iter().zip(&cases) {
        if !report.photos.is_empty() {
            first_event_with_photos!(tx, report, case, at);
        }
    }

    // The answers, the audit entries, the head's new hash and the sums.
    let (filed, keys) = answers(reports, cases);
    let (entries, deltas) = entries_and_sums(reports, &filed);
    let (chained, last_hash) = audit::chain(&entries, audit_seq - entries.len() as i64, audit_prev);
    let mut q = QueryBuilder::<sqlx::Sqlite>::new("");
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        push_keys(&mut q, chunk, at);
        q.push(";\n");
    }
    for chunk in chained.chunks(audit::AUDIT_ROWS) {
        q.push(audit::AUDIT_INSERT);
        audit::push_audit_rows(&mut q, chunk);
        q.push(";\n");
    }
    q.push("UPDATE audit_head SET last_hash = ").push_bind(last_hash).push(" WHERE id = 1");
    for (district_id, deltas) in deltas {
        for rows in deltas.into_rows().chunks(STATS_ROWS) {
            q.push(";\n");
            stats::push_upsert(&mut q, district_id, rows);
        }
    }
    q.build().persistent(false).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(filed)
}

/// The filing statements on PostgreSQL, one after another (each a round
/// trip to the server, which runs no more than one statement a message
/// with parameters).
async fn file_on_postgres(
    pg: &sqlx::PgPool,
    reports: &[(HashAlgorithm, Report)],
    at: DateTime<Utc>,
    year: i64,
    per_district: &BTreeMap<i64, i64>,
) -> StoreResult<Vec<Filed>> {
    let mut tx = pg.begin().await?;
    // The numbers: each district's counter moves once per batch.
    let mut next: BTreeMap<i64, i64> = BTreeMap::new();
    for (&district_id, &count) in per_district {
        let last: i64 = sqlx::query_scalar(
            "INSERT INTO case_numbers (district_id, year, last) VALUES ($1, $2, $3)
             ON CONFLICT (district_id, year) DO UPDATE SET last = case_numbers.last + $3 RETURNING last",
        )
        .bind(district_id)
        .bind(year)
        .bind(count)
        .fetch_one(&mut *tx)
        .await?;
        next.insert(district_id, last - count + 1);
    }
    let numbers = number_reports(reports, year, next);

    // The cases. RETURNING promises no order: each row is found again by its number.
    let mut inserted: HashMap<(i64, String), Case> = HashMap::with_capacity(reports.len());
    for (chunk, numbers) in reports.chunks(ROWS_PER_STATEMENT).zip(numbers.chunks(ROWS_PER_STATEMENT)) {
        let mut q = QueryBuilder::<sqlx::Postgres>::new(CASE_INSERT);
        push_case_rows(&mut q, chunk, numbers, at);
        q.push(concat!(" RETURNING ", case_fields!()));
        for case in q.build_query_as::<Case>().fetch_all(&mut *tx).await? {
            inserted.insert((case.district_id, case.number.clone()), case);
        }
    }
    let cases = in_report_order(reports, &numbers, inserted);
    crate::record_words!(tx, cases.iter().map(|c| (c.id, c.description.as_str())), ROWS_PER_STATEMENT);

    // Their first events: a report with photos ties them to its event.
    let mut plain = Vec::with_capacity(reports.len());
    for ((_, report), case) in reports.iter().zip(&cases) {
        if report.photos.is_empty() {
            plain.push(case);
        } else {
            first_event_with_photos!(tx, report, case, at);
        }
    }
    for chunk in plain.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::new(
            "INSERT INTO case_events (case_id, district_id, action, from_state, to_state, actor_id, actor, note, detail, at) ",
        );
        q.push_values(chunk, |mut row, case| {
            row.push_bind(case.id)
                .push_bind(case.district_id)
                .push_bind("report")
                .push_bind(None::<String>)
                .push_bind("reported")
                .push_bind(case.reporter_id)
                .push_bind(case.reporter_name.clone())
                .push_bind(case.description.clone())
                .push_bind("")
                .push_bind(at);
        });
        q.build().execute(&mut *tx).await?;
    }

    // The answers, kept with their idempotency keys.
    let (filed, keys) = answers(reports, cases);
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::new("");
        push_keys(&mut q, chunk, at);
        q.build().execute(&mut *tx).await?;
    }

    // The audit entries, chained in the order of the reports; the sums, merged.
    let (entries, deltas) = entries_and_sums(reports, &filed);
    crate::append_audit_entries!(tx, &entries);
    for (district_id, deltas) in deltas {
        for rows in deltas.into_rows().chunks(ROWS_PER_STATEMENT * 2) {
            crate::record_stats!(tx, district_id, rows);
        }
    }
    tx.commit().await?;
    Ok(filed)
}

/// `INSERT INTO cases (…) ` for [`push_case_rows`].
const CASE_INSERT: &str = "INSERT INTO cases (district_id, number, state, source, category_code, category_version,
    condition_index, campaign, limit_amount, limit_clock, description, address, lon, lat, grid_id, community_id,
    street_id, point_id, reporter_id, reporter_name, reported_at, updated_at) ";

/// The `VALUES` of new cases, after [`CASE_INSERT`].
fn push_case_rows<'a, DB: sqlx::Database>(
    q: &mut QueryBuilder<DB>,
    reports: &[(HashAlgorithm, Report)],
    numbers: &[String],
    at: DateTime<Utc>,
) where
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<f64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push_values(reports.iter().zip(numbers), |mut row, ((_, report), number)| {
        let new = &report.case;
        row.push_bind(report.district_id)
            .push_bind(number.clone())
            .push_bind("reported".to_string())
            .push_bind(new.source.clone())
            .push_bind(new.category_code.clone())
            .push_bind(new.category_version.clone())
            .push_bind(new.condition_index)
            .push_bind(new.campaign.clone())
            .push_bind(new.limit_amount)
            .push_bind(new.limit_clock.clone())
            .push_bind(new.description.clone())
            .push_bind(new.address.clone())
            .push_bind(new.location.map(|l| l.0))
            .push_bind(new.location.map(|l| l.1))
            .push_bind(new.place.map(|p| p.0))
            .push_bind(new.place.map(|p| p.1))
            .push_bind(new.place.map(|p| p.2))
            .push_bind(new.point_id)
            .push_bind(new.reporter_id)
            .push_bind(new.reporter_name.clone())
            .push_bind(at)
            .push_bind(at);
    });
}

/// The reports' numbers, `2026-000123`, from each district's next number.
fn number_reports(reports: &[(HashAlgorithm, Report)], year: i64, mut next: BTreeMap<i64, i64>) -> Vec<String> {
    reports
        .iter()
        .map(|(_, r)| {
            let seq = next.get_mut(&r.district_id).expect("every district counted");
            *seq += 1;
            format!("{year}-{:06}", *seq - 1)
        })
        .collect()
}

/// The inserted cases in the order of the reports. RETURNING promises no
/// order: each is found by its district and number.
fn in_report_order(
    reports: &[(HashAlgorithm, Report)],
    numbers: &[String],
    mut inserted: HashMap<(i64, String), Case>,
) -> Vec<Case> {
    reports
        .iter()
        .zip(numbers)
        .map(|((_, r), number)| inserted.remove(&(r.district_id, number.clone())).expect("every case returned"))
        .collect()
}

/// The answers made for the filed cases, and the idempotency keys to keep
/// with theirs: `(district, key, actor, request hash, status, body)`.
fn answers(reports: &[(HashAlgorithm, Report)], cases: Vec<Case>) -> (Vec<Filed>, Vec<Key<'_>>) {
    let mut filed = Vec::with_capacity(reports.len());
    let mut keys = Vec::new();
    for ((_, report), case) in reports.iter().zip(cases) {
        let (status, body) = (report.respond)(&case);
        if let Some((key, actor, request_hash)) = &report.idempotency {
            keys.push((case.district_id, key, actor, request_hash, status, body.clone()));
        }
        filed.push((case, status, body));
    }
    (filed, keys)
}

/// An idempotency key to keep: `(district, key, actor, request hash, status, body)`.
type Key<'r> = (i64, &'r String, &'r String, &'r String, i64, String);

/// One `INSERT INTO idempotency_keys` of `keys`, pushed onto `q`.
fn push_keys<'a, DB: sqlx::Database>(q: &mut QueryBuilder<DB>, keys: &[Key<'_>], at: DateTime<Utc>)
where
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push("INSERT INTO idempotency_keys (district_id, key, actor, request_hash, status, response, created_at) ");
    q.push_values(keys, |mut row, (district_id, key, actor, request_hash, status, body)| {
        row.push_bind(*district_id)
            .push_bind(key.to_string())
            .push_bind(actor.to_string())
            .push_bind(request_hash.to_string())
            .push_bind(*status)
            .push_bind(body.clone())
            .push_bind(at);
    });
}

/// The audit entries of the filed reports, in their order, and the sums
/// they add to, merged per district.
fn entries_and_sums(
    reports: &[(HashAlgorithm, Report)],
    filed: &[Filed],
) -> (Vec<(HashAlgorithm, NewAuditEntry)>, BTreeMap<i64, Deltas>) {
    let mut entries = Vec::with_capacity(reports.len());
    let mut deltas: BTreeMap<i64, Deltas> = BTreeMap::new();
    for ((algorithm, report), (case, _, _)) in reports.iter().zip(filed) {
        entries.push((
            *algorithm,
            NewAuditEntry {
                object: format!("case:{}", case.id),
                detail: format!("{{\"number\":\"{}\"}}", case.number),
                ..report.audit.clone()
            },
        ));
        deltas.entry(case.district_id).or_default().add(stats::step_delta(None, case));
    }
    (entries, deltas)
}

/// The first event of a report with photos, inside the open transaction
/// `$tx`, and the photos tied to it (a photo already tied fails the batch).
macro_rules! first_event_with_photos {
    ($tx:ident, $report:expr, $case:expr, $at:expr) => {{
        let (report, case): (&Report, &Case) = ($report, $case);
        let event_id: i64 = sqlx::query_scalar(
            "INSERT INTO case_events (case_id, district_id, action, from_state, to_state, actor_id, actor, note, detail, at)
             VALUES ($1, $2, 'report', NULL, 'reported', $3, $4, $5, '', $6) RETURNING id",
        )
        .bind(case.id)
        .bind(case.district_id)
        .bind(case.reporter_id)
        .bind(&case.reporter_name)
        .bind(&case.description)
        .bind($at)
        .fetch_one(&mut *$tx)
        .await?;
        super::cases::link_attachments!($tx, case.district_id, case.id, event_id, &report.photos, report.case.reporter_id);
    }};
}
use first_event_with_photos;
