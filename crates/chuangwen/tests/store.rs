//! Store tests: every one runs on SQLite and, with `TEST_DATABASE_URL`, on PostgreSQL.

mod common;

use chrono::Utc;
use chuangwen::demo::generate::{DISTRICT_CODE, OTHER_UNITS};
use chuangwen::store::org::NewUnit;
use chuangwen::store::places::{NewGrid, PointFilter};

#[test]
fn both_backends_have_the_same_migrations_by_number_and_name() {
    let names = |backend: &str| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations").join(backend);
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    };
    assert!(!names("sqlite").is_empty());
    assert_eq!(names("sqlite"), names("postgres"));
}

on_both_backends!(the_org_tree_keeps_paths_so_a_subtree_is_one_query, |db| {
    let store = &db.store;
    let district = store.create_district("120101", "测试区", (117.2, 39.1), false).await.unwrap();
    let unit = |parent: Option<&str>, kind: &str, code: &str, name: &str| NewUnit {
        parent_code: parent.map(str::to_string),
        kind: kind.into(),
        code: code.into(),
        name: name.into(),
    };
    store
        .upsert_units(
            district.id,
            &[
                unit(None, "district", "120101", "测试区"),
                unit(Some("120101"), "street", "120101001", "甲街道"),
                unit(Some("120101"), "street", "120101002", "乙街道"),
                unit(Some("120101001"), "community", "120101001001", "甲一社区"),
                unit(Some("120101002"), "community", "120101002001", "乙一社区"),
            ],
        )
        .await
        .unwrap();
    let street = store.unit_by_code(district.id, "120101001").await.unwrap().unwrap();
    let subtree: Vec<String> = store.unit_subtree(&street).await.unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(subtree, vec!["甲街道", "甲一社区"]);
    let root = store.unit_by_code(district.id, "120101").await.unwrap().unwrap();
    assert_eq!(store.unit_subtree(&root).await.unwrap().len(), 5);
});

on_both_backends!(a_unit_under_a_missing_parent_is_refused_and_nothing_of_the_batch_stays, |db| {
    let store = &db.store;
    let district = store.create_district("120102", "测试区", (117.2, 39.1), false).await.unwrap();
    let root = NewUnit { parent_code: None, kind: "district".into(), code: "120102".into(), name: "测试区".into() };
    let orphan =
        NewUnit {
            parent_code: Some("NOPE".into()), kind: "department".into(), code: "D1".into(), name: "孤儿".into()
        };
    let err = store.upsert_units(district.id, &[root.clone(), orphan]).await.unwrap_err();
    assert!(matches!(err, chuangwen::store::StoreError::NotFound), "{err:?}");
    assert!(store.units(district.id).await.unwrap().is_empty(), "the transaction rolled back");

    // A unit whose code exists is renamed in place, not added again.
    store.upsert_units(district.id, std::slice::from_ref(&root)).await.unwrap();
    let renamed = NewUnit { name: "新名字".into(), ..root };
    store.upsert_units(district.id, &[renamed]).await.unwrap();
    let units = store.units(district.id).await.unwrap();
    assert_eq!((units.len(), units[0].name.as_str()), (1, "新名字"));
});

on_both_backends!(the_demo_district_has_every_register_and_refreshing_it_replaces_it, |db| {
    let store = &db.store;
    let first = db.with_demo().await;
    let check = |id: i64| async move {
        let units = store.units(id).await.unwrap();
        assert_eq!(units.iter().filter(|u| u.kind == "street" || u.kind == "town").count(), 8);
        assert_eq!(units.iter().filter(|u| u.kind == "community" || u.kind == "village").count(), 60);
        assert_eq!(
            units
                .iter()
                .filter(
                    |u| u.parent_id.is_some() && !["street", "town", "community", "village"].contains(&u.kind.as_str())
                )
                .count(),
            OTHER_UNITS.len()
        );
        let (grids, points, shops) = store.place_totals(id).await.unwrap();
        assert_eq!((grids, points, shops), (600, 1500, 1200));
        let roles = store.role_counts(id).await.unwrap();
        assert_eq!(roles.len(), 9, "every role has users: {roles:?}");
        // Every point lies in a grid and so has a community and a street.
        let points = store.all_points(id).await.unwrap();
        assert!(points.iter().all(|p| p.grid_code.is_some() && p.street_name.is_some()));
    };
    check(first).await;
    let second = db.with_demo().await;
    assert_eq!(store.districts().await.unwrap().len(), 1, "the old demo district is gone");
    check(second).await;
    assert_eq!(store.district_by_code(DISTRICT_CODE).await.unwrap().unwrap().id, second);
});

