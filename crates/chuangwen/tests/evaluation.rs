//! Rounds of evaluation against a real database (both backends): the draw
//! by seed and quota, an evaluator's answers turned into dispatched cases,
//! and the round's score from what is stored.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chuangwen::auth::CurrentUser;
use chuangwen::auth::audit::{AuditAction, NewAuditEntry};
use chuangwen::auth::policy::Scope;
use chuangwen::domain::evaluation::{Answer, Basis};
use chuangwen::domain::org::Role;
use chuangwen::error::AppError;
use chuangwen::evaluation::{Plan, PointAnswer, Visit, plan_round, score, submit_point, system_of};

fn audit(district: i64) -> NewAuditEntry {
    NewAuditEntry {
        district_id: Some(district),
        actor_id: None,
        actor: "office01".into(),
        action: AuditAction::EvaluationChanged,
        object: String::new(),
        detail: String::new(),
        ip: String::new(),
    }
}

/// A demo user as the pages see them.
async fn caller(db: &common::TestDb, username: &str, role: Role) -> CurrentUser {
    let user = db.store.user_by_username(username).await.unwrap().unwrap();
    let unit = db.store.unit_by_id(user.unit_id).await.unwrap();
    CurrentUser {
        user_id: Some(user.id),
        token_id: None,
        district_id: user.district_id,
        unit_id: unit.id,
        unit_path: unit.path,
        username: user.username,
        display_name: user.display_name,
        roles: vec![role],
        must_change_password: false,
        session_hash: None,
        ip: "127.0.0.1".into(),
        tables: None,
    }
}

fn plan(seed: u64, quotas: &[(&str, usize)], evaluators: Vec<i64>) -> Plan {
    Plan {
        kind: "simulated".into(),
        name: "2026 年第四季度模拟测评".into(),
        seed,
        quotas: quotas.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
        evaluators,
        streets: vec![],
    }
}

on_both_backends!(a_round_draws_its_points_by_seed_and_honours_every_quota, |db| {
    let district = db.with_demo().await;
    let (stored, _) = system_of(&db.store, district, 2026).await.unwrap().expect("the demo loads the sample system");
    let quotas = [("main_road", 4), ("residential_compound", 3), ("bus_stop", 2)];
    let ids = |round: i64| {
        let store = db.store.clone();
        async move {
            store
                .round_points(district, round)
                .await
                .unwrap()
                .into_iter()
                .map(|p| (p.point_type, p.point_id))
                .collect::<BTreeSet<_>>()
        }
    };
    let (first, draw) =
        plan_round(&db.store, district, &stored, &plan(7, &quotas, vec![]), "创文办", &audit(district)).await.unwrap();
    assert!(draw.short.is_empty());
    let drawn = ids(first).await;
    for (point_type, quota) in quotas {
        assert_eq!(drawn.iter().filter(|(t, _)| t == point_type).count(), quota, "{point_type}");
    }
    let (again, _) =
        plan_round(&db.store, district, &stored, &plan(7, &quotas, vec![]), "创文办", &audit(district)).await.unwrap();
    let again_ids: BTreeSet<i64> = ids(again).await.into_iter().map(|(_, id)| id).collect();
    let first_ids: BTreeSet<i64> = drawn.iter().map(|(_, id)| *id).collect();
    assert_eq!(again_ids, first_ids, "the same seed draws the same points");
    let (other, _) =
        plan_round(&db.store, district, &stored, &plan(8, &quotas, vec![]), "创文办", &audit(district)).await.unwrap();
    let other_ids: BTreeSet<i64> = ids(other).await.into_iter().map(|(_, id)| id).collect();
    assert_ne!(other_ids, first_ids, "another seed draws others");
    // Points drawn carry their responsible unit.
    let points = db.store.round_points(district, first).await.unwrap();
    assert!(points.iter().all(|p| !p.unit_name.is_empty()));
    assert!(db.store.round_points(district + 1, first).await.unwrap().is_empty(), "another district reads nothing");
    assert!(db.store.round_answers(district + 1, first).await.unwrap().is_empty());

    // A round limited to one street draws only there.
    let street = points.iter().find_map(|p| p.street_id).expect("a point in a street");
    let scoped = Plan { streets: vec![street], ..plan(9, &[("main_road", 3), ("residential_compound", 2)], vec![]) };
    let (round, _) = plan_round(&db.store, district, &stored, &scoped, "创文办", &audit(district)).await.unwrap();
    let drawn = db.store.round_points(district, round).await.unwrap();
    assert!(!drawn.is_empty());
    assert!(drawn.iter().all(|p| p.street_id == Some(street)), "only the street's points");
});

