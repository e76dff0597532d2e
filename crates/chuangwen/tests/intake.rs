//! Bulk intake against a real database (both backends) and real files: a
//! spreadsheet of findings is checked row by row, refused whole or filed
//! without its bad rows, set aside where it repeats a case, and undone as a
//! whole; and the pages people use for it.

mod common;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use chuangwen::auth::audit::{AuditAction, NewAuditEntry};
use chuangwen::auth::policy::Scope;
use chuangwen::domain::stats::{Dim, Period, Tally, beijing_day};
use chuangwen::intake::IntakeReport;
use chuangwen::intake::check::{DuplicateKind, Mapping};
use chuangwen::places::load_grid_index;
use chuangwen::sheet::read_table;
use chuangwen::store::cases::CaseFilter;
use chuangwen::store::intake::{IntakeJob, NewIntakeBatch, UndoRefusal};
use common::browser::Browser;
use rust_xlsxwriter::Workbook;

const HEADER: [&str; 8] = ["问题编号", "问题分类", "立案条件", "问题描述", "经度", "纬度", "点位", "发现时间"];

/// An xlsx file from a header and rows of text cells.
fn xlsx(header: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            if !cell.is_empty() {
                sheet.write_string(r as u32 + 1, c as u16, cell).unwrap();
            }
        }
    }
    book.save_to_buffer().unwrap()
}

/// Spots inside the district's grid cells, one per cell.
async fn spots(db: &common::TestDb, district: i64) -> Vec<(f64, f64)> {
    load_grid_index(&db.store, district).await.unwrap().cells().iter().map(|c| c.polygon.centroid()).collect()
}

fn category() -> String {
    chuangwen::domain::categories::shipped().categories[0].code.clone()
}

/// A good finding at a spot: (number, category, condition, description, lon, lat, point, found).
fn good_row(i: usize, (lon, lat): (f64, f64)) -> Vec<String> {
    vec![
        format!("CP-{i:05}"),
        category(),
        String::new(),
        format!("测评发现：人行道堆放杂物（第 {i} 条）"),
        format!("{lon:.6}"),
        format!("{lat:.6}"),
        String::new(),
        "2026-11-20 09:30".into(),
    ]
}

/// Keeps a file and records its batch with the proposed mapping, as an upload does.
async fn upload(db: &common::TestDb, district: i64, source: &str, bytes: Vec<u8>) -> i64 {
    let table = read_table(&bytes).unwrap();
    let mapping = serde_json::to_string(&Mapping::propose(&table.headers, None)).unwrap();
    let key = format!("intake/{district}/{}.xlsx", uuid::Uuid::new_v4());
    db.files.put(&key, bytes.into()).await.unwrap();
    let new = NewIntakeBatch {
        source,
        file_name: "测评问题清单.xlsx",
        file_key: &key,
        format: "xlsx",
        mapping: &mapping,
        created_by: None,
        created_by_name: "创文办",
    };
    db.store.create_intake_batch(district, &new).await.unwrap()
}

/// Confirms the batch's mapping with these choices and runs its job.
async fn run(db: &common::TestDb, district: i64, id: i64, skip: bool, duplicates: bool) -> IntakeReport {
    let batch = db.store.intake_batch(district, id).await.unwrap().unwrap();
    let job = IntakeJob {
        batch_id: id,
        actor_id: None,
        actor: "office01".into(),
        ip: "127.0.0.1".into(),
        duplicate_radius_m: 50.0,
        duplicate_days: 7,
    };
    assert!(db.store.queue_intake_batch(district, &batch.mapping, skip, duplicates, &job).await.unwrap());
    assert_eq!(chuangwen::jobs::drain(&db.state().job_context()).await, 1, "the batch's job ran");
    let batch = db.store.intake_batch(district, id).await.unwrap().unwrap();
    serde_json::from_str(batch.report.as_deref().expect("a report")).unwrap()
}

async fn batch_cases(db: &common::TestDb, district: i64, id: i64) -> Vec<chuangwen::store::cases::Case> {
    let filter = CaseFilter { intake_batch_id: Some(id), limit: 20_000, ..Default::default() };
    db.store.cases(district, &Scope::District, None, &filter).await.unwrap()
}