on_both_backends!(upserting_a_grid_by_code_updates_it_and_bumps_the_places_version, |db| {
    let store = &db.store;
    let district = db.with_demo().await;
    let before = store.district(district).await.unwrap().places_version;
    let grid = store.grids(district).await.unwrap().remove(0);
    let renamed = NewGrid {
        code: grid.code.clone(),
        name: "改名后的网格".into(),
        community_id: grid.community_id,
        street_id: grid.street_id,
        boundary: grid.boundary.clone(),
        bbox: (0.0, 0.0, 1.0, 1.0),
        area_m2: grid.area_m2,
    };
    store.upsert_grids(district, &[renamed]).await.unwrap();
    let grids = store.grids(district).await.unwrap();
    assert_eq!(grids.len(), 600, "updated, not added");
    assert_eq!(grids.iter().find(|g| g.code == grid.code).unwrap().name, "改名后的网格");
    assert_eq!(store.district(district).await.unwrap().places_version, before + 1);
});

on_both_backends!(the_point_list_pages_by_keyset_without_gaps_or_repeats, |db| {
    let store = &db.store;
    let district = db.with_demo().await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .points(
                district,
                &chuangwen::auth::policy::Scope::District,
                &PointFilter { point_type: Some("bus_stop".into()), street_id: None, after_id: after, limit: 37 },
            )
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|p| p.id);
        seen.extend(page.into_iter().map(|p| p.id));
    }
    let unique: std::collections::HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no point on two pages");
    assert_eq!(seen.len(), 210, "the demo has 210 bus stops");
});

on_both_backends!(a_job_is_claimed_once_retried_when_it_fails_and_released_at_shutdown, |db| {
    let store = &db.store;
    let id = store.enqueue_job("test", "{}", Utc::now()).await.unwrap();
    let job = store.claim_job("node-a").await.unwrap().expect("a due job");
    assert_eq!((job.id, job.attempts), (id, 1));
    assert!(store.claim_job("node-b").await.unwrap().is_none(), "a claimed job is not handed out twice");

    store.fail_job(id, "boom", Some(Utc::now() - chrono::Duration::seconds(1))).await.unwrap();
    let again = store.claim_job("node-b").await.unwrap().expect("retried");
    assert_eq!(again.attempts, 2);

    assert_eq!(store.release_jobs("node-b").await.unwrap(), 1);
    let third = store.claim_job("node-c").await.unwrap().expect("released jobs are claimable");
    assert_eq!(third.id, id);
    store.finish_job(id).await.unwrap();
    assert!(store.claim_job("node-c").await.unwrap().is_none());
    let counts = store.job_counts().await.unwrap();
    assert_eq!(counts, vec![("done".to_string(), 1)]);
});

on_both_backends!(a_job_due_later_waits_and_a_given_up_job_stays_failed, |db| {
    let store = &db.store;
    store.enqueue_job("later", "{}", Utc::now() + chrono::Duration::hours(1)).await.unwrap();
    assert!(store.claim_job("n").await.unwrap().is_none());
    let now = store.enqueue_job("now", "{}", Utc::now()).await.unwrap();
    let job = store.claim_job("n").await.unwrap().unwrap();
    assert_eq!(job.id, now);
    store.fail_job(now, "gave up", None).await.unwrap();
    assert!(store.claim_job("n").await.unwrap().is_none());
});

on_both_backends!(concurrent_claimers_never_get_the_same_job, |db| {
    let store = db.store.clone();
    for _ in 0..20 {
        store.enqueue_job("race", "{}", Utc::now()).await.unwrap();
    }
    let mut handles = Vec::new();
    for worker in 0..4 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) = store.claim_job(&format!("w{worker}")).await.unwrap() {
                mine.push(job.id);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!((n, all.len()), (20, 20));
});

