//! Grid cells, evaluation points and shop fronts (PRODUCT.md M2).

use serde::Serialize;
use sqlx::QueryBuilder;

use super::{Store, StoreResult, now};
use crate::auth::policy::Scope;
use crate::{read, transaction};

/// A grid cell as stored.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Grid {
    /// Row id.
    pub id: i64,
    /// 15-digit code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Owning community.
    pub community_id: i64,
    /// Owning street.
    pub street_id: i64,
    /// GeoJSON Polygon, WGS-84.
    pub boundary: String,
    /// Area in m².
    pub area_m2: f64,
}

/// A grid cell to insert or update (by code).
#[derive(Clone, Debug)]
pub struct NewGrid {
    /// 15-digit code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Owning community.
    pub community_id: i64,
    /// Owning street.
    pub street_id: i64,
    /// GeoJSON Polygon, WGS-84.
    pub boundary: String,
    /// `(min_lon, min_lat, max_lon, max_lat)`.
    pub bbox: (f64, f64, f64, f64),
    /// Area in m².
    pub area_m2: f64,
}

/// An evaluation point as listed and exported, with the names people read.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Point {
    /// Row id.
    pub id: i64,
    /// Code, unique in the district.
    pub code: String,
    /// Name.
    pub name: String,
    /// Point type code.
    pub point_type: String,
    /// WGS-84 longitude.
    pub lon: f64,
    /// WGS-84 latitude.
    pub lat: f64,
    /// GeoJSON Polygon when the point is an area.
    pub area: Option<String>,
    /// Street address.
    pub address: String,
    /// Grid-cell code, when the point lies in one.
    pub grid_code: Option<String>,
    /// Community name.
    pub community_name: Option<String>,
    /// Street name.
    pub street_name: Option<String>,
    /// Responsible unit code.
    pub responsible_unit_code: String,
    /// Responsible unit name.
    pub responsible_unit_name: String,
    /// 包保 leader.
    pub leader_name: String,
}

/// An evaluation point to insert or update (by code).
#[derive(Clone, Debug)]
pub struct NewPoint {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Point type code.
    pub point_type: String,
    /// WGS-84 longitude (the centre of an area).
    pub lon: f64,
    /// WGS-84 latitude.
    pub lat: f64,
    /// GeoJSON Polygon of an area.
    pub area: Option<String>,
    /// Address.
    pub address: String,
    /// Resolved grid cell.
    pub grid_id: Option<i64>,
    /// Resolved community.
    pub community_id: Option<i64>,
    /// Resolved street.
    pub street_id: Option<i64>,
    /// Responsible unit.
    pub responsible_unit_id: i64,
    /// 包保 leader.
    pub leader_name: String,
}

/// A shop front under 门前三包, as listed and exported.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ShopFront {
    /// Row id.
    pub id: i64,
    /// Code.
    pub code: String,
    /// Shop name.
    pub name: String,
    /// Business type.
    pub business_type: String,
    /// WGS-84 longitude.
    pub lon: f64,
    /// WGS-84 latitude.
    pub lat: f64,
    /// Address.
    pub address: String,
    /// The party responsible (责任人).
    pub responsible_party: String,
    /// Grid-cell code.
    pub grid_code: Option<String>,
    /// Street name.
    pub street_name: Option<String>,
}

/// A shop front to insert or update (by code).
#[derive(Clone, Debug)]
pub struct NewShopFront {
    /// Code.
    pub code: String,
    /// Shop name.
    pub name: String,
    /// Business type.
    pub business_type: String,
    /// WGS-84 longitude.
    pub lon: f64,
    /// WGS-84 latitude.
    pub lat: f64,
    /// Address.
    pub address: String,
    /// The party responsible.
    pub responsible_party: String,
    /// Resolved grid cell.
    pub grid_id: Option<i64>,
    /// Resolved community.
    pub community_id: Option<i64>,
    /// Resolved street.
    pub street_id: Option<i64>,
}

