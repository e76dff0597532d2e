//! The job behind a bulk intake batch: reads the kept file, checks every
//! row, files the findings (or refuses), and keeps the progress the batch's
//! page shows.

use std::sync::Arc;

use super::JobContext;
use crate::auth::audit::{AuditAction, NewAuditEntry};
use crate::intake::run_batch;
use crate::progress::Counters;
use crate::store::intake::IntakeJob;

/// Runs the batch named in the payload. A failure is retried; after the
/// last attempt (`last`) the batch is marked failed, so its page stops
/// waiting and it may be set running again.
pub async fn run(ctx: &JobContext, payload: &str, last: bool) -> Result<(), String> {
    let job: IntakeJob = serde_json::from_str(payload).map_err(|e| format!("bad payload: {e}"))?;
    let outcome = attempt(ctx, &job).await;
    if let Err(error) = &outcome
        && last
    {
        let report = serde_json::json!({ "refused": true, "errors": [{ "row": 0, "field": "文件", "reason": "导入失败，请稍后重试或联系系统管理员" }] });
        if let Err(e) = ctx.store.finish_intake_batch(job.batch_id, "failed", 0, &report.to_string()).await {
            tracing::error!(batch = job.batch_id, error = %e, "could not mark the batch failed");
        }
        tracing::error!(batch = job.batch_id, error = %error, "intake batch failed for good");
    }
    outcome
}

async fn attempt(ctx: &JobContext, job: &IntakeJob) -> Result<(), String> {
    let store = &ctx.store;
    let batch = store.intake_batch_by_id(job.batch_id).await.map_err(|e| e.to_string())?;
    if !matches!(batch.state.as_str(), "queued" | "running") {
        return Ok(()); // Finished by an earlier attempt.
    }
    let bytes = ctx.files.get(&batch.file_key).await.map_err(|e| e.to_string())?;
    store.set_intake_progress(batch.id, 0, 0).await.map_err(|e| e.to_string())?;

    let counters = Arc::new(Counters::default());
    let ticker = {
        let (store, id) = (store.clone(), batch.id);
        super::Ticker::start(counters.clone(), move |done, total| {
            let store = store.clone();
            async move {
                let _ = store.set_intake_progress(id, done, total).await;
            }
        })
    };
    let audit = NewAuditEntry {
        district_id: Some(batch.district_id),
        actor_id: job.actor_id,
        actor: job.actor.clone(),
        action: AuditAction::DataImported,
        object: String::new(),
        detail: String::new(),
        ip: job.ip.clone(),
    };
    let result =
        run_batch(store, &batch, bytes, job.duplicate_radius_m, job.duplicate_days, &audit, counters.as_ref()).await;
    drop(ticker);
    let report = result.map_err(|e| e.to_string())?;
    tracing::info!(
        batch = batch.id,
        refused = report.refused,
        imported = report.imported,
        bad_rows = report.bad_rows,
        duplicates = report.duplicates.len(),
        "intake batch finished"
    );
    Ok(())
}
