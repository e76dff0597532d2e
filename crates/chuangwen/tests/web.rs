//! The pages and the API through the router, as a browser would use them:
//! login, the overview, imports with their progress, exports, refusals.

mod common;

use axum::http::{StatusCode, header};

use common::browser::Browser;

on_both_backends!(an_office_user_logs_in_and_sees_the_demo_district, |db| {
    db.with_demo().await;
    let mut browser = Browser::new(db.state());
    let home = browser.get("/").await;
    assert_eq!((home.status, home.location()), (StatusCode::SEE_OTHER, "/login"), "not logged in: to the login page");

    let wrong = browser.login("office01", "wrong-password").await;
    assert_eq!(wrong.status, StatusCode::OK);
    assert!(wrong.text().contains("用户名或密码错误"));
    assert!(wrong.text().contains("value=\"office01\""), "the typed username is kept");

    let ok = browser.login("office01", common::DEMO_PASSWORD).await;
    assert_eq!((ok.status, ok.location()), (StatusCode::SEE_OTHER, "/"));
    let set_cookie = ok.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));

    let home = browser.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    let text = home.text();
    assert!(text.contains("<h1>海河示范区<small>区划代码 120199"), "the district's name and code head the page");
    for (label, figure) in [("单元网格", 600), ("点位", 1500)] {
        assert_eq!(common::tile(&text, label), figure, "{label}");
    }
    assert!(text.contains("居民小区"), "the point types are listed");

    let places = browser.get("/places?type=bus_stop").await;
    assert_eq!(places.status, StatusCode::OK);
    let html = places.text();
    assert!(html.contains("下一页"), "more than a page of bus stops");
    let rows: Vec<&str> = html.split("<tr><td>").skip(1).collect();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.contains("</a></td><td>公交站</td>")), "only bus stops are listed");
});

on_both_backends!(logging_out_ends_the_session, |db| {
    db.with_demo().await;
    let mut browser = Browser::new(db.state());
    browser.login("leader01", common::DEMO_PASSWORD).await;
    assert_eq!(browser.get("/").await.status, StatusCode::OK);
    let csrf = browser.csrf();
    let out = browser.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/login");
    assert_eq!(browser.get("/").await.status, StatusCode::SEE_OTHER);
});

on_both_backends!(forms_work_after_the_browser_dropped_its_csrf_cookie_but_kept_the_login, |db| {
    db.with_demo().await;
    let mut browser = Browser::new(db.state());
    browser.login("office01", common::DEMO_PASSWORD).await;
    // A browser restart: the session cookie has a lifetime and stays, the CSRF cookie does not.
    browser.cookies.retain(|(name, _)| name != "cw_csrf");
    let page = browser.get("/cases/new").await.text();
    let in_form = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert_eq!(in_form.len(), 64);
    assert_eq!(browser.csrf(), in_form, "the page sets the cookie its forms carry");
    let out = browser.post_form("/logout", &[("csrf", &in_form)]).await;
    assert_eq!(out.location(), "/login", "the form is accepted");
});

