//! Supervision output read back as a user would: the weekly report as PDF
//! (through poppler's pdftotext), xlsx (calamine) and docx (its XML); the
//! daily sheets against the cases; a webhook receiver that is down, then
//! failing, then back — retried, logged, delivered once, correctly signed.

mod common;

use std::io::{Cursor, Read};
use std::sync::{Arc, Mutex};

use calamine::{Data, Reader, Xlsx};
use chrono::Utc;
use chuangwen::domain::stats::{Dim, Period, beijing_day};
use chuangwen::reports::render::{docx, pdf, xlsx};
use chuangwen::reports::{Block, Cell, build};

fn pdf_text(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (Debian's poppler-utils; scripts/test.sh installs it)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

on_both_backends!(the_weekly_report_reads_back_the_same_in_pdf_xlsx_and_docx, |db| {
    let district = chuangwen::demo::create(
        &db.store,
        common::DEMO_SEED,
        Some(common::DEMO_PASSWORD),
        400,
        &chuangwen::progress::Silent,
    )
    .await
    .unwrap()
    .district
    .id;
    let today = beijing_day(Utc::now());
    let doc = build::weekly(&db.store, district, today).await.unwrap();
    // The per-unit table: its first row is the unit with the most problems this year.
    let table = doc
        .blocks
        .iter()
        .find_map(|b| match b {
            Block::Table(t) if t.caption == "责任单位" => Some(t.clone()),
            _ => None,
        })
        .expect("a per-unit table");
    assert!(!table.rows.is_empty(), "a year of cases has units");
    let (first_unit, first_reported) = match (&table.rows[0][0], &table.rows[0][1]) {
        (Cell::Text(name), Cell::Count(n)) => (name.clone(), *n),
        other => panic!("unexpected cells {other:?}"),
    };
    // The figure is the kept sum, equal to a recount.
    let year = Period::new(
        chrono::NaiveDate::from_ymd_opt(today.format("%Y").to_string().parse().unwrap(), 1, 1).unwrap(),
        build::monday_of(today) + chrono::Duration::days(6),
    )
    .unwrap();
    let recount = db.store.recount_by(district, Dim::Unit, &year).await.unwrap();
    assert!(recount.iter().any(|(_, t)| t.reported == first_reported), "{first_reported} found in the recount");

    let text = pdf_text(&pdf(&doc).unwrap());
    // A narrow table cell wraps a long name: its first four characters share a line.
    let unit_start: String = first_unit.chars().take(4).collect();
    // Page numbers on every page (pdftotext drops the spaces around the numbers).
    assert!(text.replace(' ', "").contains("第1页/共"), "{text}");
    for expected in ["创文工作周报", "一、总体情况", "三、各责任单位本年累计", unit_start.as_str()]
    {
        assert!(text.contains(expected), "the PDF says {expected:?}:\n{text}");
    }

    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(xlsx(&doc).unwrap())).unwrap();
    assert!(book.sheet_names().contains(&"概况".to_string()));
    let sheet = book.worksheet_range("责任单位").unwrap();
    assert_eq!(sheet.get((0, 0)), Some(&Data::String("责任单位".into())));
    assert_eq!(sheet.get((1, 0)), Some(&Data::String(first_unit.clone())));
    assert_eq!(sheet.get((1, 1)), Some(&Data::Float(first_reported as f64)), "counts are numbers");
    let overview = book.worksheet_range("概况").unwrap();
    assert_eq!(overview.get((0, 0)), Some(&Data::String("创文工作周报".into())));

    let mut archive = zip::ZipArchive::new(Cursor::new(docx(&doc).unwrap())).unwrap();
    let mut xml = String::new();
    archive.by_name("word/document.xml").unwrap().read_to_string(&mut xml).unwrap();
    assert!(xml.contains("创文工作周报") && xml.contains(&first_unit) && xml.contains("<w:tbl>"));
});

on_both_backends!(each_unit_with_running_cases_gets_its_daily_sheet_in_its_inbox, |db| {
    let district = chuangwen::demo::create(
        &db.store,
        common::DEMO_SEED,
        Some(common::DEMO_PASSWORD),
        400,
        &chuangwen::progress::Silent,
    )
    .await
    .unwrap()
    .district
    .id;
    let state = db.state();
    let now = Utc::now();
    let units = db.store.units_with_running_cases(district).await.unwrap();
    assert!(!units.is_empty());
    let made =
        chuangwen::jobs::reports::sheets_for(&state.job_context(), district, beijing_day(now), now).await.unwrap();
    assert_eq!(made, units.len());
    let unit = units[0];
    let sheets = db.store.reports(district, Some(&[unit]), 10).await.unwrap();
    let sheet = sheets.iter().find(|r| r.kind == "daily_sheet").expect("the unit's sheet");
    let doc: chuangwen::reports::Document = serde_json::from_str(&sheet.body).unwrap();
    let overdue =
        db.store.unit_running_cases(unit).await.unwrap().iter().filter(|c| c.deadline.is_some_and(|d| d < now)).count();
    assert!(doc.text().contains(&format!("已超期（{overdue} 件）")), "{}", doc.text());
    // Another unit does not see it; making the sheets again replaces, never doubles.
    let other = units.iter().find(|u| **u != unit).copied().unwrap_or(-1);
    assert!(db.store.reports(district, Some(&[other]), 50).await.unwrap().iter().all(|r| r.unit_id != Some(unit)));
    chuangwen::jobs::reports::sheets_for(&state.job_context(), district, beijing_day(now), now).await.unwrap();
    let again = db.store.reports(district, Some(&[unit]), 10).await.unwrap();
    assert_eq!(again.iter().filter(|r| r.kind == "daily_sheet").count(), 1);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_delivery_survives_the_receiver_being_down() {
    let db = common::sqlite().await;
    let district = db.with_demo().await;
    let state = db.state();
    let ctx = state.job_context();
    // A port with nothing listening: the receiver is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let secret = "whsec_test_secret";
    let audit = chuangwen::auth::audit::NewAuditEntry {
        district_id: Some(district),
        actor_id: None,
        actor: "测试".into(),
        action: chuangwen::auth::audit::AuditAction::SettingsChanged,
        object: String::new(),
        detail: String::new(),
        ip: String::new(),
    };
    db.store
        .create_webhook(
            district,
            "市平台",
            &format!("http://127.0.0.1:{port}/hook"),
            &state.crypto.encrypt(secret),
            "weekly",
            &audit,
        )
        .await
        .unwrap();
    let body = r#"{"title":"创文工作周报","subtitle":"","blocks":[]}"#;
    db.store
        .deliver_report(district, "weekly", None, "2026-11-23", "周报", body, |id| {
            chuangwen::jobs::reports::webhook_payload(id, "weekly", "周报", None, body)
        })
        .await
        .unwrap();
    // A daily sheet is not an event this webhook takes.
    db.store
        .deliver_report(district, "daily_sheet", None, "2026-11-23", "督察单", body, |_| String::new())
        .await
        .unwrap();
    let deliveries = db.store.deliveries(district, 10).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    let id = deliveries[0].id;

    chuangwen::jobs::drain(&ctx).await;
    let d = db.store.delivery(id).await.unwrap().unwrap();
    assert_eq!((d.state.as_str(), d.attempts, d.last_status), ("pending", 1, None), "{}", d.last_error);
    assert!(d.last_error.contains("无法送达"), "{}", d.last_error);
    assert_eq!(chuangwen::jobs::drain(&ctx).await, 0, "the retry waits its pause");

    // The receiver comes up, answers 503 once, then 200.
    let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, payload: String| {
            let seen = seen.clone();
            async move {
                let mut seen = seen.lock().unwrap();
                let signature = headers.get("x-chuangwen-signature").unwrap().to_str().unwrap().to_string();
                seen.push((signature, payload));
                if seen.len() == 1 { axum::http::StatusCode::SERVICE_UNAVAILABLE } else { axum::http::StatusCode::OK }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    assert!(db.store.retry_delivery_now(district, id).await.unwrap());
    chuangwen::jobs::drain(&ctx).await;
    let d = db.store.delivery(id).await.unwrap().unwrap();
    assert_eq!((d.state.as_str(), d.attempts, d.last_status), ("pending", 2, Some(503)));
    assert!(db.store.retry_delivery_now(district, id).await.unwrap());
    chuangwen::jobs::drain(&ctx).await;
    let d = db.store.delivery(id).await.unwrap().unwrap();
    assert_eq!((d.state.as_str(), d.attempts, d.last_status), ("delivered", 3, Some(200)));
    assert!(!db.store.retry_delivery_now(district, id).await.unwrap(), "a delivered one is not sent again");
    chuangwen::jobs::drain(&ctx).await;

    let received = received.lock().unwrap();
    assert_eq!(received.len(), 2, "503 once, then delivered once");
    let (signature, payload) = &received[1];
    let t: i64 = signature.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
    assert_eq!(signature, &chuangwen::jobs::reports::signature(secret, t, payload), "signed with the webhook's secret");
    assert_ne!(signature, &chuangwen::jobs::reports::signature("wrong", t, payload));
    let json: serde_json::Value = serde_json::from_str(payload).unwrap();
    assert_eq!(json["event"], "weekly");
    assert_eq!(json["document"]["title"], "创文工作周报");
}
