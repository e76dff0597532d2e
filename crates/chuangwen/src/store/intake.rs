//! Bulk intake's data (批量导入): batches with their file, mapping and
//! report; the mapping each source used last; writing a batch's cases in one
//! transaction and taking a whole batch back out (see `crate::intake`).

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

use super::cases::{CASE_COLUMNS, Case, OPEN_STATES};
use super::{Store, StoreResult, now};
use crate::auth::audit::NewAuditEntry;
use crate::domain::calendar::beijing;
use crate::intake::check::{Finding, OpenCase, PointRef};
use crate::{append_audit, read, transaction};

/// A batch: one file handed over by one source.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct IntakeBatch {
    /// Row id.
    pub id: i64,
    /// District.
    pub district_id: i64,
    /// Source code: `third_party`, `hotline`.
    pub source: String,
    /// The uploaded file's name.
    pub file_name: String,
    /// Where the file is kept.
    pub file_key: String,
    /// `xlsx` or `csv`.
    pub format: String,
    /// JSON of [`crate::intake::check::Mapping`].
    pub mapping: String,
    /// Bad rows are left out and the rest filed.
    pub skip_bad_rows: bool,
    /// Findings near an open case are filed anyway.
    pub import_duplicates: bool,
    /// `mapping`, `queued`, `running`, `refused`, `done`, `failed`, `undone`.
    pub state: String,
    /// Rows read.
    pub total_rows: i64,
    /// Rows checked so far.
    pub done_rows: i64,
    /// Cases filed.
    pub imported: i64,
    /// JSON of [`crate::intake::IntakeReport`].
    pub report: Option<String>,
    /// Who uploaded it.
    pub created_by: Option<i64>,
    /// Their name, as shown.
    pub created_by_name: String,
    /// Uploaded.
    pub created_at: DateTime<Utc>,
    /// Finished (done, refused or failed).
    pub finished_at: Option<DateTime<Utc>>,
    /// Who undid it.
    pub undone_by_name: Option<String>,
    /// When.
    pub undone_at: Option<DateTime<Utc>>,
}

const BATCH_COLUMNS: &str = "SELECT id, district_id, source, file_name, file_key, format, mapping, skip_bad_rows,
    import_duplicates, state, total_rows, done_rows, imported, report, created_by, created_by_name, created_at,
    finished_at, undone_by_name, undone_at FROM intake_batches";

/// A batch to record, before its mapping is confirmed.
#[derive(Clone, Debug)]
pub struct NewIntakeBatch<'a> {
    /// Source code.
    pub source: &'a str,
    /// File name.
    pub file_name: &'a str,
    /// Where the file is kept.
    pub file_key: &'a str,
    /// `xlsx` or `csv`.
    pub format: &'a str,
    /// The proposed mapping, JSON.
    pub mapping: &'a str,
    /// Uploader.
    pub created_by: Option<i64>,
    /// Uploader's name.
    pub created_by_name: &'a str,
}

/// The job that runs a batch: which batch, who set it running (for the
/// audit entry it writes) and the duplicate rules of the deployment.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct IntakeJob {
    /// The batch.
    pub batch_id: i64,
    /// User id of who set it running.
    pub actor_id: Option<i64>,
    /// Their username.
    pub actor: String,
    /// Their address.
    pub ip: String,
    /// Open cases of the same category this near are duplicates (`duplicate_radius_m`).
    pub duplicate_radius_m: f64,
    /// … when reported within these days (`duplicate_days`).
    pub duplicate_days: u32,
}

/// Why a batch cannot be undone.
#[derive(Debug, thiserror::Error)]
pub enum UndoRefusal {
    /// Not a finished batch.
    #[error("只有已完成的导入可以撤销")]
    NotDone,
    /// Already undone.
    #[error("本批次已撤销")]
    Undone,
    /// The batch filed no case.
    #[error("本批次没有立案，无需撤销")]
    NothingFiled,
    /// Older than the window.
    #[error("导入已超过 24 小时，不能撤销")]
    TooLate,
    /// Some case has been handled since.
    #[error("批次中已有 {0} 件案卷开始办理（受理、派遣、合并或补充说明），不能整批撤销")]
    MovedOn(i64),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] super::StoreError),
}