on_both_backends!(a_form_without_its_csrf_token_is_refused, |db| {
    db.with_demo().await;
    let mut browser = Browser::new(db.state());
    browser.get("/login").await;
    let refused = browser
        .post_form("/login", &[("csrf", "forged"), ("username", "office01"), ("password", common::DEMO_PASSWORD)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.text().contains("页面已过期"));
    assert!(!browser.cookies.iter().any(|(k, _)| k == "cw_session"), "no session was started");
});

on_both_backends!(a_handler_may_not_import_or_export_places, |db| {
    db.with_demo().await;
    let mut browser = Browser::new(db.state());
    browser.login("handler001", common::DEMO_PASSWORD).await;
    assert_eq!(browser.get("/places").await.status, StatusCode::OK);
    assert_eq!(browser.get("/places/import").await.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.get("/places/export?kind=points&format=xlsx").await.status, StatusCode::FORBIDDEN);
    let csrf = browser.csrf();
    let upload = browser.upload(&[("csrf", &csrf), ("kind", "points"), ("crs", "wgs84")], "p.geojson", b"{}").await;
    assert_eq!(upload.status, StatusCode::FORBIDDEN);
});

on_both_backends!(an_import_from_the_web_shows_its_progress_and_every_bad_row, |db| {
    db.with_demo().await;
    let state = db.state();
    let mut browser = Browser::new(state.clone());
    browser.login("office01", common::DEMO_PASSWORD).await;
    let form = browser.get("/places/import").await;
    assert!(form.text().contains("跳过错误行"));

    let file = serde_json::json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [117.2, 39.1]},
         "properties": {"code": "W-1", "name": "好点位", "type": "广场", "unit": "D003"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [117.2, 39.1]},
         "properties": {"code": "W-2", "name": "坏点位", "type": "不存在的类型", "unit": "D003"}}
    ]});
    let csrf = browser.csrf();
    let started = browser
        .upload(&[("csrf", &csrf), ("kind", "points"), ("crs", "wgs84")], "点位.geojson", file.to_string().as_bytes())
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    let run_url = started.location().to_string();
    assert!(run_url.starts_with("/places/imports/"));

    let queued = browser.get(&format!("{run_url}/progress")).await;
    let progress: serde_json::Value = serde_json::from_slice(&queued.body).unwrap();
    assert_eq!(progress["state"], "queued");

    assert_eq!(chuangwen::jobs::drain(&state.job_context()).await, 1, "one job ran");
    let finished: serde_json::Value =
        serde_json::from_slice(&browser.get(&format!("{run_url}/progress")).await.body).unwrap();
    assert_eq!((finished["state"].as_str(), finished["percent"].as_i64()), (Some("refused"), Some(100)));

    let page = browser.get(&run_url).await.text();
    assert!(page.contains("未写入任何数据"), "{page}");
    assert!(page.contains("未知的点位类型“不存在的类型”"));
    assert_eq!(db.store.place_totals(db.store.districts().await.unwrap()[0].id).await.unwrap().1, 1500);

    // The same file with "skip bad rows" writes the good one.
    let csrf = browser.csrf();
    let again = browser
        .upload(
            &[("csrf", &csrf), ("kind", "points"), ("crs", "wgs84"), ("skip_bad_rows", "1")],
            "点位.geojson",
            file.to_string().as_bytes(),
        )
        .await;
    chuangwen::jobs::drain(&state.job_context()).await;
    let page = browser.get(again.location()).await.text();
    assert!(page.contains("写入 1 行，跳过 1 个错误行"), "{page}");
});

on_both_backends!(a_file_of_unknown_format_is_refused_on_the_form_keeping_the_choices, |db| {
    db.with_demo().await;
    let mut browser = Browser::new(db.state());
    browser.login("office01", common::DEMO_PASSWORD).await;
    browser.get("/places/import").await;
    let csrf = browser.csrf();
    let page = browser
        .upload(&[("csrf", &csrf), ("kind", "grids"), ("crs", "gcj02"), ("skip_bad_rows", "1")], "grids.csv", b"a,b,c")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.text();
    assert!(text.contains("无法识别的文件格式"));
    assert!(
        text.contains("value=\"grids\" selected")
            && text.contains("value=\"gcj02\" selected")
            && text.contains("checked")
    );
    assert_eq!(db.store.job_counts().await.unwrap(), vec![], "no job was queued");
});

on_both_backends!(exports_download_with_a_chinese_file_name, |db| {
    db.with_demo().await;
    let mut browser = Browser::new(db.state());
    browser.login("inspector01", common::DEMO_PASSWORD).await;
    let file = browser.get("/places/export?kind=grids&format=geojson").await;
    assert_eq!(file.status, StatusCode::OK);
    let disposition = file.headers.get(header::CONTENT_DISPOSITION).unwrap().to_str().unwrap();
    assert!(disposition.contains("120199-grids.geojson") && disposition.contains("filename*=UTF-8''"));
    let value: serde_json::Value = serde_json::from_slice(&file.body).unwrap();
    assert_eq!(value["features"].as_array().unwrap().len(), 600);
    let bad = browser.get("/places/export?kind=cases&format=xlsx").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
});