on_both_backends!(failed_items_become_cases_dispatched_to_the_points_unit_and_the_score_follows, |db| {
    let district = db.with_demo().await;
    let state = db.state();
    let evaluator = caller(&db, "evaluator01", Role::Evaluator).await;
    let (stored, system) = system_of(&db.store, district, 2026).await.unwrap().unwrap();
    let (round_id, _) = plan_round(
        &db.store,
        district,
        &stored,
        &plan(11, &[("main_road", 1)], vec![evaluator.user_id.unwrap()]),
        "创文办",
        &audit(district),
    )
    .await
    .unwrap();
    let round = db.store.round(district, round_id).await.unwrap().unwrap();
    let point = db.store.round_points(district, round_id).await.unwrap().remove(0);
    assert_eq!(point.evaluator_id, evaluator.user_id, "assigned to the evaluator");

    let answer = |code: &str, answer: Answer| PointAnswer { item_code: code.into(), answer, note: String::new() };
    // One item left unanswered: refused, nothing kept.
    let partial = vec![answer("ZG-01", Answer::Pass)];
    let visit = Visit { answers: partial, ..Visit::default() };
    let refused = submit_point(&state, &evaluator, &round, &point, &system, &visit).await;
    assert!(matches!(refused, Err(AppError::Invalid { .. })), "{refused:?}");
    assert!(db.store.round_answers(district, round_id).await.unwrap().is_empty());

    let answers = vec![
        answer("ZG-01", Answer::Fail { occurrences: 2 }),
        PointAnswer { note: "垃圾桶旁堆放装修垃圾".into(), ..answer("ZG-02", Answer::Serious) },
        answer("ZG-03", Answer::Pass),
        answer("ZG-04", Answer::Pass),
        answer("ZG-05", Answer::Pass),
        answer("ZG-06", Answer::Pass),
        answer("ZG-07", Answer::NotApplicable),
    ];
    let visit = Visit { answers, photos: vec![], location: Some((point.lon, point.lat)) };
    let raised = submit_point(&state, &evaluator, &round, &point, &system, &visit).await.unwrap();
    assert_eq!(raised.len(), 2, "one case per failed item");
    for id in &raised {
        let case = db.store.case(district, &Scope::District, None, *id).await.unwrap().unwrap();
        assert_eq!(case.state, "dispatched");
        assert_eq!(case.unit_id, Some(point.unit_id), "dispatched to the point's responsible unit");
        assert_eq!((case.source.as_str(), case.point_id), ("eval_round", Some(point.point_id)));
        assert!(case.deadline.is_some(), "with the category's time limit");
        assert!(case.description.contains("2026 年第四季度模拟测评"));
    }
    let stored_answers = db.store.round_answers(district, round_id).await.unwrap();
    let linked: BTreeMap<&str, Option<i64>> =
        stored_answers.iter().map(|a| (a.item_code.as_str(), a.case_id)).collect();
    assert_eq!(linked["ZG-01"], Some(raised[0]));
    assert_eq!(linked["ZG-02"], Some(raised[1]));
    assert_eq!(linked["ZG-03"], None);

    // By hand: 02.01.01 (4 points) lost 0.5 × 2 of weight 2: scores 2; 02.01.02 (3 points)
    // seriously failed: scores 0; four standards passed in full (3 each); 05.02.01 not applicable.
    let score = score(&db.store, &round, &system).await.unwrap();
    let of = |code: &str| score.standard(code).unwrap().clone();
    assert_eq!((of("02.01.01").score, of("02.01.01").lost), (Some(2.0), 2.0));
    assert_eq!((of("02.01.02").score, of("02.01.02").lost), (Some(0.0), 3.0));
    assert_eq!(of("05.02.01").basis, Basis::Unassessed);
    assert_eq!(score.measured_points, 19.0);
    assert_eq!(score.total, 14.0);
    assert_eq!(score.lost_by(|l| l.unit_id), vec![(point.unit_id, 5.0)], "every lost point traced to the unit");

    // Sent again (a double tap, a retry): the same cases, none raised twice.
    let again = submit_point(&state, &evaluator, &round, &point, &system, &visit).await.unwrap();
    assert_eq!(again, raised);
    let filter =
        chuangwen::store::cases::CaseFilter { source: Some("eval_round".into()), limit: 100, ..Default::default() };
    let from_rounds = db.store.cases(district, &Scope::District, None, &filter).await.unwrap();
    assert_eq!(from_rounds.iter().filter(|c| c.point_id == Some(point.point_id)).count(), 2);

    // A failed item whose category the district does not file is refused before anything is kept.
    let mut odd = (*system).clone();
    odd.checklists.iter_mut().find(|c| c.point_type == "main_road").unwrap().items[2].category = "99999".into();
    let failing = vec![
        answer("ZG-01", Answer::Pass),
        answer("ZG-02", Answer::Pass),
        answer("ZG-03", Answer::Fail { occurrences: 1 }),
        answer("ZG-04", Answer::Pass),
        answer("ZG-05", Answer::Pass),
        answer("ZG-06", Answer::Pass),
        answer("ZG-07", Answer::Pass),
    ];
    let table = db.store.categories(district).await.unwrap();
    let checked = chuangwen::evaluation::check_visit(odd.checklist("main_road").unwrap(), &failing, &table);
    assert!(matches!(checked, Err(AppError::Invalid { ref message, .. }) if message.contains("99999")), "{checked:?}");

    // The office enters the survey's result; a closed round takes no answers.
    let entered = serde_json::json!({ "07.01.02": 8.5 }).to_string();
    assert!(db.store.set_round_entered(district, round_id, &entered).await.unwrap());
    let round = db.store.round(district, round_id).await.unwrap().unwrap();
    let with_survey = chuangwen::evaluation::score(&db.store, &round, &system).await.unwrap();
    assert_eq!(with_survey.total, 22.5);
    assert_eq!(with_survey.entered_points, 10.0);
    assert!(db.store.close_round(district, round_id).await.unwrap());
    let late = submit_point(&state, &evaluator, &round, &point, &system, &visit).await;
    assert!(matches!(late, Err(AppError::Conflict(_))), "{late:?}");
});

