//! Open311 GeoReport v2 as a client sees it: services and requests in XML
//! and JSON, a request filed (url-encoded and multipart with a photo) that
//! enters the loop, its status as the case moves, tokens, mySociety's
//! updates read and posted, a unit's key kept to its unit, and every refusal
//! in the spec's format and status: 403 for the key, 400 naming the field,
//! 404 for what does not exist. A real third-party client from PyPI reads
//! the same endpoint over HTTP in `the_georeport_client_from_pypi_reads_it`.

mod common;

use axum::http::StatusCode;
use chuangwen::auth::audit::{AuditAction, NewAuditEntry};
use chuangwen::auth::policy::Scope;
use chuangwen::auth::token_hash;
use chuangwen::store::cases::CaseFilter;
use common::TestDb;
use common::browser::{Browser, Page};
use serde_json::{Value, json};

async fn new_client(db: &TestDb, district: i64, name: &str, unit: Option<i64>) -> String {
    let key = chuangwen::open311::new_key();
    let audit = NewAuditEntry {
        district_id: Some(district),
        actor_id: None,
        actor: "test".into(),
        action: AuditAction::TokenCreated,
        object: String::new(),
        detail: String::new(),
        ip: String::new(),
    };
    db.store.create_open311_client(district, name, unit, &token_hash(&key), &key[..11], &audit).await.unwrap();
    key
}

fn json_of(page: &Page) -> Value {
    assert_eq!(
        page.headers.get("content-type").unwrap().to_str().unwrap(),
        "application/json; charset=utf-8",
        "{}",
        page.text()
    );
    serde_json::from_slice(&page.body).unwrap_or_else(|_| panic!("not JSON: {}", page.text()))
}

/// A refusal in the spec's JSON: `[{"code": …, "description": …}]`.
fn refusal(page: &Page, status: StatusCode) -> String {
    assert_eq!(page.status, status, "{}", page.text());
    let body = json_of(page);
    assert_eq!(body[0]["code"], status.as_u16(), "{body}");
    body[0]["description"].as_str().unwrap().to_string()
}

async fn post(browser: &mut Browser, path: &str, fields: &[(&str, String)]) -> Page {
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post_form(path, &borrowed).await
}

