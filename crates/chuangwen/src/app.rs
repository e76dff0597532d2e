//! The running application: its shared state, and `serve` with graceful
//! shutdown (in-flight requests finish, claimed jobs are released).

use std::sync::Arc;

use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::{Notify, watch};

use crate::auth::audit::HashAlgorithm;
use crate::auth::crypto::PiCrypto;
use crate::config::Config;
use crate::files::Files;
use crate::jobs::{JobContext, JobRunner};
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Uploaded files and attachments.
    pub files: Files,
    /// The configuration.
    pub config: Arc<Config>,
    /// Wakes this node's job runner when a job is queued.
    pub job_wake: Arc<Notify>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Encrypts and indexes personal information.
    pub crypto: PiCrypto,
    /// The HTTP client of webhook deliveries, built once.
    pub http: reqwest::Client,
}

impl AppState {
    /// State over an open store and file store.
    pub fn new(store: Store, files: Files, crypto: PiCrypto, config: Config) -> AppState {
        AppState {
            store,
            files,
            config: Arc::new(config),
            job_wake: Arc::new(Notify::new()),
            metrics: crate::telemetry::metrics(),
            crypto,
            http: crate::jobs::reports::http_client(),
        }
    }

    /// The job context for this state.
    pub fn job_context(&self) -> JobContext {
        JobContext {
            store: self.store.clone(),
            files: self.files.clone(),
            crypto: self.crypto.clone(),
            http: self.http.clone(),
        }
    }
}

/// What `open` connects to.
pub struct Opened {
    /// The database, migrated.
    pub store: Store,
    /// The file store.
    pub files: Files,
    /// Personal-information keys.
    pub crypto: PiCrypto,
}

/// Opens the database (migrating it), the file store and the keys, with one
/// clear error for each thing that can be wrong.
pub async fn open(config: &Config) -> anyhow::Result<Opened> {
    let sqlite_folder = config.database_url.sqlite_path().and_then(|p| p.parent().map(|d| d.to_path_buf()));
    if let Some(dir) = sqlite_folder.filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("无法创建数据库目录 {} (cannot create the database folder)", dir.display()))?;
    }
    let store = Store::connect(&config.database_url, config.max_connections).await.map_err(|e| {
        anyhow::anyhow!("无法连接数据库 {}：{e} (cannot connect to the database)", config.database_url.redacted())
    })?;
    store.migrate().await.map_err(|e| anyhow::anyhow!("数据库迁移失败：{e} (migration failed)"))?;
    let audit_hash = HashAlgorithm::parse(&config.security.audit_hash).unwrap_or(HashAlgorithm::Sha256);
    let store = store.with_audit_hash(audit_hash);
    let files = Files::open(config)?;
    let crypto = PiCrypto::from_config(&config.security, &config.data_dir).map_err(|e| anyhow::anyhow!(e))?;
    Ok(Opened { store, files, crypto })
}

/// Serves until SIGTERM or Ctrl-C.
pub async fn serve(config: Config, opened: Opened) -> anyhow::Result<()> {
    let Opened { store, files, crypto } = opened;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("无法监听 {} (cannot listen)", config.listen))?;
    let state = AppState::new(store.clone(), files, crypto, config);
    let (stop_tx, stop_rx) = watch::channel(false);
    let runner = JobRunner::new(state.job_context(), state.job_wake.clone());
    tracing::info!(worker = runner.worker(), "job runner started");
    let jobs = tokio::spawn(runner.run(stop_rx));

    // The signals are caught from here on, before the address is told: a
    // SIGTERM that came before axum first polled its shutdown future (on a
    // busy machine, after the first requests were answered) killed the
    // process instead of stopping it.
    let shutdown = shutdown_signal()?;
    tracing::info!(listen = %state.config.listen, backend = store.backend(), "创文通 is serving");
    eprintln!("创文通 Chuangwen: http://{}/", listener.local_addr()?);
    let app = crate::routes::router(state);
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await?;

    tracing::info!("shutting down: releasing jobs");
    let _ = stop_tx.send(true);
    let _ = jobs.await;
    store.close().await;
    Ok(())
}

/// Catches SIGTERM and Ctrl-C now; the future ends when one comes.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        let caught =
            |kind, name: &str| signal(kind).with_context(|| format!("无法接收 {name} 信号 (cannot catch {name})"));
        (caught(SignalKind::interrupt(), "SIGINT")?, caught(SignalKind::terminate(), "SIGTERM")?)
    };
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received");
    })
}
