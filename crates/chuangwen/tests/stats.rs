//! The kept statistics against a direct recount from the cases, on both
//! backends: a year of demo cases, then random sequences of reports, steps
//! and overdue marks; after each sequence every figure of every dimension,
//! over several periods, equals the recount (PRODUCT.md §4, issue W1-E).

mod common;

use chrono::{Datelike, Duration, Utc};
use chuangwen::auth::audit::{AuditAction, NewAuditEntry};
use chuangwen::auth::policy::Scope;
use chuangwen::domain::cases::{Actor, Transition, TransitionInput, apply};
use chuangwen::domain::org::Role;
use chuangwen::domain::stats::{Dim, Grain, Period, Tally, beijing_day};
use chuangwen::store::Store;
use chuangwen::store::cases::{NewAttachment, NewCase};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Something that happens to the district's cases.
#[derive(Clone, Debug)]
enum Op {
    /// A new report today, at one of the places (or none) by one of the reporters (or none).
    Report { category: usize, place: usize, reporter: usize },
    /// A step on a case (picked among all cases), with the unit to dispatch to.
    Step { case: usize, transition: usize, unit: usize },
    /// The deadline watcher marks a running clock overdue.
    Overdue { clock: usize },
    /// The deadline watcher marks a running clock amber (80% of its limit used).
    Amber { clock: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0usize..6, 0usize..5, 0usize..4)
            .prop_map(|(category, place, reporter)| Op::Report { category, place, reporter }),
        6 => (0usize..10_000, 0usize..Transition::ALL.len(), 0usize..8)
            .prop_map(|(case, transition, unit)| Op::Step { case, transition, unit }),
        1 => (0usize..10_000).prop_map(|clock| Op::Overdue { clock }),
        1 => (0usize..10_000).prop_map(|clock| Op::Amber { clock }),
    ]
}

fn audit(district: i64, action: AuditAction) -> NewAuditEntry {
    NewAuditEntry {
        district_id: Some(district),
        actor_id: None,
        actor: "测试".into(),
        action,
        object: String::new(),
        detail: String::new(),
        ip: String::new(),
    }
}

const CATEGORIES: [&str; 6] = ["06010", "01010", "02020", "03010", "05010", "07010"];

/// Where test reports are made: (point, (grid, community, street)).
type Place = (i64, (i64, i64, i64));

/// What the random reports draw from.
struct Pool {
    units: Vec<i64>,
    places: Vec<Place>,
    reporters: Vec<i64>,
}

