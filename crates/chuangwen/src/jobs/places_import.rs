//! The job behind a place import started from the web: reads the uploaded
//! file, checks and writes it, and keeps the progress the page shows.

use std::sync::Arc;

use super::JobContext;
use crate::domain::coords::Crs;
use crate::places::import::PlaceKind;
use crate::places::{ImportReport, import_places};
use crate::progress::Counters;

#[derive(serde::Deserialize)]
struct Payload {
    import_id: i64,
}

/// Runs the import named in the payload.
pub async fn run(ctx: &JobContext, payload: &str) -> Result<(), String> {
    let payload: Payload = serde_json::from_str(payload).map_err(|e| format!("bad payload: {e}"))?;
    let store = &ctx.store;
    let run = store.place_import_by_id(payload.import_id).await.map_err(|e| e.to_string())?;
    if matches!(run.state.as_str(), "done" | "refused") {
        return Ok(()); // Already finished by an earlier attempt.
    }
    let district = store.district(run.district_id).await.map_err(|e| e.to_string())?;
    let kind = PlaceKind::parse(&run.kind).ok_or("unknown place kind")?;
    let crs = Crs::parse(&run.crs).unwrap_or(Crs::Wgs84);
    let bytes = ctx.files.get(&run.file_key).await.map_err(|e| e.to_string())?;
    store.set_place_import_progress(run.id, "running", 0, 0).await.map_err(|e| e.to_string())?;

    let counters = Arc::new(Counters::default());
    let ticker = {
        let (store, id) = (store.clone(), run.id);
        super::Ticker::start(counters.clone(), move |done, total| {
            let store = store.clone();
            async move {
                let _ = store.set_place_import_progress(id, "running", done, total).await;
            }
        })
    };
    let result = import_places(store, &district, kind, &bytes, crs, run.skip_bad_rows, counters.as_ref()).await;
    drop(ticker);
    let report: ImportReport = result.map_err(|e| e.to_string())?;
    let state = if report.refused { "refused" } else { "done" };
    let json = serde_json::to_string(&report).expect("a report serialises");
    store.finish_place_import(run.id, state, report.imported as i64, &json).await.map_err(|e| e.to_string())?;
    tracing::info!(
        import = run.id,
        state,
        imported = report.imported,
        errors = report.errors.len(),
        "place import finished"
    );
    Ok(())
}