on_both_backends!(a_session_finds_its_user_until_it_is_deleted, |db| {
    let store = &db.store;
    db.with_demo().await;
    let user = store.user_by_username("office01").await.unwrap().expect("demo office user");
    store.create_session("hash-1", user.id).await.unwrap();
    let found = store.session_user("hash-1").await.unwrap().unwrap().user;
    assert_eq!(found.username, "office01");
    assert_eq!(store.roles_of(user.id).await.unwrap(), vec!["office".to_string()]);
    store.delete_session("hash-1").await.unwrap();
    assert!(store.session_user("hash-1").await.unwrap().is_none());
});

on_both_backends!(the_demo_gains_a_year_of_cases_numbered_without_gaps_and_new_ones_follow, |db| {
    let store = &db.store;
    let created = chuangwen::demo::create(store, 7, Some(common::DEMO_PASSWORD), 3000, &chuangwen::progress::Silent)
        .await
        .unwrap();
    let district = created.district.id;
    let counts = store.case_state_counts(district).await.unwrap();
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<i64>(), 3000);
    assert!(counts.iter().any(|(s, n)| s == "closed" && *n > 1500), "{counts:?}");
    // Numbers: per year, 1..n without gaps.
    let cases = store
        .cases(
            district,
            &chuangwen::auth::policy::Scope::District,
            None,
            &chuangwen::store::cases::CaseFilter { limit: 5000, ..Default::default() },
        )
        .await
        .unwrap();
    let mut by_year: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for c in &cases {
        let (year, seq) = c.number.split_once('-').unwrap();
        by_year.entry(year.to_string()).or_default().push(seq.parse().unwrap());
    }
    for (year, mut seqs) in by_year.clone() {
        seqs.sort();
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "year {year}");
    }
    // A new report continues the current year's numbering, with a fresh id.
    let mut supervisor = common::browser::Browser::new(db.state());
    supervisor.login("supervisor001", common::DEMO_PASSWORD).await;
    let (status, body) = supervisor
        .json(
            "POST",
            "/api/v1/cases",
            Some(serde_json::json!({"category": "06010", "description": "新上报", "address": "海河路 8 号"})),
        )
        .await;
    assert_eq!(status, axum::http::StatusCode::CREATED, "{body}");
    let year = body["number"].as_str().unwrap().split_once('-').unwrap().0.to_string();
    let last = by_year.get(&year).map(|v| v.len()).unwrap_or(0) as i64;
    assert_eq!(body["number"].as_str().unwrap(), format!("{year}-{:06}", last + 1));
    assert!(body["id"].as_i64().unwrap() > cases.iter().map(|c| c.id).max().unwrap());
});

on_both_backends!(a_periodic_job_is_queued_once_however_often_it_is_scheduled, |db| {
    let at = chrono::Utc::now();
    let (a, b) = tokio::join!(
        db.store.ensure_periodic_job("deadline_watch", at),
        db.store.ensure_periodic_job("deadline_watch", at)
    );
    a.unwrap();
    b.unwrap();
    db.store.ensure_periodic_job("deadline_watch", at).await.unwrap();
    let queued: i64 =
        db.store.job_counts().await.unwrap().into_iter().filter(|(s, _)| s == "queued").map(|(_, n)| n).sum();
    assert_eq!(queued, 1);
    // The database itself refuses a second one, whoever writes it.
    let second = "INSERT INTO jobs (kind, payload, state, run_at, created_at, periodic)
                  VALUES ('deadline_watch', '{}', 'queued', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'deadline_watch')";
    let store = &db.store;
    let insert = |sql: String| async move {
        match &store.db {
            chuangwen::store::Db::Sqlite { writer, .. } => {
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(writer).await.map(|_| ())
            }
            chuangwen::store::Db::Postgres(pool) => {
                let sql = sql.replace("'2026-01-01T00:00:00Z'", "now()");
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await.map(|_| ())
            }
        }
    };
    assert!(insert(second.to_string()).await.is_err(), "the unique index holds");
    assert!(
        insert(second.replace("'deadline_watch')", "'daily_sheets')")).await.is_ok(),
        "the statement itself is sound"
    );
    // Ordinary jobs, even of the same kind, are not limited.
    db.store.enqueue_job("deadline_watch", "{}", at).await.unwrap();
    db.store.enqueue_job("places_import", "{}", at).await.unwrap();
    db.store.enqueue_job("places_import", "{}", at).await.unwrap();
});

