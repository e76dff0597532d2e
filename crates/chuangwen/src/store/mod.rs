//! The store: the only code that speaks SQL.
//!
//! The backend is chosen at run time from the database URL. Queries are
//! written once with `$1…$N` placeholders, which sqlx accepts on SQLite and
//! PostgreSQL alike; the [`read!`] and [`transaction!`] macros expand a query
//! body once per backend so each is checked against its own driver. SQL that
//! differs between the backends (job claiming, DDL) lives in clearly marked
//! `match` arms.
//!
//! SQLite runs in WAL mode with one writer connection; every write
//! transaction starts with `BEGIN IMMEDIATE`, so a read-then-write never
//! fails on a stale snapshot. Readers use their own pool.

pub mod audit;
pub mod cases;
pub mod dispatch;
pub mod evaluation;
pub mod filing;
pub mod intake;
pub mod jobs;
pub mod open311;
pub mod org;
pub mod places;
pub mod reports;
pub mod settings;
pub mod stats;
pub mod supervision;
pub mod users;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::config::DatabaseUrl;

/// A connection to the configured database.
#[derive(Clone, Debug)]
pub enum Db {
    /// An embedded SQLite file: one writer, several readers.
    Sqlite {
        /// The one connection that writes.
        writer: SqlitePool,
        /// Connections that only read.
        reader: SqlitePool,
    },
    /// A PostgreSQL server.
    Postgres(PgPool),
}

/// A `LIKE` pattern that finds `text` anywhere, its `%`, `_` and `\` taken
/// literally (use with `ESCAPE '\'`) and lower-cased: compare it with
/// `LOWER(column)`, so both backends match the same rows whatever the case.
pub(crate) fn contains_pattern(text: &str) -> String {
    let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// The store: every query of the application goes through it.
#[derive(Clone, Debug)]
pub struct Store {
    /// The database behind it.
    pub db: Db,
    /// The hash of new audit entries (`security.audit_hash`).
    pub audit_hash: crate::auth::audit::HashAlgorithm,
    /// Values built from rows that rarely change, shared by the clones.
    pub derived: Arc<Derived>,
    /// Reports waiting to be filed with shared commits (`filing`).
    pub filing: filing::FilingQueue,
}

/// Values built from rows that rarely change and cost much to build, kept
/// beside the store and checked against the database on every use, so a
/// change made by another node is seen at once.
#[derive(Default)]
pub struct Derived {
    /// A district's grid index, with the district's creation time and the
    /// `places_version` it was built at.
    #[allow(clippy::type_complexity)]
    pub grid_index:
        std::sync::Mutex<HashMap<i64, ((chrono::DateTime<chrono::Utc>, i64), Arc<crate::places::spatial::GridIndex>)>>,
    /// Parsed category tables by (district, version); versions never change once saved.
    pub category_tables: std::sync::Mutex<HashMap<(i64, String), Arc<crate::domain::categories::CategoryTable>>>,
}

impl std::fmt::Debug for Derived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Derived")
    }
}

/// A store failure. Constraint violations are named so callers can turn them
/// into a field message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No row where one was expected.
    #[error("not found")]
    NotFound,
    /// A unique constraint failed; the payload names the constraint or column.
    #[error("duplicate: {0}")]
    Duplicate(String),
    /// The database is unreachable or refused the statement.
    #[error(transparent)]
    Database(sqlx::Error),
    /// A migration failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Duplicate(db.constraint().map(str::to_string).unwrap_or_else(|| db.message().to_string()))
            }
            _ => StoreError::Database(err),
        }
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Runs `$body` against the read side of the database, once per backend:
/// `read!(db, |pool| sqlx::query(...).fetch_all(pool).await)`.
#[macro_export]
macro_rules! read {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite { reader, .. } => {
                let $pool = reader;
                $body
            }
            $crate::store::Db::Postgres(pg) => {
                let $pool = pg;
                $body
            }
        }
    };
}

