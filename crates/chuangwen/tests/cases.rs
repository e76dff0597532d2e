//! The closed loop through the API, on both backends: report, accept,
//! dispatch, return, acknowledge, extension, deferral, handle with photos,
//! verification failed and passed; void, reject, merge; concurrency;
//! evidence checks.

mod common;

use axum::http::StatusCode;
use serde_json::{Value, json};

use common::browser::Browser;

/// A tiny valid JPEG header followed by filler: enough for content sniffing.
fn jpeg() -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0];
    bytes.extend(std::iter::repeat_n(0x55u8, 2000));
    bytes
}

async fn report(browser: &mut Browser, category: &str, lon: f64, lat: f64) -> Value {
    let (status, body) = browser
        .json(
            "POST",
            "/api/v1/cases",
            Some(json!({"category": category, "description": "路口东侧成堆垃圾", "lon": lon, "lat": lat})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn step(browser: &mut Browser, case: i64, transition: &str, input: Value) -> (StatusCode, Value) {
    browser.json("POST", &format!("/api/v1/cases/{case}/{transition}"), Some(input)).await
}

async fn expect_step(browser: &mut Browser, case: i64, transition: &str, input: Value, state: &str) -> Value {
    let (status, body) = step(browser, case, transition, input).await;
    assert_eq!(status, StatusCode::OK, "{transition}: {body}");
    assert_eq!(body["state"], state, "{transition}");
    body
}

on_both_backends!(a_report_goes_round_the_whole_loop_with_return_extension_deferral_and_rework, |db| {
    let district = db.with_demo().await;
    let street = db.store.unit_by_code(district, "120199001").await.unwrap().unwrap();
    let (_, (lon, lat)) = common::first_street_point(&db, db.store.districts().await.unwrap()[0].id).await;
    let mut supervisor = common::as_user(&db, "supervisor001").await;
    let mut office = common::as_user(&db, "office01").await;
    let mut handler = common::as_user(&db, "handler046").await; // staff of 海河路街道
    let mut inspector = common::as_user(&db, "inspector01").await;
    let mut stranger = common::as_user(&db, "handler047").await; // staff of another street

    let case = report(&mut supervisor, "06010", lon, lat).await;
    let id = case["id"].as_i64().unwrap();
    assert_eq!((case["state"].as_str(), case["source"].as_str()), (Some("reported"), Some("supervisor")));
    assert!(case["number"].as_str().unwrap().ends_with("-000001"), "the first number of the year");
    assert_eq!(case["time_limit"], "1 工作日");
    assert_eq!(case["street_id"], street.id, "placed in its street by the grid index");

    // A supervisor may not accept; the office does.
    let (status, body) = step(&mut supervisor, id, "accept", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    expect_step(&mut office, id, "accept", json!({}), "accepted").await;
    let (status, body) = step(&mut office, id, "dispatch", json!({})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unit_id")));
    let dispatched = expect_step(&mut office, id, "dispatch", json!({"unit_id": street.id}), "dispatched").await;
    assert!(dispatched["deadline"].is_string(), "the unit's clock started");

    // Another street's staff cannot see it at all.
    let (status, _) = stranger.json("GET", &format!("/api/v1/cases/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The unit asks to return it; the office refuses, with a reason.
    let (status, body) = step(&mut handler, id, "request_return", json!({})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("note")));
    expect_step(&mut handler, id, "request_return", json!({"note": "不属于本街道"}), "return_requested").await;
    expect_step(&mut office, id, "refuse_return", json!({"note": "点位在本街道辖区内"}), "dispatched").await;
    expect_step(&mut handler, id, "acknowledge", json!({}), "in_progress").await;

    // Extension: asked for, then granted with a later deadline.
    let current = dispatched["deadline"].as_str().unwrap().to_string();
    let later = (chrono::DateTime::parse_from_rfc3339(&current).unwrap() + chrono::Duration::days(3)).to_rfc3339();
    expect_step(
        &mut handler,
        id,
        "request_extension",
        json!({"note": "需要调用清运车", "new_deadline": later}),
        "extension_requested",
    )
    .await;
    let extended = expect_step(&mut office, id, "grant_extension", json!({"new_deadline": later}), "in_progress").await;
    assert_ne!(extended["deadline"].as_str().unwrap(), current);

    // Deferral: a plan and a date, approved, then resumed.
    let (status, body) = step(&mut handler, id, "request_deferral", json!({"plan": "结合道路改造一并处理"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("target_date")));
    expect_step(
        &mut handler,
        id,
        "request_deferral",
        json!({"plan": "结合道路改造一并处理", "target_date": "2027-06-30"}),
        "deferral_requested",
    )
    .await;
    let deferred = expect_step(&mut office, id, "approve_deferral", json!({}), "deferred").await;
    assert_eq!(deferred["deferred_until"], "2027-06-30");
    expect_step(&mut office, id, "resume", json!({}), "in_progress").await;

    // Handling needs an after-photo.
    let (status, body) = step(&mut handler, id, "handle", json!({"note": "已清运"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("attachment_ids")));
    let (status, photo) = handler.upload_evidence("after", "after.jpg", &jpeg()).await;
    assert_eq!(status, StatusCode::CREATED, "{photo}");
    expect_step(&mut handler, id, "handle", json!({"note": "已清运", "attachment_ids": [photo["id"]]}), "handled")
        .await;

    // Verification fails once (rework), then passes.
    let (status, _) = step(&mut handler, id, "verify_pass", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the unit does not verify its own work");
    let reworked = expect_step(&mut inspector, id, "verify_fail", json!({"note": "仍有垃圾残留"}), "in_progress").await;
    assert_eq!(reworked["rework_count"], 1);
    // Proof must be new and the handler's own: the photo already used, or one
    // someone else uploaded, is refused and the case stays where it is.
    let (_, others) = office.upload_evidence("after", "office.jpg", &jpeg()).await;
    for taken in [&photo, &others] {
        let (status, body) = step(&mut handler, id, "handle", json!({"attachment_ids": [taken["id"]]})).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("attachment_ids"))
        );
    }
    let (_, now) = handler.json("GET", &format!("/api/v1/cases/{id}"), None).await;
    assert_eq!(now["state"], "in_progress");
    let (_, photo2) = handler.upload_evidence("after", "after2.jpg", &jpeg()).await;
    expect_step(&mut handler, id, "handle", json!({"note": "已彻底清理", "attachment_ids": [photo2["id"]]}), "handled")
        .await;
    let closed = expect_step(&mut inspector, id, "verify_pass", json!({}), "closed").await;
    assert!(closed["closed_at"].is_string());

    // A closed case takes no more steps, and says why.
    let (status, body) = step(&mut office, id, "void", json!({"note": "误报"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"]["message"].as_str().unwrap().contains("已结案"), "{body}");

    // Every step is an event, in order, and the trail verifies.
    let (_, detail) = supervisor.json("GET", &format!("/api/v1/cases/{id}"), None).await;
    let actions: Vec<&str> =
        detail["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        vec![
            "report",
            "accept",
            "dispatch",
            "request_return",
            "refuse_return",
            "acknowledge",
            "request_extension",
            "grant_extension",
            "request_deferral",
            "approve_deferral",
            "resume",
            "handle",
            "verify_fail",
            "handle",
            "verify_pass"
        ]
    );
    assert!(db.store.verify_audit().await.unwrap().is_ok());
});

on_both_backends!(reports_can_be_rejected_merged_voided_or_returned_to_the_office, |db| {
    let district = db.with_demo().await;
    let street = db.store.unit_by_code(district, "120199001").await.unwrap().unwrap();
    let (_, (lon, lat)) = common::first_street_point(&db, db.store.districts().await.unwrap()[0].id).await;
    let mut inspector = common::as_user(&db, "inspector01").await;
    let mut office = common::as_user(&db, "office01").await;
    let mut handler = common::as_user(&db, "handler046").await;
    let ids: Vec<i64> = {
        let mut ids = Vec::new();
        for _ in 0..4 {
            ids.push(report(&mut inspector, "09006", lon, lat).await["id"].as_i64().unwrap());
        }
        ids
    };
    let numbers: Vec<String> = {
        let mut numbers = Vec::new();
        for id in &ids {
            numbers.push(
                inspector.json("GET", &format!("/api/v1/cases/{id}"), None).await.1["number"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        numbers
    };
    let seq: Vec<i64> = numbers.iter().map(|n| n.rsplit('-').next().unwrap().parse().unwrap()).collect();
    assert_eq!(seq, vec![1, 2, 3, 4], "numbers without gaps");

    expect_step(&mut office, ids[0], "reject", json!({"note": "不属于创文问题"}), "rejected").await;
    let (status, body) = step(&mut office, ids[1], "merge", json!({"duplicate_of": ids[1]})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("duplicate_of")));
    let merged = expect_step(&mut office, ids[1], "merge", json!({"duplicate_of": ids[2]}), "merged").await;
    assert_eq!(merged["duplicate_of"], ids[2]);
    let (status, _) = step(&mut office, ids[3], "void", json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "void needs a reason");
    expect_step(&mut office, ids[3], "void", json!({"note": "重复上报"}), "voided").await;

    // Returned to the office: back to 待派遣, the unit and deadline cleared, then re-dispatched.
    expect_step(&mut office, ids[2], "accept", json!({}), "accepted").await;
    expect_step(&mut office, ids[2], "dispatch", json!({"unit_id": street.id}), "dispatched").await;
    expect_step(&mut handler, ids[2], "request_return", json!({"note": "应由城管委处理"}), "return_requested").await;
    let back = expect_step(&mut office, ids[2], "approve_return", json!({}), "accepted").await;
    assert!(back["unit_id"].is_null() && back["deadline"].is_null());
    let city = db.store.unit_by_code(district, "D003").await.unwrap().unwrap();
    let again = expect_step(&mut office, ids[2], "dispatch", json!({"unit_id": city.id}), "dispatched").await;
    assert_eq!(again["unit_id"], city.id);
    // The street's handler no longer holds it.
    let (status, _) = step(&mut handler, ids[2], "acknowledge", json!({})).await;
    assert!(status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND, "{status}");

    let counts = db.store.case_state_counts(district).await.unwrap();
    assert_eq!(
        counts,
        vec![("dispatched".into(), 1), ("merged".into(), 1), ("rejected".into(), 1), ("voided".into(), 1)]
    );
});

on_both_backends!(twenty_simultaneous_verifications_let_exactly_one_through, |db| {
    let district = db.with_demo().await;
    let street = db.store.unit_by_code(district, "120199001").await.unwrap().unwrap();
    let (_, (lon, lat)) = common::first_street_point(&db, db.store.districts().await.unwrap()[0].id).await;
    let mut office = common::as_user(&db, "office01").await;
    let mut handler = common::as_user(&db, "handler046").await;
    let id = report(&mut office, "06012", lon, lat).await["id"].as_i64().unwrap();
    expect_step(&mut office, id, "accept", json!({}), "accepted").await;
    expect_step(&mut office, id, "dispatch", json!({"unit_id": street.id}), "dispatched").await;
    expect_step(&mut handler, id, "acknowledge", json!({}), "in_progress").await;
    let (_, photo) = handler.upload_evidence("after", "a.jpg", &jpeg()).await;
    expect_step(&mut handler, id, "handle", json!({"attachment_ids": [photo["id"]]}), "handled").await;

    let mut inspectors = Vec::new();
    for n in 1..=4 {
        inspectors.push(common::as_user(&db, &format!("inspector{n:02}")).await);
    }
    let mut tasks = Vec::new();
    for i in 0..20 {
        let mut browser = Browser::new(db.state());
        browser.cookies = inspectors[i % 4].cookies.clone();
        tasks.push(tokio::spawn(async move { step(&mut browser, id, "verify_pass", json!({})).await }));
    }
    let mut ok = 0;
    let mut conflicts = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => {
                conflicts += 1;
                let message = body["error"]["message"].as_str().unwrap();
                assert!(message.contains("已被他人处理") || message.contains("已结案"), "{message}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((ok, conflicts), (1, 19));
    let (_, detail) = office.json("GET", &format!("/api/v1/cases/{id}"), None).await;
    let passes = detail["events"].as_array().unwrap().iter().filter(|e| e["action"] == "verify_pass").count();
    assert_eq!(passes, 1, "one event, one state change");
});

on_both_backends!(a_zip_named_jpg_and_an_oversized_file_are_refused_and_nothing_is_stored, |db| {
    let district = db.with_demo().await;
    let mut handler = common::as_user(&db, "handler046").await;
    let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00not-a-photo".to_vec();
    let (status, body) = handler.upload_evidence("after", "photo.jpg", &zip).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["message"].as_str().unwrap().contains("压缩包"), "{body}");
    let mut big = jpeg();
    big.resize(chuangwen::api::cases::MAX_EVIDENCE_BYTES + 1, 0);
    let (status, body) = handler.upload_evidence("after", "big.jpg", &big).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("过大"), "{body}");
    assert_eq!(db.store.attachment_count(district).await.unwrap(), 0, "nothing stored");
    let (status, _) = handler.upload_evidence("after", "ok.jpg", &jpeg()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(db.store.attachment_count(district).await.unwrap(), 1);
});

on_both_backends!(a_retried_report_with_the_same_idempotency_key_is_filed_once, |db| {
    let district = db.with_demo().await;
    let (_, (lon, lat)) = common::first_street_point(&db, db.store.districts().await.unwrap()[0].id).await;
    let mut supervisor = common::as_user(&db, "supervisor001").await;
    let body = json!({"category": "07001", "description": "电线杆上的小广告", "lon": lon, "lat": lat});
    let first = send_keyed(&mut supervisor, body.clone(), "report-7f3a").await;
    let second = send_keyed(&mut supervisor, body.clone(), "report-7f3a").await;
    assert_eq!(first.0, StatusCode::CREATED);
    assert_eq!(first, second, "the retry gets the first answer");
    let counts = db.store.case_state_counts(district).await.unwrap();
    assert_eq!(counts, vec![("reported".into(), 1)]);
    let other = send_keyed(
        &mut supervisor,
        json!({"category": "07001", "description": "另一处", "lon": lon, "lat": lat}),
        "report-7f3a",
    )
    .await;
    assert_eq!(other.0, StatusCode::UNPROCESSABLE_ENTITY, "a key reused for another request");
});

/// Posts a report with an idempotency key.
async fn send_keyed(browser: &mut Browser, body: Value, key: &str) -> (StatusCode, Vec<u8>) {
    let request = axum::http::Request::post("/api/v1/cases")
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    let page = browser.send(request).await;
    (page.status, page.body)
}

on_both_backends!(bad_reports_are_refused_field_by_field_and_file_nothing, |db| {
    let district = db.with_demo().await;
    let mut supervisor = common::as_user(&db, "supervisor001").await;
    for (body, field) in [
        (json!({"category": "99999", "description": "x", "lon": 117.2, "lat": 39.1}), "category"),
        (json!({"category": "06010", "condition": 5, "description": "x", "lon": 117.2, "lat": 39.1}), "condition"),
        (json!({"category": "06010", "description": " ", "lon": 117.2, "lat": 39.1}), "description"),
        (json!({"category": "06010", "description": "x", "lon": 116.39, "lat": 39.9}), "lon"),
        (json!({"category": "06010", "description": "x", "lon": 117.2}), "lat"),
        (json!({"category": "06010", "description": "x", "lon": 117.2, "lat": 39.1, "crs": "utm"}), "crs"),
        (json!({"category": "06010", "description": "x"}), "lon"),
    ] {
        let (status, reply) = supervisor.json("POST", "/api/v1/cases", Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {reply}");
        assert_eq!(reply["error"]["field"], field, "{body}");
        assert!(!reply["error"]["message"].as_str().unwrap().is_empty());
    }
    assert!(db.store.case_state_counts(district).await.unwrap().is_empty(), "nothing filed");
});

on_both_backends!(the_deadline_watcher_turns_cases_amber_then_red_and_raises_one_supervision_order, |db| {
    let district = db.with_demo().await;
    let street = db.store.unit_by_code(district, "120199001").await.unwrap().unwrap();
    let (_, (lon, lat)) = common::first_street_point(&db, db.store.districts().await.unwrap()[0].id).await;
    let mut office = common::as_user(&db, "office01").await;
    let id = report(&mut office, "06010", lon, lat).await["id"].as_i64().unwrap();
    expect_step(&mut office, id, "accept", json!({}), "accepted").await;
    let dispatched = expect_step(&mut office, id, "dispatch", json!({"unit_id": street.id}), "dispatched").await;
    let deadline: chrono::DateTime<chrono::Utc> = dispatched["deadline"].as_str().unwrap().parse().unwrap();
    let started: chrono::DateTime<chrono::Utc> = dispatched["clock_started_at"].as_str().unwrap().parse().unwrap();

    let state = db.state();
    let ctx = state.job_context();
    use chuangwen::jobs::deadlines::{Pass, watch};
    // Early on: nothing.
    assert_eq!(watch(&ctx, started + chrono::Duration::minutes(1)).await.unwrap(), Pass::default());
    // Five minutes before the deadline more than 80% of the limit is used: amber.
    let pass = watch(&ctx, deadline - chrono::Duration::minutes(5)).await.unwrap();
    assert_eq!(pass, Pass { amber: 1, overdue: 0, orders: 0 });
    let (_, case) = office.json("GET", &format!("/api/v1/cases/{id}"), None).await;
    assert!(case["amber_at"].is_string() && case["overdue_at"].is_null());
    // Past the deadline: red, and one supervision order to the street's lead.
    let pass = watch(&ctx, deadline + chrono::Duration::minutes(1)).await.unwrap();
    assert_eq!(pass, Pass { amber: 0, overdue: 1, orders: 1 });
    assert_eq!(watch(&ctx, deadline + chrono::Duration::hours(5)).await.unwrap(), Pass::default(), "once per stage");

    // The street's lead sees it and reading marks it read; another street's lead does not.
    let mut lead = common::as_user(&db, "unitlead046").await;
    let (status, orders) = lead.json("GET", "/api/v1/supervision-orders", None).await;
    assert_eq!(status, StatusCode::OK);
    let orders = orders.as_array().unwrap().clone();
    assert_eq!(orders.len(), 1);
    assert_eq!((orders[0]["reason"].as_str(), orders[0]["case_id"].as_i64()), (Some("overdue"), Some(id)));
    let (_, read) = lead.json("GET", &format!("/api/v1/supervision-orders/{}", orders[0]["id"]), None).await;
    assert!(read["read_at"].is_string());
    let mut other_lead = common::as_user(&db, "unitlead047").await;
    let (_, none) = other_lead.json("GET", "/api/v1/supervision-orders", None).await;
    assert_eq!(none.as_array().unwrap().len(), 0);
    let (status, _) = other_lead.json("GET", &format!("/api/v1/supervision-orders/{}", orders[0]["id"]), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

on_both_backends!(a_case_reworked_twice_and_a_leaders_instruction_raise_supervision_orders, |db| {
    let district = db.with_demo().await;
    let street = db.store.unit_by_code(district, "120199001").await.unwrap().unwrap();
    let (_, (lon, lat)) = common::first_street_point(&db, db.store.districts().await.unwrap()[0].id).await;
    let mut office = common::as_user(&db, "office01").await;
    let mut handler = common::as_user(&db, "handler046").await;
    let mut inspector = common::as_user(&db, "inspector01").await;
    let id = report(&mut office, "09006", lon, lat).await["id"].as_i64().unwrap();
    expect_step(&mut office, id, "accept", json!({}), "accepted").await;
    expect_step(&mut office, id, "dispatch", json!({"unit_id": street.id}), "dispatched").await;
    expect_step(&mut handler, id, "acknowledge", json!({}), "in_progress").await;
    for round in 1..=2 {
        let (_, photo) = handler.upload_evidence("after", "a.jpg", &jpeg()).await;
        expect_step(&mut handler, id, "handle", json!({"attachment_ids": [photo["id"]]}), "handled").await;
        expect_step(
            &mut inspector,
            id,
            "verify_fail",
            json!({"note": format!("第 {round} 次核查仍未整改")}),
            "in_progress",
        )
        .await;
    }
    let (_, orders) = office.json("GET", &format!("/api/v1/supervision-orders?case_id={id}"), None).await;
    let reasons: Vec<&str> = orders.as_array().unwrap().iter().map(|o| o["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, vec!["rework"]);

    // By hand: a leader may, a handler may not; a note is required.
    let mut leader = common::as_user(&db, "leader01").await;
    let (status, body) = leader.json("POST", &format!("/api/v1/cases/{id}/supervise"), Some(json!({}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("note")));
    let (status, order) = leader
        .json(
            "POST",
            &format!("/api/v1/cases/{id}/supervise"),
            Some(json!({"note": "请主要负责同志亲自过问，三日内办结"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["reason"], "manual");
    // With an Idempotency-Key, a retry gets the same order and raises none.
    let keyed = |body: &str| {
        axum::http::Request::post(format!("/api/v1/cases/{id}/supervise"))
            .header("content-type", "application/json")
            .header("idempotency-key", "supervise-once-1")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap()
    };
    let note = r#"{"note": "再次督办：周五前办结"}"#;
    let first = leader.send(keyed(note)).await;
    let again = leader.send(keyed(note)).await;
    assert_eq!((first.status, again.status), (StatusCode::CREATED, StatusCode::CREATED), "{}", again.text());
    let (first, again): (Value, Value) =
        (serde_json::from_slice(&first.body).unwrap(), serde_json::from_slice(&again.body).unwrap());
    assert_eq!(first["id"], again["id"]);
    let (_, orders) = office.json("GET", &format!("/api/v1/supervision-orders?case_id={id}"), None).await;
    let manual = orders.as_array().unwrap().iter().filter(|o| o["reason"] == "manual").count();
    assert_eq!(manual, 2, "the retry raised nothing: {orders}");
    let other = leader.send(keyed(r#"{"note": "另一件事"}"#)).await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY, "the same key on another request is refused");
    let (status, _) = handler.json("POST", &format!("/api/v1/cases/{id}/supervise"), Some(json!({"note": "x"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
});

on_both_backends!(the_dispatch_rules_suggest_a_unit_with_its_reason_and_batches_are_numbered, |db| {
    let district = db.with_demo().await;
    let (point, (lon, lat)) = common::first_street_point(&db, db.store.districts().await.unwrap()[0].id).await;
    let mut office = common::as_user(&db, "office01").await;
    let mut inspector = common::as_user(&db, "inspector01").await;
    // At a point: the point's responsible unit.
    let (_, at_point) = inspector
        .json("POST", "/api/v1/cases", Some(json!({"category": "09009", "description": "违停", "point_id": point})))
        .await;
    // Not at a point: the category's department (机动车乱停放 → 交警).
    let loose = report(&mut inspector, "09009", lon, lat).await;
    let (_, detail) = office.json("GET", &format!("/api/v1/cases/{}", at_point["id"]), None).await;
    assert_eq!(detail["suggestion"]["reason"], "point_unit", "{detail}");
    let (_, detail) = office.json("GET", &format!("/api/v1/cases/{}", loose["id"]), None).await;
    assert_eq!(detail["suggestion"]["reason"], "category_department");
    assert_eq!(detail["suggestion"]["unit_name"], "公安分局交通警察支队");
    assert_eq!(detail["suggestion"]["reason_label"], "问题分类的主管部门");

    // A street rule for this category now beats the department.
    let street = db.store.unit_by_code(district, "120199001").await.unwrap().unwrap();
    let (status, rules) = office.json("GET", "/api/v1/dispatch-rules", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut rules = rules.as_array().unwrap().clone();
    rules.push(json!({"category_code": "09009", "place_kind": "street", "place_id": street.id, "unit_id": street.id}));
    let (status, _) = office.json("PUT", "/api/v1/dispatch-rules", Some(Value::Array(rules.clone()))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, detail) = office.json("GET", &format!("/api/v1/cases/{}", loose["id"]), None).await;
    assert_eq!(
        (detail["suggestion"]["reason"].as_str(), detail["suggestion"]["unit_id"].as_i64()),
        (Some("street_rule"), Some(street.id))
    );
    let mut bad = rules.clone();
    bad.push(json!({"category_code": "99999", "place_kind": "category", "unit_id": street.id}));
    let (status, body) = office.json("PUT", "/api/v1/dispatch-rules", Some(Value::Array(bad))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["message"].as_str().unwrap().contains("99999"));
    let (status, _) = inspector.json("PUT", "/api/v1/dispatch-rules", Some(Value::Array(rules))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "rules are the office's");

    // A batch with a case not yet accepted is refused whole, naming it.
    let (a, b) = (at_point["id"].as_i64().unwrap(), loose["id"].as_i64().unwrap());
    expect_step(&mut office, a, "accept", json!({}), "accepted").await;
    let (status, body) =
        office.json("POST", "/api/v1/dispatch-batches", Some(json!({"cases": [{"id": a}, {"id": b}]}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(loose["number"].as_str().unwrap()));
    let (_, still) = office.json("GET", &format!("/api/v1/cases/{a}"), None).await;
    assert_eq!(still["state"], "accepted", "nothing of the batch went out");

    expect_step(&mut office, b, "accept", json!({}), "accepted").await;
    let (status, batch) = office
        .json(
            "POST",
            "/api/v1/dispatch-batches",
            Some(json!({"cases": [{"id": a}, {"id": b}], "note": "11月27日督察单"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    assert!(batch["number"].as_str().unwrap().ends_with("-第001批"));
    assert_eq!(batch["case_ids"].as_array().unwrap().len(), 2);
    let (_, dispatched) = office.json("GET", &format!("/api/v1/cases/{b}"), None).await;
    assert_eq!((dispatched["state"].as_str(), dispatched["unit_id"].as_i64()), (Some("dispatched"), Some(street.id)));
    assert_eq!(dispatched["batch_id"], batch["id"]);
    let next = report(&mut inspector, "07001", lon, lat).await["id"].as_i64().unwrap();
    expect_step(&mut office, next, "accept", json!({}), "accepted").await;
    let (_, second) = office.json("POST", "/api/v1/dispatch-batches", Some(json!({"cases": [{"id": next}]}))).await;
    assert!(second["number"].as_str().unwrap().ends_with("-第002批"), "{second}");
});

on_both_backends!(
    a_report_near_an_open_case_of_its_category_is_offered_for_merging_and_its_reporter_follows_it,
    |db| {
        db.with_demo().await;
        let (_, (lon, lat)) = common::first_street_point(&db, db.store.districts().await.unwrap()[0].id).await;
        let mut inspector = common::as_user(&db, "inspector01").await;
        let mut supervisor = common::as_user(&db, "supervisor001").await;
        let mut office = common::as_user(&db, "office01").await;
        let first = report(&mut inspector, "06010", lon, lat).await;

        // Before submitting: about 17 m east, same category → offered; another category or 170 m → not.
        let near = |category: &str, dx: f64| {
            format!("/api/v1/cases/duplicates?category={category}&lon={}&lat={lat}", lon + dx)
        };
        let (status, found) = supervisor.json("GET", &near("06010", 0.0002), None).await;
        assert_eq!(status, StatusCode::OK);
        let found = found.as_array().unwrap().clone();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["number"], first["number"]);
        assert!((10.0..25.0).contains(&found[0]["distance_m"].as_f64().unwrap()), "{found:?}");
        assert!(supervisor.json("GET", &near("07001", 0.0002), None).await.1.as_array().unwrap().is_empty());
        assert!(supervisor.json("GET", &near("06010", 0.002), None).await.1.as_array().unwrap().is_empty());
        // Someone of another street is not shown the street's cases (nor their descriptions).
        let mut stranger = common::as_user(&db, "supervisor009").await;
        let (status, none) = stranger.json("GET", &near("06010", 0.0002), None).await;
        assert_eq!((status, none.as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{none}");

        // Reported anyway: the office sees the likely duplicate and merges it.
        let second = report(&mut supervisor, "06010", lon + 0.0002, lat).await;
        let (_, detail) = office.json("GET", &format!("/api/v1/cases/{}", second["id"]), None).await;
        assert_eq!(detail["possible_duplicates"][0]["id"], first["id"], "{detail}");
        expect_step(
            &mut office,
            second["id"].as_i64().unwrap(),
            "merge",
            json!({"duplicate_of": first["id"]}),
            "merged",
        )
        .await;

        // The second reporter follows the original; the original lists every report.
        let (_, mine) = supervisor.json("GET", &format!("/api/v1/cases/{}", second["id"]), None).await;
        assert_eq!(mine["merged_into"]["number"], first["number"]);
        assert_eq!(mine["merged_into"]["state"], "reported");
        let (_, original) = office.json("GET", &format!("/api/v1/cases/{}", first["id"]), None).await;
        let merged = original["merged_reports"].as_array().unwrap();
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0]["number"], second["number"]);
        assert!(!merged[0]["reporter_name"].as_str().unwrap().is_empty());
    }
);

/// A real JPEG photo (400 × 300) carrying EXIF time and GPS, as a phone writes it.
fn photo_with_exif() -> Vec<u8> {
    use exif::{Field, In, Rational, Tag, Value};
    let image = image::RgbImage::from_fn(400, 300, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let jpeg = jpeg.into_inner();
    let ascii =
        |tag: Tag, text: &str| Field { tag, ifd_num: In::PRIMARY, value: Value::Ascii(vec![text.as_bytes().to_vec()]) };
    let dms = |tag: Tag, d: u32, m: u32, s100: u32| Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Rational(vec![
            Rational { num: d, denom: 1 },
            Rational { num: m, denom: 1 },
            Rational { num: s100, denom: 100 },
        ]),
    };
    let fields = [
        ascii(Tag::DateTimeOriginal, "2026:11:27 09:30:00"),
        ascii(Tag::GPSLatitudeRef, "N"),
        dms(Tag::GPSLatitude, 39, 6, 0),
        ascii(Tag::GPSLongitudeRef, "E"),
        dms(Tag::GPSLongitude, 117, 12, 0),
    ];
    let mut writer = exif::experimental::Writer::new();
    for field in &fields {
        writer.push_field(field);
    }
    let mut tiff = std::io::Cursor::new(Vec::new());
    writer.write(&mut tiff, false).unwrap();
    let tiff = tiff.into_inner();
    // APP1 "Exif\0\0" right after the start-of-image marker.
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((tiff.len() + 8) as u16).to_be_bytes());
    out.extend(b"Exif\0\0");
    out.extend(&tiff);
    out.extend(&jpeg[2..]);
    out
}

on_both_backends!(a_photo_keeps_its_exif_time_and_place_and_gets_a_thumbnail_only_its_viewers_can_fetch, |db| {
    db.with_demo().await;
    let mut handler = common::as_user(&db, "handler046").await;
    let (status, photo) = handler.upload_evidence("before", "现场.jpg", &photo_with_exif()).await;
    assert_eq!(status, StatusCode::CREATED, "{photo}");
    // 09:30 Beijing time is 01:30 UTC; 39°06′N 117°12′E.
    assert_eq!(photo["taken_at"], "2026-11-27T01:30:00Z");
    let (lon, lat) = (photo["position"][0].as_f64().unwrap(), photo["position"][1].as_f64().unwrap());
    assert!((lon - 117.2).abs() < 1e-9 && (lat - 39.1).abs() < 1e-9, "{photo}");
    assert_eq!(photo["thumbnail"], true);

    let page = handler
        .send(
            axum::http::Request::get(format!("/api/v1/attachments/{}/thumbnail", photo["id"]))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let thumb = image::load_from_memory(&page.body).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (320, 240), "the long side fits 320 px");

    // Not yet tied to a case: only its uploader sees it.
    let mut other = common::as_user(&db, "handler047").await;
    let (status, _) = other.json("GET", &format!("/api/v1/attachments/{}", photo["id"]), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A photo without EXIF still uploads, with no time or place.
    let (_, plain) = handler.upload_evidence("before", "plain.jpg", &jpeg()).await;
    assert!(plain["taken_at"].is_null() && plain["position"].is_null());
});

on_both_backends!(an_administrator_edits_the_categories_and_the_calendar_and_new_reports_follow_them, |db| {
    db.with_demo().await;
    let (_, (lon, lat)) = common::first_street_point(&db, db.store.districts().await.unwrap()[0].id).await;
    let mut admin = common::as_user(&db, "admin").await;
    let mut office = common::as_user(&db, "office01").await;
    let old = report(&mut office, "06010", lon, lat).await;
    assert_eq!(old["time_limit"], "1 工作日");

    // A new version: 暴露垃圾 now 4 working hours.
    let shipped = chuangwen::domain::categories::SHIPPED;
    let edited = shipped.replace("version = \"2026.1\"", "version = \"2026.2\"").replace(
        "name = \"成堆成片垃圾\"\nlimit = 1\nclock = \"working_days\"",
        "name = \"成堆成片垃圾\"\nlimit = 4\nclock = \"working_hours\"",
    );
    assert_ne!(edited, shipped);
    let page = put(&mut office, "/api/v1/settings/categories", edited.clone()).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "only the administrator");
    let page = put(&mut admin, "/api/v1/settings/categories", edited.clone()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let again = put(&mut admin, "/api/v1/settings/categories", edited.clone()).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "a version is used once");
    let broken = put(
        &mut admin,
        "/api/v1/settings/categories",
        edited
            .replace("version = \"2026.2\"", "version = \"2026.3\"")
            .replace("campaign = \"city_appearance\"", "campaign = \"nowhere\""),
    )
    .await;
    assert_eq!(broken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(broken.text().contains("nowhere"));

    let new = report(&mut office, "06010", lon, lat).await;
    assert_eq!((new["time_limit"].as_str(), new["category_version"].as_str()), (Some("4 工作时"), Some("2026.2")));
    let (_, kept) = office.json("GET", &format!("/api/v1/cases/{}", old["id"]), None).await;
    assert_eq!(
        (kept["time_limit"].as_str(), kept["category_version"].as_str()),
        (Some("1 工作日"), Some("2026.1")),
        "old cases keep their version"
    );

    // The calendar: 2027's New Year added by the administrator; a bad file changes nothing.
    let calendar = format!(
        "{}\n[[holiday]]\nname = \"元旦\"\nfrom = \"2027-01-01\"\nto = \"2027-01-01\"\n",
        chuangwen::domain::calendar::SHIPPED
    );
    let page = put(&mut admin, "/api/v1/settings/calendar", calendar).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let district = db.store.districts().await.unwrap()[0].id;
    let c = db.store.calendar(district).await.unwrap();
    assert!(!c.is_working_day(chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()));
    let page = put(&mut admin, "/api/v1/settings/calendar", "periods = [\"8-12\"]".into()).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !db.store
            .calendar(district)
            .await
            .unwrap()
            .is_working_day(chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap())
    );
});

/// Sends a PUT with a text body.
async fn put(browser: &mut Browser, uri: &str, body: String) -> common::browser::Page {
    let request = axum::http::Request::put(uri.to_string()).body(axum::body::Body::from(body)).unwrap();
    browser.send(request).await
}

on_both_backends!(the_watcher_leaves_alone_a_case_extended_after_it_read_the_clock, |db| {
    let district = db.with_demo().await;
    let street = db.store.unit_by_code(district, "120199001").await.unwrap().unwrap();
    let (_, (lon, lat)) = common::first_street_point(&db, db.store.districts().await.unwrap()[0].id).await;
    let mut office = common::as_user(&db, "office01").await;
    let mut handler = common::as_user(&db, "handler046").await;
    let id = report(&mut office, "06010", lon, lat).await["id"].as_i64().unwrap();
    expect_step(&mut office, id, "accept", json!({}), "accepted").await;
    let dispatched = expect_step(&mut office, id, "dispatch", json!({"unit_id": street.id}), "dispatched").await;
    // The watcher reads the running clock…
    let clocks = db.store.running_clocks(0, 1000).await.unwrap();
    let seen = clocks.iter().find(|c| c.id == id).unwrap();
    // …meanwhile the deadline moves three days on…
    expect_step(&mut handler, id, "acknowledge", json!({}), "in_progress").await;
    let current: chrono::DateTime<chrono::Utc> = dispatched["deadline"].as_str().unwrap().parse().unwrap();
    let later = (current + chrono::Duration::days(3)).to_rfc3339();
    let body = json!({"note": "需要调用清运车", "new_deadline": later});
    expect_step(&mut handler, id, "request_extension", body, "extension_requested").await;
    expect_step(&mut office, id, "grant_extension", json!({"new_deadline": later}), "in_progress").await;
    // …so what it decided from the old deadline changes nothing.
    let after_old_deadline = current + chrono::Duration::minutes(1);
    let stage = chuangwen::jobs::deadlines::stage_of(seen);
    assert_eq!(db.store.mark_overdue(seen, &stage, after_old_deadline).await.unwrap(), (false, false));
    assert!(!db.store.mark_amber(seen, after_old_deadline).await.unwrap());
    let (_, case) = office.json("GET", &format!("/api/v1/cases/{id}"), None).await;
    assert!(case["overdue_at"].is_null() && case["amber_at"].is_null(), "{case}");
    let (_, orders) = office.json("GET", "/api/v1/supervision-orders", None).await;
    assert!(orders.as_array().unwrap().iter().all(|o| o["case_id"] != id), "no order raised");
});