on_both_backends!(the_api_resolves_a_location_and_answers_errors_as_json, |db| {
    db.with_demo().await;
    let mut browser = Browser::new(db.state());
    let anonymous = browser.get("/api/v1/places/resolve?lon=117.2&lat=39.1").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = serde_json::from_slice(&anonymous.body).unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");

    browser.login("supervisor001", common::DEMO_PASSWORD).await;
    let found = browser.get("/api/v1/places/resolve?lon=117.2&lat=39.1").await;
    assert_eq!(found.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(&found.body).unwrap();
    assert_eq!(body["grid_code"].as_str().unwrap().len(), 15);
    assert!(body["street"].as_str().unwrap().ends_with("街道") || body["street"].as_str().unwrap().ends_with('镇'));

    let outside = browser.get("/api/v1/places/resolve?lon=116.39&lat=39.9").await;
    assert_eq!(outside.status, StatusCode::NOT_FOUND);
    let bad_crs = browser.get("/api/v1/places/resolve?lon=117.2&lat=39.1&crs=utm").await;
    assert_eq!(bad_crs.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = serde_json::from_slice(&bad_crs.body).unwrap();
    assert_eq!(body["error"]["field"], "crs");

    // A supervisor of the first street sees that street's points only.
    let page: serde_json::Value =
        serde_json::from_slice(&browser.get("/api/v1/places/points?type=school&limit=1000").await.body).unwrap();
    let items = page["items"].as_array().unwrap();
    assert!(!items.is_empty() && items.len() < 90, "{} of the 90 schools", items.len());
    assert!(items.iter().all(|p| p["street_name"] == "海河路街道"), "{items:?}");

    // An inspector sees the district, page by page.
    let mut inspector = Browser::new(db.state());
    inspector.login("inspector01", common::DEMO_PASSWORD).await;
    let page: serde_json::Value =
        serde_json::from_slice(&inspector.get("/api/v1/places/points?type=school&limit=50").await.body).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 50);
    assert!(page["next_after"].is_i64());
});

on_both_backends!(health_and_metrics_answer_for_operators, |db| {
    let mut browser = Browser::new(db.state());
    let health = browser.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert!(health.headers.contains_key("x-request-id"), "every response carries its request id");
    browser.get("/login").await;
    let metrics = browser.get("/metrics").await.text();
    assert!(metrics.contains("chuangwen_http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/login\""));
    assert_eq!(browser.get("/no/such/page").await.status, StatusCode::NOT_FOUND);
});

on_both_backends!(each_role_opens_on_its_own_piles_of_work, |db| {
    db.with_demo().await;
    let mut office = Browser::new(db.state());
    office.login("office01", common::DEMO_PASSWORD).await;
    let home = office.get("/").await.text();
    for pile in ["待受理", "待派遣", "即将超期", "已超期"] {
        assert!(home.contains(pile), "the office sees {pile}");
    }
    let mut handler = Browser::new(db.state());
    handler.login("handler046", common::DEMO_PASSWORD).await;
    let home = handler.get("/").await.text();
    assert!(home.contains("待签收") && home.contains("待处置") && !home.contains("待受理"));
    let mut supervisor = Browser::new(db.state());
    supervisor.login("supervisor001", common::DEMO_PASSWORD).await;
    let home = supervisor.get("/").await.text();
    assert!(home.contains("我上报的") && !home.contains("待派遣"));
    let list = supervisor.get("/cases?mine=1").await;
    assert_eq!(list.status, StatusCode::OK);
});

on_both_backends!(the_case_list_exports_to_xlsx_with_its_filters_and_scope, |db| {
    use calamine::Reader;
    let created = chuangwen::demo::create(&db.store, 3, Some(common::DEMO_PASSWORD), 400, &chuangwen::progress::Silent)
        .await
        .unwrap();
    let mut office = Browser::new(db.state());
    office.login("office01", common::DEMO_PASSWORD).await;
    let file = office.get("/cases/export?state=closed").await;
    assert_eq!(file.status, StatusCode::OK);
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(file.body.clone())).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(rows[0][0], "编号");
    let closed = db
        .store
        .case_state_counts(created.district.id)
        .await
        .unwrap()
        .into_iter()
        .find(|(s, _)| s == "closed")
        .unwrap()
        .1;
    assert_eq!(rows.len() as i64 - 1, closed, "one row per closed case");
    assert!(rows[1..].iter().all(|r| r[1] == "已结案"));
    // A street's handler exports only what the street sees.
    let mut handler = Browser::new(db.state());
    handler.login("handler046", common::DEMO_PASSWORD).await;
    let file = handler.get("/cases/export").await;
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(file.body.clone())).unwrap();
    let rows = book.worksheet_range_at(0).unwrap().unwrap().rows().count() as i64 - 1;
    assert!(rows > 0 && rows < 400, "{rows}");
});