/// Filters of the point list.
#[derive(Clone, Debug, Default)]
pub struct PointFilter {
    /// Only this type.
    pub point_type: Option<String>,
    /// Only in this street.
    pub street_id: Option<i64>,
    /// Keyset cursor: points with a larger id.
    pub after_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// Rows per multi-row INSERT: well under SQLite's 32,766 bound parameters.
const BATCH: usize = 500;

const POINT_SELECT: &str = "SELECT p.id, p.code, p.name, p.point_type, p.lon, p.lat, p.area, p.address,
        g.code AS grid_code, c.name AS community_name, s.name AS street_name,
        u.code AS responsible_unit_code, u.name AS responsible_unit_name, p.leader_name
     FROM points p
     JOIN units u ON u.id = p.responsible_unit_id
     LEFT JOIN grids g ON g.id = p.grid_id
     LEFT JOIN units c ON c.id = p.community_id
     LEFT JOIN units s ON s.id = p.street_id";

/// Limits a point query to a scope: points in the scope's streets or
/// communities, or whose responsible unit is in the scope.
fn push_point_scope<'a, DB: sqlx::Database>(q: &mut QueryBuilder<DB>, district_id: i64, scope: &Scope)
where
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if let Some(pattern) = scope.path_pattern() {
        for (i, column) in ["p.street_id", "p.community_id", "p.responsible_unit_id"].iter().enumerate() {
            q.push(if i == 0 { " AND (" } else { " OR " });
            q.push(*column).push(" IN (SELECT id FROM units WHERE district_id = ");
            q.push_bind(district_id).push(" AND path LIKE ").push_bind(pattern.clone()).push(")");
        }
        q.push(")");
    }
}

