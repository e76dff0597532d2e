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

use chrono::Datelike;
use futures::FutureExt;
use sqlx::QueryBuilder;
use tokio::sync::{mpsc, oneshot};

use super::cases::{Case, NewCase, case_fields};
use super::stats::Deltas;
use super::{Db, StoreError, StoreResult, now};
use crate::auth::audit::{HashAlgorithm, NewAuditEntry};
use crate::domain::calendar::beijing;
use crate::transaction;

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
/// numbers from its counter for the year; the cases, their `report` events
/// and the idempotent answers each written by one multi-row statement; the
/// photos tied; the audit entries chained in order; the statistics merged
/// and written once.
pub async fn file_reports(db: &Db, reports: &[(HashAlgorithm, Report)]) -> StoreResult<Vec<Filed>> {
    let at = now();
    let year = at.with_timezone(&beijing()).year() as i64;
    let per_statement = ROWS_PER_STATEMENT;
    let mut per_district: BTreeMap<i64, i64> = BTreeMap::new();
    for (_, report) in reports {
        *per_district.entry(report.district_id).or_default() += 1;
    }
    Ok(transaction!(db, |tx| {
        // The numbers: each district's counter moves once per batch.
        let mut next: BTreeMap<i64, i64> = BTreeMap::new();
        for (&district_id, &count) in &per_district {
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
        let numbers: Vec<String> = reports
            .iter()
            .map(|(_, r)| {
                let seq = next.get_mut(&r.district_id).expect("counted above");
                *seq += 1;
                format!("{year}-{:06}", *seq - 1)
            })
            .collect();

        // The cases. RETURNING promises no order: each row is found again by its number.
        let mut inserted: HashMap<(i64, String), Case> = HashMap::with_capacity(reports.len());
        for (chunk, numbers) in reports.chunks(per_statement).zip(numbers.chunks(per_statement)) {
            let mut q = QueryBuilder::new(
                "INSERT INTO cases (district_id, number, state, source, category_code, category_version, condition_index,
                 campaign, limit_amount, limit_clock, description, address, lon, lat, grid_id, community_id, street_id,
                 point_id, reporter_id, reporter_name, reported_at, updated_at) ",
            );
            q.push_values(chunk.iter().zip(numbers), |mut row, ((_, report), number)| {
                let new = &report.case;
                row.push_bind(report.district_id)
                    .push_bind(number.clone())
                    .push_bind("reported")
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
            q.push(concat!(" RETURNING ", case_fields!()));
            for case in q.build_query_as::<Case>().fetch_all(&mut *tx).await? {
                inserted.insert((case.district_id, case.number.clone()), case);
            }
        }
        let cases: Vec<Case> = reports
            .iter()
            .zip(&numbers)
            .map(|((_, r), number)| inserted.remove(&(r.district_id, number.clone())).expect("every case returned"))
            .collect();

        crate::record_words!(tx, cases.iter().map(|c| (c.id, c.description.as_str())), per_statement);

        // Their first events: a report with photos ties them to its event.
        let mut plain = Vec::with_capacity(reports.len());
        for ((_, report), case) in reports.iter().zip(&cases) {
            if report.photos.is_empty() {
                plain.push(case);
                continue;
            }
            let event_id: i64 = sqlx::query_scalar(
                "INSERT INTO case_events (case_id, district_id, action, from_state, to_state, actor_id, actor, note, detail, at)
                 VALUES ($1, $2, 'report', NULL, 'reported', $3, $4, $5, '', $6) RETURNING id",
            )
            .bind(case.id)
            .bind(case.district_id)
            .bind(case.reporter_id)
            .bind(&case.reporter_name)
            .bind(&case.description)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            super::cases::link_attachments!(
                tx,
                case.district_id,
                case.id,
                event_id,
                &report.photos,
                report.case.reporter_id
            );
        }
        for chunk in plain.chunks(per_statement) {
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
        let mut filed = Vec::with_capacity(reports.len());
        let mut keys = Vec::new();
        for ((_, report), case) in reports.iter().zip(cases) {
            let (status, body) = (report.respond)(&case);
            if let Some((key, actor, request_hash)) = &report.idempotency {
                keys.push((case.district_id, key, actor, request_hash, status, body.clone()));
            }
            filed.push((case, status, body));
        }
        for chunk in keys.chunks(per_statement) {
            let mut q = QueryBuilder::new(
                "INSERT INTO idempotency_keys (district_id, key, actor, request_hash, status, response, created_at) ",
            );
            q.push_values(chunk, |mut row, (district_id, key, actor, request_hash, status, body)| {
                row.push_bind(*district_id)
                    .push_bind(key.to_string())
                    .push_bind(actor.to_string())
                    .push_bind(request_hash.to_string())
                    .push_bind(*status)
                    .push_bind(body.clone())
                    .push_bind(at);
            });
            q.build().execute(&mut *tx).await?;
        }

        // The audit entries, chained in the order of the reports; the sums, merged.
        let mut entries = Vec::with_capacity(reports.len());
        let mut deltas: BTreeMap<i64, Deltas> = BTreeMap::new();
        for ((algorithm, report), (case, _, _)) in reports.iter().zip(&filed) {
            entries.push((
                *algorithm,
                NewAuditEntry {
                    object: format!("case:{}", case.id),
                    detail: format!("{{\"number\":\"{}\"}}", case.number),
                    ..report.audit.clone()
                },
            ));
            deltas.entry(case.district_id).or_default().add(super::stats::step_delta(None, case));
        }
        crate::append_audit_entries!(tx, &entries);
        for (district_id, deltas) in deltas {
            for rows in deltas.into_rows().chunks(per_statement * 2) {
                crate::record_stats!(tx, district_id, rows);
            }
        }
        filed
    }))
}
