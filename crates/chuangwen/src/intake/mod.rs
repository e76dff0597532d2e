//! Bulk intake (批量导入, PRODUCT.md M12): a third-party evaluation
//! company's spreadsheet of findings or a 12345 hotline export becomes cases
//! in one batch.
//!
//! The steps: the file is kept and its columns mapped to our fields (the
//! mapping is saved per source); every row is checked ([`check`]); findings
//! already imported, or already open as a case nearby, are set aside; then
//! either nothing is filed (a bad row, and the user did not choose to skip
//! bad rows) or every good finding is filed in one transaction. A batch can
//! be undone as a whole within 24 hours while none of its cases has moved on.

pub mod check;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::auth::audit::NewAuditEntry;
use crate::places::import::RowError;
use crate::places::load_grid_index;
use crate::progress::Progress;
use crate::sheet::read_table_blocking;
use crate::store::intake::{IntakeBatch, UNDO_WINDOW, UndoRefusal};
use crate::store::{Store, StoreError};
use check::{Context, Duplicate, DuplicateKind, Mapping};

/// The outcome of a batch, shown on its page and kept with it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IntakeReport {
    /// Data rows read.
    pub total_rows: usize,
    /// Cases filed.
    pub imported: usize,
    /// Bad rows (left out, or the reason nothing was filed).
    pub bad_rows: usize,
    /// True when nothing was filed because of bad rows (or the file itself).
    pub refused: bool,
    /// Every problem, by row.
    pub errors: Vec<RowError>,
    /// Findings matching a case already in the register.
    pub duplicates: Vec<Duplicate>,
    /// Of those, how many were filed anyway (near an open case, when chosen).
    pub duplicates_filed: usize,
    /// The first and last case numbers filed.
    pub numbers: Option<(String, String)>,
}

impl IntakeReport {
    fn refused(errors: Vec<RowError>) -> IntakeReport {
        IntakeReport { refused: true, errors, ..IntakeReport::default() }
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        let skipped_duplicates = self.duplicates.len() - self.duplicates_filed;
        if self.refused {
            if self.bad_rows == 0 {
                let why = self.errors.first().map(|e| e.reason.as_str()).unwrap_or("文件无法读取");
                return format!("导入未执行：{why}。未写入任何数据。");
            }
            return format!(
                "导入未执行：{} 行中有 {} 行有误，未写入任何数据。请修正后重新上传，或选择“跳过错误行”导入其余各行。",
                self.total_rows, self.bad_rows
            );
        }
        let mut parts = vec![format!("导入完成：{} 行中立案 {} 件", self.total_rows, self.imported)];
        if let Some((first, last)) = &self.numbers {
            parts.push(format!("编号 {first} 至 {last}"));
        }
        if self.bad_rows > 0 {
            parts.push(format!("跳过错误行 {} 行", self.bad_rows));
        }
        if skipped_duplicates > 0 {
            parts.push(format!("跳过重复 {skipped_duplicates} 行"));
        }
        if self.duplicates_filed > 0 {
            parts.push(format!("疑似重复仍立案 {} 件", self.duplicates_filed));
        }
        parts.join("，") + "。"
    }
}

/// Rows with at least one error.
pub fn bad_rows(errors: &[RowError]) -> usize {
    let mut rows: Vec<usize> = errors.iter().map(|e| e.row).collect();
    rows.dedup();
    rows.len()
}

/// Checks a batch's file with its mapping and, unless refused, files its
/// findings. The batch's row is brought to `done` (with the cases, in one
/// transaction) or `refused`; a store failure leaves it for the job to retry.
pub async fn run_batch(
    store: &Store,
    batch: &IntakeBatch,
    bytes: bytes::Bytes,
    duplicate_radius_m: f64,
    duplicate_days: u32,
    audit: &NewAuditEntry,
    progress: &dyn Progress,
) -> Result<IntakeReport, StoreError> {
    let (report, to_file) = check_batch(store, batch, bytes, duplicate_radius_m, duplicate_days, progress).await?;
    let json = |r: &IntakeReport| serde_json::to_string(r).expect("a report serialises");
    if report.refused {
        store.finish_intake_batch(batch.id, "refused", report.total_rows as i64, &json(&report)).await?;
        return Ok(report);
    }
    progress.step("写入案卷");
    let findings: Vec<&check::Finding> = to_file.iter().collect();
    let mut report = IntakeReport { imported: findings.len(), ..report };
    let stored =
        |numbers: Option<&(String, String)>| json(&IntakeReport { numbers: numbers.cloned(), ..report.clone() });
    report.numbers = store
        .file_intake_batch(batch.district_id, batch.id, &findings, report.total_rows as i64, stored, audit)
        .await?;
    Ok(report)
}