impl From<sqlx::Error> for UndoRefusal {
    fn from(err: sqlx::Error) -> Self {
        UndoRefusal::Store(err.into())
    }
}

/// How long after its import a batch may be undone.
pub const UNDO_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// Rows per multi-row INSERT of a batch's cases: 24 values a row, well under
/// SQLite's 32,766 bound parameters.
const INTAKE_ROWS: usize = 500;

impl Store {
    /// Records an uploaded file waiting for its column mapping.
    pub async fn create_intake_batch(&self, district_id: i64, new: &NewIntakeBatch<'_>) -> StoreResult<i64> {
        let at = now();
        Ok(transaction!(&self.db, |tx| {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO intake_batches (district_id, source, file_name, file_key, format, mapping, state,
                 created_by, created_by_name, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'mapping', $7, $8, $9)
                 RETURNING id",
            )
            .bind(district_id)
            .bind(new.source)
            .bind(new.file_name)
            .bind(new.file_key)
            .bind(new.format)
            .bind(new.mapping)
            .bind(new.created_by)
            .bind(new.created_by_name)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?
        }))
    }

    /// One batch, if it belongs to the district.
    pub async fn intake_batch(&self, district_id: i64, id: i64) -> StoreResult<Option<IntakeBatch>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, IntakeBatch>(sqlx::AssertSqlSafe(format!(
                "{BATCH_COLUMNS} WHERE district_id = $1 AND id = $2"
            )))
            .bind(district_id)
            .bind(id)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// The district's batches, newest first, `limit` of them.
    pub async fn intake_batches(&self, district_id: i64, limit: i64) -> StoreResult<Vec<IntakeBatch>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, IntakeBatch>(sqlx::AssertSqlSafe(format!(
                "{BATCH_COLUMNS} WHERE district_id = $1 ORDER BY id DESC LIMIT $2"
            )))
            .bind(district_id)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Sets a batch waiting for its mapping (or refused, or failed) running with this
    /// mapping and these choices, and queues its job, in one transaction.
    /// False when the batch was in no state to run (already queued, done…).
    pub async fn queue_intake_batch(
        &self,
        district_id: i64,
        mapping: &str,
        skip_bad_rows: bool,
        import_duplicates: bool,
        job: &IntakeJob,
    ) -> StoreResult<bool> {
        let (at, payload) = (now(), serde_json::to_string(job).expect("a job serialises"));
        Ok(transaction!(&self.db, |tx| {
            let changed = sqlx::query(
                "UPDATE intake_batches SET state = 'queued', mapping = $1, skip_bad_rows = $2, import_duplicates = $3,
                 done_rows = 0, report = NULL, finished_at = NULL
                 WHERE district_id = $4 AND id = $5 AND state IN ('mapping', 'refused', 'failed')",
            )
            .bind(mapping)
            .bind(skip_bad_rows)
            .bind(import_duplicates)
            .bind(district_id)
            .bind(job.batch_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 1 {
                sqlx::query("INSERT INTO jobs (kind, payload, state, run_at, created_at) VALUES ('intake', $1, 'queued', $2, $2)")
                    .bind(&payload)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            changed == 1
        }))
    }

    /// One batch by id alone (for the job that runs it).
    pub async fn intake_batch_by_id(&self, id: i64) -> StoreResult<IntakeBatch> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, IntakeBatch>(sqlx::AssertSqlSafe(format!("{BATCH_COLUMNS} WHERE id = $1")))
                .bind(id)
                .fetch_one(pool)
                .await
        })?)
    }

    /// Records how far a batch has come.
    pub async fn set_intake_progress(&self, id: i64, done: i64, total: i64) -> StoreResult<()> {
        transaction!(&self.db, |tx| {
            sqlx::query(
                "UPDATE intake_batches SET state = 'running', done_rows = $1, total_rows = $2
                 WHERE id = $3 AND state IN ('queued', 'running')",
            )
            .bind(done)
            .bind(total)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    /// Records a batch's end (`refused` or `failed`) when it filed nothing;
    /// only a batch still queued or running (a stale retry changes nothing).
    pub async fn finish_intake_batch(&self, id: i64, state: &str, total: i64, report: &str) -> StoreResult<()> {
        let at = now();
        transaction!(&self.db, |tx| {
            sqlx::query(
                "UPDATE intake_batches SET state = $1, total_rows = $2, done_rows = $2, imported = 0, report = $3,
                 finished_at = $4 WHERE id = $5 AND state IN ('queued', 'running')",
            )
            .bind(state)
            .bind(total)
            .bind(report)
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    /// The mapping a source used last, JSON.
    pub async fn intake_mapping(&self, district_id: i64, source: &str) -> StoreResult<Option<String>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_scalar("SELECT mapping FROM intake_mappings WHERE district_id = $1 AND source = $2")
                .bind(district_id)
                .bind(source)
                .fetch_optional(pool)
                .await
        })?)
    }

    /// Keeps the mapping a source used, for its next file.
    pub async fn save_intake_mapping(&self, district_id: i64, source: &str, mapping: &str) -> StoreResult<()> {
        let at = now();
        transaction!(&self.db, |tx| {
            sqlx::query(
                "INSERT INTO intake_mappings (district_id, source, mapping, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (district_id, source) DO UPDATE SET mapping = excluded.mapping, updated_at = excluded.updated_at",
            )
            .bind(district_id)
            .bind(source)
            .bind(mapping)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    /// Every point of the district, by code and name, for checking findings.
    pub async fn point_refs(&self, district_id: i64) -> StoreResult<Vec<PointRef>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, PointRef>("SELECT id, code, name, lon, lat FROM points WHERE district_id = $1")
                .bind(district_id)
                .fetch_all(pool)
                .await
        })?)
    }

    /// Cases a source already filed under these numbers: number → (id, case number).
    pub async fn imported_refs(
        &self,
        district_id: i64,
        source: &str,
        refs: &[&str],
    ) -> StoreResult<HashMap<String, (i64, String)>> {
        let mut found = HashMap::new();
        for chunk in refs.chunks(500) {
            let rows: Vec<(String, i64, String)> = read!(&self.db, |pool| {
                let mut q = QueryBuilder::new("SELECT external_ref, id, number FROM cases WHERE district_id = ");
                q.push_bind(district_id).push(" AND source = ").push_bind(source.to_string());
                q.push(" AND external_ref IN (");
                let mut list = q.separated(", ");
                for r in chunk {
                    list.push_bind(r.to_string());
                }
                q.push(")");
                q.build_query_as().fetch_all(pool).await
            })?;
            found.extend(rows.into_iter().map(|(r, id, number)| (r, (id, number))));
        }
        Ok(found)
    }

    /// Open cases with a location reported since `since` (duplicate candidates).
    pub async fn open_cases_since(&self, district_id: i64, since: DateTime<Utc>) -> StoreResult<Vec<OpenCase>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, OpenCase>(sqlx::AssertSqlSafe(format!(
                "SELECT id, number, category_code, lon, lat FROM cases
                 WHERE district_id = $1 AND reported_at >= $2 AND state IN {} AND lon IS NOT NULL AND lat IS NOT NULL",
                OPEN_STATES.as_str()
            )))
            .bind(district_id)
            .bind(since)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Files a batch's findings as reported cases — numbers from the
    /// district's counter, a `report` event each, their sums, one audit entry
    /// — and marks the batch done with its report, in one transaction.
    /// `report` writes the batch's report once the case numbers are known.
    /// Returns the first and last case numbers.
    pub async fn file_intake_batch(
        &self,
        district_id: i64,
        batch_id: i64,
        findings: &[&Finding],
        total_rows: i64,
        report: impl Fn(Option<&(String, String)>) -> String,
        audit: &NewAuditEntry,
    ) -> StoreResult<Option<(String, String)>> {
        let (algorithm, at) = (self.audit_hash, now());
        let year = at.with_timezone(&beijing()).year() as i64;
        let n = findings.len() as i64;
        Ok(transaction!(&self.db, |tx| {
            let mut numbers = None;
            if n > 0 {
                let last: i64 = sqlx::query_scalar(
                    "INSERT INTO case_numbers (district_id, year, last) VALUES ($1, $2, $3)
                     ON CONFLICT (district_id, year) DO UPDATE SET last = case_numbers.last + $3 RETURNING last",
                )
                .bind(district_id)
                .bind(year)
                .bind(n)
                .fetch_one(&mut *tx)
                .await?;
                let first = last - n + 1;
                for (k, chunk) in findings.chunks(INTAKE_ROWS).enumerate() {
                    let mut q = QueryBuilder::new(
                        "INSERT INTO cases (district_id, number, state, source, category_code, category_version,
                         condition_index, campaign, limit_amount, limit_clock, description, address, lon, lat, grid_id,
                         community_id, street_id, point_id, reporter_name, reported_at, updated_at, intake_batch_id,
                         external_ref, found_at) ",
                    );
                    q.push_values(chunk.iter().enumerate(), |mut row, (i, f)| {
                        let seq = first + (k * INTAKE_ROWS + i) as i64;
                        let c = &f.case;
                        row.push_bind(district_id)
                            .push_bind(format!("{year}-{seq:06}"))
                            .push_bind("reported")
                            .push_bind(c.source.clone())
                            .push_bind(c.category_code.clone())
                            .push_bind(c.category_version.clone())
                            .push_bind(c.condition_index)
                            .push_bind(c.campaign.clone())
                            .push_bind(c.limit_amount)
                            .push_bind(c.limit_clock.clone())
                            .push_bind(c.description.clone())
                            .push_bind(c.address.clone())
                            .push_bind(c.location.map(|l| l.0))
                            .push_bind(c.location.map(|l| l.1))
                            .push_bind(c.place.map(|p| p.0))
                            .push_bind(c.place.map(|p| p.1))
                            .push_bind(c.place.map(|p| p.2))
                            .push_bind(c.point_id)
                            .push_bind(c.reporter_name.clone())
                            .push_bind(at)
                            .push_bind(at)
                            .push_bind(batch_id)
                            .push_bind(f.external_ref.clone())
                            .push_bind(f.found_at);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                sqlx::query(
                    "INSERT INTO case_events (case_id, district_id, action, from_state, to_state, actor_id, actor, note, detail, at)
                     SELECT id, district_id, 'report', NULL, 'reported', NULL, reporter_name, description, '', reported_at
                     FROM cases WHERE intake_batch_id = $1",
                )
                .bind(batch_id)
                .execute(&mut *tx)
                .await?;
                let cases = sqlx::query_as::<_, Case>(sqlx::AssertSqlSafe(format!(
                    "{CASE_COLUMNS} WHERE intake_batch_id = $1"
                )))
                .bind(batch_id)
                .fetch_all(&mut *tx)
                .await?;
                crate::record_words!(tx, cases.iter().map(|c| (c.id, c.description.as_str())), INTAKE_ROWS);
                let mut deltas = super::stats::Deltas::default();
                for case in &cases {
                    deltas.add(super::stats::step_delta(None, case));
                }
                let deltas = deltas.into_rows();
                crate::record_stats!(tx, district_id, deltas);
                numbers = Some((format!("{year}-{first:06}"), format!("{year}-{last:06}")));
            }
            let entry = NewAuditEntry {
                object: format!("intake:{batch_id}"),
                detail: serde_json::json!({ "cases": n, "numbers": numbers }).to_string(),
                ..audit.clone()
            };
            append_audit!(tx, algorithm, &entry);
            let finished = sqlx::query(
                "UPDATE intake_batches SET state = 'done', total_rows = $1, done_rows = $1, imported = $2, report = $3,
                 finished_at = $4 WHERE id = $5 AND state IN ('queued', 'running')",
            )
            .bind(total_rows)
            .bind(n)
            .bind(report(numbers.as_ref()))
            .bind(at)
            .bind(batch_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if finished != 1 {
                // Another run finished it first: this one's cases go with the rollback.
                return Err(super::StoreError::NotFound);
            }
            numbers
        }))
    }

    /// Takes a whole batch back out: its cases, their events and their sums,
    /// in one transaction — only within [`UNDO_WINDOW`] of the import and
    /// while every case is still as filed (reported, with no step or note
    /// since, and no report merged into it). Returns the cases removed.
    pub async fn undo_intake_batch(
        &self,
        district_id: i64,
        batch_id: i64,
        by_name: &str,
        audit: &NewAuditEntry,
    ) -> Result<i64, UndoRefusal> {
        let (algorithm, at) = (self.audit_hash, now());
        let Some(batch) = self.intake_batch(district_id, batch_id).await? else { return Err(UndoRefusal::NotDone) };
        if let Some(refusal) = crate::intake::undo_refusal(&batch, at) {
            return Err(refusal);
        }
        let postgres = matches!(self.db, super::Db::Postgres(_));
        let removed = transaction!(&self.db, |tx| {
            // Claims the batch first: a second undo waits here, then finds it undone.
            let claimed = sqlx::query(
                "UPDATE intake_batches SET state = 'undone', undone_by_name = $1, undone_at = $2
                 WHERE id = $3 AND district_id = $4 AND state = 'done'",
            )
            .bind(by_name)
            .bind(at)
            .bind(batch_id)
            .bind(district_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed != 1 {
                return Err(UndoRefusal::Undone);
            }
            if postgres {
                // Backend-specific: PostgreSQL lets another transaction add a step or a note
                // (an event referencing the case) between this check and the delete; the row
                // locks make it wait and then fail, so nothing it was told is kept is lost.
                // SQLite's BEGIN IMMEDIATE already keeps every other writer out.
                sqlx::query("SELECT id FROM cases WHERE intake_batch_id = $1 FOR UPDATE")
                    .bind(batch_id)
                    .fetch_all(&mut *tx)
                    .await?;
            }
            let moved: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM cases c WHERE c.intake_batch_id = $1 AND (c.state <> 'reported'
                   OR EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.action <> 'report')
                   OR EXISTS (SELECT 1 FROM cases m WHERE m.duplicate_of = c.id))",
            )
            .bind(batch_id)
            .fetch_one(&mut *tx)
            .await?;
            if moved > 0 {
                return Err(UndoRefusal::MovedOn(moved));
            }
            let cases =
                sqlx::query_as::<_, Case>(sqlx::AssertSqlSafe(format!("{CASE_COLUMNS} WHERE intake_batch_id = $1")))
                    .bind(batch_id)
                    .fetch_all(&mut *tx)
                    .await?;
            let mut deltas = super::stats::Deltas::default();
            for case in &cases {
                deltas.add(super::stats::step_delta(None, case).into_iter().map(|(k, t)| (k, -t)));
            }
            let deltas = deltas.into_rows();
            crate::record_stats!(tx, district_id, deltas);
            sqlx::query("DELETE FROM case_events WHERE case_id IN (SELECT id FROM cases WHERE intake_batch_id = $1)")
                .bind(batch_id)
                .execute(&mut *tx)
                .await?;
            // Only cases still as filed go: a step taken meanwhile makes the count differ and rolls all back.
            let deleted = sqlx::query("DELETE FROM cases WHERE intake_batch_id = $1 AND state = 'reported'")
                .bind(batch_id)
                .execute(&mut *tx)
                .await?
                .rows_affected() as i64;
            if deleted != cases.len() as i64 {
                return Err(UndoRefusal::MovedOn(cases.len() as i64 - deleted));
            }
            let entry = NewAuditEntry {
                object: format!("intake:{batch_id}"),
                detail: serde_json::json!({ "undone": true, "cases": deleted }).to_string(),
                ..audit.clone()
            };
            append_audit!(tx, algorithm, &entry);
            deleted
        });
        Ok(removed)
    }
}
