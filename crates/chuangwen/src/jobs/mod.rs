//! Background jobs: claimed from the `jobs` table, so several app nodes can
//! share the work without doing a job twice. A failed job is retried with
//! exponential backoff; on shutdown a job still running is given a grace
//! period, then released for another node to take up.

pub mod deadlines;
pub mod intake;
pub mod places_import;
pub mod reports;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, watch};
use tracing::Instrument;

use crate::files::Files;
use crate::store::Store;
use crate::store::jobs::ClaimedJob;

/// Attempts before a job is given up.
pub const MAX_ATTEMPTS: i64 = 5;
/// How long a running job may finish after shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// A job claimed longer ago than this belongs to a node that died.
pub const STALE_AFTER: Duration = Duration::from_secs(15 * 60);

/// Copies a job's counters to the database every 250 ms for its page to
/// poll, until dropped — also when the job fails or panics.
pub struct Ticker(tokio::task::JoinHandle<()>);

impl Ticker {
    /// Starts ticking: `record(done, total)` writes the counters.
    pub fn start<F, Fut>(counters: Arc<crate::progress::Counters>, record: F) -> Ticker
    where
        F: Fn(i64, i64) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        Ticker(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let (done, total) = counters.get();
                record(done as i64, total as i64).await;
            }
        }))
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a job needs to run.
#[derive(Clone, Debug)]
pub struct JobContext {
    /// The database.
    pub store: Store,
    /// Uploaded files.
    pub files: Files,
    /// Opens sealed secrets (webhook keys).
    pub crypto: crate::auth::crypto::PiCrypto,
    /// Posts webhook deliveries (`reports::http_client`).
    pub http: reqwest::Client,
}

/// The runner of one app node.
pub struct JobRunner {
    ctx: JobContext,
    worker: String,
    wake: Arc<Notify>,
}

impl JobRunner {
    /// A runner with a unique worker name.
    pub fn new(ctx: JobContext, wake: Arc<Notify>) -> JobRunner {
        let worker = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        JobRunner { ctx, worker, wake }
    }

    /// This node's worker name (stored with each claim).
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Runs jobs until `shutdown` turns true; then releases what it holds.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        if let Err(err) = self.ctx.store.requeue_stale_jobs(Utc::now() - STALE_AFTER).await {
            tracing::warn!(error = %err, "could not requeue stale jobs");
        }
        let mut scheduled: Option<std::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            // The deadline watcher runs every minute, on whichever node claims it.
            if scheduled.is_none_or(|at| at.elapsed() > Duration::from_secs(30)) {
                scheduled = Some(std::time::Instant::now());
                if let Err(err) =
                    self.ctx.store.ensure_periodic_job("deadline_watch", Utc::now() + deadlines::EVERY).await
                {
                    tracing::warn!(error = %err, "could not schedule the deadline watcher");
                }
                // The daily inspection sheets at 08:00 Beijing time.
                if let Err(err) =
                    self.ctx.store.ensure_periodic_job("daily_sheets", reports::next_sheet_time(Utc::now())).await
                {
                    tracing::warn!(error = %err, "could not schedule the daily sheets");
                }
            }
            match self.ctx.store.claim_job(&self.worker).await {
                Ok(Some(job)) => {
                    let id = job.id;
                    let work = run_one(self.ctx.clone(), job);
                    tokio::pin!(work);
                    tokio::select! {
                        _ = &mut work => {}
                        _ = shutdown.changed() => {
                            // In-flight work gets a grace period, then is released.
                            if tokio::time::timeout(SHUTDOWN_GRACE, &mut work).await.is_err() {
                                tracing::warn!(job = id, "job still running at shutdown: released");
                            }
                            break;
                        }
                    }
                }
                Ok(None) => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, "claiming a job failed");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
        match self.ctx.store.release_jobs(&self.worker).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "released claimed jobs"),
            Err(err) => tracing::error!(error = %err, "releasing claimed jobs failed"),
        }
    }
}

/// Runs one claimed job and records its outcome.
pub async fn run_one(ctx: JobContext, job: ClaimedJob) {
    let span = tracing::info_span!("job", id = job.id, kind = %job.kind, attempt = job.attempts);
    run_and_record(ctx, job).instrument(span).await
}

async fn run_and_record(ctx: JobContext, job: ClaimedJob) {
    let outcome = match job.kind.as_str() {
        "places_import" => places_import::run(&ctx, &job.payload).await,
        "intake" => intake::run(&ctx, &job.payload, job.attempts >= MAX_ATTEMPTS).await,
        "deadline_watch" => deadlines::run(&ctx).await,
        "daily_sheets" => reports::run_daily_sheets(&ctx).await,
        "webhook_delivery" => reports::run_delivery(&ctx, &job.payload, job.attempts).await,
        other => Err(format!("unknown job kind {other}")),
    };
    let recorded = match outcome {
        Ok(()) => ctx.store.finish_job(job.id).await,
        Err(error) => {
            // A webhook receiver may be down for hours; other jobs give up sooner.
            let (attempts, pause) = match job.kind.as_str() {
                "webhook_delivery" => (reports::DELIVERY_ATTEMPTS, reports::delivery_backoff(job.attempts)),
                _ => (MAX_ATTEMPTS, Duration::from_secs(2u64.pow(job.attempts as u32) * 5)),
            };
            let retry_at = (job.attempts < attempts).then(|| Utc::now() + pause);
            tracing::warn!(error = %error, retry = retry_at.is_some(), "job failed");
            ctx.store.fail_job(job.id, &error, retry_at).await
        }
    };
    if let Err(err) = recorded {
        tracing::error!(error = %err, "recording a job's outcome failed");
    }
}

/// Runs every due job now, one after another (for tests and `chuangwen jobs run`).
pub async fn drain(ctx: &JobContext) -> usize {
    let worker = format!("drain-{}", uuid::Uuid::new_v4().simple());
    let mut n = 0;
    while let Ok(Some(job)) = ctx.store.claim_job(&worker).await {
        run_one(ctx.clone(), job).await;
        n += 1;
    }
    n
}