on_both_backends!(a_report_is_filed_under_the_table_saved_since_the_session_began, |db| {
    let district = db.with_demo().await;
    let mut supervisor = common::browser::Browser::new(db.state());
    supervisor.login("supervisor001", common::DEMO_PASSWORD).await;
    let report = serde_json::json!({"category": "06010", "description": "垃圾满溢", "address": "海河路 8 号"});
    let filed_under = |body: serde_json::Value| {
        let store = db.store.clone();
        async move {
            let id = body["id"].as_i64().expect("a case");
            let scope = chuangwen::auth::policy::Scope::District;
            store.case(district, &scope, None, id).await.unwrap().unwrap().category_version
        }
    };
    let (status, body) = supervisor.json("POST", "/api/v1/cases", Some(report.clone())).await;
    assert_eq!(status, axum::http::StatusCode::CREATED, "{body}");
    let shipped = chuangwen::domain::categories::shipped().version.clone();
    assert_eq!(filed_under(body).await, shipped);
    // The administrator saves a new table while the supervisor's session stays open.
    let text = chuangwen::domain::categories::SHIPPED.replacen(&format!("\"{shipped}\""), "\"2027.1\"", 1);
    let audit = chuangwen::auth::audit::NewAuditEntry {
        district_id: Some(district),
        actor_id: None,
        actor: "admin".into(),
        action: chuangwen::auth::audit::AuditAction::SettingsChanged,
        object: String::new(),
        detail: String::new(),
        ip: String::new(),
    };
    db.store.save_category_table(district, "2027.1", &text, None, &audit).await.unwrap();
    let (status, body) = supervisor.json("POST", "/api/v1/cases", Some(report)).await;
    assert_eq!(status, axum::http::StatusCode::CREATED, "{body}");
    assert_eq!(filed_under(body).await, "2027.1", "the next report, same session, takes the new table");
});

on_both_backends!(a_bulk_load_builds_its_indexes_at_the_end_and_an_unfinished_one_at_the_next_start, |db| {
    let store = &db.store;
    let district = db.with_demo_cases(300).await;
    let scope = chuangwen::auth::policy::Scope::District;
    let mut supervisor = common::browser::Browser::new(db.state());
    supervisor.login("supervisor001", common::DEMO_PASSWORD).await;
    let report = serde_json::json!({"category": "06010", "description": "垃圾满溢", "address": "海河路 8 号"});
    let reported = |inbox: &chuangwen::store::cases::Inbox| inbox.reported;
    // After the demo's load everything is back: suspending finds it all again
    // (on PostgreSQL also the foreign keys and the counts' trigger).
    let n = store.suspend_for_bulk_load().await.unwrap();
    assert!(n >= 15, "the cases' and events' secondary indexes (on PostgreSQL also keys and a trigger), {n}");
    assert_eq!(store.suspend_for_bulk_load().await.unwrap(), 0, "none left to drop");
    // A report filed while suspended is counted once everything is back.
    let before = store.inbox(district, &scope, None).await.unwrap();
    let (status, body) = supervisor.json("POST", "/api/v1/cases", Some(report.clone())).await;
    assert_eq!(status, axum::http::StatusCode::CREATED, "{body}");
    // A load that stopped here: the next start brings back what it suspended.
    store.migrate().await.unwrap();
    let after = store.inbox(district, &scope, None).await.unwrap();
    assert_eq!(reported(&after), reported(&before) + 1, "the report filed meanwhile is in the inbox");
    assert_eq!(after, store.recount_inbox(district, &scope, None).await.unwrap());
    assert_eq!(store.restore_suspended().await.unwrap(), 0, "nothing left suspended");
    assert_eq!(store.suspend_for_bulk_load().await.unwrap(), n, "every one back");
    // Two processes restoring at once bring back each once, without an error.
    let (a, b) = tokio::join!(store.restore_suspended(), store.restore_suspended());
    assert_eq!(a.unwrap() + b.unwrap(), n);
    assert_eq!(store.suspend_for_bulk_load().await.unwrap(), n, "every one built");
    assert_eq!(store.restore_suspended().await.unwrap(), n);
    // The counts are kept again on every write.
    let (status, body) = supervisor.json("POST", "/api/v1/cases", Some(report)).await;
    assert_eq!(status, axum::http::StatusCode::CREATED, "{body}");
    let last = store.inbox(district, &scope, None).await.unwrap();
    assert_eq!(reported(&last), reported(&after) + 1);
    assert_eq!(last, store.recount_inbox(district, &scope, None).await.unwrap());
});

