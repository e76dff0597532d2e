//! Supervision output: the office's assessment settings, reports delivered to
//! units' in-app inboxes, the cases a daily sheet lists, and webhooks with
//! their delivery log.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

use super::cases::{CASE_COLUMNS, Case, RUNNING_STATES};
use super::{Store, StoreResult, now};
use crate::auth::audit::NewAuditEntry;
use crate::{append_audit, read, transaction};

/// A delivered report, as listed.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ReportRow {
    /// Row id.
    pub id: i64,
    /// daily_sheet, weekly or bulletin.
    pub kind: String,
    /// The unit it is for (none: the whole district).
    pub unit_id: Option<i64>,
    /// The day it is for.
    pub day: String,
    /// Title.
    pub title: String,
    /// Made (or last changed).
    pub created_at: DateTime<Utc>,
    /// Opened by the unit.
    pub read_at: Option<DateTime<Utc>>,
}

/// A webhook, without its secret.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Webhook {
    /// Row id.
    pub id: i64,
    /// District.
    pub district_id: i64,
    /// Name.
    pub name: String,
    /// Where to POST.
    pub url: String,
    /// Report kinds it receives, comma-separated.
    pub events: String,
    /// Delivering.
    pub active: bool,
    /// Made.
    pub created_at: DateTime<Utc>,
}

/// A webhook and its sealed secret, as one row.
#[derive(sqlx::FromRow)]
struct SealedWebhook {
    #[sqlx(flatten)]
    hook: Webhook,
    secret: String,
}

