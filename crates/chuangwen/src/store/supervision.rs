//! Case clocks and supervision orders (督办): the deadline watcher's reads
//! and writes, manual orders, and the orders a unit's lead receives.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

use super::{Store, StoreResult, now};
use crate::auth::policy::Scope;
use crate::{read, transaction};

/// A running clock, as the watcher sees it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RunningClock {
    /// Case id.
    pub id: i64,
    /// District.
    pub district_id: i64,
    /// Case number.
    pub number: String,
    /// Responsible unit.
    pub unit_id: Option<i64>,
    /// Current deadline.
    pub deadline: DateTime<Utc>,
    /// When the clock started.
    pub clock_started_at: Option<DateTime<Utc>>,
    /// Clock code of the limit.
    pub limit_clock: String,
    /// Already amber.
    pub amber_at: Option<DateTime<Utc>>,
    /// Already overdue.
    pub overdue_at: Option<DateTime<Utc>>,
}

/// A supervision order as listed.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct SupervisionOrder {
    /// Row id.
    pub id: i64,
    /// The case.
    pub case_id: i64,
    /// Case number.
    pub case_number: String,
    /// The unit whose lead it goes to.
    pub unit_id: i64,
    /// That unit's name.
    pub unit_name: String,
    /// overdue, rework or manual.
    pub reason: String,
    /// Which clock of the case.
    pub stage: String,
    /// Why, in Chinese.
    pub note: String,
    /// Raised.
    pub created_at: DateTime<Utc>,
    /// Read by the unit.
    pub read_at: Option<DateTime<Utc>>,
}

const ORDER_SELECT: &str = "SELECT o.id, o.case_id, c.number AS case_number, o.unit_id, u.name AS unit_name, o.reason, o.stage,
    o.note, o.created_at, o.read_at FROM supervision_orders o JOIN cases c ON c.id = o.case_id JOIN units u ON u.id = o.unit_id";