/// Runs `$body` inside a write transaction (`BEGIN IMMEDIATE` on SQLite) and
/// commits it; an early return through `?` rolls it back.
#[macro_export]
macro_rules! transaction {
    ($db:expr, |$tx:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite { writer, .. } => {
                let mut $tx = writer.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::store::Db::Postgres(pg) => {
                let mut $tx = pg.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
/// The SQLite writer's page cache, in KiB (see `Store::connect`).
const WRITER_CACHE_KIB: u32 = 64 * 1024;
/// The size the SQLite log is cut back to when it starts again (SQLite's
/// `journal_size_limit`, see `Store::connect`).
pub const WAL_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

impl Store {
    /// Connects to the database the URL names; a SQLite file is created on
    /// first use.
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> StoreResult<Store> {
        let db = if url.is_sqlite() {
            let options = SqliteConnectOptions::from_str(url.expose())?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // NORMAL is durable in WAL mode against process crashes; FULL
                // also against power loss, which a government system wants.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            // The one writer keeps 64 MiB of pages (SQLite's default is
            // 2 MiB): a transaction of reports, or a chunk of a bulk load,
            // touches a leaf of every index of `cases` and of their words,
            // which with the default were read again from the operating
            // system for every chunk (a million-case demo: 62-66 s against
            // 76-77 s, system time 13 s against 20-21 s; PERFORMANCE.md).
            // Readers keep the default; the operating system's cache serves
            // them.
            // No ping before a connection is handed out: an embedded
            // database's connection does not go away, and a ping is one more
            // round trip to sqlx's worker thread for every session read and
            // every transaction (no difference in `bench reports` that the
            // machine's noise lets through; PERFORMANCE.md).
            // The log is cut back to WAL_LIMIT_BYTES when the writer starts
            // it again after a complete checkpoint: SQLite otherwise keeps
            // the file at its largest while a connection is open — a
            // server's, for months — and a bulk load (the ten-million-case
            // demo) left 2.4 GB of it (PERFORMANCE.md).
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(
                    options
                        .clone()
                        .pragma("cache_size", format!("-{}", WRITER_CACHE_KIB))
                        .pragma("journal_size_limit", WAL_LIMIT_BYTES.to_string()),
                )
                .await?;
            let reader = SqlitePoolOptions::new()
                .max_connections(max_connections.max(2))
                .test_before_acquire(false)
                .connect_with(options.read_only(true))
                .await?;
            (Db::Sqlite { writer, reader }, None)
        } else {
            // Without JIT compilation: PostgreSQL compiles a query whose
            // estimated cost passes `jit_above_cost`, and a keyword's capped
            // total at ten million cases (estimated high, read in 40 ms)
            // spent 285 ms compiling (`EXPLAIN ANALYZE`, PERFORMANCE.md).
            // This product's queries are pages and counts that stop early.
            let options = PgConnectOptions::from_str(url.expose())?.options([("jit", "off")]);
            // One direct connection first: a pool would retry until its
            // timeout and then report only that it timed out.
            sqlx::PgConnection::connect_with(&options).await?.close().await?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options.clone())
                .await?;
            // The filing task keeps a connection of its own: behind the
            // requests' reads in the shared pool, every shared commit would
            // wait its turn for a connection.
            let filing = PgPoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .connect_lazy_with(options);
            (Db::Postgres(pool), Some(Db::Postgres(filing)))
        };
        let (db, filing_db) = db;
        let filing = filing::FilingQueue::start(filing_db.unwrap_or_else(|| db.clone()));
        Ok(Store { db, audit_hash: crate::auth::audit::HashAlgorithm::Sha256, derived: Arc::default(), filing })
    }

    /// The same store, appending audit entries with `algorithm`.
    pub fn with_audit_hash(mut self, algorithm: crate::auth::audit::HashAlgorithm) -> Store {
        self.audit_hash = algorithm;
        self
    }

    /// Applies every migration not yet applied.
    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.db {
            Db::Sqlite { writer, .. } => SQLITE_MIGRATIONS.run(writer).await?,
            Db::Postgres(pg) => POSTGRES_MIGRATIONS.run(pg).await?,
        }
        // A bulk load that stopped midway left indexes to build (and on
        // PostgreSQL foreign keys and the counts' trigger to bring back).
        // One that cannot come back (told in the log by `restore_suspended`)
        // leaves a list slower or a key unchecked, not data wrong: the store
        // opens, and tries again at the next start.
        match self.restore_suspended().await {
            Ok(0) => {}
            Ok(rebuilt) => tracing::info!(suspended = rebuilt, "what an unfinished bulk load suspended is back"),
            Err(err) => tracing::error!(error = %err, "an unfinished bulk load left something suspended: see above"),
        }
        // A database whose cases predate the kept statistics gets them once.
        for district in self.districts_without_stats().await? {
            if let Some(rows) = self.rebuild_stats(district, true).await? {
                tracing::info!(district, rows, "statistics rebuilt from the cases");
            }
        }
        // A database whose cases predate the keyword search gets their words once.
        let indexed = self.index_case_words().await?;
        if indexed > 0 {
            tracing::info!(cases = indexed, "keyword search words written for the cases");
        }
        Ok(())
    }

    /// Which backend this is, for logs and `/metrics`.
    pub fn backend(&self) -> &'static str {
        match self.db {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Answers when the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        read!(&self.db, |pool| sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Closes every connection (on shutdown).
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { writer, reader } => {
                reader.close().await;
                writer.close().await;
            }
            Db::Postgres(pg) => pg.close().await,
        }
        self.filing.close().await;
    }

    /// Writes a consistent copy of a SQLite database to `target` while other
    /// connections go on writing (`VACUUM INTO` reads one snapshot).
    pub async fn sqlite_backup_into(&self, target: &str) -> StoreResult<()> {
        match &self.db {
            Db::Sqlite { reader, .. } => {
                sqlx::query("VACUUM INTO $1").bind(target).execute(reader).await?;
                Ok(())
            }
            Db::Postgres(_) => {
                Err(StoreError::Database(sqlx::Error::Configuration("VACUUM INTO is a SQLite statement".into())))
            }
        }
    }

    /// `PRAGMA integrity_check` on SQLite: `ok` or the problems found.
    pub async fn sqlite_integrity_check(&self) -> StoreResult<String> {
        match &self.db {
            Db::Sqlite { reader, .. } => {
                let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check").fetch_all(reader).await?;
                Ok(rows.join("; "))
            }
            Db::Postgres(_) => Ok("ok".into()),
        }
    }
}

/// The current time, bound from Rust so both backends store the same value.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
