//! The evaluation system's data (PRODUCT.md M6): a district's systems by
//! year and version, rounds with the points they drew, the answers given at
//! each point, and the scores the office entered (see `crate::evaluation`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

use super::{Store, StoreResult, now};
use crate::auth::audit::NewAuditEntry;
use crate::{append_audit, read, transaction};

/// A system as stored: its year, version and TOML.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct StoredSystem {
    /// Row id.
    pub id: i64,
    /// District.
    pub district_id: i64,
    /// Year.
    pub year: i64,
    /// Version label.
    pub version: String,
    /// TOML.
    pub body: String,
    /// Who loaded it.
    pub created_by_name: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

const SYSTEM_COLUMNS: &str =
    "SELECT id, district_id, year, version, body, created_by_name, created_at FROM evaluation_systems";

/// A round of evaluation.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Round {
    /// Row id.
    pub id: i64,
    /// District.
    pub district_id: i64,
    /// The system it is scored under.
    pub system_id: i64,
    /// `simulated`, `third_party` or `unannounced`.
    pub kind: String,
    /// Name, e.g. 2026 年第四季度模拟测评.
    pub name: String,
    /// The draw's seed.
    pub seed: i64,
    /// JSON: point type → points drawn.
    pub quotas: String,
    /// JSON: the street unit ids drawn from; empty for the whole district.
    pub scope: String,
    /// JSON: standard code → score entered by the office.
    pub entered: String,
    /// `open` or `closed`.
    pub state: String,
    /// Who planned it.
    pub created_by_name: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Points drawn.
    pub points: i64,
    /// Points evaluated.
    pub done: i64,
}

const ROUND_COLUMNS: &str =
    "SELECT r.id, r.district_id, r.system_id, r.kind, r.name, r.seed, r.quotas, r.scope, r.entered,
    r.state, r.created_by_name, r.created_at, r.closed_at,
    (SELECT COUNT(*) FROM evaluation_round_points p WHERE p.round_id = r.id) AS points,
    (SELECT COUNT(*) FROM evaluation_round_points p WHERE p.round_id = r.id AND p.done_at IS NOT NULL) AS done
    FROM evaluation_rounds r";

/// A point a round drew, with what its pages show.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct RoundPointRow {
    /// The point.
    pub point_id: i64,
    /// Its code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Its type.
    pub point_type: String,
    /// Location.
    pub lon: f64,
    /// Location.
    pub lat: f64,
    /// Address.
    pub address: String,
    /// Responsible unit when drawn.
    pub unit_id: i64,
    /// Its name.
    pub unit_name: String,
    /// Street.
    pub street_id: Option<i64>,
    /// The evaluator assigned.
    pub evaluator_id: Option<i64>,
    /// Their name.
    pub evaluator_name: Option<String>,
    /// When evaluated.
    pub done_at: Option<DateTime<Utc>>,
    /// Items failed there.
    pub failed: i64,
}

/// A point drawn for a new round.
#[derive(Clone, Debug)]
pub struct DrawnPoint {
    /// The point.
    pub point_id: i64,
    /// Its type.
    pub point_type: String,
    /// Its responsible unit.
    pub unit_id: i64,
    /// Its street.
    pub street_id: Option<i64>,
    /// The evaluator assigned.
    pub evaluator_id: Option<i64>,
}

/// A point as a draw needs it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Candidate {
    /// The point.
    pub id: i64,
    /// Its code (what the draw orders by).
    pub code: String,
    /// Its type.
    pub point_type: String,
    /// Its responsible unit.
    pub responsible_unit_id: i64,
    /// Its street.
    pub street_id: Option<i64>,
}

/// An answer as stored.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct StoredAnswer {
    /// The point.
    pub point_id: i64,
    /// The checklist item.
    pub item_code: String,
    /// `pass`, `fail`, `serious`, `not_applicable`.
    pub result: String,
    /// Occurrences found (fail).
    pub occurrences: i64,
    /// The evaluator's note.
    pub note: String,
    /// The case the failure raised.
    pub case_id: Option<i64>,
    /// Who answered.
    pub answered_by_name: String,
    /// When.
    pub answered_at: DateTime<Utc>,
}

