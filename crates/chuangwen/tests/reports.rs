//! Supervision output read back as a user would: the weekly report as PDF
//! (through poppler's pdftotext), xlsx (calamine) and docx (its XML); the
//! daily sheets in each unit's inbox and nobody else's; a webhook receiver
//! that is down, then failing, then back — retried, logged, delivered once,
//! correctly signed; a report made again changes in place and is not sent twice.

mod common;

use std::io::{Cursor, Read};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use calamine::{Data, Reader, Xlsx};
use chrono::{Datelike, Utc};
use chuangwen::auth::policy::Scope;
use chuangwen::domain::stats::{Dim, Period, beijing_day};
use chuangwen::reports::render::{docx, pdf, xlsx};
use chuangwen::reports::{Block, Cell, Document, build};
use chuangwen::store::cases::CaseFilter;

/// The demo district with `cases` cases over the past year.
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
    let district = db.with_demo_cases(400).await;
    let today = beijing_day(Utc::now());
    let doc = build::weekly(&db.store, district, today).await.unwrap();
    let table = doc
        .blocks
        .iter()
        .find_map(|b| match b {
            Block::Table(t) if t.caption == "责任单位" => Some(t.clone()),
            _ => None,
        })
        .expect("a per-unit table");
    let (first_unit, first_reported) = match (&table.rows[0][0], &table.rows[0][1]) {
        (Cell::Text(name), Cell::Count(n)) => (name.clone(), *n),
        other => panic!("unexpected cells {other:?}"),
    };
    // The first row is the unit with the most problems this year, by a recount from the cases.
    let year =
        Period::new(today.with_ordinal(1).unwrap(), build::monday_of(today) + chrono::Duration::days(6)).unwrap();
    let recount = db.store.recount_by(district, Dim::Unit, &year).await.unwrap();
    let (top_id, top) = recount.iter().max_by_key(|(_, t)| t.reported).unwrap();
    let top_name = db.store.unit_by_id(top_id.parse().unwrap()).await.unwrap().name;
    assert_eq!((first_unit.as_str(), first_reported), (top_name.as_str(), top.reported));

    let text = pdf_text(&pdf(&doc).unwrap());
    // Page numbers on every page (pdftotext drops the spaces around the numbers).
    assert!(text.replace(' ', "").contains("第1页/共"), "{text}");
    // A narrow table cell wraps a long name: its first four characters share a line.
    let unit_start: String = first_unit.chars().take(4).collect();
    for expected in ["创文工作周报", "一、总体情况", "三、各责任单位本年累计", unit_start.as_str()]
    {
        assert!(text.contains(expected), "the PDF says {expected:?}:\n{text}");
    }

    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(xlsx(&doc).unwrap())).unwrap();
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