async fn run(store: &Store, district: i64, pool: &Pool, ops: &[Op]) -> usize {
    let units = &pool.units;
    let calendar = store.calendar(district).await.unwrap();
    let roles = [Role::Admin, Role::Handler, Role::Inspector];
    let actor = Actor { roles: &roles, in_assigned_unit: true };
    let mut taken = 0;
    for op in ops {
        match op {
            Op::Report { category, place, reporter } => {
                // The last choice of each is "none": a report without a place or a person.
                let place = pool.places.get(*place).copied();
                let reporter = pool.reporters.get(*reporter).copied();
                let new = NewCase {
                    source: "supervisor".into(),
                    category_code: CATEGORIES[*category].into(),
                    category_version: "test".into(),
                    condition_index: 0,
                    campaign: "city_appearance".into(),
                    limit_amount: 1,
                    limit_clock: "working_days".into(),
                    description: "随机上报".into(),
                    address: String::new(),
                    location: None,
                    place: place.map(|p| p.1),
                    point_id: place.map(|p| p.0),
                    reporter_id: reporter,
                    reporter_name: "督察组".into(),
                };
                store
                    .create_case(district, &new, &audit(district, AuditAction::CaseReported), &[], None, |_| {
                        (201, String::new())
                    })
                    .await
                    .unwrap();
                taken += 1;
            }
            Op::Step { case, transition, unit } => {
                let ids = store.case_ids(district).await.unwrap();
                let case = store.case(district, &Scope::District, None, ids[case % ids.len()]).await.unwrap().unwrap();
                // Among the steps the case's state allows, so most sequences move cases.
                let state = chuangwen::domain::cases::CaseState::from_code(&case.state).unwrap();
                let legal: Vec<Transition> =
                    Transition::ALL.into_iter().filter(|t| t.path().0.contains(&state)).collect();
                if legal.is_empty() {
                    continue;
                }
                let transition = legal[transition % legal.len()];
                let mut input = TransitionInput {
                    note: "原因".into(),
                    unit_id: Some(units[unit % units.len()]),
                    new_deadline: case.deadline.map(|d| d + Duration::days(1)),
                    plan: "整改计划".into(),
                    target_date: Some(beijing_day(Utc::now()) + Duration::days(30)),
                    duplicate_of: Some(ids[0]),
                    ..TransitionInput::default()
                };
                if transition == Transition::Handle {
                    let photo = NewAttachment {
                        kind: "after",
                        file_name: "after.jpg",
                        content_type: "image/jpeg",
                        size: 10,
                        file_key: "test/after.jpg",
                        sha256: "00",
                        uploaded_by: None,
                        taken_at: None,
                        position: None,
                    };
                    input.attachment_ids = vec![store.create_attachment(district, &photo).await.unwrap()];
                }
                let facts = chuangwen::api::cases::facts_of(&case);
                let Ok(outcome) = apply(&facts, transition, &input, &actor, Utc::now(), &calendar) else { continue };
                let done = store
                    .transition_case(
                        &case,
                        case.version,
                        transition,
                        &outcome,
                        &input,
                        None,
                        "测试",
                        &audit(district, AuditAction::CaseTransition),
                    )
                    .await
                    .unwrap();
                assert!(done.is_ok(), "nobody else moves the case");
                taken += 1;
            }
            Op::Overdue { clock } => {
                let clocks = store.running_clocks(0, 100_000).await.unwrap();
                if clocks.is_empty() {
                    continue;
                }
                let clock = &clocks[clock % clocks.len()];
                if store.mark_overdue(clock, "test", Utc::now()).await.unwrap().0 {
                    taken += 1;
                }
            }
            Op::Amber { clock } => {
                let clocks = store.running_clocks(0, 100_000).await.unwrap();
                if clocks.is_empty() {
                    continue;
                }
                if store.mark_amber(&clocks[clock % clocks.len()], Utc::now()).await.unwrap() {
                    taken += 1;
                }
            }
        }
    }
    taken
}