fn jpeg() -> Vec<u8> {
    let image = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

async fn point_of_street(db: &TestDb, district: i64, street: &str) -> (f64, f64) {
    let filter = chuangwen::store::places::PointFilter { limit: 2000, ..Default::default() };
    let points = db.store.points(district, &Scope::District, &filter).await.unwrap();
    let p = points.iter().find(|p| p.street_name.as_deref() == Some(street)).expect("a point of the street");
    (p.lon, p.lat)
}

on_both_backends!(open311_files_reads_and_refuses_in_the_spec_s_words, |db| {
    let district = db.with_demo().await;
    let key = new_client(&db, district, "12345 热线", None).await;
    let mut anyone = Browser::new(db.state());

    // Services: our categories, in JSON and XML.
    let services = json_of(&anyone.get("/open311/v2/services.json").await);
    let street_stall = services.as_array().unwrap().iter().find(|s| s["service_code"] == "09006").expect("09006");
    assert_eq!(street_stall["service_name"], "占道经营");
    assert_eq!(street_stall["metadata"], true);
    let xml = anyone.get("/open311/v2/services.xml").await;
    assert_eq!(xml.headers.get("content-type").unwrap(), "text/xml; charset=utf-8");
    assert!(xml.text().contains("<service><service_code>09006</service_code><service_name>占道经营</service_name>"));
    let definition = anyone.get("/open311/v2/services/09006.xml").await.text();
    assert!(
        definition.contains("<code>condition</code>") && definition.contains("<datatype>singlevaluelist</datatype>")
    );
    refusal(&anyone.get("/open311/v2/services/99999.json").await, StatusCode::NOT_FOUND);

    // Filing: the key first, then each missing field by name.
    let (lon, lat) = point_of_street(&db, district, "海河路街道").await;
    let (lon_s, lat_s) = (lon.to_string(), lat.to_string());
    let good = || -> Vec<(&'static str, String)> {
        vec![
            ("api_key", key.clone()),
            ("service_code", "06010".into()),
            ("lat", lat_s.clone()),
            ("long", lon_s.clone()),
            ("description", "路口东侧成堆垃圾，市民来电反映，回电 13812345678".into()),
            ("first_name", "张".into()),
            ("last_name", "先生".into()),
        ]
    };
    let without_key: Vec<_> = good().into_iter().filter(|(k, _)| *k != "api_key").collect();
    let page = post(&mut anyone, "/open311/v2/requests.json", &without_key).await;
    assert!(refusal(&page, StatusCode::FORBIDDEN).contains("api_key"));
    let mut wrong = good();
    wrong[0].1 = chuangwen::open311::new_key();
    let page = post(&mut anyone, "/open311/v2/requests.xml", &wrong).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.text().contains("<errors><error><code>403</code><description>"), "{}", page.text());
    for (dropped, named) in [("service_code", "service_code"), ("lat", "lat"), ("long", "long")] {
        let fields: Vec<_> = good().into_iter().filter(|(k, _)| *k != dropped).collect();
        let page = post(&mut anyone, "/open311/v2/requests.json", &fields).await;
        let said = refusal(&page, StatusCode::BAD_REQUEST);
        assert!(said.starts_with(named), "without {dropped}: {said}");
    }
    let nowhere: Vec<_> = good().into_iter().filter(|(k, _)| !matches!(*k, "lat" | "long")).collect();
    let page = post(&mut anyone, "/open311/v2/requests.json", &nowhere).await;
    assert!(refusal(&page, StatusCode::BAD_REQUEST).starts_with("lat"));
    let mut unknown = good();
    unknown[1].1 = "99999".into();
    let page = post(&mut anyone, "/open311/v2/requests.json", &unknown).await;
    assert!(refusal(&page, StatusCode::BAD_REQUEST).starts_with("service_code"));
    let all = CaseFilter { limit: 100, ..Default::default() };
    assert!(db.store.cases(district, &Scope::District, None, &all).await.unwrap().is_empty(), "refusals file nothing");

    // A good request enters the loop from the source `open311`.
    let page = post(&mut anyone, "/open311/v2/requests.json", &good()).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.text());
    let filed = json_of(&page);
    let number = filed[0]["service_request_id"].as_str().unwrap().to_string();
    let token = filed[0]["token"].as_str().unwrap().to_string();
    assert!(filed[0]["service_notice"].as_str().unwrap().contains(&number));
    let case = db.store.cases(district, &Scope::District, None, &all).await.unwrap().pop().unwrap();
    assert_eq!(
        (case.number.as_str(), case.source.as_str(), case.state.as_str()),
        (number.as_str(), "open311", "reported")
    );
    assert_eq!(case.reporter_name, "12345 热线（张先生）");
    assert!(case.street_id.is_some(), "placed in its grid");

    // Multipart, with a photo: the case keeps it as its "before" evidence.
    let fields = good();
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = anyone.upload_to("/open311/v2/requests.xml", &borrowed, "media", "scene.jpg", &jpeg()).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.text());
    assert!(page.text().contains("<service_requests><request><service_request_id>"), "{}", page.text());
    let with_photo = db.store.cases(district, &Scope::District, None, &all).await.unwrap().remove(0);
    assert_eq!(db.store.case_attachments(with_photo.id).await.unwrap().len(), 1);

    // Reading it back: untriaged, it is not public; the key sees it, its
    // caller's phone masked.
    refusal(&anyone.get(&format!("/open311/v2/requests/{number}.json")).await, StatusCode::NOT_FOUND);
    let one = json_of(&anyone.get(&format!("/open311/v2/requests/{number}.json?api_key={key}")).await);
    assert!(one[0]["description"].as_str().unwrap().ends_with("回电 138****5678"), "{one}");
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["status"], "open");
    assert_eq!(one[0]["status_notes"], "已收到，待创文办受理");
    assert_eq!(one[0]["service_code"], "06010");
    assert!((one[0]["lat"].as_f64().unwrap() - lat).abs() < 1e-9);
    assert!(one[0]["expected_datetime"].is_null(), "no deadline before dispatch");
    let by_token = json_of(&anyone.get(&format!("/open311/v2/tokens/{token}.json")).await);
    assert_eq!(by_token[0]["service_request_id"], number.as_str());
    refusal(&anyone.get("/open311/v2/requests/2099-999999.json").await, StatusCode::NOT_FOUND);
    refusal(&anyone.get("/open311/v2/tokens/nothing.json").await, StatusCode::NOT_FOUND);
    let xml = anyone.get("/open311/v2/requests/2099-999999.xml").await;
    assert_eq!(xml.status, StatusCode::NOT_FOUND);
    assert!(xml.text().contains("<errors><error><code>404</code>"));

    // The office moves the cases; Open311 reads them as the mapping says.
    let mut office = common::as_user(&db, "office01").await;
    let (status, _) =
        office.json("POST", &format!("/api/v1/cases/{}/accept", case.id), Some(json!({"note": "受理"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = office
        .json("POST", &format!("/api/v1/cases/{}/reject", with_photo.id), Some(json!({"note": "重复来电，已另案处理"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let open = json_of(&anyone.get("/open311/v2/requests.json?status=open").await);
    let closed = json_of(&anyone.get(&format!("/open311/v2/requests.json?status=closed&api_key={key}")).await);
    let public_closed = json_of(&anyone.get("/open311/v2/requests.json?status=closed").await);
    assert!(public_closed.as_array().unwrap().is_empty(), "a refused report is not public: {public_closed}");
    let numbers = |v: &Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|r| r["service_request_id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(numbers(&open), vec![number.clone()]);
    assert_eq!(numbers(&closed), vec![with_photo.number.clone()]);
    assert_eq!(open[0]["status_notes"], "已立案，待派遣");
    let both = json_of(
        &anyone.get(&format!("/open311/v2/requests.json?status=open,closed&service_code=06010&api_key={key}")).await,
    );
    assert_eq!(both.as_array().unwrap().len(), 2);
    let paged = json_of(&anyone.get(&format!("/open311/v2/requests.json?page=2&page_size=1&api_key={key}")).await);
    assert_eq!(numbers(&paged), vec![number.clone()], "newest first, one per page");
    let listed = json_of(
        &anyone
            .get(&format!("/open311/v2/requests.json?service_request_id={number},{}&api_key={key}", with_photo.number))
            .await,
    );
    assert_eq!(listed.as_array().unwrap().len(), 2, "ids override the rest");
    // A `+` left unencoded by the client arrives as a space and still reads.
    let start = (chrono::Utc::now() - chrono::Duration::days(10)).format("%Y-%m-%dT%H:%M:%S+00:00");
    let plus = json_of(&anyone.get(&format!("/open311/v2/requests.json?start_date={start}")).await);
    assert_eq!(numbers(&plus), vec![number.clone()]);
    let none = json_of(&anyone.get("/open311/v2/requests.json?service_code=09006").await);
    assert!(none.as_array().unwrap().is_empty());
    assert!(
        refusal(&anyone.get("/open311/v2/requests.json?status=fixed").await, StatusCode::BAD_REQUEST)
            .starts_with("status")
    );
    assert!(
        refusal(&anyone.get("/open311/v2/requests.json?start_date=yesterday").await, StatusCode::BAD_REQUEST)
            .starts_with("start_date")
    );
    let too_long = "/open311/v2/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z";
    refusal(&anyone.get(too_long).await, StatusCode::BAD_REQUEST);
    let old = "/open311/v2/requests.json?start_date=2025-01-01T00:00:00%2B08:00&end_date=2025-03-01T00:00:00%2B08:00";
    assert!(json_of(&anyone.get(old).await).as_array().unwrap().is_empty(), "a window before any case");
    refusal(&anyone.get("/open311/v2/services.json?jurisdiction_id=999999").await, StatusCode::NOT_FOUND);
    assert_eq!(anyone.get("/open311/v2/services.json?jurisdiction_id=120199").await.status, StatusCode::OK);

    // Updates: read with the key, in order, each with its extended status.
    refusal(&anyone.get("/open311/v2/servicerequestupdates.json").await, StatusCode::FORBIDDEN);
    let updates = json_of(&anyone.get(&format!("/open311/v2/servicerequestupdates.json?api_key={key}")).await);
    let of_case: Vec<&Value> =
        updates.as_array().unwrap().iter().filter(|u| u["service_request_id"] == number.as_str()).collect();
    let statuses: Vec<&str> = of_case.iter().map(|u| u["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["FOR_TRIAGE", "INVESTIGATING"]);
    assert!(
        updates
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["status"] == "NO_FURTHER_ACTION" && u["description"] == "重复来电，已另案处理")
    );
    let xml = anyone.get(&format!("/open311/v2/servicerequestupdates.xml?api_key={key}")).await.text();
    assert!(xml.contains("<service_request_updates><request_update><update_id>"), "{xml}");

    // Posting an update: it joins the history, the case does not move.
    let said = vec![
        ("api_key", key.clone()),
        ("service_request_id", number.clone()),
        ("description", "市民再次来电，垃圾仍未清运".to_string()),
        ("status", "OPEN".to_string()),
    ];
    let page = post(&mut anyone, "/open311/v2/servicerequestupdates.json", &said).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.text());
    let events = db.store.case_events(case.id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.action, "external_update");
    assert!(last.note.starts_with("市民再次来电"));
    assert_eq!(last.actor, "12345 热线（Open311）");
    let now = db.store.case(district, &Scope::District, None, case.id).await.unwrap().unwrap();
    assert_eq!(now.state, "accepted", "an update never moves the case");
    let unknown = vec![
        ("api_key", key.clone()),
        ("service_request_id", "2099-999999".to_string()),
        ("description", "x".to_string()),
    ];
    let page = post(&mut anyone, "/open311/v2/servicerequestupdates.json", &unknown).await;
    refusal(&page, StatusCode::NOT_FOUND);

    // A street's key sees and speaks only of its street's cases.
    let units = db.store.units(district).await.unwrap();
    let other_street = units.iter().find(|u| u.kind == "street" && u.name != "海河路街道").unwrap();
    let street_key = new_client(&db, district, "街道网格平台", Some(other_street.id)).await;
    let theirs = json_of(&anyone.get(&format!("/open311/v2/servicerequestupdates.json?api_key={street_key}")).await);
    assert!(theirs.as_array().unwrap().is_empty(), "no case of its street yet: {theirs}");
    // A case filed in its street: the street's key follows it.
    let (lon2, lat2) = point_of_street(&db, district, &other_street.name).await;
    let there = [
        ("api_key", street_key.clone()),
        ("service_code", "09006".to_string()),
        ("lat", lat2.to_string()),
        ("long", lon2.to_string()),
    ];
    let page = post(&mut anyone, "/open311/v2/requests.json", &there).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.text());
    let theirs_now = json_of(&page)[0]["service_request_id"].as_str().unwrap().to_string();
    let seen = json_of(&anyone.get(&format!("/open311/v2/servicerequestupdates.json?api_key={street_key}")).await);
    let seen: Vec<&str> = seen.as_array().unwrap().iter().map(|u| u["service_request_id"].as_str().unwrap()).collect();
    assert_eq!(seen, [theirs_now.as_str()], "its own street's case, and only that");
    let filed = db.store.cases(district, &Scope::District, None, &all).await.unwrap().remove(0);
    assert!(filed.description.contains("未附描述"), "a request without a description still says what it is");
    let speak = vec![
        ("api_key", street_key.clone()),
        ("service_request_id", number.clone()),
        ("description", "不是我们街道的".to_string()),
    ];
    let page = post(&mut anyone, "/open311/v2/servicerequestupdates.json", &speak).await;
    refusal(&page, StatusCode::NOT_FOUND);
    // A key of this district is refused for another jurisdiction.
    let elsewhere = format!("/open311/v2/servicerequestupdates.json?api_key={key}&jurisdiction_id=999999");
    refusal(&anyone.get(&elsewhere).await, StatusCode::FORBIDDEN);
});

/// The Python with the PyPI clients: `TEST_PYTHON`, set by
/// scripts/test.sh from scripts/ensure-python-clients.sh.
fn python() -> String {
    std::env::var("TEST_PYTHON").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| {
        let out =
            std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/ensure-python-clients.sh"))
                .output()
                .expect("scripts/ensure-python-clients.sh installs the PyPI clients");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_georeport_client_from_pypi_reads_it() {
    let db = common::sqlite().await;
    let district = db.with_demo().await;
    let key = new_client(&db, district, "市城运平台", None).await;
    let (lon, lat) = point_of_street(&db, district, "海河路街道").await;
    let mut browser = Browser::new(db.state());
    let mut numbers = Vec::new();
    for code in ["09006", "06010"] {
        let fields = [
            ("api_key", key.clone()),
            ("service_code", code.to_string()),
            ("lat", lat.to_string()),
            ("long", lon.to_string()),
            ("description", "市民反映：人行道被占用".to_string()),
        ];
        let page = post(&mut browser, "/open311/v2/requests.json", &fields).await;
        assert_eq!(page.status, StatusCode::CREATED, "{}", page.text());
        numbers.push(json_of(&page)[0]["service_request_id"].as_str().unwrap().to_string());
    }
    numbers.sort();
    // The public sees reports once the office has accepted them.
    let mut office = common::as_user(&db, "office01").await;
    let all = CaseFilter { limit: 10, ..Default::default() };
    for case in db.store.cases(district, &Scope::District, None, &all).await.unwrap() {
        let (status, _) =
            office.json("POST", &format!("/api/v1/cases/{}/accept", case.id), Some(json!({"note": "受理"}))).await;
        assert_eq!(status, StatusCode::OK);
    }

    // The real server on a loopback port, as the client would meet it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let root = format!("http://{}/open311/v2", listener.local_addr().unwrap());
    let app = chuangwen::routes::router(db.state());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/open311_georeport.py");
    let (python, number) = (python(), numbers[0].clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python).arg(script).arg(root).arg(number).output().expect("run python")
    })
    .await
    .unwrap();
    server.abort();
    assert!(out.status.success(), "the client failed: {}", String::from_utf8_lossy(&out.stderr));
    let read: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    let table = db.store.categories(district).await.unwrap();
    let mut codes: Vec<&str> = table.categories.iter().map(|c| c.code.as_str()).collect();
    codes.sort();
    for format in ["json", "xml"] {
        let r = &read[format];
        assert_eq!(r["services"], codes.len(), "{format}: every category is a service");
        assert_eq!(r["service_codes"], json!(codes[..3]), "{format}");
        assert_eq!(r["attribute"], "condition", "{format}");
        assert_eq!(r["open_requests"], json!(numbers), "{format}");
        assert_eq!(r["one"], json!({"id": numbers[0], "status": "open", "code": "09006"}), "{format}");
    }
}