on_both_backends!(a_unit_reads_its_own_daily_sheet_and_nobody_elses, |db| {
    let district = db.with_demo_cases(400).await;
    let street = db.store.unit_by_code(district, "120199001").await.unwrap().unwrap(); // handler046's
    let mut office = common::as_user(&db, "office01").await;
    let csrf = office.csrf();
    assert_eq!(office.post_form("/reports/daily-sheets", &[("csrf", &csrf)]).await.status, StatusCode::SEE_OTHER);
    let units = db.store.units_with_running_cases(district).await.unwrap();
    assert!(units.contains(&street.id), "the street has running cases");

    let mut handler = common::as_user(&db, "handler046").await;
    let inbox = handler.get("/reports").await.text();
    let id: i64 = inbox
        .split("href=\"/reports/")
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .next()
        .expect("a sheet in the street's inbox");
    assert!(inbox.contains(&format!("督察单 · {}", street.name)) && inbox.contains("未阅"));
    // What the office's list counts as overdue for the street, the sheet says.
    let filter = CaseFilter { unit_id: Some(street.id), overdue: true, limit: 10_000, ..Default::default() };
    let overdue = db.store.cases(district, &Scope::District, None, &filter).await.unwrap();
    let overdue = overdue.iter().filter(|c| c.unit_id == Some(street.id)).count();
    // The office opening it leaves it unread; its own unit opening it marks it read.
    assert_eq!(office.get(&format!("/reports/{id}")).await.status, StatusCode::OK);
    assert!(handler.get("/reports").await.text().contains("未阅"));
    let page = handler.get(&format!("/reports/{id}")).await;
    assert!(page.text().contains(&format!("已超期（{overdue} 件）")), "{}", page.text());
    assert!(!handler.get("/reports").await.text().contains("未阅"));

    // Another street's handler cannot open it, nor a district-wide weekly report.
    let mut stranger = common::as_user(&db, "handler047").await;
    assert_eq!(stranger.get(&format!("/reports/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(stranger.get(&format!("/reports/{id}/download?format=pdf")).await.status, StatusCode::NOT_FOUND);
    let weekly = office.post_form("/reports/weekly", &[("csrf", &csrf)]).await;
    let weekly = weekly.location().to_string();
    assert!(weekly.starts_with("/reports/"), "{weekly}");
    assert_eq!(
        handler.get(&weekly).await.status,
        StatusCode::NOT_FOUND,
        "a unit sees its sheets, not the district's reports"
    );
    assert_eq!(office.get(&weekly).await.status, StatusCode::OK);
    // A bad format is refused in Chinese.
    let bad = office.get(&format!("{weekly}/download?format=doc")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().contains("不支持的格式"));
});

on_both_backends!(a_webhook_delivery_survives_the_receiver_being_down, |db| {
    db.with_demo().await;
    let state = db.state();
    let ctx = state.job_context();
    let district = db.store.districts().await.unwrap()[0].id;
    // A port with nothing listening: the receiver is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut admin = common::as_user(&db, "admin").await;
    let csrf = admin.csrf();
    let url = format!("http://127.0.0.1:{port}/hook");
    let bad = admin.post_form("/admin/webhooks", &[("csrf", &csrf), ("name", "市平台"), ("url", "ftp://x")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().contains("网址须以 http:// 或 https:// 开头"));
    let made = admin
        .post_form("/admin/webhooks", &[("csrf", &csrf), ("name", "市平台"), ("url", &url), ("events", "weekly")])
        .await;
    let secret = made.text().split("<code>").nth(1).unwrap().split("</code>").next().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "the secret is shown once");
    assert!(!admin.get("/admin/webhooks").await.text().contains(&secret), "and never again");

    let doc = Document { title: "创文工作周报".into(), subtitle: String::new(), blocks: vec![] };
    let publish = |doc: Document| {
        let store = db.store.clone();
        async move {
            chuangwen::jobs::reports::publish(&store, district, "weekly", None, "2026-11-23", "周报", &doc)
                .await
                .unwrap()
        }
    };
    let report = publish(doc.clone()).await;
    // A daily sheet is not an event this webhook takes.
    chuangwen::jobs::reports::publish(&db.store, district, "daily_sheet", None, "2026-11-23", "督察单", &doc)
        .await
        .unwrap();
    // The same report made again, unchanged: same id, nothing sent twice.
    assert_eq!(publish(doc.clone()).await, report);
    let deliveries = db.store.deliveries(district, 10).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    let id = deliveries[0].id;

    chuangwen::jobs::drain(&ctx).await;
    let d = db.store.delivery(id).await.unwrap().unwrap();
    assert_eq!((d.state.as_str(), d.attempts, d.last_status), ("pending", 1, None));
    assert_eq!(d.last_error, "无法送达：连接不上接收方", "no URL in the log");
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
                if seen.len() == 1 { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // The administrator presses 立即重试 rather than waiting.
    let retry = format!("/admin/webhooks/deliveries/{id}/retry");
    assert_eq!(admin.post_form(&retry, &[("csrf", &csrf)]).await.status, StatusCode::SEE_OTHER);
    chuangwen::jobs::drain(&ctx).await;
    let d = db.store.delivery(id).await.unwrap().unwrap();
    assert_eq!((d.state.as_str(), d.attempts, d.last_status), ("pending", 2, Some(503)));
    assert!(d.last_error.contains("503"));
    assert_eq!(admin.post_form(&retry, &[("csrf", &csrf)]).await.status, StatusCode::SEE_OTHER);
    chuangwen::jobs::drain(&ctx).await;
    let d = db.store.delivery(id).await.unwrap().unwrap();
    assert_eq!((d.state.as_str(), d.attempts, d.last_status), ("delivered", 3, Some(200)));
    let again = admin.post_form(&retry, &[("csrf", &csrf)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "a delivered one is not sent again");
    chuangwen::jobs::drain(&ctx).await;

    {
        let received = received.lock().unwrap();
        assert_eq!(received.len(), 2, "503 once, then delivered once");
        let (signature, payload) = &received[1];
        let t: i64 = signature.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
        assert_eq!(
            signature,
            &chuangwen::jobs::reports::signature(&secret, t, payload),
            "signed with the secret shown"
        );
        let json: serde_json::Value = serde_json::from_str(payload).unwrap();
        assert_eq!((json["event"].as_str(), json["report_id"].as_i64()), (Some("weekly"), Some(report)));
        assert_eq!(json["document"]["title"], "创文工作周报");
    }

    // Changed, the report keeps its id and goes out again; a stopped webhook gets nothing.
    let changed = Document { subtitle: "第二版".into(), ..doc.clone() };
    assert_eq!(publish(changed).await, report);
    assert_eq!(db.store.deliveries(district, 10).await.unwrap().len(), 2);
    let hook = db.store.webhooks(district).await.unwrap()[0].id;
    let stop = admin.post_form(&format!("/admin/webhooks/{hook}/active"), &[("csrf", &csrf), ("active", "0")]).await;
    assert_eq!(stop.status, StatusCode::SEE_OTHER);
    assert_eq!(publish(Document { subtitle: "第三版".into(), ..doc }).await, report);
    assert_eq!(db.store.deliveries(district, 10).await.unwrap().len(), 2, "stopped: nothing queued");
});

on_both_backends!(a_unit_with_a_backlog_gets_a_sheet_that_lists_the_earliest_and_counts_the_rest, |db| {
    let district = db.with_demo_cases(2_000).await;
    let units = db.store.units_with_running_cases(district).await.unwrap();
    // The unit holding the most running cases.
    let mut busiest = (0, 0);
    for unit in units {
        let n = db.store.unit_running_cases(unit).await.unwrap().len();
        if n > busiest.1 {
            busiest = (unit, n);
        }
    }
    let unit = db.store.unit_by_id(busiest.0).await.unwrap();
    let calendar = db.store.calendar(district).await.unwrap();
    let now = chrono::Utc::now();
    let day = chuangwen::domain::stats::beijing_day(now);
    let sheet = |rows: i64| {
        let (store, unit, calendar) = (db.store.clone(), unit.clone(), calendar.clone());
        async move {
            let end = chuangwen::store::stats::day_start(day + chrono::Duration::days(1));
            let since = chuangwen::reports::build::new_since(&calendar, day);
            store.unit_sheet_cases(district, unit.id, end, since, rows).await.unwrap()
        }
    };
    // Counted in full whatever is listed; listed up to the limit, earliest deadline first.
    let (all, [overdue, due, new]) = sheet(i64::MAX / 2).await;
    assert_eq!(all as usize, busiest.1);
    let (all_again, [overdue_few, _, _]) = sheet(3).await;
    assert_eq!(all_again, all);
    assert_eq!(overdue_few.count, overdue.count);
    assert_eq!(overdue_few.cases.len(), (overdue.count as usize).min(3));
    assert_eq!(
        overdue_few.cases.iter().map(|c| c.id).collect::<Vec<_>>(),
        overdue.cases.iter().take(3).map(|c| c.id).collect::<Vec<_>>()
    );
    assert!(overdue.count > 3, "the busiest unit has a backlog ({} overdue)", overdue.count);
    // The parts agree with the rules every list uses.
    let running = db.store.unit_running_cases(unit.id).await.unwrap();
    assert_eq!(
        overdue.count as usize,
        running.iter().filter(|c| c.alert() == chuangwen::domain::cases::Alert::Red).count()
    );
    let end = chuangwen::store::stats::day_start(day + chrono::Duration::days(1));
    let since = chuangwen::reports::build::new_since(&calendar, day);
    let due_by_rule = running.iter().filter(|c| c.overdue_at.is_none() && c.deadline.is_some_and(|d| d < end));
    assert_eq!(due.count as usize, due_by_rule.count());
    assert!(due.cases.iter().all(|c| c.overdue_at.is_none()));
    let new_by_rule = running.iter().filter(|c| c.dispatched_at.is_some_and(|d| d >= since));
    assert_eq!(new.count as usize, new_by_rule.count());
    // Each list is the earliest deadlines of its part, in order.
    for section in [&overdue, &due, &new] {
        let keys: Vec<_> = section.cases.iter().map(|c| (c.deadline, c.id)).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "earliest deadline first");
    }
    // The sheet as made says how many are not listed when there are more than it lists.
    let doc = chuangwen::reports::build::daily_sheet(&db.store, district, &unit, &calendar, day, now).await.unwrap();
    let text = serde_json::to_string(&doc).unwrap();
    assert!(text.contains(&format!("已超期（{} 件）", overdue.count)));
    let rows = chuangwen::reports::build::SHEET_ROWS;
    assert_eq!(text.contains("未列出"), overdue.count > rows || due.count > rows || new.count > rows);
});