/// One delivery and how it went.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Delivery {
    /// Row id.
    pub id: i64,
    /// The webhook.
    pub webhook_id: i64,
    /// District.
    pub district_id: i64,
    /// The event (report kind).
    pub event: String,
    /// The JSON sent.
    pub payload: String,
    /// pending, delivered or failed.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// The receiver's last HTTP status.
    pub last_status: Option<i64>,
    /// The last error, in words.
    pub last_error: String,
    /// The job that carries it.
    pub job_id: Option<i64>,
    /// Queued.
    pub created_at: DateTime<Utc>,
    /// Last tried.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Stores a report — one per kind, unit and day: made again, it is
    /// changed in place (same id, unread again) — and, when it is new or says
    /// something new, queues a delivery to every active webhook that takes its
    /// kind, in the same transaction: nothing lands in an inbox and is lost to
    /// a webhook, and nothing is sent twice. Returns the report's id.
    #[allow(clippy::too_many_arguments)]
    pub async fn deliver_report(
        &self,
        district_id: i64,
        kind: &str,
        unit_id: Option<i64>,
        day: &str,
        title: &str,
        body: &str,
        webhook_payload: impl Fn(i64) -> String,
    ) -> StoreResult<i64> {
        let at = now();
        let id = transaction!(&self.db, |tx| {
            let existing: Option<(i64, String)> = sqlx::query_as(
                "SELECT id, body FROM reports WHERE district_id = $1 AND kind = $2 AND COALESCE(unit_id, 0) = $3 AND day = $4",
            )
            .bind(district_id)
            .bind(kind)
            .bind(unit_id.unwrap_or(0))
            .bind(day)
            .fetch_optional(&mut *tx)
            .await?;
            let (id, changed) = match existing {
                // Unchanged: already delivered as it is.
                Some((id, old)) if old == body => (id, false),
                Some((id, _)) => {
                    sqlx::query(
                        "UPDATE reports SET title = $1, body = $2, created_at = $3, read_at = NULL WHERE id = $4",
                    )
                    .bind(title)
                    .bind(body)
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    (id, true)
                }
                None => (
                    sqlx::query_scalar::<_, i64>(
                        "INSERT INTO reports (district_id, kind, unit_id, day, title, body, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    )
                    .bind(district_id)
                    .bind(kind)
                    .bind(unit_id)
                    .bind(day)
                    .bind(title)
                    .bind(body)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await?,
                    true,
                ),
            };
            if changed {
                let payload = webhook_payload(id);
                let hooks: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT id, events FROM webhooks WHERE district_id = $1 AND active = TRUE ORDER BY id",
                )
                .bind(district_id)
                .fetch_all(&mut *tx)
                .await?;
                for (hook, _) in hooks.iter().filter(|(_, events)| events.split(',').any(|e| e.trim() == kind)) {
                    let job: i64 = sqlx::query_scalar(
                        "INSERT INTO jobs (kind, payload, state, attempts, run_at, created_at)
                             VALUES ('webhook_delivery', '', 'queued', 0, $1, $1) RETURNING id",
                    )
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await?;
                    let delivery: i64 = sqlx::query_scalar(
                            "INSERT INTO webhook_deliveries (webhook_id, district_id, event, payload, state, job_id, created_at)
                             VALUES ($1, $2, $3, $4, 'pending', $5, $6) RETURNING id",
                        )
                        .bind(hook)
                        .bind(district_id)
                        .bind(kind)
                        .bind(&payload)
                        .bind(job)
                        .bind(at)
                        .fetch_one(&mut *tx)
                        .await?;
                    sqlx::query("UPDATE jobs SET payload = $1 WHERE id = $2")
                        .bind(delivery.to_string())
                        .bind(job)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            id
        });
        Ok(id)
    }

    /// Reports of a district, newest first: every one (`units`: `None`), or
    /// the daily sheets of the units whose path matches the `LIKE` pattern
    /// (a unit's subtree, `Scope::path_pattern`).
    pub async fn reports(&self, district_id: i64, units: Option<&str>, limit: i64) -> StoreResult<Vec<ReportRow>> {
        Ok(read!(&self.db, |pool| {
            let mut q = QueryBuilder::new(
                "SELECT id, kind, unit_id, day, title, created_at, read_at FROM reports WHERE district_id = ",
            );
            q.push_bind(district_id);
            if let Some(pattern) = units {
                q.push(" AND unit_id IN (SELECT id FROM units WHERE path LIKE ")
                    .push_bind(pattern.to_string())
                    .push(")");
            }
            q.push(" ORDER BY day DESC, id DESC LIMIT ").push_bind(limit);
            q.build_query_as::<ReportRow>().fetch_all(pool).await
        })?)
    }

    /// One report with its document (JSON), if the unit pattern (as in
    /// `reports`) lets the caller read it.
    pub async fn report(
        &self,
        district_id: i64,
        units: Option<&str>,
        id: i64,
    ) -> StoreResult<Option<(ReportRow, String)>> {
        let found: Option<(i64, String)> = read!(&self.db, |pool| {
            let mut q = QueryBuilder::new("SELECT id, body FROM reports WHERE district_id = ");
            q.push_bind(district_id).push(" AND id = ").push_bind(id);
            if let Some(pattern) = units {
                q.push(" AND unit_id IN (SELECT id FROM units WHERE path LIKE ")
                    .push_bind(pattern.to_string())
                    .push(")");
            }
            q.build_query_as::<(i64, String)>().fetch_optional(pool).await
        })?;
        let Some((_, body)) = found else { return Ok(None) };
        let row: ReportRow = read!(&self.db, |pool| sqlx::query_as::<_, ReportRow>(
            "SELECT id, kind, unit_id, day, title, created_at, read_at FROM reports WHERE id = $1"
        )
        .bind(id)
        .fetch_one(pool)
        .await)?;
        Ok(Some((row, body)))
    }

    /// Marks a report read by its unit (the first time).
    pub async fn mark_report_read(&self, id: i64) -> StoreResult<()> {
        transaction!(&self.db, |tx| {
            sqlx::query("UPDATE reports SET read_at = $1 WHERE id = $2 AND read_at IS NULL")
                .bind(now())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// A unit's running cases (its own, not its subtree's) for a daily sheet.
    pub async fn unit_running_cases(&self, unit_id: i64) -> StoreResult<Vec<Case>> {
        let sql =
            format!("{CASE_COLUMNS} WHERE unit_id = $1 AND state IN {} ORDER BY deadline, id", RUNNING_STATES.as_str());
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, Case>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(unit_id)
            .fetch_all(pool)
            .await)?)
    }

    /// A unit's daily-sheet sections, counted in full and listed up to
    /// `limit` each (earliest deadline first): the overdue, those due by
    /// `end_of_day`, and those dispatched since `since`; with the count of
    /// all its running cases.
    ///
    /// Each list reads a page, not the unit's backlog (migration 0019): the
    /// running and overdue counts are the kept counts of `case_counts`; the
    /// overdue and the due today walk `cases_unit_overdue` and
    /// `cases_unit_due` in deadline order; the newly dispatched range over
    /// `cases_unit_new`. The due and new counts walk their partial index.
    pub async fn unit_sheet_cases(
        &self,
        district_id: i64,
        unit_id: i64,
        end_of_day: DateTime<Utc>,
        since: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<(i64, [SheetSection; 3])> {
        let sheet = SheetQuery { unit_id, end_of_day, since };
        let (total, overdue) = self.unit_running_counts(district_id, unit_id).await?;
        let mut sections = Vec::with_capacity(3);
        for part in [SheetPart::Overdue, SheetPart::Due, SheetPart::New] {
            let count: i64 = match part {
                SheetPart::Overdue => overdue,
                SheetPart::Due | SheetPart::New => read!(&self.db, |pool| {
                    let mut q = QueryBuilder::new("SELECT COUNT(*) FROM cases");
                    sheet.push(&mut q, part);
                    q.build_query_scalar().fetch_one(pool).await
                })?,
            };
            let cases: Vec<Case> = read!(&self.db, |pool| {
                let mut q = QueryBuilder::new(CASE_COLUMNS);
                sheet.push(&mut q, part);
                q.push(" ORDER BY deadline, id LIMIT ").push_bind(limit);
                q.build_query_as().fetch_all(pool).await
            })?;
            sections.push(SheetSection { count, cases });
        }
        let sections: [SheetSection; 3] = sections.try_into().unwrap_or_else(|_| unreachable!("three parts"));
        Ok((total, sections))
    }

    /// How many running cases a unit holds (its own, not its subtree's), and
    /// how many of them are overdue: the kept counts of `case_counts`.
    pub async fn unit_running_counts(&self, district_id: i64, unit_id: i64) -> StoreResult<(i64, i64)> {
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(cases), 0) AS BIGINT),
                    CAST(COALESCE(SUM(CASE WHEN alert = 'overdue' THEN cases ELSE 0 END), 0) AS BIGINT)
               FROM case_counts WHERE district_id = $1 AND unit_id = $2 AND state IN {}",
            RUNNING_STATES.as_str()
        );
        Ok(read!(&self.db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(district_id)
            .bind(unit_id)
            .fetch_one(pool)
            .await)?)
    }

    /// Units with at least one running case (those that get a daily sheet),
    /// from the kept counts.
    pub async fn units_with_running_cases(&self, district_id: i64) -> StoreResult<Vec<i64>> {
        let sql = format!(
            "SELECT DISTINCT unit_id FROM case_counts
              WHERE district_id = $1 AND unit_id <> 0 AND state IN {} AND cases > 0
              ORDER BY unit_id",
            RUNNING_STATES.as_str()
        );
        Ok(read!(&self.db, |pool| sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(district_id)
            .fetch_all(pool)
            .await)?)
    }

    /// Cases of a district by a condition on their counters, newest first
    /// (the weekly report's difficult cases), and how many there are in all:
    /// `which` is one of `overdue`, `reworked`, `deferred`, `returned`.
    pub async fn difficult_cases(&self, district_id: i64, which: &str, limit: i64) -> StoreResult<(i64, Vec<Case>)> {
        // Overdue and deferred are counted from the kept counts (migration
        // 0017: every case by state and alert, kept in the transaction of
        // each step): counted from the cases, the overdue read half a
        // million rows at ten million cases, 1.0-1.3 s of the weekly
        // report's 1.2-1.5 s (PERFORMANCE.md). Like the home piles and the
        // daily sheets, they are exact whenever the counts' trigger is on:
        // on PostgreSQL a bulk load suspends it and recounts at its end.
        let (condition, kept) = match which {
            "overdue" => (
                format!("state IN {} AND overdue_at IS NOT NULL", RUNNING_STATES.as_str()),
                Some(format!("state IN {} AND alert = 'overdue'", RUNNING_STATES.as_str())),
            ),
            "reworked" => ("rework_count > 0 AND state NOT IN ('closed', 'voided')".to_string(), None),
            "deferred" => ("state = 'deferred'".to_string(), Some("state = 'deferred'".to_string())),
            _ => ("return_count > 0 AND state NOT IN ('closed', 'voided')".to_string(), None),
        };
        let sql = format!("{CASE_COLUMNS} WHERE district_id = $1 AND {condition} ORDER BY id DESC LIMIT $2");
        let cases = read!(&self.db, |pool| sqlx::query_as::<_, Case>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(district_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        let count = match kept {
            Some(kept) => {
                format!(
                    "SELECT CAST(COALESCE(SUM(cases), 0) AS BIGINT) FROM case_counts WHERE district_id = $1 AND {kept}"
                )
            }
            None => format!("SELECT COUNT(*) FROM cases WHERE district_id = $1 AND {condition}"),
        };
        let total: i64 = read!(&self.db, |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(count.clone()))
            .bind(district_id)
            .fetch_one(pool)
            .await)?;
        Ok((total, cases))
    }

    /// The cases of a rectification-order batch.
    pub async fn batch_cases(&self, district_id: i64, batch_id: i64) -> StoreResult<Vec<Case>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, Case>(sqlx::AssertSqlSafe(format!(
            "{CASE_COLUMNS} WHERE district_id = $1 AND batch_id = $2 ORDER BY id"
        )))
        .bind(district_id)
        .bind(batch_id)
        .fetch_all(pool)
        .await)?)
    }
}