impl Store {
    /// Inserts grid cells, updating those whose code exists, and bumps the
    /// district's places version so spatial indexes reload.
    pub async fn upsert_grids(&self, district_id: i64, grids: &[NewGrid]) -> StoreResult<usize> {
        let at = now();
        transaction!(&self.db, |tx| {
            for chunk in grids.chunks(BATCH) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO grids (district_id, code, name, community_id, street_id, boundary,
                     min_lon, min_lat, max_lon, max_lat, area_m2, created_at) ",
                );
                q.push_values(chunk, |mut row, g| {
                    row.push_bind(district_id)
                        .push_bind(g.code.clone())
                        .push_bind(g.name.clone())
                        .push_bind(g.community_id)
                        .push_bind(g.street_id)
                        .push_bind(g.boundary.clone())
                        .push_bind(g.bbox.0)
                        .push_bind(g.bbox.1)
                        .push_bind(g.bbox.2)
                        .push_bind(g.bbox.3)
                        .push_bind(g.area_m2)
                        .push_bind(at);
                });
                q.push(
                    " ON CONFLICT (district_id, code) DO UPDATE SET name = excluded.name,
                      community_id = excluded.community_id, street_id = excluded.street_id,
                      boundary = excluded.boundary, min_lon = excluded.min_lon, min_lat = excluded.min_lat,
                      max_lon = excluded.max_lon, max_lat = excluded.max_lat, area_m2 = excluded.area_m2",
                );
                q.build().execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE districts SET places_version = places_version + 1 WHERE id = $1")
                .bind(district_id)
                .execute(&mut *tx)
                .await?;
        });
        Ok(grids.len())
    }

    /// Every grid cell of a district, in code order.
    pub async fn grids(&self, district_id: i64) -> StoreResult<Vec<Grid>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, Grid>(
            "SELECT id, code, name, community_id, street_id, boundary, area_m2 FROM grids
             WHERE district_id = $1 ORDER BY code"
        )
        .bind(district_id)
        .fetch_all(pool)
        .await)?)
    }

    /// One grid cell.
    pub async fn grid(&self, district_id: i64, id: i64) -> StoreResult<Option<Grid>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, Grid>(
            "SELECT id, code, name, community_id, street_id, boundary, area_m2 FROM grids
             WHERE district_id = $1 AND id = $2"
        )
        .bind(district_id)
        .bind(id)
        .fetch_optional(pool)
        .await)?)
    }

    /// Inserts evaluation points, updating those whose code exists.
    pub async fn upsert_points(&self, district_id: i64, points: &[NewPoint]) -> StoreResult<usize> {
        let at = now();
        transaction!(&self.db, |tx| {
            for chunk in points.chunks(BATCH) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO points (district_id, code, name, point_type, lon, lat, area, address,
                     grid_id, community_id, street_id, responsible_unit_id, leader_name, created_at) ",
                );
                q.push_values(chunk, |mut row, p| {
                    row.push_bind(district_id)
                        .push_bind(p.code.clone())
                        .push_bind(p.name.clone())
                        .push_bind(p.point_type.clone())
                        .push_bind(p.lon)
                        .push_bind(p.lat)
                        .push_bind(p.area.clone())
                        .push_bind(p.address.clone())
                        .push_bind(p.grid_id)
                        .push_bind(p.community_id)
                        .push_bind(p.street_id)
                        .push_bind(p.responsible_unit_id)
                        .push_bind(p.leader_name.clone())
                        .push_bind(at);
                });
                q.push(
                    " ON CONFLICT (district_id, code) DO UPDATE SET name = excluded.name,
                      point_type = excluded.point_type, lon = excluded.lon, lat = excluded.lat,
                      area = excluded.area, address = excluded.address, grid_id = excluded.grid_id,
                      community_id = excluded.community_id, street_id = excluded.street_id,
                      responsible_unit_id = excluded.responsible_unit_id, leader_name = excluded.leader_name",
                );
                q.build().execute(&mut *tx).await?;
            }
        });
        Ok(points.len())
    }

    /// One page of the points a scope sees, in id order (keyset, never OFFSET).
    pub async fn points(&self, district_id: i64, scope: &Scope, filter: &PointFilter) -> StoreResult<Vec<Point>> {
        Ok(read!(&self.db, |pool| {
            let mut q = QueryBuilder::new(POINT_SELECT);
            q.push(" WHERE p.district_id = ").push_bind(district_id);
            push_point_scope(&mut q, district_id, scope);
            if let Some(t) = &filter.point_type {
                q.push(" AND p.point_type = ").push_bind(t.clone());
            }
            if let Some(s) = filter.street_id {
                q.push(" AND p.street_id = ").push_bind(s);
            }
            if let Some(after) = filter.after_id {
                q.push(" AND p.id > ").push_bind(after);
            }
            q.push(" ORDER BY p.id LIMIT ").push_bind(filter.limit.max(1));
            q.build_query_as::<Point>().fetch_all(pool).await
        })?)
    }

    /// Every point of a district, for export.
    pub async fn all_points(&self, district_id: i64) -> StoreResult<Vec<Point>> {
        self.points(district_id, &Scope::District, &PointFilter { limit: i64::MAX, ..Default::default() }).await
    }

    /// One point, if the scope sees it.
    pub async fn point(&self, district_id: i64, scope: &Scope, id: i64) -> StoreResult<Option<Point>> {
        Ok(read!(&self.db, |pool| {
            let mut q = QueryBuilder::new(POINT_SELECT);
            q.push(" WHERE p.district_id = ").push_bind(district_id).push(" AND p.id = ").push_bind(id);
            push_point_scope(&mut q, district_id, scope);
            q.build_query_as::<Point>().fetch_optional(pool).await
        })?)
    }

    /// Counts of points by type.
    pub async fn point_counts(&self, district_id: i64) -> StoreResult<Vec<(String, i64)>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, (String, i64)>(
            "SELECT point_type, COUNT(*) FROM points WHERE district_id = $1 GROUP BY point_type ORDER BY point_type"
        )
        .bind(district_id)
        .fetch_all(pool)
        .await
        })?)
    }

    /// Inserts shop fronts, updating those whose code exists.
    pub async fn upsert_shop_fronts(&self, district_id: i64, shops: &[NewShopFront]) -> StoreResult<usize> {
        let at = now();
        transaction!(&self.db, |tx| {
            for chunk in shops.chunks(BATCH) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO shop_fronts (district_id, code, name, business_type, lon, lat, address,
                     responsible_party, grid_id, community_id, street_id, created_at) ",
                );
                q.push_values(chunk, |mut row, s| {
                    row.push_bind(district_id)
                        .push_bind(s.code.clone())
                        .push_bind(s.name.clone())
                        .push_bind(s.business_type.clone())
                        .push_bind(s.lon)
                        .push_bind(s.lat)
                        .push_bind(s.address.clone())
                        .push_bind(s.responsible_party.clone())
                        .push_bind(s.grid_id)
                        .push_bind(s.community_id)
                        .push_bind(s.street_id)
                        .push_bind(at);
                });
                q.push(
                    " ON CONFLICT (district_id, code) DO UPDATE SET name = excluded.name,
                      business_type = excluded.business_type, lon = excluded.lon, lat = excluded.lat,
                      address = excluded.address, responsible_party = excluded.responsible_party,
                      grid_id = excluded.grid_id, community_id = excluded.community_id,
                      street_id = excluded.street_id",
                );
                q.build().execute(&mut *tx).await?;
            }
        });
        Ok(shops.len())
    }

    /// Every shop front of a district, for export.
    pub async fn shop_fronts(&self, district_id: i64) -> StoreResult<Vec<ShopFront>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, ShopFront>(
                "SELECT f.id, f.code, f.name, f.business_type, f.lon, f.lat, f.address, f.responsible_party,
                    g.code AS grid_code, s.name AS street_name
             FROM shop_fronts f
             LEFT JOIN grids g ON g.id = f.grid_id
             LEFT JOIN units s ON s.id = f.street_id
             WHERE f.district_id = $1 ORDER BY f.id",
            )
            .bind(district_id)
            .fetch_all(pool)
            .await
        })?)
    }

    /// How many grids, points and shop fronts a district has.
    pub async fn place_totals(&self, district_id: i64) -> StoreResult<(i64, i64, i64)> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, (i64, i64, i64)>(
                "SELECT (SELECT COUNT(*) FROM grids WHERE district_id = $1),
                    (SELECT COUNT(*) FROM points WHERE district_id = $1),
                    (SELECT COUNT(*) FROM shop_fronts WHERE district_id = $1)",
            )
            .bind(district_id)
            .fetch_one(pool)
            .await
        })?)
    }
}