/// How many cases the keyword search finds (counted to 20,000).
async fn found(db: &common::TestDb, district: i64, keyword: &str) -> i64 {
    let filter = CaseFilter { text: Some(keyword.into()), ..Default::default() };
    db.store.count_cases(district, &Scope::District, None, &filter, 20_000).await.unwrap()
}

async fn reported(db: &common::TestDb, district: i64, source: &str) -> i64 {
    let today = beijing_day(Utc::now());
    let whole = Period::new(today - Duration::days(800), today).unwrap();
    db.store.stats_total(district, Dim::Source, source, &whole).await.unwrap().reported
}

/// Every kept figure of the district over the last 800 days, by dimension, zeros left out.
async fn figures(db: &common::TestDb, district: i64) -> Vec<Vec<(String, Tally)>> {
    let today = beijing_day(Utc::now());
    let whole = Period::new(today - Duration::days(800), today).unwrap();
    let mut all = Vec::new();
    for dim in Dim::ALL {
        let mut kept = db.store.stats_by(district, dim, &whole, None).await.unwrap();
        kept.retain(|(_, t)| !t.is_zero());
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        let mut recount = db.store.recount_by(district, dim, &whole).await.unwrap();
        recount.retain(|(_, t)| !t.is_zero());
        recount.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(kept, recount, "the kept {dim:?} figures equal a recount from the cases");
        all.push(kept);
    }
    all
}

fn audit(district: i64) -> NewAuditEntry {
    NewAuditEntry {
        district_id: Some(district),
        actor_id: None,
        actor: "office01".into(),
        action: AuditAction::DataImported,
        object: String::new(),
        detail: String::new(),
        ip: "127.0.0.1".into(),
    }
}

