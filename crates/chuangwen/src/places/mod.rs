//! Places (PRODUCT.md M2): importing and exporting the registers of grid
//! cells, evaluation points and shop fronts, and resolving a location to its
//! grid, community and street.

pub mod export;
pub mod import;
pub mod spatial;

use serde::{Deserialize, Serialize};

use crate::domain::coords::Crs;
use crate::domain::geometry::Polygon;
use crate::progress::Progress;
use crate::store::org::District;
use crate::store::{Store, StoreError};
use import::{CheckedRow, Context, FileFormat, PlaceKind, RowError};
use spatial::{GridIndex, IndexedGrid};

/// The outcome of an import, shown on screen and stored with the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Which register.
    pub kind: PlaceKind,
    /// The file's format, when recognised.
    pub format: Option<FileFormat>,
    /// Rows (features) read.
    pub total_rows: usize,
    /// Rows written.
    pub imported: usize,
    /// Bad rows left out (only when the user chose to skip them).
    pub skipped: usize,
    /// True when nothing was written because the file had errors.
    pub refused: bool,
    /// Every problem found.
    pub errors: Vec<RowError>,
}

impl ImportReport {
    /// One line for people.
    pub fn summary(&self) -> String {
        if self.refused {
            format!(
                "{}导入未执行：发现 {} 处错误，未写入任何数据。请修正后重新导入，或选择“跳过错误行”。",
                self.kind.label(),
                self.errors.len()
            )
        } else if self.skipped > 0 {
            format!("{}导入完成：写入 {} 行，跳过 {} 个错误行。", self.kind.label(), self.imported, self.skipped)
        } else {
            format!("{}导入完成：写入 {} 行。", self.kind.label(), self.imported)
        }
    }
}

/// A district's grid cells in a spatial index: built once per district and
/// `places_version` (bumped by every grid import) and shared after that. The
/// district's creation time is part of the key: SQLite may give a deleted and
/// recreated demo district the same id and version again.
pub async fn load_grid_index(store: &Store, district_id: i64) -> Result<std::sync::Arc<GridIndex>, StoreError> {
    let tables = store.district_tables(district_id).await?;
    grid_index_in(store, district_id, &tables).await
}

/// [`load_grid_index`] for the map `tables` name (read with the session).
pub async fn grid_index_in(
    store: &Store,
    district_id: i64,
    tables: &crate::store::settings::DistrictTables,
) -> Result<std::sync::Arc<GridIndex>, StoreError> {
    let built_for = (tables.district_created_at, tables.places_version);
    if let Some((key, index)) = store.derived.grid_index.lock().expect("grid cache").get(&district_id)
        && *key == built_for
    {
        return Ok(index.clone());
    }
    let index = std::sync::Arc::new(build_grid_index(store, district_id).await?);
    store.derived.grid_index.lock().expect("grid cache").insert(district_id, (built_for, index.clone()));
    Ok(index)
}

async fn build_grid_index(store: &Store, district_id: i64) -> Result<GridIndex, StoreError> {
    let grids = store.grids(district_id).await?;
    let cells = grids
        .into_iter()
        .filter_map(|g| {
            let value: serde_json::Value = serde_json::from_str(&g.boundary).ok()?;
            let polygon = Polygon::from_geojson_value(&value).ok()?;
            Some(IndexedGrid { id: g.id, code: g.code, community_id: g.community_id, street_id: g.street_id, polygon })
        })
        .collect();
    Ok(GridIndex::build(cells))
}

/// Reads, checks and (unless refused) writes a place file. With errors and
/// without `skip_bad_rows`, nothing is written; with it, the good rows are
/// written in one transaction.
pub async fn import_places(
    store: &Store,
    district: &District,
    kind: PlaceKind,
    bytes: &[u8],
    crs: Crs,
    skip_bad_rows: bool,
    progress: &dyn Progress,
) -> Result<ImportReport, StoreError> {
    progress.step("读取文件");
    let (format, records) = match import::read_records(kind, bytes) {
        Ok(read) => read,
        Err(file_error) => {
            return Ok(ImportReport {
                kind,
                format: FileFormat::sniff(bytes),
                total_rows: 0,
                imported: 0,
                skipped: 0,
                refused: true,
                errors: vec![file_error],
            });
        }
    };
    progress.set_total(records.len() as u64 * 2);
    progress.step("检查数据");
    let units = store.units(district.id).await?;
    let index = load_grid_index(store, district.id).await?;
    let ctx = Context { district_code: &district.code, crs, units: &units, grids: &index };
    let (rows, errors) = import::check_records(kind, &records, &ctx, progress);
    let bad_rows = {
        let mut rows: Vec<usize> = errors.iter().map(|e| e.row).collect();
        rows.dedup();
        rows.len()
    };
    let mut report = ImportReport {
        kind,
        format: Some(format),
        total_rows: records.len(),
        imported: 0,
        skipped: 0,
        refused: false,
        errors,
    };
    if records.is_empty() {
        report.refused = true;
        report.errors.push(RowError::file("文件中没有数据行"));
        return Ok(report);
    }
    if !report.errors.is_empty() && !skip_bad_rows {
        report.refused = true;
        return Ok(report);
    }
    progress.step("写入数据库");
    report.skipped = bad_rows;
    report.imported = write_rows(store, district.id, kind, rows).await?;
    progress.advance(records.len() as u64);
    Ok(report)
}

async fn write_rows(
    store: &Store,
    district_id: i64,
    kind: PlaceKind,
    rows: Vec<CheckedRow>,
) -> Result<usize, StoreError> {
    match kind {
        PlaceKind::Grids => {
            let grids: Vec<_> =
                rows.into_iter().filter_map(|r| if let CheckedRow::Grid(g) = r { Some(g) } else { None }).collect();
            store.upsert_grids(district_id, &grids).await
        }
        PlaceKind::Points => {
            let points: Vec<_> =
                rows.into_iter().filter_map(|r| if let CheckedRow::Point(p) = r { Some(p) } else { None }).collect();
            store.upsert_points(district_id, &points).await
        }
        PlaceKind::Units => {
            let mut pending: Vec<_> =
                rows.into_iter().filter_map(|r| if let CheckedRow::Unit(u) = r { Some(u) } else { None }).collect();
            // Parents before children: checking made sure every chain ends in the database.
            let mut ordered = Vec::with_capacity(pending.len());
            while !pending.is_empty() {
                let waiting: std::collections::HashSet<String> = pending.iter().map(|u| u.code.clone()).collect();
                let (ready, rest): (Vec<_>, Vec<_>) =
                    pending.into_iter().partition(|u| u.parent_code.as_ref().is_none_or(|p| !waiting.contains(p)));
                if ready.is_empty() {
                    break;
                }
                ordered.extend(ready);
                pending = rest;
            }
            store.upsert_units(district_id, &ordered).await
        }
        PlaceKind::ShopFronts => {
            let shops: Vec<_> = rows
                .into_iter()
                .filter_map(|r| if let CheckedRow::ShopFront(s) = r { Some(s) } else { None })
                .collect();
            store.upsert_shop_fronts(district_id, &shops).await
        }
    }
}