/// An answer to record.
#[derive(Clone, Debug)]
pub struct NewAnswer {
    /// The checklist item.
    pub item_code: String,
    /// `pass`, `fail`, `serious`, `not_applicable`.
    pub result: &'static str,
    /// Occurrences found.
    pub occurrences: i64,
    /// Note.
    pub note: String,
}

/// A new round's facts.
#[derive(Clone, Debug)]
pub struct NewRound<'a> {
    /// The system.
    pub system_id: i64,
    /// Kind code.
    pub kind: &'a str,
    /// Name.
    pub name: &'a str,
    /// Seed.
    pub seed: i64,
    /// Quotas JSON.
    pub quotas: &'a str,
    /// Scope JSON (street ids).
    pub scope: &'a str,
    /// Planner's name.
    pub created_by_name: &'a str,
}

impl Store {
    /// Keeps a version of a district's system for a year, audited unless
    /// it is the demo's own data (`audit` none).
    pub async fn save_evaluation_system(
        &self,
        district_id: i64,
        year: i64,
        version: &str,
        body: &str,
        by_name: &str,
        audit: Option<&NewAuditEntry>,
    ) -> StoreResult<i64> {
        let (algorithm, at) = (self.audit_hash, now());
        Ok(transaction!(&self.db, |tx| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO evaluation_systems (district_id, year, version, body, created_by_name, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(district_id)
            .bind(year)
            .bind(version)
            .bind(body)
            .bind(by_name)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            if let Some(audit) = audit {
                let entry = NewAuditEntry {
                    object: format!("evaluation_system:{id}"),
                    detail: serde_json::json!({ "year": year, "version": version }).to_string(),
                    ..audit.clone()
                };
                append_audit!(tx, algorithm, &entry);
            }
            id
        }))
    }