fn nonzero(mut rows: Vec<(String, Tally)>) -> Vec<(String, Tally)> {
    rows.retain(|(_, t)| !t.is_zero());
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

async fn assert_equal_to_recount(store: &Store, district: i64) {
    let today = beijing_day(Utc::now());
    let month = Period::month_of(today);
    let periods = [
        Period::new(today - Duration::days(800), today).unwrap(),
        month,
        month.previous(),
        Period::new(today - Duration::days(47), today - Duration::days(3)).unwrap(),
        Period::new(today, today).unwrap(),
        Period::new(today.with_ordinal(1).unwrap(), today).unwrap(),
        // Months less the days outside the period (`Period::buckets`): last
        // month without its first and last day; from the 3rd of the month
        // before; up to three days before last month's end.
        Period::new(month.previous().from + Duration::days(1), month.previous().to - Duration::days(1)).unwrap(),
        Period::new(month.previous().previous().from + Duration::days(2), today).unwrap(),
        Period::new(today - Duration::days(400), month.previous().to - Duration::days(3)).unwrap(),
    ];
    for period in periods {
        for dim in Dim::ALL {
            let kept = nonzero(store.stats_by(district, dim, &period, None).await.unwrap());
            let recount = nonzero(store.recount_by(district, dim, &period).await.unwrap());
            assert_eq!(kept, recount, "{dim:?} over {period:?}");
        }
        // The trend: a point a day up to 92 days, a month beyond; each
        // point the recount of its day, or of its month within the period,
        // and none missing.
        let (grain, trend) = store.stats_series(district, Dim::All, "", &period).await.unwrap();
        assert_eq!(grain, if period.days() <= 92 { Grain::Day } else { Grain::Month });
        let mut expected = Vec::new();
        let mut day = period.from;
        while day <= period.to {
            let last = if grain == Grain::Day { day } else { Period::month_of(day).to.min(period.to) };
            let part = Period::new(day, last).unwrap();
            if let Some((_, sums)) = nonzero(store.recount_by(district, Dim::All, &part).await.unwrap()).pop() {
                expected.push((grain.bucket(day), sums));
            }
            day = last + Duration::days(1);
        }
        assert_eq!(trend, expected, "trend over {period:?}");
    }
    assert_inbox_equal_to_recount(store, district).await;
    assert_difficult_equal_to_recount(store, district).await;
}

/// The weekly report's overdue and deferred totals, read from the kept
/// counts (migration 0017), equal a count over the cases.
async fn assert_difficult_equal_to_recount(store: &Store, district: i64) {
    use chuangwen::store::cases::CaseFilter;
    let filters = [
        ("overdue", CaseFilter { overdue: true, ..Default::default() }),
        ("deferred", CaseFilter { state: Some("deferred".into()), ..Default::default() }),
    ];
    for (which, filter) in filters {
        let (total, _) = store.difficult_cases(district, which, 1).await.unwrap();
        let recount = store.count_cases(district, &Scope::District, None, &filter, i64::MAX).await.unwrap();
        assert_eq!(total, recount, "{which}");
    }
}

/// The home page's piles, read from the kept counts (migration 0017), equal
/// a count over the cases: for the whole district and for the territories
/// of a street, a community and a department, each without a caller and
/// with callers whose own reports lie inside and outside the territory.
async fn assert_inbox_equal_to_recount(store: &Store, district: i64) {
    let mut scopes = vec![Scope::District];
    for code in ["120199001", "120199001001", "D003", "D005"] {
        if let Some(unit) = store.unit_by_code(district, code).await.unwrap() {
            scopes.push(Scope::Subtree(unit.path));
        }
    }
    assert!(scopes.len() >= 3, "demo units found: {scopes:?}");
    let mut callers = vec![None];
    for name in ["supervisor001", "supervisor009", "inspector01"] {
        callers.push(Some(store.user_by_username(name).await.unwrap().unwrap().id));
    }
    for scope in &scopes {
        for caller in &callers {
            let kept = store.inbox(district, scope, *caller).await.unwrap();
            let recount = store.recount_inbox(district, scope, *caller).await.unwrap();
            assert_eq!(kept, recount, "{scope:?}, caller {caller:?}");
        }
    }
}

on_both_backends!(every_figure_equals_a_recount_after_random_sequences_of_events, |db| {
    let district = db.with_demo_cases(300).await;
    let mut units = Vec::new();
    for code in ["120199001", "120199002", "D003", "D005", "120199001001", "D010", "D012", "120199003"] {
        if let Some(unit) = db.store.unit_by_code(district, code).await.unwrap() {
            units.push(unit.id);
        }
    }
    assert!(units.len() >= 4, "demo units found: {units:?}");
    let grids = db.store.grids(district).await.unwrap();
    let filter = chuangwen::store::places::PointFilter { limit: 4, ..Default::default() };
    let places: Vec<Place> = db
        .store
        .points(district, &Scope::District, &filter)
        .await
        .unwrap()
        .into_iter()
        .map(|p| {
            let g = grids.iter().find(|g| Some(&g.code) == p.grid_code.as_ref()).expect("the point's grid");
            (p.id, (g.id, g.community_id, g.street_id))
        })
        .collect();
    assert_eq!(places.len(), 4);
    let mut reporters = Vec::new();
    for name in ["supervisor001", "supervisor009", "inspector01"] {
        reporters.push(db.store.user_by_username(name).await.unwrap().unwrap().id);
    }
    let pool = Pool { units, places, reporters };
    // The bulk-loaded year already agrees with the recount.
    assert_equal_to_recount(&db.store, district).await;
    let whole = Period::new(beijing_day(Utc::now()) - Duration::days(800), beijing_day(Utc::now())).unwrap();
    assert_eq!(db.store.stats_total(district, Dim::All, "", &whole).await.unwrap().reported, 300);

    let store = db.store.clone();
    let mut runner = TestRunner::new(Config { cases: 6, failure_persistence: None, ..Config::default() });
    let steps_taken = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&proptest::collection::vec(op(), 10..60), |ops| {
            let taken = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    let taken = run(&store, district, &pool, &ops).await;
                    assert_equal_to_recount(&store, district).await;
                    taken
                })
            });
            steps_taken.fetch_add(taken, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
    let steps_taken = steps_taken.into_inner();
    assert!(steps_taken > 30, "the sequences moved cases ({steps_taken} steps taken)");
    for which in ["overdue", "deferred"] {
        assert!(db.store.difficult_cases(district, which, 1).await.unwrap().0 > 0, "{which} cases were compared");
    }

    // Reports with a point and a reporter were made, so those dimensions were compared too.
    for dim in [Dim::Point, Dim::Reporter] {
        assert!(!nonzero(db.store.stats_by(district, dim, &whole, None).await.unwrap()).is_empty(), "{dim:?}");
    }
    // A rebuild from scratch gives the same sums as those kept step by step, in every dimension.
    let mut before = Vec::new();
    for dim in Dim::ALL {
        before.push(nonzero(db.store.stats_by(district, dim, &whole, None).await.unwrap()));
    }
    assert_eq!(db.store.rebuild_stats(district, true).await.unwrap(), None, "sums exist: left alone");
    assert!(db.store.rebuild_stats(district, false).await.unwrap().is_some());
    for (dim, before) in Dim::ALL.into_iter().zip(before) {
        assert_eq!(nonzero(db.store.stats_by(district, dim, &whole, None).await.unwrap()), before, "{dim:?}");
    }
});