on_both_backends!(a_refused_token_form_keeps_its_name_unit_and_roles, |db| {
    let district = db.with_demo().await;
    let street = db.store.unit_by_code(district, "120199001").await.unwrap().unwrap();
    let mut admin = common::as_user(&db, "admin").await;
    admin.get("/admin/tokens").await;
    let csrf = admin.csrf();
    let unit = street.id.to_string();
    // A unit and a role but no name.
    let page = admin
        .post_form("/admin/tokens", &[("csrf", &csrf), ("name", ""), ("unit_id", &unit), ("role", "supervisor")])
        .await;
    let html = page.text();
    assert!(html.contains("请填写令牌名称"));
    assert!(html.contains(&format!("value=\"{unit}\" selected")), "the unit stays chosen");
    assert!(html.contains("value=\"supervisor\" checked"), "the role stays checked");
    // A name and a unit but no role.
    let page =
        admin.post_form("/admin/tokens", &[("csrf", &csrf), ("name", "12345 热线对接"), ("unit_id", &unit)]).await;
    let html = page.text();
    assert!(html.contains("请至少选择一个角色") && html.contains("value=\"12345 热线对接\""));
    assert!(db.store.api_tokens(district).await.unwrap().is_empty(), "nothing was created");
});

on_both_backends!(every_form_route_refuses_a_post_without_its_csrf_token, |db| {
    // The administrator may take every form route, so a refusal here is the
    // CSRF check's own; it comes before anything is looked up or changed.
    db.with_demo().await;
    let mut browser = Browser::new(db.state());
    browser.login("admin", common::DEMO_PASSWORD).await;
    let mut unchecked = Vec::new();
    for (method, route) in chuangwen::routes::route_list() {
        // The API and Open311 take no cookies: a token or an api_key, never a form's session.
        if method != "POST" || route.starts_with("/api/") || route.starts_with("/open311/") || route == "/login" {
            continue;
        }
        // A forged token, and otherwise a form that would pass: the token alone is wrong.
        let path = route.replace("{id}", "1").replace("{point}", "1");
        let fields = [
            ("csrf", "forged"),
            ("body", chuangwen::domain::assessment::SHIPPED),
            ("day", "2026-11-27"),
            ("current", common::DEMO_PASSWORD),
            ("new", "Another-Pass-2027"),
            ("confirm", "Another-Pass-2027"),
            ("name", "市平台"),
            ("url", "http://127.0.0.1:9/hook"),
        ];
        let page = if [
            "/cases/new",
            "/cases/{id}/step",
            "/places/import",
            "/intake",
            "/evaluation/rounds/{id}/points/{point}",
            "/evaluation/system",
        ]
        .contains(&route)
        {
            browser.upload_to(&path, &fields, "file", "p.jpg", b"{}").await
        } else {
            browser.post_form(&path, &fields).await
        };
        if page.status != StatusCode::FORBIDDEN || !page.text().contains("页面已过期") {
            unchecked.push(format!("{route}: {}", page.status));
        }
    }
    assert!(unchecked.is_empty(), "form routes that took a post without its CSRF token: {unchecked:?}");
});
