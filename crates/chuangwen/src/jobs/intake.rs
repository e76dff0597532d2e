//! The job behind a bulk intake batch: reads the kept file, checks every
//! row, files the findings (or refuses), and keeps the progress the batch's
//! page shows.

use std::sync::Arc;
use std::time::Duration;

use super::JobContext;
use crate::auth::audit::{AuditAction, NewAuditEntry};
use crate::intake::run_batch;
use crate::progress::Counters;
use crate::store::intake::IntakeJob;

/// Runs the batch named in the payload.
pub async fn run(ctx: &JobContext, payload: &str) -> Result<(), String> {
    let job: IntakeJob = serde_json::from_str(payload).map_err(|e| format!("bad payload: {e}"))?;
    let store = &ctx.store;
    let batch = store.intake_batch_by_id(job.batch_id).await.map_err(|e| e.to_string())?;
    if !matches!(batch.state.as_str(), "queued" | "running") {
        return Ok(()); // Finished by an earlier attempt.
    }
    let bytes = ctx.files.get(&batch.file_key).await.map_err(|e| e.to_string())?;
    store.set_intake_progress(batch.id, 0, 0).await.map_err(|e| e.to_string())?;

    // A ticker copies the counters to the database for the page to poll.
    let counters = Arc::new(Counters::default());
    let ticker = {
        let (store, counters, id) = (store.clone(), counters.clone(), batch.id);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let (done, total) = counters.get();
                let _ = store.set_intake_progress(id, done as i64, total as i64).await;
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
        run_batch(store, &batch, &bytes, job.duplicate_radius_m, job.duplicate_days, &audit, counters.as_ref()).await;
    ticker.abort();
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