on_both_backends!(a_district_loads_its_own_system_and_downloads_the_score, |db| {
    let district = db.with_demo().await;
    let mut office = common::as_user(&db, "office01").await;
    let tree = office.get("/evaluation").await.text();
    assert!(tree.contains("这是示例测评体系"), "the sample says so on screen");
    assert!(tree.contains("公共秩序") && tree.contains("区城市管理委员会"));

    // The sample goes out as a workbook and comes back as the district's own version.
    let exported = office.get("/evaluation/system/download?format=xlsx").await;
    assert_eq!(exported.status, axum::http::StatusCode::OK);
    let mut system = chuangwen::evaluation::workbook::import(&exported.body).unwrap();
    system.version = "2026.2-本区".into();
    system.projects[0].contents[0].standards[0].lead = "D999".into();
    let csrf = office.csrf();
    let bad = chuangwen::evaluation::workbook::export(&system).unwrap();
    let refused = office.upload_to("/evaluation/system", &[("csrf", &csrf)], "file", "测评体系.xlsx", &bad).await;
    assert_eq!(refused.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().contains("责任单位编码“D999”在本区不存在"), "{}", refused.text());
    system.projects[0].contents[0].standards[0].lead = "D006".into();
    let good = chuangwen::evaluation::workbook::export(&system).unwrap();
    let csrf = office.csrf();
    let loaded = office.upload_to("/evaluation/system", &[("csrf", &csrf)], "file", "测评体系.xlsx", &good).await;
    assert_eq!(loaded.status, axum::http::StatusCode::SEE_OTHER, "{}", loaded.text());
    let tree = office.get("/evaluation").await.text();
    assert!(tree.contains("2026.2-本区") && !tree.contains("这是示例测评体系"));
    let csrf = office.csrf();
    let again = office.upload_to("/evaluation/system", &[("csrf", &csrf)], "file", "测评体系.xlsx", &good).await;
    assert!(again.text().contains("版本“2026.2-本区”已存在"));

    // Last year's round lost most in 市容环境: this year's report flags it.
    let mut last_year = chuangwen::domain::evaluation::shipped().clone();
    last_year.year = 2025;
    last_year.version = "2025.1".into();
    let body = toml::to_string(&last_year).unwrap();
    db.store.save_evaluation_system(district, 2025, "2025.1", &body, "创文办", Some(&audit(district))).await.unwrap();
    let old = db.store.evaluation_system(district, 2025).await.unwrap().unwrap();
    let evaluator = caller(&db, "evaluator01", Role::Evaluator).await;
    let (old_round, _) =
        plan_round(&db.store, district, &old, &plan(3, &[("main_road", 1)], vec![]), "创文办", &audit(district))
            .await
            .unwrap();
    let old_round = db.store.round(district, old_round).await.unwrap().unwrap();
    let point = db.store.round_points(district, old_round.id).await.unwrap().remove(0);
    let all = |failing: &str| -> Vec<PointAnswer> {
        last_year
            .checklist("main_road")
            .unwrap()
            .items
            .iter()
            .map(|i| PointAnswer {
                item_code: i.code.clone(),
                answer: if i.code == failing { Answer::Serious } else { Answer::Pass },
                note: String::new(),
            })
            .collect()
    };
    let visit = Visit { answers: all("ZG-01"), ..Visit::default() };
    let state = db.state();
    submit_point(&state, &evaluator, &old_round, &point, &last_year, &visit).await.unwrap();
    let (current, _) = system_of(&db.store, district, 2026).await.unwrap().unwrap();
    let (round_id, _) =
        plan_round(&db.store, district, &current, &plan(4, &[("main_road", 1)], vec![]), "创文办", &audit(district))
            .await
            .unwrap();
    let page = office.get(&format!("/evaluation/rounds/{round_id}/score")).await.text();
    assert!(page.contains("与去年比较"), "{page}");
    let flagged = page.split("level1 flagged").count() - 1;
    assert_eq!(flagged, 1, "one project lost points last year");
    assert!(page.split("level1 flagged").nth(1).unwrap().contains("市容环境"));

    // The report downloads as PDF and Excel.
    let pdf = office.get(&format!("/evaluation/rounds/{round_id}/score/download?format=pdf")).await;
    assert!(pdf.body.starts_with(b"%PDF"));
    let xlsx = office.get(&format!("/evaluation/rounds/{round_id}/score/download?format=xlsx")).await;
    let sheets = chuangwen::sheet::read_sheets(&xlsx.body).unwrap();
    let scores = sheets.iter().find(|(name, _)| name == "各项得分").map(|(_, t)| t).expect("a sheet of scores");
    assert_eq!(scores.headers[..3], ["编码", "测评项目 / 内容 / 标准", "分值"]);
    assert!(scores.rows.iter().any(|r| r.cell(1).contains("去年丢分较多")));
    let bad_format = office.get(&format!("/evaluation/rounds/{round_id}/score/download?format=exe")).await;
    assert_eq!(bad_format.status, axum::http::StatusCode::BAD_REQUEST);
});
