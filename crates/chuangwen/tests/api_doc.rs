//! The API describes itself: `GET /api/v1/openapi.json` is a valid OpenAPI
//! document (checked by openapi-spec-validator from PyPI), every `/api/v1`
//! route the application serves is in it and nothing else, and
//! `GET /api/v1/docs` is a page people can read.

mod common;

use axum::http::StatusCode;
use common::browser::Browser;
use serde_json::Value;

async fn document() -> Value {
    let db = common::sqlite().await;
    let page = Browser::new(db.state()).get("/api/v1/openapi.json").await;
    assert_eq!(page.status, StatusCode::OK);
    serde_json::from_slice(&page.body).unwrap()
}

#[tokio::test]
async fn every_api_route_is_described_and_nothing_else() {
    let doc = document().await;
    let paths = doc["paths"].as_object().unwrap();
    let served: Vec<(String, String)> = chuangwen::routes::route_list()
        .into_iter()
        .filter(|(_, path)| path.starts_with("/api/v1/"))
        .map(|(m, p)| (m.to_lowercase(), p.to_string()))
        .collect();
    let missing: Vec<String> = served
        .iter()
        .filter(|(m, p)| paths.get(p).and_then(|item| item.get(m)).is_none())
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "served under /api/v1 but not in openapi.json (add #[utoipa::path] and list it in api::openapi): {missing:?}"
    );
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            assert!(served.contains(&(method.clone(), path.clone())), "described but not served: {method} {path}");
            let op = &item[method];
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path} has no summary");
        }
    }
    // One error body, named in the answers.
    let report = &paths["/api/v1/cases"]["post"];
    assert_eq!(
        report["responses"]["400"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    assert!(report["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "Idempotency-Key"));
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn the_document_passes_openapi_spec_validator() {
    let doc = document().await;
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'), "OpenAPI 3");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let python = std::env::var("TEST_PYTHON").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| {
        let out =
            std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/ensure-python-clients.sh"))
                .output()
                .expect("scripts/ensure-python-clients.sh installs the PyPI tools");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    });
    let out = std::process::Command::new(python)
        .args(["-c", "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))\nprint('valid')", file.to_str().unwrap()])
        .output()
        .expect("run python");
    assert!(out.status.success(), "openapi-spec-validator refused it: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "valid");
}

#[tokio::test]
async fn the_docs_page_reads_in_chinese() {
    let db = common::sqlite().await;
    let page = Browser::new(db.state()).get("/api/v1/docs").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    for expected in [
        "创文通 Chuangwen API",
        "POST /api/v1/cases",
        "上报问题",
        "Idempotency-Key",
        "问题案卷",
        "/api/v1/openapi.json",
    ] {
        assert!(html.contains(expected), "the docs page lacks {expected}");
    }
}