impl Store {
    /// Running clocks not yet both amber and overdue, after `after_id`, in id order.
    pub async fn running_clocks(&self, after_id: i64, limit: i64) -> StoreResult<Vec<RunningClock>> {
        let sql = format!(
            "SELECT id, district_id, number, unit_id, deadline, clock_started_at, limit_clock, amber_at, overdue_at
             FROM cases WHERE state IN {} AND deadline IS NOT NULL AND (amber_at IS NULL OR overdue_at IS NULL)
             AND id > $1 ORDER BY id LIMIT $2",
            super::cases::RUNNING_STATES.as_str()
        );
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, RunningClock>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Turns a case amber, if its clock is still the one the watcher read
    /// (running, same deadline); true when it changed.
    pub async fn mark_amber(&self, clock: &RunningClock, at: DateTime<Utc>) -> StoreResult<bool> {
        let sql = format!(
            "UPDATE cases SET amber_at = $1 WHERE id = $2 AND amber_at IS NULL AND deadline = $3 AND state IN {}",
            super::cases::RUNNING_STATES.as_str()
        );
        let changed = transaction!(&self.db, |tx| {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(at)
                .bind(clock.id)
                .bind(clock.deadline)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        });
        Ok(changed > 0)
    }

    /// Turns a case red and raises the supervision order of its stage, once —
    /// only if its clock is still the one the watcher read: a case extended,
    /// handled or returned meanwhile is left alone. `(turned red, order raised)`.
    pub async fn mark_overdue(
        &self,
        clock: &RunningClock,
        stage: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<(bool, bool)> {
        let sql = format!(
            "UPDATE cases SET overdue_at = $1, amber_at = COALESCE(amber_at, $1)
             WHERE id = $2 AND overdue_at IS NULL AND deadline = $3 AND state IN {} RETURNING {}",
            super::cases::RUNNING_STATES.as_str(),
            super::cases::case_fields!()
        );
        let result = transaction!(&self.db, |tx| {
            let marked = sqlx::query_as::<_, super::cases::Case>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(at)
                .bind(clock.id)
                .bind(clock.deadline)
                .fetch_optional(&mut *tx)
                .await?;
            match marked {
                None => (false, false),
                Some(after) => {
                    // The mark moves the case into the overdue figures; it changed
                    // only overdue_at (and amber_at, which no figure counts).
                    let before = super::cases::Case { overdue_at: None, ..after.clone() };
                    let deltas = super::stats::step_delta(Some(&before), &after);
                    crate::record_stats!(tx, clock.district_id, deltas);
                    let raised = match clock.unit_id {
                        Some(unit) => {
                            sqlx::query(
                                "INSERT INTO supervision_orders (district_id, case_id, unit_id, reason, stage, note, created_at)
                                 VALUES ($1, $2, $3, 'overdue', $4, $5, $6) ON CONFLICT (case_id, reason, stage) DO NOTHING",
                            )
                            .bind(clock.district_id)
                            .bind(clock.id)
                            .bind(unit)
                            .bind(stage)
                            .bind(format!("案卷 {} 已超过处置期限，请单位负责人督促整改", clock.number))
                            .bind(at)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected()
                                > 0
                        }
                        None => false,
                    };
                    (true, raised)
                }
            }
        });
        Ok(result)
    }

    /// A supervision order raised by hand; false when the case has no unit.
    pub async fn supervise(
        &self,
        district_id: i64,
        case_id: i64,
        note: &str,
        by: Option<i64>,
        idempotency: Option<(&str, &str, &str)>,
    ) -> StoreResult<Option<i64>> {
        let at = now();
        let id = transaction!(&self.db, |tx| {
            let unit: Option<Option<i64>> =
                sqlx::query_scalar("SELECT unit_id FROM cases WHERE id = $1 AND district_id = $2")
                    .bind(case_id)
                    .bind(district_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let id = match unit.flatten() {
                Some(unit) => Some(
                    sqlx::query_scalar::<_, i64>(
                        "INSERT INTO supervision_orders (district_id, case_id, unit_id, reason, stage, note, created_by, created_at)
                         VALUES ($1, $2, $3, 'manual', $4, $5, $6, $7) RETURNING id",
                    )
                    .bind(district_id)
                    .bind(case_id)
                    .bind(unit)
                    .bind(format!("manual-{}", at.timestamp_micros()))
                    .bind(note)
                    .bind(by)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await?,
                ),
                None => None,
            };
            // A retried request finds the order it raised (the API's Idempotency-Key).
            if let (Some(order), Some((key, actor, request_hash))) = (id, idempotency) {
                sqlx::query(
                    "INSERT INTO idempotency_keys (district_id, key, actor, request_hash, status, response, created_at)
                     VALUES ($1, $2, $3, $4, 201, $5, $6)",
                )
                .bind(district_id)
                .bind(key)
                .bind(actor)
                .bind(request_hash)
                .bind(order.to_string())
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            id
        });
        Ok(id)
    }

    /// Supervision orders a scope sees (orders to units of the scope), newest first.
    pub async fn supervision_orders(
        &self,
        district_id: i64,
        scope: &Scope,
        case_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<SupervisionOrder>> {
        Ok(read!(&self.db, |pool| {
            let mut q = QueryBuilder::new(ORDER_SELECT);
            q.push(" WHERE o.district_id = ").push_bind(district_id);
            if let Some(pattern) = scope.path_pattern() {
                q.push(" AND u.path LIKE ").push_bind(pattern);
            }
            if let Some(case_id) = case_id {
                q.push(" AND o.case_id = ").push_bind(case_id);
            }
            q.push(" ORDER BY o.id DESC LIMIT ").push_bind(limit.max(1));
            q.build_query_as::<SupervisionOrder>().fetch_all(pool).await
        })?)
    }

    /// How many orders of the scope no one has read yet.
    pub async fn unread_supervision_orders(&self, district_id: i64, scope: &Scope) -> StoreResult<i64> {
        Ok(read!(&self.db, |pool| {
            let mut q = QueryBuilder::new(
                "SELECT COUNT(*) FROM supervision_orders o JOIN units u ON u.id = o.unit_id WHERE o.read_at IS NULL AND o.district_id = ",
            );
            q.push_bind(district_id);
            if let Some(pattern) = scope.path_pattern() {
                q.push(" AND u.path LIKE ").push_bind(pattern);
            }
            q.build_query_scalar::<i64>().fetch_one(pool).await
        })?)
    }

    /// One supervision order, if the scope sees it.
    pub async fn supervision_order(
        &self,
        district_id: i64,
        scope: &Scope,
        id: i64,
    ) -> StoreResult<Option<SupervisionOrder>> {
        Ok(read!(&self.db, |pool| {
            let mut q = QueryBuilder::new(ORDER_SELECT);
            q.push(" WHERE o.district_id = ").push_bind(district_id).push(" AND o.id = ").push_bind(id);
            if let Some(pattern) = scope.path_pattern() {
                q.push(" AND u.path LIKE ").push_bind(pattern);
            }
            q.build_query_as::<SupervisionOrder>().fetch_optional(pool).await
        })?)
    }

    /// Marks an order read (by the unit it went to).
    pub async fn mark_order_read(&self, id: i64) -> StoreResult<()> {
        let at = now();
        transaction!(&self.db, |tx| {
            sqlx::query("UPDATE supervision_orders SET read_at = $1 WHERE id = $2 AND read_at IS NULL")
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Queues a periodic job unless one of its kind is already waiting or
    /// running; the unique index `jobs_one_periodic` settles two nodes racing.
    pub async fn ensure_periodic_job(&self, kind: &str, run_at: DateTime<Utc>) -> StoreResult<()> {
        let at = now();
        transaction!(&self.db, |tx| {
            sqlx::query(
                "INSERT INTO jobs (kind, payload, state, run_at, created_at, periodic)
                 SELECT $1, '{}', 'queued', $2, $3, $1
                 WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE periodic = $1 AND state IN ('queued', 'running'))
                 ON CONFLICT DO NOTHING",
            )
            .bind(kind)
            .bind(run_at)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }
}
