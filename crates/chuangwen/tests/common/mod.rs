//! The test harness: a fresh database per test, SQLite always and
//! PostgreSQL when `TEST_DATABASE_URL` is set (`.ci/run` sets it).

#![allow(dead_code)]

pub mod browser;

use std::str::FromStr;

use chuangwen::app::AppState;
use chuangwen::config::{Config, DatabaseUrl};
use chuangwen::files::Files;
use chuangwen::progress::Silent;
use chuangwen::store::Store;
use sqlx::ConnectOptions;
use sqlx::Connection;

/// The password every demo user gets in tests.
pub const DEMO_PASSWORD: &str = "Demo-Pass-2026";
/// The demo seed tests use.
pub const DEMO_SEED: u64 = 2026;

/// A database for one test; a PostgreSQL database is dropped afterwards.
pub struct TestDb {
    /// The store over it.
    pub store: Store,
    /// Its URL.
    pub url: String,
    /// The folder of the SQLite file and local files.
    pub dir: tempfile::TempDir,
    /// Files, in memory, shared by every state of this database.
    pub files: Files,
    pg_admin_url: Option<String>,
    pg_name: Option<String>,
}

impl TestDb {
    /// The backend's name.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// A configuration pointing at this database and folder.
    pub fn config(&self) -> Config {
        Config::for_tests(&self.url, self.dir.path())
    }

    /// Application state over this database, with files in memory.
    pub fn state(&self) -> AppState {
        AppState::new(
            self.store.clone(),
            self.files.clone(),
            chuangwen::auth::crypto::PiCrypto::for_tests(),
            self.config(),
        )
    }

    /// Creates the demo district; returns its id.
    pub async fn with_demo(&self) -> i64 {
        self.with_demo_cases(0).await
    }

    /// Creates the demo district with `cases` generated cases; returns its id.
    pub async fn with_demo_cases(&self, cases: u64) -> i64 {
        let created =
            chuangwen::demo::create(&self.store, DEMO_SEED, Some(DEMO_PASSWORD), cases, &Silent).await.expect("demo");
        created.district.id
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let (Some(admin), Some(name)) = (self.pg_admin_url.take(), self.pg_name.take()) {
            // Drop runs outside any runtime we may block: use a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async move {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let _ =
                            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                                .execute(&mut conn)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A fresh SQLite database in a temporary folder.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = Store::connect(&DatabaseUrl::parse(&url).unwrap(), 4).await.expect("connect sqlite");
    store.migrate().await.expect("migrate sqlite");
    TestDb { store, url, dir, files: Files::in_memory(), pg_admin_url: None, pg_name: None }
}

/// A fresh PostgreSQL database, or `None` when `TEST_DATABASE_URL` is not set.
pub async fn postgres() -> Option<TestDb> {
    let admin = std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())?;
    let name = format!("cw_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    conn.close().await.ok();
    let options = sqlx::postgres::PgConnectOptions::from_str(&admin).expect("postgres url").database(&name);
    let url = options.to_url_lossy().to_string();
    let store = Store::connect(&DatabaseUrl::parse(&url).unwrap(), 4).await.expect("connect postgres");
    store.migrate().await.expect("migrate postgres");
    let dir = tempfile::tempdir().expect("tempdir");
    Some(TestDb { store, url, dir, files: Files::in_memory(), pg_admin_url: Some(admin), pg_name: Some(name) })
}

/// Defines a test that runs once on SQLite and once on PostgreSQL:
/// `on_both_backends!(name, |db| async { ... })`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, |$db:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $db = $crate::common::sqlite().await;
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($db) = $crate::common::postgres().await else {
                    // scripts/test.sh sets REQUIRE_POSTGRES: there a missing server fails, never passes.
                    assert!(
                        std::env::var("REQUIRE_POSTGRES").map_or(true, |v| v.is_empty()),
                        "REQUIRE_POSTGRES is set but TEST_DATABASE_URL is not"
                    );
                    eprintln!("TEST_DATABASE_URL is not set: the PostgreSQL run of this test is skipped");
                    return;
                };
                $body
            }
        }
    };
}

/// The figure of a home-page tile with this label (inbox piles and district totals).
#[allow(dead_code)]
pub fn tile(html: &str, label: &str) -> i64 {
    let marker = format!("<div class=\"label\">{label}</div>");
    assert!(html.contains(&marker), "no tile {label}");
    let before = html.split(&marker).next().unwrap();
    let figure = before.rsplit("<div class=\"figure\">").next().unwrap();
    figure.split('<').next().unwrap().trim().parse().unwrap_or_else(|_| panic!("tile {label}: not a number"))
}

/// A browser logged in as a demo user.
#[allow(dead_code)]
pub async fn as_user(db: &TestDb, username: &str) -> browser::Browser {
    let mut browser = browser::Browser::new(db.state());
    let page = browser.login(username, DEMO_PASSWORD).await;
    assert_eq!(page.location(), "/", "{username} logs in");
    browser
}

/// An evaluation point of the demo's first street (海河路街道), where reports
/// are made: its id and `(lon, lat)`.
#[allow(dead_code)]
pub async fn first_street_point(db: &TestDb, district: i64) -> (i64, (f64, f64)) {
    let filter = chuangwen::store::places::PointFilter { limit: 2000, ..Default::default() };
    let points = db.store.points(district, &chuangwen::auth::policy::Scope::District, &filter).await.unwrap();
    let p = points.iter().find(|p| p.street_name.as_deref() == Some("海河路街道")).expect("a point of 海河路街道");
    (p.id, (p.lon, p.lat))
}

/// Runs a statement straight on the database, as someone with database access would.
pub async fn raw(store: &Store, sql: &str) {
    match &store.db {
        chuangwen::store::Db::Sqlite { writer, .. } => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(writer).await.unwrap();
        }
        chuangwen::store::Db::Postgres(pool) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(pool).await.unwrap();
        }
    }
}