on_both_backends!(a_step_taken_on_a_copy_read_before_the_overdue_mark_counts_the_mark_once, |db| {
    // The watcher marks a case overdue without changing its version; a step
    // taken on a copy read before the mark must count the mark once, as the
    // row has it (the store reads the row it locks, not the caller's copy).
    let district = db.with_demo_cases(300).await;
    let clock = db
        .store
        .running_clocks(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.overdue_at.is_none())
        .expect("a running clock not yet overdue");
    let stale = db.store.case(district, &Scope::District, None, clock.id).await.unwrap().unwrap();
    assert!(db.store.mark_overdue(&clock, "test", Utc::now()).await.unwrap().0);
    let today = beijing_day(Utc::now());
    let whole = Period::new(today - Duration::days(800), today).unwrap();
    let overdue = |db: &Store| {
        let db = db.clone();
        async move { db.stats_total(district, Dim::All, "", &whole).await.unwrap().overdue }
    };
    let marked = overdue(&db.store).await;
    // The unit takes a step on its stale copy; the clock keeps running.
    let calendar = db.store.calendar(district).await.unwrap();
    let roles = [Role::Admin, Role::Handler];
    let actor = Actor { roles: &roles, in_assigned_unit: true };
    let (transition, input) = if stale.state == "dispatched" {
        (Transition::Acknowledge, TransitionInput::default())
    } else {
        (
            Transition::RequestDeferral,
            TransitionInput {
                plan: "计划".into(),
                target_date: Some(today + Duration::days(30)),
                ..TransitionInput::default()
            },
        )
    };
    let outcome =
        apply(&chuangwen::api::cases::facts_of(&stale), transition, &input, &actor, Utc::now(), &calendar).unwrap();
    let after = db
        .store
        .transition_case(
            &stale,
            stale.version,
            transition,
            &outcome,
            &input,
            None,
            "测试",
            &audit(district, AuditAction::CaseTransition),
        )
        .await
        .unwrap()
        .unwrap();
    let expected = marked - i64::from(after.alert() != chuangwen::domain::cases::Alert::Red);
    assert_eq!(overdue(&db.store).await, expected, "{} → {}", stale.state, after.state);
    assert_equal_to_recount(&db.store, district).await;
});

/// A report made at a grid of the demo's first street.
async fn street_report(db: &common::TestDb, district: i64, description: String, reporter: i64) -> NewCase {
    let (point, (lon, lat)) = common::first_street_point(db, district).await;
    let cell = chuangwen::places::load_grid_index(&db.store, district).await.unwrap().resolve(lon, lat).unwrap();
    NewCase {
        source: "supervisor".into(),
        category_code: "06010".into(),
        category_version: "test".into(),
        condition_index: 0,
        campaign: "city_appearance".into(),
        limit_amount: 1,
        limit_clock: "working_days".into(),
        description,
        address: String::new(),
        location: Some((lon, lat)),
        place: Some((cell.grid_id, cell.community_id, cell.street_id)),
        point_id: Some(point),
        reporter_id: Some(reporter),
        reporter_name: "监督员".into(),
    }
}

/// The sequence numbers of case numbers (`2026-000017` → 17), sorted.
fn sequence_numbers(numbers: &[String]) -> Vec<i64> {
    let mut seqs: Vec<i64> = numbers.iter().map(|n| n.split('-').nth(1).unwrap().parse().unwrap()).collect();
    seqs.sort_unstable();
    seqs
}

