//! Districts and the org tree (PRODUCT.md M1).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreError, StoreResult, now};
use crate::{read, transaction};

/// A district: the root of one campaign, and the distribution key.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct District {
    /// Row id.
    pub id: i64,
    /// 6-digit county code.
    pub code: String,
    /// Chinese name.
    pub name: String,
    /// Map centre, WGS-84.
    pub center_lon: f64,
    /// Map centre, WGS-84.
    pub center_lat: f64,
    /// Bumped whenever grids change.
    pub places_version: i64,
    /// Made by `chuangwen demo`.
    pub is_demo: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A unit of the org tree or another unit that receives orders.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Unit {
    /// Row id.
    pub id: i64,
    /// Owning district.
    pub district_id: i64,
    /// Parent unit; `None` only for the district's root unit.
    pub parent_id: Option<i64>,
    /// `street`, `community`, `department`… (see `domain::org::UnitKind`).
    pub kind: String,
    /// Statistical or organisation code, unique in the district.
    pub code: String,
    /// Chinese name.
    pub name: String,
    /// Materialised path of ids, `/1/4/17/`.
    pub path: String,
}

/// A unit to create: its parent is named by code.
#[derive(Clone, Debug)]
pub struct NewUnit {
    /// Code of the parent unit; `None` for the root.
    pub parent_code: Option<String>,
    /// Kind code.
    pub kind: String,
    /// Unit code.
    pub code: String,
    /// Chinese name.
    pub name: String,
}

impl Store {
    /// Creates a district.
    pub async fn create_district(
        &self,
        code: &str,
        name: &str,
        center: (f64, f64),
        is_demo: bool,
    ) -> StoreResult<District> {
        let at = now();
        let district = transaction!(&self.db, |tx| {
            sqlx::query_as::<_, District>(
                "INSERT INTO districts (code, name, center_lon, center_lat, is_demo, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 RETURNING id, code, name, center_lon, center_lat, places_version, is_demo, created_at",
            )
            .bind(code)
            .bind(name)
            .bind(center.0)
            .bind(center.1)
            .bind(is_demo)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?
        });
        Ok(district)
    }