/// Reads and checks a batch's file: the report so far and the findings to
/// file (none when refused).
async fn check_batch(
    store: &Store,
    batch: &IntakeBatch,
    bytes: bytes::Bytes,
    duplicate_radius_m: f64,
    duplicate_days: u32,
    progress: &dyn Progress,
) -> Result<(IntakeReport, Vec<check::Finding>), StoreError> {
    progress.step("读取文件");
    let table = match read_table_blocking(bytes).await {
        Ok(t) => t,
        Err(reason) => return Ok((IntakeReport::refused(vec![RowError::file(reason)]), vec![])),
    };
    let mapping: Mapping = serde_json::from_str(&batch.mapping).unwrap_or_default();
    let columns = match mapping.columns_in(&table.headers) {
        Ok(c) => c,
        Err(reason) => return Ok((IntakeReport::refused(vec![RowError::file(reason)]), vec![])),
    };
    if table.rows.is_empty() {
        return Ok((IntakeReport::refused(vec![RowError::file("文件中没有数据行")]), vec![]));
    }
    progress.set_total(table.rows.len() as u64);
    progress.step("逐行检查");
    let categories = store.categories(batch.district_id).await?;
    let points = store.point_refs(batch.district_id).await?;
    let grids = load_grid_index(store, batch.district_id).await?;
    let ctx = Context {
        source: &batch.source,
        categories: &categories,
        points: &points,
        grids: &grids,
        crs: mapping.crs(),
        now: crate::store::now(),
    };
    let (findings, errors) = check::check_rows(&table, &columns, &ctx, progress);
    progress.step("查找重复");
    let refs: Vec<&str> = findings.iter().filter_map(|f| f.external_ref.as_deref()).collect();
    let imported = store.imported_refs(batch.district_id, &batch.source, &refs).await?;
    let since = ctx.now - chrono::Duration::days(duplicate_days as i64);
    let open = store.open_cases_since(batch.district_id, since).await?;
    let duplicates = check::find_duplicates(&findings, &imported, &open, duplicate_radius_m);
    let mut report = IntakeReport {
        total_rows: table.rows.len(),
        bad_rows: bad_rows(&errors),
        refused: !errors.is_empty() && !batch.skip_bad_rows,
        errors,
        ..IntakeReport::default()
    };
    if report.refused {
        report.duplicates = duplicates;
        return Ok((report, vec![]));
    }
    let set_aside: HashMap<usize, DuplicateKind> = duplicates
        .iter()
        .filter(|d| d.kind == DuplicateKind::AlreadyImported || !batch.import_duplicates)
        .map(|d| (d.row, d.kind))
        .collect();
    report.duplicates_filed = duplicates.len() - set_aside.len();
    report.duplicates = duplicates;
    let to_file = findings.into_iter().filter(|f| !set_aside.contains_key(&f.row)).collect();
    Ok((report, to_file))
}

/// Why a batch cannot be undone now, if it cannot: the page and the store
/// ask the same question. Whether a case has moved on is the store's to say,
/// in the undoing transaction.
pub fn undo_refusal(batch: &IntakeBatch, now: chrono::DateTime<chrono::Utc>) -> Option<UndoRefusal> {
    match (batch.state.as_str(), batch.finished_at) {
        ("undone", _) => Some(UndoRefusal::Undone),
        ("done", _) if batch.imported == 0 => Some(UndoRefusal::NothingFiled),
        ("done", Some(at)) if now - at <= UNDO_WINDOW => None,
        ("done", _) => Some(UndoRefusal::TooLate),
        _ => Some(UndoRefusal::NotDone),
    }
}