on_both_backends!(simultaneous_reports_share_commits_and_each_is_numbered_audited_and_counted_once, |db| {
    let district = db.with_demo().await;
    let reporter = db.store.user_by_username("supervisor001").await.unwrap().unwrap().id;
    let first_id = db.store.next_case_id().await.unwrap();
    let mut made = Vec::new();
    for i in 0..64 {
        made.push(street_report(&db, district, format!("早巡发现垃圾（第 {i} 条）"), reporter).await);
    }
    // All sent at once, as an inspection morning does.
    let mut reports = tokio::task::JoinSet::new();
    for new in made {
        let store = db.store.clone();
        reports.spawn(async move {
            let answer = |case: &chuangwen::store::cases::Case| (201, case.number.clone());
            store.create_case(district, &new, &audit(district, AuditAction::CaseReported), &[], None, answer).await
        });
    }
    let mut numbers = Vec::new();
    while let Some(filed) = reports.join_next().await {
        let (case, status, answer) = filed.unwrap().expect("every report is filed");
        assert_eq!((status, &answer), (201, &case.number), "the answer is made from the filed case");
        numbers.push(case.number);
    }
    let seqs = sequence_numbers(&numbers);
    assert_eq!(seqs.len(), 64);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "one unbroken run of numbers: {seqs:?}");
    let (found, commits) = db.store.reports_since(district, first_id).await.unwrap();
    assert_eq!(found, 64, "every acknowledged report is in the database");
    assert!(commits < 64, "simultaneous reports share commits ({commits} commits for 64 reports)");
    let chain = db.store.verify_audit().await.unwrap();
    assert!(chain.is_ok(), "the audit chain holds: {chain:?}");
    let filter = chuangwen::store::audit::AuditFilter {
        action: Some("case_reported".into()),
        limit: 1000,
        ..Default::default()
    };
    let reported = db.store.audit_page(district, &filter).await.unwrap();
    assert_eq!(reported.len(), 64, "one audit entry per report");
    assert_equal_to_recount(&db.store, district).await;
});

on_both_backends!(a_bad_report_among_simultaneous_ones_fails_alone_and_the_others_are_filed, |db| {
    let district = db.with_demo().await;
    let reporter = db.store.user_by_username("supervisor001").await.unwrap().unwrap().id;
    // A photo someone else uploaded: the report that claims it must fail, and only it.
    let photo = NewAttachment {
        kind: "before",
        file_name: "before.jpg",
        content_type: "image/jpeg",
        size: 10,
        file_key: "test/before.jpg",
        sha256: "00",
        uploaded_by: None,
        taken_at: None,
        position: None,
    };
    let photo = db.store.create_attachment(district, &photo).await.unwrap();
    let mut made = Vec::new();
    for i in 0..20 {
        made.push(street_report(&db, district, format!("同时上报（第 {i} 条）"), reporter).await);
    }
    let mut reports = tokio::task::JoinSet::new();
    for (i, new) in made.into_iter().enumerate() {
        let store = db.store.clone();
        let photos = if i == 7 { vec![photo] } else { vec![] };
        reports.spawn(async move {
            let entry = audit(district, AuditAction::CaseReported);
            (i, store.create_case(district, &new, &entry, &photos, None, |_| (201, String::new())).await)
        });
    }
    let mut numbers = Vec::new();
    while let Some(done) = reports.join_next().await {
        match done.unwrap() {
            (7, Err(chuangwen::store::StoreError::Duplicate(what))) => {
                assert_eq!(what, chuangwen::store::cases::ATTACHMENT_TAKEN)
            }
            (7, other) => panic!("the report claiming another's photo was answered {other:?}"),
            (_, filed) => numbers.push(filed.expect("a good report is filed").0.number),
        }
    }
    let seqs = sequence_numbers(&numbers);
    assert_eq!(seqs.len(), 19, "the 19 good reports are filed");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "the failed report took no number: {seqs:?}");
    let attachment = db.store.attachment(district, photo).await.unwrap().unwrap();
    assert_eq!(attachment.case_id, None, "the photo stays free");
    assert!(db.store.verify_audit().await.unwrap().is_ok());
    assert_equal_to_recount(&db.store, district).await;
});

