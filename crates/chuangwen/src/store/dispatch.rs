//! The dispatch rule table and rectification-order batches.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreResult};
use crate::domain::dispatch::{PlaceKind, Rule};
use crate::{read, transaction};

/// A batch of rectification orders.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct OrderBatch {
    /// Row id.
    pub id: i64,
    /// `2026-第012批`.
    pub number: String,
    /// Note.
    pub note: String,
    /// Who issued it.
    pub created_by: Option<i64>,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// A district's dispatch rules.
    pub async fn dispatch_rules(&self, district_id: i64) -> StoreResult<Vec<Rule>> {
        let rows: Vec<(String, String, Option<i64>, i64)> = read!(&self.db, |pool| {
            sqlx::query_as(
            "SELECT category_code, place_kind, place_id, unit_id FROM dispatch_rules WHERE district_id = $1 ORDER BY id"
        )
        .bind(district_id)
        .fetch_all(pool)
        .await
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(category_code, kind, place_id, unit_id)| {
                PlaceKind::from_code(&kind).map(|place_kind| Rule { category_code, place_kind, place_id, unit_id })
            })
            .collect())
    }

    /// Replaces a district's dispatch rules.
    pub async fn replace_dispatch_rules(&self, district_id: i64, rules: &[Rule]) -> StoreResult<usize> {
        transaction!(&self.db, |tx| {
            sqlx::query("DELETE FROM dispatch_rules WHERE district_id = $1")
                .bind(district_id)
                .execute(&mut *tx)
                .await?;
            for rule in rules {
                sqlx::query(
                    "INSERT INTO dispatch_rules (district_id, category_code, place_kind, place_id, unit_id) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(district_id)
                .bind(&rule.category_code)
                .bind(rule.place_kind.code())
                .bind(rule.place_id)
                .bind(rule.unit_id)
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(rules.len())
    }

    /// A batch of the district.
    pub async fn order_batch(&self, district_id: i64, id: i64) -> StoreResult<Option<OrderBatch>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, OrderBatch>(
            "SELECT id, number, note, created_by, created_at FROM order_batches WHERE district_id = $1 AND id = $2"
        )
        .bind(district_id)
        .bind(id)
        .fetch_optional(pool)
        .await)?)
    }

    /// Ids of the cases of a batch.
    pub async fn batch_case_ids(&self, batch_id: i64) -> StoreResult<Vec<i64>> {
        Ok(read!(&self.db, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT id FROM cases WHERE batch_id = $1 ORDER BY id"
        )
        .bind(batch_id)
        .fetch_all(pool)
        .await)?)
    }
}