on_both_backends!(a_suspended_item_that_cannot_come_back_stays_recorded_and_the_rest_come_back, |db| {
    let store = &db.store;
    db.with_demo_cases(50).await;
    let n = store.suspend_for_bulk_load().await.unwrap();
    // One recorded item whose statement fails (a table that is not there).
    common::raw(
        store,
        "INSERT INTO suspended_indexes (name, body) VALUES ('a_broken_one', 'CREATE INDEX a_broken_one ON no_such_table (id)')",
    )
    .await;
    assert!(store.restore_suspended().await.is_err(), "the failure is told");
    // The others are back; the broken one is still recorded, and opening the store does not fail on it.
    assert_eq!(store.suspend_for_bulk_load().await.unwrap(), n, "every one but the broken one came back");
    store.migrate().await.unwrap();
    assert_eq!(store.suspend_for_bulk_load().await.unwrap(), n, "and again at the next start");
    assert!(store.restore_suspended().await.is_err(), "still recorded, still told");
});

/// A transaction larger than the log's limit (a bulk load's) grows the
/// SQLite log past it; once the log is checkpointed and started again, the
/// file is cut back to the limit instead of staying at its largest on disk.
#[tokio::test]
async fn the_sqlite_log_is_cut_back_after_a_bulk_write() {
    use chuangwen::store::{Db, WAL_LIMIT_BYTES};
    let db = common::sqlite().await;
    let Db::Sqlite { writer, .. } = &db.store.db else { unreachable!("a SQLite store") };
    let wal = db.dir.path().join("test.db-wal");
    let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let ballast = (WAL_LIMIT_BYTES + 16 * 1024 * 1024) as i64;
    sqlx::query("CREATE TABLE ballast (b BLOB NOT NULL)").execute(writer).await.unwrap();
    sqlx::query("INSERT INTO ballast (b) VALUES (zeroblob(?))").bind(ballast).execute(writer).await.unwrap();
    assert!(size() > WAL_LIMIT_BYTES, "the bulk write went through the log: {} bytes", size());
    // The commit above passed the automatic checkpoint's threshold; the
    // next write starts the log again from its beginning.
    sqlx::query("DELETE FROM ballast").execute(writer).await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(writer).await.unwrap();
    sqlx::query("INSERT INTO ballast (b) VALUES (x'00')").execute(writer).await.unwrap();
    assert!(size() <= WAL_LIMIT_BYTES, "the log was cut back: {} bytes", size());
}

/// The bulk loader writes by backend (multi-row `VALUES` on SQLite, arrays
/// unnested on PostgreSQL): the same demo district, seed and size come out
/// the same on both, every case and every step of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulk_loaded_demo_is_the_same_on_both_backends() {
    use chuangwen::store::cases::CaseFilter;
    let Some(pg) = common::postgres().await else {
        assert!(std::env::var("REQUIRE_POSTGRES").map_or(true, |v| v.is_empty()), "REQUIRE_POSTGRES is set");
        eprintln!("TEST_DATABASE_URL is not set: skipped");
        return;
    };
    let sqlite = common::sqlite().await;
    let mut loaded = Vec::new();
    for db in [&sqlite, &pg] {
        let district = db.with_demo_cases(300).await;
        let filter = CaseFilter { limit: 1_000, ..Default::default() };
        let cases = db.store.cases(district, &chuangwen::auth::policy::Scope::District, None, &filter).await.unwrap();
        let mut steps = Vec::new();
        for case in &cases {
            steps.push(serde_json::to_value(db.store.case_events(case.id).await.unwrap()).unwrap());
        }
        loaded.push((serde_json::to_value(&cases).unwrap(), steps));
    }
    let (sqlite_cases, sqlite_steps) = &loaded[0];
    let (pg_cases, pg_steps) = &loaded[1];
    assert_eq!(sqlite_cases.as_array().unwrap().len(), 300);
    assert_eq!(sqlite_cases, pg_cases);
    assert!(sqlite_steps.iter().map(|s| s.as_array().unwrap().len()).sum::<usize>() > 300, "steps were loaded");
    assert_eq!(sqlite_steps, pg_steps);
}