/// A place import started from the web, with its progress and report.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct PlaceImport {
    /// Row id.
    pub id: i64,
    /// District.
    pub district_id: i64,
    /// Who started it.
    pub user_id: Option<i64>,
    /// `grids`, `points` or `shop_fronts`.
    pub kind: String,
    /// `wgs84`, `gcj02` or `bd09`.
    pub crs: String,
    /// The uploaded file's name, as given.
    pub file_name: String,
    /// Where the uploaded file is kept.
    pub file_key: String,
    /// Write the good rows even when some are bad.
    pub skip_bad_rows: bool,
    /// `queued`, `running`, `done`, `refused` or `failed`.
    pub state: String,
    /// Work in all.
    pub total_rows: i64,
    /// Work done.
    pub done_rows: i64,
    /// Rows written.
    pub imported: i64,
    /// The report, JSON.
    pub report: Option<String>,
    /// When it was started.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A place import to record.
pub struct NewPlaceImport<'a> {
    /// Who starts it.
    pub user_id: i64,
    /// Register code.
    pub kind: &'a str,
    /// Format code.
    pub format: &'a str,
    /// CRS code.
    pub crs: &'a str,
    /// Original file name.
    pub file_name: &'a str,
    /// Where the file is kept.
    pub file_key: &'a str,
    /// Skip bad rows.
    pub skip_bad_rows: bool,
}

impl Store {
    /// Records a queued import and its job in one transaction.
    pub async fn create_place_import(&self, district_id: i64, new: &NewPlaceImport<'_>) -> StoreResult<i64> {
        let at = now();
        let id = transaction!(&self.db, |tx| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO place_imports (district_id, user_id, kind, format, crs, file_name, file_key,
                 skip_bad_rows, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9) RETURNING id",
            )
            .bind(district_id)
            .bind(new.user_id)
            .bind(new.kind)
            .bind(new.format)
            .bind(new.crs)
            .bind(new.file_name)
            .bind(new.file_key)
            .bind(new.skip_bad_rows)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO jobs (kind, payload, state, run_at, created_at) VALUES ('places_import', $1, 'queued', $2, $2)")
                .bind(serde_json::json!({ "import_id": id }).to_string())
                .bind(at)
                .execute(&mut *tx)
                .await?;
            id
        });
        Ok(id)
    }

    /// One import, if it belongs to the district.
    pub async fn place_import(&self, district_id: i64, id: i64) -> StoreResult<Option<PlaceImport>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, PlaceImport>(
                "SELECT id, district_id, user_id, kind, crs, file_name, file_key, skip_bad_rows, state, total_rows,
                    done_rows, imported, report, created_at
             FROM place_imports WHERE district_id = $1 AND id = $2",
            )
            .bind(district_id)
            .bind(id)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// One import by id alone (for the job that runs it).
    pub async fn place_import_by_id(&self, id: i64) -> StoreResult<PlaceImport> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, PlaceImport>(
                "SELECT id, district_id, user_id, kind, crs, file_name, file_key, skip_bad_rows, state, total_rows,
                    done_rows, imported, report, created_at
             FROM place_imports WHERE id = $1",
            )
            .bind(id)
            .fetch_one(pool)
            .await
        })?)
    }

    /// The district's latest imports.
    pub async fn recent_place_imports(&self, district_id: i64, limit: i64) -> StoreResult<Vec<PlaceImport>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, PlaceImport>(
                "SELECT id, district_id, user_id, kind, crs, file_name, file_key, skip_bad_rows, state, total_rows,
                    done_rows, imported, report, created_at
             FROM place_imports WHERE district_id = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(district_id)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Records how far an import has come.
    pub async fn set_place_import_progress(&self, id: i64, state: &str, done: i64, total: i64) -> StoreResult<()> {
        transaction!(&self.db, |tx| {
            sqlx::query("UPDATE place_imports SET state = $1, done_rows = $2, total_rows = $3 WHERE id = $4")
                .bind(state)
                .bind(done)
                .bind(total)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Records the end of an import and its report.
    pub async fn finish_place_import(&self, id: i64, state: &str, imported: i64, report: &str) -> StoreResult<()> {
        let at = now();
        transaction!(&self.db, |tx| {
            sqlx::query(
                "UPDATE place_imports SET state = $1, imported = $2, report = $3, finished_at = $4,
                 done_rows = total_rows WHERE id = $5",
            )
            .bind(state)
            .bind(imported)
            .bind(report)
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }
}