impl Store {
    /// Adds a webhook (the secret already encrypted), audited; its id.
    pub async fn create_webhook(
        &self,
        district_id: i64,
        name: &str,
        url: &str,
        sealed_secret: &str,
        events: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<i64> {
        let (algorithm, at) = (self.audit_hash, now());
        let id = transaction!(&self.db, |tx| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO webhooks (district_id, name, url, secret, events, active, created_at)
                 VALUES ($1, $2, $3, $4, $5, TRUE, $6) RETURNING id",
            )
            .bind(district_id)
            .bind(name)
            .bind(url)
            .bind(sealed_secret)
            .bind(events)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            let entry = NewAuditEntry { object: format!("webhook:{id}"), ..audit.clone() };
            append_audit!(tx, algorithm, &entry);
            id
        });
        Ok(id)
    }

    /// Turns a webhook off or on, audited; false when there is no such webhook.
    pub async fn set_webhook_active(
        &self,
        district_id: i64,
        id: i64,
        active: bool,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool> {
        let algorithm = self.audit_hash;
        let changed = transaction!(&self.db, |tx| {
            let changed = sqlx::query("UPDATE webhooks SET active = $1 WHERE id = $2 AND district_id = $3")
                .bind(active)
                .bind(id)
                .bind(district_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed > 0 {
                append_audit!(tx, algorithm, audit);
            }
            changed
        });
        Ok(changed > 0)
    }

    /// A district's webhooks.
    pub async fn webhooks(&self, district_id: i64) -> StoreResult<Vec<Webhook>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, Webhook>(
            "SELECT id, district_id, name, url, events, active, created_at FROM webhooks WHERE district_id = $1 ORDER BY id"
        )
        .bind(district_id)
        .fetch_all(pool)
        .await
        })?)
    }

    /// A webhook with its sealed secret (for the delivery job only).
    pub async fn webhook_with_secret(&self, id: i64) -> StoreResult<Option<(Webhook, String)>> {
        let sealed: Option<SealedWebhook> = read!(&self.db, |pool| sqlx::query_as::<_, SealedWebhook>(
            "SELECT id, district_id, name, url, events, active, created_at, secret FROM webhooks WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        Ok(sealed.map(|s| (s.hook, s.secret)))
    }

    /// The delivery log of a district, newest first.
    pub async fn deliveries(&self, district_id: i64, limit: i64) -> StoreResult<Vec<Delivery>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, Delivery>(
            "SELECT id, webhook_id, district_id, event, payload, state, attempts, last_status, last_error, job_id, created_at,
             last_attempt_at, delivered_at FROM webhook_deliveries WHERE district_id = $1 ORDER BY id DESC LIMIT $2"
        )
        .bind(district_id)
        .bind(limit)
        .fetch_all(pool)
        .await
        })?)
    }

    /// One delivery.
    pub async fn delivery(&self, id: i64) -> StoreResult<Option<Delivery>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, Delivery>(
            "SELECT id, webhook_id, district_id, event, payload, state, attempts, last_status, last_error, job_id, created_at,
             last_attempt_at, delivered_at FROM webhook_deliveries WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(pool)
        .await
        })?)
    }

    /// Records one attempt: delivered, or failed with the status and error
    /// (`gave_up`: no more attempts will be made).
    pub async fn record_delivery_attempt(
        &self,
        id: i64,
        status: Option<i64>,
        error: &str,
        delivered: bool,
        gave_up: bool,
    ) -> StoreResult<()> {
        let at = now();
        let state = if delivered {
            "delivered"
        } else if gave_up {
            "failed"
        } else {
            "pending"
        };
        transaction!(&self.db, |tx| {
            sqlx::query(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $1, last_error = $2, state = $3,
                 last_attempt_at = $4, delivered_at = CASE WHEN $5 THEN $4 ELSE delivered_at END WHERE id = $6",
            )
            .bind(status)
            .bind(error)
            .bind(state)
            .bind(at)
            .bind(delivered)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    /// Makes a pending or failed delivery due now (立即重试), with a fresh
    /// series of attempts: `Ok(true)` when queued; `Ok(false)` when there is
    /// no such delivery in the district, it is delivered, or an attempt is
    /// running right now (it records its own outcome).
    pub async fn retry_delivery_now(&self, district_id: i64, id: i64) -> StoreResult<bool> {
        let at = now();
        let queued = transaction!(&self.db, |tx| {
            // The guard and the change in one statement: a delivery recorded
            // as delivered meanwhile is never put back.
            let job: Option<Option<i64>> = sqlx::query_scalar(
                "UPDATE webhook_deliveries SET state = 'pending'
                 WHERE id = $1 AND district_id = $2 AND state <> 'delivered' RETURNING job_id",
            )
            .bind(id)
            .bind(district_id)
            .fetch_optional(&mut *tx)
            .await?;
            match job.flatten() {
                Some(job) => {
                    sqlx::query(
                        "UPDATE jobs SET state = 'queued', run_at = $1, attempts = 0, claimed_by = NULL
                         WHERE id = $2 AND state <> 'running'",
                    )
                    .bind(at)
                    .bind(job)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        > 0
                }
                None => false,
            }
        });
        Ok(queued)
    }
}

/// One section of a daily sheet: how many cases, and those listed.
#[derive(Clone, Debug)]
pub struct SheetSection {
    /// Cases in the section.
    pub count: i64,
    /// The first of them, earliest deadline first.
    pub cases: Vec<Case>,
}

/// The parts of a daily sheet.
#[derive(Clone, Copy, Debug)]
enum SheetPart {
    /// 已超期.
    Overdue,
    /// 今日到期.
    Due,
    /// 新交办.
    New,
}

/// The running cases of a unit, and what divides them into a sheet's parts.
struct SheetQuery {
    unit_id: i64,
    end_of_day: DateTime<Utc>,
    since: DateTime<Utc>,
}

impl SheetQuery {
    /// ` WHERE …` for one part of the unit's running cases, in the words of
    /// its partial index (migration 0019).
    fn push<'a, DB: sqlx::Database>(&self, q: &mut QueryBuilder<DB>, part: SheetPart)
    where
        i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        DateTime<Utc>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    {
        q.push(" WHERE unit_id = ").push_bind(self.unit_id).push(" AND state IN ").push(RUNNING_STATES.as_str());
        match part {
            SheetPart::Overdue => {
                q.push(" AND overdue_at IS NOT NULL");
            }
            SheetPart::Due => {
                q.push(" AND overdue_at IS NULL AND deadline < ").push_bind(self.end_of_day);
            }
            SheetPart::New => {
                q.push(" AND dispatched_at >= ").push_bind(self.since);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RUNNING_STATES;

    /// The sheet's partial indexes serve its queries only while their
    /// conditions name the running states exactly as the queries do.
    #[test]
    fn the_sheet_indexes_name_the_running_states_as_the_queries_do() {
        for migration in [
            include_str!("../../../../migrations/sqlite/0019_sheets_and_totals.sql"),
            include_str!("../../../../migrations/postgres/0019_sheets_and_totals.sql"),
        ] {
            assert_eq!(migration.matches(&format!("WHERE state IN {}", RUNNING_STATES.as_str())).count(), 3);
        }
    }
}