    /// The newest version of a district's system for a year.
    pub async fn evaluation_system(&self, district_id: i64, year: i64) -> StoreResult<Option<StoredSystem>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, StoredSystem>(sqlx::AssertSqlSafe(format!(
            "{SYSTEM_COLUMNS} WHERE district_id = $1 AND year = $2 ORDER BY id DESC LIMIT 1"
        )))
        .bind(district_id)
        .bind(year)
        .fetch_optional(pool)
        .await)?)
    }

    /// One stored system of the district.
    pub async fn evaluation_system_by_id(&self, district_id: i64, id: i64) -> StoreResult<Option<StoredSystem>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, StoredSystem>(sqlx::AssertSqlSafe(format!(
            "{SYSTEM_COLUMNS} WHERE district_id = $1 AND id = $2"
        )))
        .bind(district_id)
        .bind(id)
        .fetch_optional(pool)
        .await)?)
    }

    /// Every version of the district's systems, newest first.
    pub async fn evaluation_systems(&self, district_id: i64) -> StoreResult<Vec<StoredSystem>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, StoredSystem>(sqlx::AssertSqlSafe(format!(
            "{SYSTEM_COLUMNS} WHERE district_id = $1 ORDER BY year DESC, id DESC"
        )))
        .bind(district_id)
        .fetch_all(pool)
        .await)?)
    }

    /// The district's points a draw chooses from.
    pub async fn draw_candidates(&self, district_id: i64) -> StoreResult<Vec<Candidate>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, Candidate>(
            "SELECT id, code, point_type, responsible_unit_id, street_id FROM points WHERE district_id = $1"
        )
        .bind(district_id)
        .fetch_all(pool)
        .await)?)
    }

    /// Records a round with the points it drew, in one transaction.
    pub async fn create_round(
        &self,
        district_id: i64,
        new: &NewRound<'_>,
        points: &[DrawnPoint],
        audit: &NewAuditEntry,
    ) -> StoreResult<i64> {
        let (algorithm, at) = (self.audit_hash, now());
        Ok(transaction!(&self.db, |tx| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO evaluation_rounds (district_id, system_id, kind, name, seed, quotas, scope, state, created_by_name,
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9) RETURNING id",
            )
            .bind(district_id)
            .bind(new.system_id)
            .bind(new.kind)
            .bind(new.name)
            .bind(new.seed)
            .bind(new.quotas)
            .bind(new.scope)
            .bind(new.created_by_name)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            for chunk in points.chunks(500) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO evaluation_round_points (round_id, point_id, point_type, unit_id, street_id, evaluator_id) ",
                );
                q.push_values(chunk, |mut row, p| {
                    row.push_bind(id)
                        .push_bind(p.point_id)
                        .push_bind(p.point_type.clone())
                        .push_bind(p.unit_id)
                        .push_bind(p.street_id)
                        .push_bind(p.evaluator_id);
                });
                q.build().execute(&mut *tx).await?;
            }
            let entry = NewAuditEntry {
                object: format!("evaluation_round:{id}"),
                detail: serde_json::json!({ "name": new.name, "seed": new.seed, "points": points.len() }).to_string(),
                ..audit.clone()
            };
            append_audit!(tx, algorithm, &entry);
            id
        }))
    }

    /// The district's rounds, newest first.
    pub async fn rounds(&self, district_id: i64) -> StoreResult<Vec<Round>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, Round>(sqlx::AssertSqlSafe(format!(
            "{ROUND_COLUMNS} WHERE r.district_id = $1 ORDER BY r.id DESC"
        )))
        .bind(district_id)
        .fetch_all(pool)
        .await)?)
    }

    /// The rounds in which this person evaluates points.
    pub async fn rounds_evaluated_by(&self, user_id: i64) -> StoreResult<Vec<i64>> {
        Ok(read!(&self.db, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT DISTINCT round_id FROM evaluation_round_points WHERE evaluator_id = $1"
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)?)
    }

    /// One round of the district.
    pub async fn round(&self, district_id: i64, id: i64) -> StoreResult<Option<Round>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, Round>(sqlx::AssertSqlSafe(format!(
            "{ROUND_COLUMNS} WHERE r.district_id = $1 AND r.id = $2"
        )))
        .bind(district_id)
        .bind(id)
        .fetch_optional(pool)
        .await)?)
    }

    /// A round's points with their names, units and evaluators (none when
    /// the round is not the district's).
    pub async fn round_points(&self, district_id: i64, round_id: i64) -> StoreResult<Vec<RoundPointRow>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, RoundPointRow>(
            "SELECT rp.point_id, p.code, p.name, rp.point_type, p.lon, p.lat, p.address, rp.unit_id, u.name AS unit_name,
                rp.street_id, rp.evaluator_id, e.display_name AS evaluator_name, rp.done_at,
                (SELECT COUNT(*) FROM evaluation_answers a WHERE a.round_id = rp.round_id AND a.point_id = rp.point_id
                   AND a.result IN ('fail', 'serious')) AS failed
             FROM evaluation_round_points rp
             JOIN evaluation_rounds r ON r.id = rp.round_id AND r.district_id = $2
             JOIN points p ON p.id = rp.point_id
             JOIN units u ON u.id = rp.unit_id
             LEFT JOIN users e ON e.id = rp.evaluator_id
             WHERE rp.round_id = $1 ORDER BY rp.point_type, p.code"
        )
        .bind(round_id)
        .bind(district_id)
        .fetch_all(pool)
        .await
        })?)
    }

    /// A round's answers (none when the round is not the district's).
    pub async fn round_answers(&self, district_id: i64, round_id: i64) -> StoreResult<Vec<StoredAnswer>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, StoredAnswer>(
            "SELECT point_id, item_code, result, occurrences, note, case_id, answered_by_name, answered_at
             FROM evaluation_answers
             WHERE round_id = $1 AND EXISTS (SELECT 1 FROM evaluation_rounds r WHERE r.id = $1 AND r.district_id = $2)
             ORDER BY point_id, item_code"
        )
        .bind(round_id)
        .bind(district_id)
        .fetch_all(pool)
        .await)?)
    }

    /// Records the answers given at a point (replacing earlier ones of the
    /// same items, whose cases stay linked) and marks the point done, in one
    /// transaction. False when the round is closed or the point not in it.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_answers(
        &self,
        round_id: i64,
        point_id: i64,
        answers: &[NewAnswer],
        location: Option<(f64, f64)>,
        by: Option<i64>,
        by_name: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool> {
        let (algorithm, at) = (self.audit_hash, now());
        Ok(transaction!(&self.db, |tx| {
            let marked = sqlx::query(
                "UPDATE evaluation_round_points SET done_at = $1 WHERE round_id = $2 AND point_id = $3
                 AND EXISTS (SELECT 1 FROM evaluation_rounds r WHERE r.id = $2 AND r.state = 'open')",
            )
            .bind(at)
            .bind(round_id)
            .bind(point_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if marked == 1 {
                for a in answers {
                    sqlx::query(
                        "INSERT INTO evaluation_answers (round_id, point_id, item_code, result, occurrences, note, lon, lat,
                         answered_by, answered_by_name, answered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                         ON CONFLICT (round_id, point_id, item_code) DO UPDATE SET result = excluded.result,
                         occurrences = excluded.occurrences, note = excluded.note, lon = excluded.lon, lat = excluded.lat,
                         answered_by = excluded.answered_by, answered_by_name = excluded.answered_by_name,
                         answered_at = excluded.answered_at",
                    )
                    .bind(round_id)
                    .bind(point_id)
                    .bind(&a.item_code)
                    .bind(a.result)
                    .bind(a.occurrences)
                    .bind(&a.note)
                    .bind(location.map(|l| l.0))
                    .bind(location.map(|l| l.1))
                    .bind(by)
                    .bind(by_name)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                let failed = answers.iter().filter(|a| matches!(a.result, "fail" | "serious")).count();
                let entry = NewAuditEntry {
                    object: format!("evaluation_round:{round_id}"),
                    detail: serde_json::json!({ "point": point_id, "answers": answers.len(), "failed": failed })
                        .to_string(),
                    ..audit.clone()
                };
                append_audit!(tx, algorithm, &entry);
            }
            marked == 1
        }))
    }

    /// Links the case a failed answer raised.
    pub async fn link_answer_case(&self, round_id: i64, point_id: i64, item: &str, case_id: i64) -> StoreResult<()> {
        transaction!(&self.db, |tx| {
            sqlx::query(
                "UPDATE evaluation_answers SET case_id = $1 WHERE round_id = $2 AND point_id = $3 AND item_code = $4",
            )
            .bind(case_id)
            .bind(round_id)
            .bind(point_id)
            .bind(item)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    /// Keeps the scores the office entered for the round (JSON).
    pub async fn set_round_entered(&self, district_id: i64, round_id: i64, entered: &str) -> StoreResult<bool> {
        Ok(transaction!(&self.db, |tx| {
            sqlx::query("UPDATE evaluation_rounds SET entered = $1 WHERE district_id = $2 AND id = $3")
                .bind(entered)
                .bind(district_id)
                .bind(round_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1
        }))
    }

    /// Closes a round: no answer is taken after.
    pub async fn close_round(&self, district_id: i64, round_id: i64) -> StoreResult<bool> {
        let at = now();
        Ok(transaction!(&self.db, |tx| {
            sqlx::query(
                "UPDATE evaluation_rounds SET state = 'closed', closed_at = $1 WHERE district_id = $2 AND id = $3 AND state = 'open'",
            )
            .bind(at)
            .bind(district_id)
            .bind(round_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1
        }))
    }
}