on_both_backends!(one_shared_commit_files_plain_reports_photos_and_keys_and_a_repeated_key_files_none, |db| {
    use chuangwen::store::filing::Report;
    let district = db.with_demo().await;
    let reporter = db.store.user_by_username("supervisor001").await.unwrap().unwrap().id;
    let report = |new: NewCase, photos: Vec<i64>, key: Option<String>| Report {
        district_id: district,
        case: new,
        audit: audit(district, AuditAction::CaseReported),
        photos,
        idempotency: key.map(|k| (k, "supervisor001".to_string(), "request".to_string())),
        respond: Box::new(|case: &chuangwen::store::cases::Case| (201, case.number.clone())),
    };
    let first_id = db.store.next_case_id().await.unwrap();

    // Two reports of one batch under the same key: the batch files nothing.
    let a = street_report(&db, district, "重复键一".into(), reporter).await;
    let b = street_report(&db, district, "重复键二".into(), reporter).await;
    let twice = vec![report(a, vec![], Some("k-same".into())), report(b, vec![], Some("k-same".into()))];
    match db.store.file_reports(twice).await {
        Err(chuangwen::store::StoreError::Duplicate(_)) => {}
        other => panic!("a repeated key was answered {:?}", other.map(|f| f.len())),
    }
    assert_eq!(db.store.reports_since(district, first_id).await.unwrap().0, 0, "nothing of that batch stays");

    // One batch of twelve: every third with a photo, every other with a key.
    let mut batch = Vec::new();
    for i in 0..12 {
        let photos = if i % 3 == 0 {
            vec![own_photo(&db, district, reporter, &format!("one-commit-{i}")).await]
        } else {
            vec![]
        };
        let key = (i % 2 == 0).then(|| format!("k-{i}"));
        let new = street_report(&db, district, format!("同一提交编号{i:03}"), reporter).await;
        batch.push((photos.clone(), key.clone(), report(new, photos, key)));
    }
    let expected: Vec<(Vec<i64>, Option<String>)> = batch.iter().map(|(p, k, _)| (p.clone(), k.clone())).collect();
    let filed = db.store.file_reports(batch.into_iter().map(|(_, _, r)| r).collect()).await.unwrap();
    assert_eq!(db.store.reports_since(district, first_id).await.unwrap(), (12, 1), "twelve reports, one commit");
    let numbers: Vec<String> = filed.iter().map(|(case, _, _)| case.number.clone()).collect();
    let seqs = sequence_numbers(&numbers);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "one unbroken run, the failed batch took none: {seqs:?}");
    for (i, ((case, status, body), (photos, key))) in filed.iter().zip(expected).enumerate() {
        assert_eq!(case.description, format!("同一提交编号{i:03}"), "answers come in the order of the reports");
        assert_eq!((*status, body), (201, &case.number), "the answer is made from its own case");
        assert_own_event_and_words(&db, district, case, reporter, &format!("编号{i:03}")).await;
        for photo in photos {
            assert_eq!(db.store.attachment(district, photo).await.unwrap().unwrap().case_id, Some(case.id));
        }
        if let Some(key) = key {
            let stored = db.store.idempotent_response(district, &key).await.unwrap().expect("the key is kept");
            assert_eq!((stored.status, stored.response), (201, case.number.clone()), "{key} keeps its own answer");
        }
    }
    assert!(db.store.verify_audit().await.unwrap().is_ok(), "the audit chain holds");
    assert_equal_to_recount(&db.store, district).await;
});

/// A photo `reporter` uploaded, tied to no case yet.
async fn own_photo(db: &common::TestDb, district: i64, reporter: i64, name: &str) -> i64 {
    let key = format!("test/{name}.jpg");
    let photo = NewAttachment {
        kind: "before",
        file_name: "before.jpg",
        content_type: "image/jpeg",
        size: 10,
        file_key: &key,
        sha256: "00",
        uploaded_by: Some(reporter),
        taken_at: None,
        position: None,
    };
    db.store.create_attachment(district, &photo).await.unwrap()
}

/// A filed report has one `report` event of its own, by its reporter, and
/// its `keyword` finds it and no other case.
async fn assert_own_event_and_words(
    db: &common::TestDb,
    district: i64,
    case: &chuangwen::store::cases::Case,
    reporter: i64,
    keyword: &str,
) {
    let events = db.store.case_events(case.id).await.unwrap();
    assert_eq!(events.len(), 1, "{} has one event: {events:?}", case.number);
    assert_eq!(
        (events[0].action.as_str(), events[0].to_state.as_str(), events[0].note.as_str()),
        ("report", "reported", case.description.as_str()),
        "{}'s event is its own",
        case.number
    );
    assert_eq!(events[0].actor_id, Some(reporter));
    let search = chuangwen::store::cases::CaseFilter { text: Some(keyword.into()), limit: 10, ..Default::default() };
    let found: Vec<i64> =
        db.store.cases(district, &Scope::District, None, &search).await.unwrap().iter().map(|c| c.id).collect();
    assert_eq!(found, vec![case.id], "{keyword} finds {} and no other case", case.number);
}