on_both_backends!(ten_thousand_findings_with_fifty_bad_rows_are_refused_then_filed_without_them_then_undone, |db| {
    let district = db.with_demo().await;
    let spots = spots(&db, district).await;
    let mut expected_bad = BTreeSet::new();
    let rows: Vec<Vec<String>> = (0..10_000)
        .map(|i| {
            let mut row = good_row(i, spots[i % spots.len()]);
            if i % 200 == 7 {
                // Ten kinds of mistake, five times each.
                match (i / 200) % 10 {
                    0 => row[1] = "99999".into(),                              // unknown category
                    1 => row[3] = String::new(),                               // no description
                    2 => row[4] = "东经117度".into(),                          // not a number
                    3 => (row[4], row[5]) = ("116.39".into(), "39.90".into()), // outside the district
                    4 => row[7] = "2099-01-01".into(),                         // found in the future
                    5 => row[5] = String::new(),                               // longitude without latitude
                    6 => row[6] = "不存在的点位".into(),                       // unknown point
                    7 => row[2] = "99".into(),                                 // no such filing condition
                    8 => row[0] = format!("CP-{:05}", i - 1),                  // a number used on the row above
                    _ => row[1] = String::new(),                               // no category
                }
                expected_bad.insert(i + 2); // spreadsheet rows: the header is row 1
            }
            row
        })
        .collect();
    assert_eq!(expected_bad.len(), 50);
    let before = figures(&db, district).await;
    let id = upload(&db, district, "third_party", xlsx(&HEADER, &rows)).await;

    // All or nothing: the report names exactly the 50 bad rows, and nothing is filed.
    let refused = run(&db, district, id, false, false).await;
    assert!(refused.refused);
    assert_eq!(refused.total_rows, 10_000);
    let named: BTreeSet<usize> = refused.errors.iter().map(|e| e.row).collect();
    assert_eq!(named, expected_bad, "the report names exactly the bad rows");
    assert_eq!(refused.bad_rows, 50);
    assert!(refused.errors.iter().all(|e| !e.reason.is_empty() && !e.field.is_empty()));
    assert!(refused.summary().contains("10000 行中有 50 行有误，未写入任何数据"), "{}", refused.summary());
    assert_eq!(db.store.intake_batch(district, id).await.unwrap().unwrap().state, "refused");
    assert!(batch_cases(&db, district, id).await.is_empty());
    assert_eq!(reported(&db, district, "third_party").await, 0);
    // The office reads the same on the batch's page, with one click to skip them.
    let mut office = common::as_user(&db, "office01").await;
    let page = office.get(&format!("/intake/batches/{id}")).await.text();
    let table = page.split("id=\"errors\"").nth(1).unwrap().split("</table>").next().unwrap();
    assert_eq!(table.matches("<tr>").count(), 1 + 50, "a header and one line per bad row");
    for row in &expected_bad {
        assert!(table.contains(&format!("<td class=\"num\">{row}</td>")), "row {row} is on the page");
    }
    assert!(page.contains("跳过这 50 个错误行，导入其余各行"));

    // Skipping bad rows: the other 9,950 become reported cases, numbered in a run.
    let filed = run(&db, district, id, true, false).await;
    assert!(!filed.refused);
    assert_eq!((filed.imported, filed.bad_rows), (9_950, 50));
    let cases = batch_cases(&db, district, id).await;
    assert_eq!(cases.len(), 9_950);
    assert!(cases.iter().all(|c| c.state == "reported" && c.source == "third_party" && c.grid_id.is_some()));
    let mut numbers: Vec<&str> = cases.iter().map(|c| c.number.as_str()).collect();
    numbers.sort();
    let (first, last) = filed.numbers.clone().unwrap();
    assert_eq!((numbers[0], numbers[9_949]), (first.as_str(), last.as_str()));
    let (year, start) = first.split_once('-').unwrap();
    let start: usize = start.parse().unwrap();
    let run: Vec<String> = (start..start + 9_950).map(|n| format!("{year}-{n:06}")).collect();
    assert_eq!(numbers, run, "numbered in one unbroken run");
    let refs: BTreeSet<&str> = cases.iter().filter_map(|c| c.external_ref.as_deref()).collect();
    assert_eq!(refs.len(), 9_950, "every number kept");
    assert!(!refs.contains("CP-00007"), "a bad row is not filed");
    let one = cases.iter().find(|c| c.external_ref.as_deref() == Some("CP-00001")).unwrap();
    assert_eq!(one.found_at, Some("2026-11-20T01:30:00Z".parse().unwrap()), "found at 09:30 Beijing time");
    assert_eq!(db.store.case_events(one.id).await.unwrap().len(), 1, "each case has its report event");
    assert_eq!(reported(&db, district, "third_party").await, 9_950);
    let filed_figures = figures(&db, district).await;
    assert_ne!(filed_figures, before);
    let batch = db.store.intake_batch(district, id).await.unwrap().unwrap();
    assert_eq!((batch.state.as_str(), batch.imported), ("done", 9_950));

    // The keyword search finds them by their descriptions, each word exactly.
    assert_eq!(found(&db, district, "堆放杂物").await, 9_950);
    assert_eq!(found(&db, district, "第 123 条").await, 1, "not 1230 nor 4123");
    assert_eq!(found(&db, district, "杂物堆放").await, 0);

    // Undo removes them all, with their sums.
    let removed = db.store.undo_intake_batch(district, id, "创文办", &audit(district)).await.unwrap();
    assert_eq!(removed, 9_950);
    assert!(batch_cases(&db, district, id).await.is_empty());
    assert_eq!(reported(&db, district, "third_party").await, 0);
    assert_eq!(figures(&db, district).await, before, "every figure as before the import");
    let batch = db.store.intake_batch(district, id).await.unwrap().unwrap();
    assert_eq!((batch.state.as_str(), batch.undone_by_name.as_deref()), ("undone", Some("创文办")));
    assert!(matches!(
        db.store.undo_intake_batch(district, id, "创文办", &audit(district)).await,
        Err(UndoRefusal::Undone)
    ));
    // Their words went with them: a report filed after them (on SQLite it may take the
    // id of an undone case) is found by its own words only.
    let spot = spots[0];
    let body = serde_json::json!({"category": category(), "description": "井盖缺失", "lon": spot.0, "lat": spot.1});
    let (status, case) = office.json("POST", "/api/v1/cases", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    assert_eq!(found(&db, district, "堆放杂物").await, 0, "the undone words are gone");
    assert_eq!(found(&db, district, "井盖").await, 1);
});

on_both_backends!(a_finding_already_imported_or_open_nearby_is_set_aside_unless_chosen, |db| {
    let district = db.with_demo().await;
    let spots = spots(&db, district).await;
    let rows: Vec<Vec<String>> = (0..3).map(|i| good_row(i, spots[i])).collect();
    let first = upload(&db, district, "hotline", xlsx(&HEADER, &rows)).await;
    let report = run(&db, district, first, false, false).await;
    assert_eq!(report.imported, 3);
    let filed = batch_cases(&db, district, first).await;

    // The same three again, and a fourth next to the first (another number, same category).
    let mut again = rows.clone();
    let mut near = good_row(3, spots[0]);
    near[4] = format!("{:.6}", spots[0].0 + 0.0001); // about 10 m east
    again.push(near);
    let second = upload(&db, district, "hotline", xlsx(&HEADER, &again)).await;
    let report = run(&db, district, second, false, false).await;
    assert_eq!(report.imported, 0, "{}", report.summary());
    let kinds: Vec<(usize, DuplicateKind)> = report.duplicates.iter().map(|d| (d.row, d.kind)).collect();
    assert_eq!(
        kinds,
        [
            (2, DuplicateKind::AlreadyImported),
            (3, DuplicateKind::AlreadyImported),
            (4, DuplicateKind::AlreadyImported),
            (5, DuplicateKind::NearOpenCase)
        ]
    );
    let first_case = filed.iter().find(|c| c.external_ref.as_deref() == Some("CP-00000")).unwrap();
    assert_eq!(report.duplicates[3].case_number, first_case.number);
    assert!(report.summary().contains("跳过重复 4 行"), "{}", report.summary());

    // Chosen: the one near an open case is filed anyway; an imported number never is.
    let third = upload(&db, district, "hotline", xlsx(&HEADER, &again)).await;
    let report = run(&db, district, third, false, true).await;
    assert_eq!((report.imported, report.duplicates_filed), (1, 1));
    assert_eq!(batch_cases(&db, district, third).await[0].external_ref.as_deref(), Some("CP-00003"));

    // Another source's same numbers are its own.
    let other = upload(&db, district, "third_party", xlsx(&HEADER, &rows[..1])).await;
    let report = run(&db, district, other, false, true).await;
    assert_eq!(report.imported, 1);
});

on_both_backends!(a_batch_is_not_undone_once_a_case_moved_on_or_after_a_day, |db| {
    let district = db.with_demo().await;
    let spots = spots(&db, district).await;
    let rows: Vec<Vec<String>> = (0..4).map(|i| good_row(i, spots[i])).collect();
    let id = upload(&db, district, "third_party", xlsx(&HEADER, &rows)).await;
    run(&db, district, id, false, false).await;
    let cases = batch_cases(&db, district, id).await;

    // The office accepts one: the batch stays whole.
    let state = db.state();
    let mut browser = Browser::new(state.clone());
    browser.login("office01", common::DEMO_PASSWORD).await;
    let page = browser.get(&format!("/cases/{}", cases[0].id)).await.text();
    assert!(page.contains(&format!("批次 #{id}")), "the case says its batch");
    let (status, body) =
        browser.json("POST", &format!("/api/v1/cases/{}/accept", cases[0].id), Some(serde_json::json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refused = db.store.undo_intake_batch(district, id, "创文办", &audit(district)).await;
    assert!(matches!(refused, Err(UndoRefusal::MovedOn(1))), "{refused:?}");
    assert_eq!(batch_cases(&db, district, id).await.len(), 4, "nothing removed");
    let page = browser.get(&format!("/intake/batches/{id}")).await.text();
    assert!(page.contains("撤销整批"));
    let undo = browser.post_form(&format!("/intake/batches/{id}/undo"), &[("csrf", &browser.csrf())]).await;
    assert_eq!(undo.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(undo.text().contains("已有 1 件案卷开始办理"), "{}", undo.text());

    // A note from outside (Open311 servicerequestupdates) also makes a case moved on.
    let noted =
        upload(&db, district, "third_party", xlsx(&HEADER, &[good_row(7, spots[7]), good_row(8, spots[8])])).await;
    run(&db, district, noted, false, false).await;
    let case = &batch_cases(&db, district, noted).await[0];
    db.store.add_external_update(case, "市平台", "群众补充：仍未清理", "{}", &audit(district)).await.unwrap();
    let refused = db.store.undo_intake_batch(district, noted, "创文办", &audit(district)).await;
    assert!(matches!(refused, Err(UndoRefusal::MovedOn(1))), "{refused:?}");
    assert_eq!(batch_cases(&db, district, noted).await.len(), 2);
    assert_eq!(
        db.store.intake_batch(district, noted).await.unwrap().unwrap().state,
        "done",
        "a refused undo leaves the batch as it was"
    );

    // So does another report merged into one of its cases.
    let target = upload(&db, district, "third_party", xlsx(&HEADER, &[good_row(11, spots[11])])).await;
    run(&db, district, target, false, false).await;
    let other = upload(&db, district, "hotline", xlsx(&HEADER, &[good_row(12, spots[12])])).await;
    run(&db, district, other, false, false).await;
    let (x, y) = (batch_cases(&db, district, target).await[0].id, batch_cases(&db, district, other).await[0].id);
    let (status, body) =
        browser.json("POST", &format!("/api/v1/cases/{y}/merge"), Some(serde_json::json!({"duplicate_of": x}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refused = db.store.undo_intake_batch(district, target, "创文办", &audit(district)).await;
    assert!(matches!(refused, Err(UndoRefusal::MovedOn(1))), "{refused:?}");

    // A day later, a fresh batch cannot be undone either.
    let late = upload(&db, district, "third_party", xlsx(&HEADER, &[good_row(9, spots[9])])).await;
    run(&db, district, late, false, false).await;
    let day_ago = Utc::now() - Duration::hours(25);
    let backdate = format!("UPDATE intake_batches SET finished_at = '{}' WHERE id = {late}", day_ago.to_rfc3339());
    match &db.store.db {
        chuangwen::store::Db::Sqlite { writer, .. } => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(backdate)).execute(writer).await.unwrap();
        }
        chuangwen::store::Db::Postgres(pool) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(backdate)).execute(pool).await.unwrap();
        }
    };
    assert!(matches!(
        db.store.undo_intake_batch(district, late, "创文办", &audit(district)).await,
        Err(UndoRefusal::TooLate)
    ));
    let page = browser.get(&format!("/intake/batches/{late}")).await.text();
    assert!(page.contains("已超过 24 小时"), "{page}");
});

on_both_backends!(an_office_imports_a_hotline_export_through_the_pages, |db| {
    let district = db.with_demo().await;
    let spots = spots(&db, district).await;
    let state = db.state();
    let mut browser = Browser::new(state.clone());
    browser.login("office01", common::DEMO_PASSWORD).await;
    let page = browser.get("/intake").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("12345 热线"));

    // A hotline export in GBK with its own headers, one of them unknown to us.
    let csv = format!(
        "工单号,处理类别,诉求内容,事发地址,经度,纬度\nRX-1,{c},小区门口垃圾满溢,某路 1 号,{},{}\nRX-2,没有的类别,路灯不亮,某路 2 号,,\n",
        spots[0].0,
        spots[0].1,
        c = category()
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(&csv);
    let csrf = browser.csrf();
    let uploaded =
        browser.upload_to("/intake", &[("csrf", &csrf), ("source", "hotline")], "file", "热线工单.csv", &gbk).await;
    assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.text());
    let batch_url = uploaded.location().to_string();
    let mapping = browser.get(&batch_url).await.text();
    assert!(mapping.contains("确认各字段对应的列"));
    assert!(mapping.contains("小区门口垃圾满溢"), "sample rows are shown");

    // 处理类别 is not a name we know: without it the mapping is refused, with the reason.
    let id: i64 = batch_url.rsplit('/').next().unwrap().parse().unwrap();
    let csrf = browser.csrf();
    let base =
        [("csrf", csrf.as_str()), ("col_external_ref", "工单号"), ("col_description", "诉求内容"), ("crs", "wgs84")];
    let refused = browser.post_form(&format!("{batch_url}/run"), &base).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().contains("请为“问题分类”选择对应的列"));
    let mut chosen = base.to_vec();
    chosen.extend([
        ("col_category", "处理类别"),
        ("col_address", "事发地址"),
        ("col_lon", "经度"),
        ("col_lat", "纬度"),
    ]);
    let started = browser.post_form(&format!("{batch_url}/run"), &chosen).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    assert_eq!(chuangwen::jobs::drain(&state.job_context()).await, 1);
    let page = browser.get(&batch_url).await.text();
    assert!(page.contains("2 行中有 1 行有误"), "{page}");
    assert!(page.contains("未知的分类“没有的类别”"));

    // One click skips the bad row.
    let csrf = browser.csrf();
    let mut skip = chosen.clone();
    skip[0] = ("csrf", csrf.as_str());
    skip.push(("skip_bad_rows", "1"));
    browser.post_form(&format!("{batch_url}/run"), &skip).await;
    chuangwen::jobs::drain(&state.job_context()).await;
    let page = browser.get(&batch_url).await.text();
    assert!(page.contains("立案 1 件"), "{page}");
    assert!(page.contains("跳过错误行 1 行"));
    let cases = batch_cases(&db, district, id).await;
    assert_eq!((cases.len(), cases[0].source.as_str(), cases[0].reporter_name.as_str()), (1, "hotline", "12345 热线"));

    // The mapping is kept for the hotline's next export.
    let csrf = browser.csrf();
    let next =
        browser.upload_to("/intake", &[("csrf", &csrf), ("source", "hotline")], "file", "热线工单2.csv", &gbk).await;
    let page = browser.get(next.location()).await.text();
    assert!(page.contains("<option value=\"处理类别\" selected>"), "the saved mapping is proposed");

    // The list says who imported what.
    let list = browser.get("/intake").await.text();
    assert!(list.contains("热线工单.csv") && list.contains("已导入") && list.contains("待确认列对应"));

    // Undo from the page.
    let undo = browser.post_form(&format!("{batch_url}/undo"), &[("csrf", &browser.csrf())]).await;
    assert_eq!(undo.status, StatusCode::SEE_OTHER);
    assert!(batch_cases(&db, district, id).await.is_empty());
    assert!(browser.get(&batch_url).await.text().contains("已撤销"));

    // An unreadable file is refused on the form, and nothing is kept.
    let csrf = browser.csrf();
    let bad = browser
        .upload_to("/intake", &[("csrf", &csrf), ("source", "hotline")], "file", "x.xlsx", b"PK\x03\x04junk")
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().contains("无法打开 Excel 文件"));

    // The template downloads and maps itself.
    let template = browser.get("/intake/template.xlsx").await;
    assert_eq!(template.status, StatusCode::OK);
    let table = read_table(&template.body).unwrap();
    let proposed = Mapping::propose(&table.headers, None);
    assert!(proposed.columns_in(&table.headers).is_ok());
    assert_eq!(proposed.columns.len(), chuangwen::intake::check::FIELDS.len());
});

on_both_backends!(only_the_office_and_the_administrator_import_findings, |db| {
    db.with_demo().await;
    for (user, allowed) in [("office01", true), ("admin", true), ("leader01", false), ("inspector01", false)] {
        let mut browser = Browser::new(db.state());
        browser.login(user, common::DEMO_PASSWORD).await;
        let status = browser.get("/intake").await.status;
        assert_eq!(status == StatusCode::OK, allowed, "{user}: {status}");
        let home = browser.get("/").await.text();
        assert_eq!(home.contains("href=\"/intake\""), allowed, "{user} sees the link only if allowed");
    }
});
