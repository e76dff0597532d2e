//! The job queue: background work claimed through the database, so any
//! number of app nodes can run it without doing a job twice.

use chrono::{DateTime, Utc};

use super::{Db, Store, StoreResult, now};
use crate::transaction;

/// A claimed job.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClaimedJob {
    /// Row id.
    pub id: i64,
    /// Which job (see `jobs::JobKind`).
    pub kind: String,
    /// JSON payload.
    pub payload: String,
    /// How many times it has been claimed, this time included.
    pub attempts: i64,
}

impl Store {
    /// Queues a job to run at `run_at`.
    pub async fn enqueue_job(&self, kind: &str, payload: &str, run_at: DateTime<Utc>) -> StoreResult<i64> {
        let at = now();
        let id = transaction!(&self.db, |tx| {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO jobs (kind, payload, state, run_at, created_at) VALUES ($1, $2, 'queued', $3, $4) RETURNING id",
            )
            .bind(kind)
            .bind(payload)
            .bind(run_at)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?
        });
        Ok(id)
    }

    /// Claims the next due job for `worker`, if any.
    pub async fn claim_job(&self, worker: &str) -> StoreResult<Option<ClaimedJob>> {
        let at = now();
        // Backend-specific: PostgreSQL skips rows other nodes hold locked;
        // SQLite's BEGIN IMMEDIATE already serialises claimers.
        let job = match &self.db {
            Db::Postgres(_) => transaction!(&self.db, |tx| {
                sqlx::query_as::<_, ClaimedJob>(
                    "UPDATE jobs SET state = 'running', claimed_by = $1, claimed_at = $2, attempts = attempts + 1
                     WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= $2
                                 ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING id, kind, payload, attempts",
                )
                .bind(worker)
                .bind(at)
                .fetch_optional(&mut *tx)
                .await?
            }),
            Db::Sqlite { .. } => transaction!(&self.db, |tx| {
                sqlx::query_as::<_, ClaimedJob>(
                    "UPDATE jobs SET state = 'running', claimed_by = $1, claimed_at = $2, attempts = attempts + 1
                     WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= $2
                                 ORDER BY run_at, id LIMIT 1)
                     RETURNING id, kind, payload, attempts",
                )
                .bind(worker)
                .bind(at)
                .fetch_optional(&mut *tx)
                .await?
            }),
        };
        Ok(job)
    }

    /// Marks a job done.
    pub async fn finish_job(&self, id: i64) -> StoreResult<()> {
        let at = now();
        transaction!(&self.db, |tx| {
            sqlx::query("UPDATE jobs SET state = 'done', finished_at = $1, claimed_by = NULL WHERE id = $2")
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Records a failure: the job runs again at `retry_at`, or is given up
    /// (`failed`) when `retry_at` is `None`.
    pub async fn fail_job(&self, id: i64, error: &str, retry_at: Option<DateTime<Utc>>) -> StoreResult<()> {
        let at = now();
        transaction!(&self.db, |tx| {
            match retry_at {
                Some(retry_at) => {
                    sqlx::query(
                        "UPDATE jobs SET state = 'queued', run_at = $1, last_error = $2, claimed_by = NULL WHERE id = $3",
                    )
                    .bind(retry_at)
                    .bind(error)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query(
                        "UPDATE jobs SET state = 'failed', finished_at = $1, last_error = $2, claimed_by = NULL WHERE id = $3",
                    )
                    .bind(at)
                    .bind(error)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        });
        Ok(())
    }

    /// Puts back every job `worker` holds (on shutdown), so another node
    /// takes it up; returns how many.
    pub async fn release_jobs(&self, worker: &str) -> StoreResult<u64> {
        let n = transaction!(&self.db, |tx| {
            sqlx::query(
                "UPDATE jobs SET state = 'queued', claimed_by = NULL, claimed_at = NULL
                 WHERE state = 'running' AND claimed_by = $1",
            )
            .bind(worker)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        });
        Ok(n)
    }

    /// Puts back jobs whose node died holding them (claimed before `before`).
    pub async fn requeue_stale_jobs(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let n = transaction!(&self.db, |tx| {
            sqlx::query(
                "UPDATE jobs SET state = 'queued', claimed_by = NULL, claimed_at = NULL
                 WHERE state = 'running' AND claimed_at < $1",
            )
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        });
        Ok(n)
    }

    /// Counts of jobs by state (for `/metrics` and tests).
    pub async fn job_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(crate::read!(&self.db, |pool| sqlx::query_as::<_, (String, i64)>(
            "SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state"
        )
        .fetch_all(pool)
        .await)?)
    }
}