    /// Every district, in code order.
    pub async fn districts(&self) -> StoreResult<Vec<District>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, District>(
            "SELECT id, code, name, center_lon, center_lat, places_version, is_demo, created_at
             FROM districts ORDER BY code"
        )
        .fetch_all(pool)
        .await)?)
    }

    /// The district with this code.
    pub async fn district_by_code(&self, code: &str) -> StoreResult<Option<District>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, District>(
            "SELECT id, code, name, center_lon, center_lat, places_version, is_demo, created_at
             FROM districts WHERE code = $1"
        )
        .bind(code)
        .fetch_optional(pool)
        .await)?)
    }

    /// The district with this id.
    pub async fn district(&self, id: i64) -> StoreResult<District> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, District>(
            "SELECT id, code, name, center_lon, center_lat, places_version, is_demo, created_at
             FROM districts WHERE id = $1"
        )
        .bind(id)
        .fetch_one(pool)
        .await)?)
    }

    /// Removes a district and everything that belongs to it.
    pub async fn delete_district(&self, id: i64) -> StoreResult<()> {
        transaction!(&self.db, |tx| {
            // Children first, so no foreign key is ever left dangling mid-way.
            for table in ["attachments", "case_events"] {
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE district_id = $1")))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("UPDATE cases SET duplicate_of = NULL WHERE district_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for table in [
                "supervision_orders",
                "cases",
                "case_counts",
                "order_batches",
                "batch_numbers",
                "dispatch_rules",
                "case_numbers",
                "idempotency_keys",
                "api_tokens",
            ] {
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE district_id = $1")))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM place_imports WHERE district_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM shop_fronts WHERE district_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM points WHERE district_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM grids WHERE district_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE district_id = $1)")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM user_roles WHERE district_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM users WHERE district_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("UPDATE units SET parent_id = NULL WHERE district_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM units WHERE district_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM districts WHERE id = $1").bind(id).execute(&mut *tx).await?;
        });
        Ok(())
    }

    /// Inserts units in order (parents before children) and sets their
    /// paths; a unit whose code exists is renamed, never moved.
    pub async fn upsert_units(&self, district_id: i64, units: &[NewUnit]) -> StoreResult<usize> {
        let at = now();
        transaction!(&self.db, |tx| {
            for unit in units {
                let parent: Option<(i64, String)> = match &unit.parent_code {
                    Some(code) => Some(
                        sqlx::query_as("SELECT id, path FROM units WHERE district_id = $1 AND code = $2")
                            .bind(district_id)
                            .bind(code)
                            .fetch_optional(&mut *tx)
                            .await?
                            .ok_or(StoreError::NotFound)?,
                    ),
                    None => None,
                };
                let renamed = sqlx::query("UPDATE units SET name = $1 WHERE district_id = $2 AND code = $3")
                    .bind(&unit.name)
                    .bind(district_id)
                    .bind(&unit.code)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if renamed > 0 {
                    continue;
                }
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO units (district_id, parent_id, kind, code, name, path, created_at)
                     VALUES ($1, $2, $3, $4, $5, '', $6) RETURNING id",
                )
                .bind(district_id)
                .bind(parent.as_ref().map(|p| p.0))
                .bind(&unit.kind)
                .bind(&unit.code)
                .bind(&unit.name)
                .bind(at)
                .fetch_one(&mut *tx)
                .await?;
                let path = format!("{}{id}/", parent.as_ref().map(|p| p.1.as_str()).unwrap_or("/"));
                sqlx::query("UPDATE units SET path = $1 WHERE id = $2").bind(path).bind(id).execute(&mut *tx).await?;
            }
        });
        Ok(units.len())
    }

    /// Every unit of a district, in path order (a depth-first walk of the tree).
    pub async fn units(&self, district_id: i64) -> StoreResult<Vec<Unit>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, Unit>(
            "SELECT id, district_id, parent_id, kind, code, name, path FROM units
             WHERE district_id = $1 ORDER BY path"
        )
        .bind(district_id)
        .fetch_all(pool)
        .await)?)
    }

    /// The units in the subtree under (and including) `unit`.
    pub async fn unit_subtree(&self, unit: &Unit) -> StoreResult<Vec<Unit>> {
        let prefix = format!("{}%", unit.path);
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, Unit>(
            "SELECT id, district_id, parent_id, kind, code, name, path FROM units
             WHERE district_id = $1 AND path LIKE $2 ORDER BY path"
        )
        .bind(unit.district_id)
        .bind(&prefix)
        .fetch_all(pool)
        .await)?)
    }

    /// The unit with this id.
    pub async fn unit_by_id(&self, id: i64) -> StoreResult<Unit> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, Unit>(
            "SELECT id, district_id, parent_id, kind, code, name, path FROM units WHERE id = $1"
        )
        .bind(id)
        .fetch_one(pool)
        .await)?)
    }

    /// The unit with this code in a district.
    pub async fn unit_by_code(&self, district_id: i64, code: &str) -> StoreResult<Option<Unit>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, Unit>(
            "SELECT id, district_id, parent_id, kind, code, name, path FROM units
             WHERE district_id = $1 AND code = $2"
        )
        .bind(district_id)
        .bind(code)
        .fetch_optional(pool)
        .await)?)
    }

    /// Counts of units by kind.
    pub async fn unit_counts(&self, district_id: i64) -> StoreResult<Vec<(String, i64)>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, (String, i64)>(
            "SELECT kind, COUNT(*) FROM units WHERE district_id = $1 GROUP BY kind ORDER BY kind"
        )
        .bind(district_id)
        .fetch_all(pool)
        .await)?)
    }
}
