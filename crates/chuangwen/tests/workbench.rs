//! The workbench pages beyond the loop itself, on both backends: the case
//! list's filters, totals and pages; batch dispatch; the settings pages; the
//! map's layers; the embedded front-end assets.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use chuangwen::auth::policy::Scope;
use chuangwen::domain::calendar::beijing;
use chuangwen::store::cases::CaseFilter;
use common::browser::Browser;

/// Case numbers on a list page, in order.
fn numbers(html: &str) -> Vec<String> {
    html.split("<td><a href=\"/cases/")
        .skip(1)
        .filter_map(|rest| rest.split_once("\">").and_then(|(_, after)| after.split_once("</a>")))
        .map(|(number, _)| number.to_string())
        .collect()
}

/// The total a list page shows once its script has asked for it: the page
/// links `/cases/total` with its own filters, and that answers the words.
async fn total_of(browser: &mut Browser, html: &str) -> String {
    let url = html
        .split("data-total=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the list links its total")
        .replace("&#38;", "&");
    let page = browser.get(&url).await;
    assert_eq!(page.status, StatusCode::OK, "{url}");
    page.text()
}

on_both_backends!(the_list_filters_counts_and_pages_keeping_its_filters, |db| {
    let created = chuangwen::demo::create(&db.store, 5, Some(common::DEMO_PASSWORD), 300, &chuangwen::progress::Silent)
        .await
        .unwrap();
    let district = created.district.id;
    let all = db
        .store
        .cases(district, &Scope::District, None, &CaseFilter { limit: 1000, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(all.len(), 300);
    // The most common category and source of the demo's cases.
    let most = |key: fn(&chuangwen::store::cases::Case) -> String| {
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        all.iter().for_each(|c| *counts.entry(key(c)).or_default() += 1);
        counts.into_iter().max_by_key(|(_, n)| *n).unwrap()
    };
    let (category, _) = most(|c| c.category_code.clone());
    let (source, _) = most(|c| c.source.clone());
    let expected: Vec<&chuangwen::store::cases::Case> =
        all.iter().filter(|c| c.category_code == category && c.source == source).collect();
    assert!(!expected.is_empty());

    let mut office = common::as_user(&db, "office01").await;
    let page = office.get(&format!("/cases?category={category}&source={source}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert_eq!(total_of(&mut office, &html).await, format!("共 {} 件", expected.len()), "the total counts every match");
    let shown = numbers(&html);
    assert_eq!(shown.len(), expected.len().min(30));
    assert!(shown.iter().all(|n| expected.iter().any(|c| &c.number == n)), "only matching cases are listed");

    // The date range: from a day on, counted in Beijing days.
    let day = all[120].reported_at.with_timezone(&beijing()).date_naive();
    let from = day.format("%Y-%m-%d").to_string();
    let since = all.iter().filter(|c| c.reported_at.with_timezone(&beijing()).date_naive() >= day).count();
    let html = office.get(&format!("/cases?from={from}")).await.text();
    assert_eq!(total_of(&mut office, &html).await, format!("共 {since} 件"), "from {from}");
    let until = all.len() - since;
    let before = (day - chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    let html = office.get(&format!("/cases?to={before}")).await.text();
    assert_eq!(total_of(&mut office, &html).await, format!("共 {until} 件"), "to {before}");

    // A filter that does not parse is named and lists nothing (never everything), keeping what was typed.
    let page = office.get("/cases?from=2026-13-01&street=abc&q=%E5%9E%83%E5%9C%BE").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("起始日期“2026-13-01”不是有效日期") && html.contains("街道“abc”无法识别"), "{html}");
    assert!(numbers(&html).is_empty() && html.contains("筛选条件有误") && !html.contains("data-total"));
    let total = office.get("/cases/total?from=2026-13-01").await;
    assert_eq!(total.status, StatusCode::BAD_REQUEST);
    assert!(total.text().contains("起始日期“2026-13-01”不是有效日期"), "{}", total.text());
    assert!(html.contains("value=\"2026-13-01\"") && html.contains("value=\"垃圾\""), "the typed filters stay");
    let export = office.get("/cases/export?to=yesterday").await;
    assert_eq!(export.status, StatusCode::BAD_REQUEST);
    assert!(export.text().contains("截止日期“yesterday”不是有效日期"));

    // Pages: thirty at a time, newest first, the next link keeping the filters.
    let html = office.get("/cases?state=closed").await.text();
    let first = numbers(&html);
    assert_eq!(first.len(), 30);
    let next = html.split("href=\"/cases?state=closed&#38;before=").nth(1).expect("a next link with the filter");
    let before: i64 = next.split('"').next().unwrap().parse().unwrap();
    let second = numbers(&office.get(&format!("/cases?state=closed&before={before}")).await.text());
    assert!(!second.is_empty() && second.iter().all(|n| !first.contains(n) && n < &first[29]));
    let closed = all.iter().filter(|c| c.state == "closed").count();
    assert_eq!(total_of(&mut office, &html).await, format!("共 {closed} 件"));

    // The requests pile gathers return, extension and deferral requests.
    let requests = all
        .iter()
        .filter(|c| matches!(c.state.as_str(), "return_requested" | "extension_requested" | "deferral_requested"))
        .count();
    let html = office.get("/cases?state=requests").await.text();
    assert_eq!(total_of(&mut office, &html).await, format!("共 {requests} 件"));
    // A handler's totals cover only what the handler's unit sees.
    let handler_user = db.store.user_by_username("handler046").await.unwrap().unwrap();
    let unit = db.store.unit_by_id(handler_user.unit_id).await.unwrap();
    let scope = Scope::Subtree(unit.path.clone());
    let seen =
        db.store.count_cases(district, &scope, Some(handler_user.id), &CaseFilter::default(), 10_001).await.unwrap();
    assert!(seen > 0 && seen < 300, "{seen}");
    let mut handler = common::as_user(&db, "handler046").await;
    let html = handler.get("/cases").await.text();
    assert_eq!(
        total_of(&mut handler, &html).await,
        format!("共 {seen} 件"),
        "a handler counts only the street's cases"
    );
});

async fn report_and_accept(supervisor: &mut Browser, office: &mut Browser, category: &str, at: (f64, f64)) -> Value {
    let (status, case) = supervisor
        .json(
            "POST",
            "/api/v1/cases",
            Some(json!({"category": category, "description": "人行道上堆放杂物", "lon": at.0, "lat": at.1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let id = case["id"].as_i64().unwrap();
    let (status, body) = office.json("POST", &format!("/api/v1/cases/{id}/accept"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A demo district with one case reported by supervisor001, accepted and
/// dispatched by office01 to 海河路街道: (case id, supervisor, office).
async fn dispatched_to_the_first_street(db: &common::TestDb) -> (i64, Browser, Browser) {
    let district = db.with_demo().await;
    let spot = common::first_street_point(db, district).await.1;
    let street = db.store.unit_by_code(district, "120199001").await.unwrap().unwrap();
    let mut supervisor = common::as_user(db, "supervisor001").await;
    let mut office = common::as_user(db, "office01").await;
    let id = report_and_accept(&mut supervisor, &mut office, "06010", spot).await["id"].as_i64().unwrap();
    let (status, _) =
        office.json("POST", &format!("/api/v1/cases/{id}/dispatch"), Some(json!({"unit_id": street.id}))).await;
    assert_eq!(status, StatusCode::OK);
    (id, supervisor, office)
}

on_both_backends!(a_period_lists_its_cases_by_report_time_page_after_page, |db| {
    let district = db.with_demo_cases(300).await;
    let every_case = CaseFilter { limit: 1000, ..Default::default() };
    let all = db.store.cases(district, &Scope::District, None, &every_case).await.unwrap();
    // The newest case, given the report time of an older one, as a bulk load
    // of earlier records leaves a case numbered after cases reported later.
    let (moved, older) = (&all[0], &all[150]);
    common::raw(
        &db.store,
        &format!(
            "UPDATE cases SET reported_at = (SELECT reported_at FROM cases WHERE id = {}) WHERE id = {}",
            older.id, moved.id
        ),
    )
    .await;
    let all = db.store.cases(district, &Scope::District, None, &every_case).await.unwrap();
    let day = all[200].reported_at.with_timezone(&beijing()).date_naive();
    let mut expected: Vec<&chuangwen::store::cases::Case> =
        all.iter().filter(|c| c.reported_at.with_timezone(&beijing()).date_naive() >= day).collect();
    expected.sort_by_key(|c| std::cmp::Reverse((c.reported_at, c.id)));
    let expected: Vec<String> = expected.iter().map(|c| c.number.clone()).collect();
    assert!(expected.len() > 60, "more than two pages: {}", expected.len());

    // The list from that day on, page after page through its "next" links.
    let mut office = common::as_user(&db, "office01").await;
    let from = day.format("%Y-%m-%d");
    let mut path = format!("/cases?from={from}");
    let mut shown = Vec::new();
    let mut pages = 0;
    loop {
        let html = office.get(&path).await.text();
        let page = numbers(&html);
        assert!(page.len() <= 30, "{path}");
        shown.extend(page);
        pages += 1;
        let Some(next) = html.split("&#38;before=").nth(1) else { break };
        let before: i64 = next.split('"').next().unwrap().parse().unwrap();
        path = format!("/cases?from={from}&before={before}");
        assert!(pages < 50, "the pages never end");
    }
    assert_eq!(shown, expected, "every case of the period once, the latest reported first");
    let at = shown.iter().position(|n| *n == moved.number).expect("the moved case is listed");
    assert!(
        at > 0 && shown[at + 1] == older.number,
        "listed when it was reported, before the case it shares the time with"
    );
    // A cursor whose case is gone (an undone import) pages by its number:
    // every case of the period numbered below it.
    let gone = all[0].id + 1000;
    let html = office.get(&format!("/cases?from={from}&before={gone}")).await.text();
    assert_eq!(numbers(&html), shown[..30]);

    // Without a period the list goes by number: the moved case first.
    let html = office.get("/cases").await.text();
    assert_eq!(numbers(&html)[0], moved.number);
});

on_both_backends!(the_office_dispatches_a_batch_from_one_page_with_the_suggested_units, |db| {
    let district = db.with_demo().await;
    let spot = common::first_street_point(&db, district).await.1;
    let mut supervisor = common::as_user(&db, "supervisor001").await;
    let mut office = common::as_user(&db, "office01").await;
    let a = report_and_accept(&mut supervisor, &mut office, "06010", spot).await;
    let b = report_and_accept(&mut supervisor, &mut office, "07001", spot).await;
    let c = report_and_accept(&mut supervisor, &mut office, "06010", spot).await;
    let ids: Vec<i64> = [&a, &b, &c].iter().map(|v| v["id"].as_i64().unwrap()).collect();

    let page = office.get("/cases/dispatch").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    for case in [&a, &b, &c] {
        assert!(html.contains(case["number"].as_str().unwrap()), "every accepted case is listed");
    }
    assert!(html.contains("建议："), "with the unit the rules suggest");
    let (_, suggestion) = office.json("GET", &format!("/api/v1/cases/{}/suggestion", ids[1]), None).await;
    let suggested = suggestion["unit_id"].as_i64().unwrap();
    let other = db.store.unit_by_code(district, "D003").await.unwrap().unwrap().id;

    // a goes to a unit the office chose, b to its suggestion; c is left unchecked.
    let csrf = office.csrf();
    let (ua, ub, uc) = (format!("unit_{}", ids[0]), format!("unit_{}", ids[1]), format!("unit_{}", ids[2]));
    let (sa, sb, sc, so) = (ids[0].to_string(), ids[1].to_string(), suggested.to_string(), other.to_string());
    let page = office
        .post_form(
            "/cases/dispatch",
            &[("csrf", &csrf), ("case", &sa), (&ua, &so), ("case", &sb), (&ub, &sc), (&uc, &sc), ("note", "第一批")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text());
    let done = office.get(page.location()).await.text();
    assert!(done.contains("已派遣 2 件"), "{done}");
    let state_of = |v: Value| (v["state"].as_str().unwrap().to_string(), v["unit_id"].as_i64());
    let (_, got) = office.json("GET", &format!("/api/v1/cases/{}", ids[0]), None).await;
    assert_eq!(state_of(got), ("dispatched".into(), Some(other)));
    let (_, got) = office.json("GET", &format!("/api/v1/cases/{}", ids[1]), None).await;
    assert_eq!(state_of(got), ("dispatched".into(), Some(suggested)));
    let (_, got) = office.json("GET", &format!("/api/v1/cases/{}", ids[2]), None).await;
    assert_eq!(got["state"], "accepted", "an unchecked case stays");

    // A batch with a case already dispatched goes nowhere, names the case,
    // and keeps the choices on the page.
    let page = office
        .post_form("/cases/dispatch", &[("csrf", &csrf), ("case", &sa), ("case", &ids[2].to_string()), (&uc, &so)])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains(a["number"].as_str().unwrap()) && html.contains("不能"), "the refusal names the case");
    let (_, got) = office.json("GET", &format!("/api/v1/cases/{}", ids[2]), None).await;
    assert_eq!(got["state"], "accepted", "nothing of a refused batch is dispatched");
    // A unit that is not the district's: refused by name, nothing dispatched.
    let page =
        office.post_form("/cases/dispatch", &[("csrf", &csrf), ("case", &ids[2].to_string()), (&uc, "999999")]).await;
    assert!(page.text().contains("责任单位 999999 不是本区的单位"), "{}", page.text());
    let (_, got) = office.json("GET", &format!("/api/v1/cases/{}", ids[2]), None).await;
    assert_eq!(got["state"], "accepted");
    // Nothing checked: refused with a message.
    let page = office.post_form("/cases/dispatch", &[("csrf", &csrf)]).await;
    assert!(page.text().contains("请至少勾选一件案卷"));
    // A handler may not open the page.
    let mut handler = common::as_user(&db, "handler046").await;
    assert_eq!(handler.get("/cases/dispatch").await.status, StatusCode::FORBIDDEN);
});

on_both_backends!(the_office_edits_dispatch_rules_and_a_bad_category_table_changes_nothing, |db| {
    let district = db.with_demo().await;
    let spot = common::first_street_point(&db, district).await.1;
    let mut office = common::as_user(&db, "office01").await;
    let mut supervisor = common::as_user(&db, "supervisor001").await;
    let case = report_and_accept(&mut supervisor, &mut office, "06010", spot).await;
    let id = case["id"].as_i64().unwrap();
    let unit = db.store.unit_by_code(district, "D003").await.unwrap().unwrap();

    let rules = db.store.dispatch_rules(district).await.unwrap();
    let page = office.get("/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("暴露垃圾") || page.text().contains("06010"), "the category table is shown");
    let csrf = office.csrf();
    let unit_id = unit.id.to_string();
    // A rule naming a street that does not exist is refused beside the form, keeping what was typed.
    let page = office
        .post_form(
            "/settings/dispatch-rules",
            &[
                ("csrf", &csrf),
                ("category", "06010"),
                ("place_kind", "street"),
                ("place", "999999999"),
                ("unit_id", &unit_id),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("找不到街道“999999999”") && html.contains("value=\"999999999\""), "{html}");
    assert_eq!(db.store.dispatch_rules(district).await.unwrap(), rules, "a refused rule changes nothing");
    // 06010 in 海河路街道 goes to D003.
    let page = office
        .post_form(
            "/settings/dispatch-rules",
            &[
                ("csrf", &csrf),
                ("category", "06010"),
                ("place_kind", "street"),
                ("place", "120199001"),
                ("unit_id", &unit_id),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let html = office.get("/settings").await.text();
    let table = html.split("id=\"rules\"").nth(1).unwrap().split("</table>").next().unwrap();
    let row = format!(
        "<td>06010 暴露垃圾</td><td>街道</td><td>{}</td><td>{}</td>",
        street_name(&db, district).await,
        unit.name
    );
    assert!(table.contains(&row), "the rule is listed: {row}");
    let (_, suggestion) = office.json("GET", &format!("/api/v1/cases/{id}/suggestion"), None).await;
    assert_eq!(suggestion["unit_id"].as_i64(), Some(unit.id), "{suggestion}");
    // Removing it, named by its content, restores the table as it was.
    let street = db.store.unit_by_code(district, "120199001").await.unwrap().unwrap();
    let key = format!("06010|street|{}|{}", street.id, unit.id);
    let page = office.post_form("/settings/dispatch-rules", &[("csrf", &csrf), ("remove", &key)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text());
    assert_eq!(db.store.dispatch_rules(district).await.unwrap(), rules);
    // Removed twice (two tabs, or someone else first): named, and nothing else goes.
    let page = office.post_form("/settings/dispatch-rules", &[("csrf", &csrf), ("remove", &key)]).await;
    assert!(page.text().contains("这条规则已不存在"));
    assert_eq!(db.store.dispatch_rules(district).await.unwrap(), rules);

    // The office may not replace the category table; the administrator may,
    // and a table that does not parse is refused with the typed text kept.
    let page = office.post_form("/settings/categories", &[("csrf", &csrf), ("body", "version = 'x'")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let mut admin = common::as_user(&db, "admin").await;
    let csrf = admin.csrf();
    let typed = "version = \"2027.1\"\n[[category]]\ncode = <script>";
    let page = admin.post_form("/settings/categories", &[("csrf", &csrf), ("body", typed)]).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("field-error"));
    assert!(html.contains("code = &#60;script&#62;") && !html.contains("code = <script>"), "typed text back, escaped");
    assert_eq!(db.store.categories(district).await.unwrap().version, chuangwen::domain::categories::shipped().version);
    let page = admin.post_form("/settings/calendar", &[("csrf", &csrf), ("body", "  ")]).await;
    assert!(page.text().contains("日历不能为空"));
});

on_both_backends!(the_map_sends_grids_points_and_open_cases_in_the_tiles_datum, |db| {
    let created = chuangwen::demo::create(&db.store, 5, Some(common::DEMO_PASSWORD), 200, &chuangwen::progress::Silent)
        .await
        .unwrap();
    let district = created.district.id;
    let mut office = common::as_user(&db, "office01").await;
    let page = office.get("/map").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("id=\"district-map\"") && page.text().contains("/assets/leaflet.js?v="));
    let (status, layers) = office.json("GET", "/api/v1/map/layers", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(layers["crs"], "wgs84");
    let grids = db.store.grids(district).await.unwrap();
    assert_eq!(layers["grids"]["features"].as_array().unwrap().len(), grids.len());
    let open = db
        .store
        .cases(
            district,
            &Scope::District,
            None,
            &CaseFilter { open: true, located: true, limit: 1000, ..Default::default() },
        )
        .await
        .unwrap();
    let cases = layers["cases"].as_array().unwrap();
    assert_eq!(cases.len(), open.len(), "every open case with a position, and only those");
    assert!(cases.iter().all(|c| open.iter().any(|o| o.id == c["id"].as_i64().unwrap())));
    // A case page with its small map: the map's scripts load below, its title is the number alone.
    let with_spot = &cases[0];
    let page = office.get(&format!("/cases/{}", with_spot["id"])).await.text();
    assert!(page.contains(&format!("<title>{} · 创文通</title>", with_spot["number"].as_str().unwrap())), "{page}");
    assert!(page.contains("id=\"case-map\"") && page.contains("/assets/map.js?v="));
    let first = &layers["points"][0];
    let point = db.store.point(district, &Scope::District, first["id"].as_i64().unwrap()).await.unwrap().unwrap();
    assert_eq!((first["lon"].as_f64().unwrap(), first["lat"].as_f64().unwrap()), (point.lon, point.lat));

    // With 高德-style tiles, positions move to GCJ-02.
    let mut config = db.config();
    config.map.tile_crs = "gcj02".into();
    config.map.tile_url = "https://tiles.example/{z}/{x}/{y}.png".into();
    let state = chuangwen::app::AppState::new(
        db.store.clone(),
        db.state().files.clone(),
        chuangwen::auth::crypto::PiCrypto::for_tests(),
        config,
    );
    let mut shifted = Browser::new(state);
    shifted.login("office01", common::DEMO_PASSWORD).await;
    let (_, layers) = shifted.json("GET", "/api/v1/map/layers?layers=points", None).await;
    assert_eq!(layers["crs"], "gcj02");
    assert!(layers.get("grids").is_none() && layers.get("cases").is_none(), "only the layer asked for");
    let expected = chuangwen::domain::coords::wgs84_to_gcj02(point.lon, point.lat);
    assert_eq!((layers["points"][0]["lon"].as_f64().unwrap(), layers["points"][0]["lat"].as_f64().unwrap()), expected);
    assert!(shifted.get("/map").await.text().contains("data-tile-url=\"https://tiles.example/{z}/{x}/{y}.png\""));

    let (status, body) = office.json("GET", "/api/v1/map/layers?layers=roads", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "layers");
});

on_both_backends!(front_end_packages_are_served_from_the_binary_with_cache_headers, |db| {
    let mut browser = Browser::new(db.state());
    let version = chuangwen::web::assets::ASSET_VERSION;
    let page = browser.get(&format!("/assets/leaflet.js?v={version}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("Leaflet"), "the npm package's file");
    assert!(page.headers[header::CACHE_CONTROL].to_str().unwrap().contains("immutable"));
    let etag = page.headers[header::ETAG].to_str().unwrap().to_string();
    let request = Request::get("/assets/leaflet.js").header(header::IF_NONE_MATCH, &etag).body(Body::empty()).unwrap();
    assert_eq!(browser.send(request).await.status, StatusCode::NOT_MODIFIED);
    for file in ["markercluster.js", "leaflet.css", "images/layers.png", "echarts.js", "map.js", "app.css"] {
        assert_eq!(browser.get(&format!("/assets/{file}")).await.status, StatusCode::OK, "{file}");
    }
    assert_eq!(browser.get("/assets/../Cargo.toml").await.status, StatusCode::NOT_FOUND);
    // Compressed for clients that ask.
    let request =
        Request::get("/assets/echarts.js").header(header::ACCEPT_ENCODING, "gzip").body(Body::empty()).unwrap();
    let page = browser.send(request).await;
    assert_eq!(page.headers[header::CONTENT_ENCODING], "gzip");
    assert!(page.body.len() < 600_000, "{}", page.body.len());
});

on_both_backends!(the_overdue_and_amber_tiles_count_what_their_lists_show, |db| {
    let created = chuangwen::demo::create(&db.store, 5, Some(common::DEMO_PASSWORD), 600, &chuangwen::progress::Silent)
        .await
        .unwrap();
    let mut office = common::as_user(&db, "office01").await;
    // What once split the tile from its list: a case that went overdue, then was deferred.
    let district = created.district.id;
    let street = db.store.unit_by_code(district, "120199001").await.unwrap().unwrap();
    let spot = common::first_street_point(&db, district).await.1;
    let mut supervisor = common::as_user(&db, "supervisor001").await;
    let id = report_and_accept(&mut supervisor, &mut office, "06010", spot).await["id"].as_i64().unwrap();
    let (status, dispatched) =
        office.json("POST", &format!("/api/v1/cases/{id}/dispatch"), Some(json!({"unit_id": street.id}))).await;
    assert_eq!(status, StatusCode::OK, "{dispatched}");
    let deadline: chrono::DateTime<chrono::Utc> = dispatched["deadline"].as_str().unwrap().parse().unwrap();
    let ctx = db.state().job_context();
    chuangwen::jobs::deadlines::watch(&ctx, deadline + chrono::Duration::minutes(1)).await.unwrap();
    let mut handler = common::as_user(&db, "handler046").await;
    for (step, body) in [
        ("acknowledge", json!({})),
        ("request_deferral", json!({"plan": "需协调产权单位，分期整改", "target_date": "2027-03-31"})),
    ] {
        let (status, body) = handler.json("POST", &format!("/api/v1/cases/{id}/{step}"), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{step}: {body}");
    }
    let (status, deferred) =
        office.json("POST", &format!("/api/v1/cases/{id}/approve_deferral"), Some(json!({}))).await;
    assert_eq!((status, deferred["state"].as_str()), (StatusCode::OK, Some("deferred")), "{deferred}");
    assert!(deferred["overdue_at"].is_string(), "it keeps the record that it went overdue");
    let all = db
        .store
        .cases(district, &Scope::District, None, &CaseFilter { limit: 1000, ..Default::default() })
        .await
        .unwrap();
    let home = office.get("/").await.text();
    for (label, query, alert) in [("已超期", "overdue=1", "red"), ("即将超期", "amber=1", "amber")] {
        let expected = all.iter().filter(|c| c.alert().css() == alert).count() as i64;
        assert_eq!(common::tile(&home, label), expected, "{label}");
        let list = office.get(&format!("/cases?{query}")).await.text();
        assert_eq!(
            total_of(&mut office, &list).await,
            format!("共 {expected} 件"),
            "{label}: the list behind the tile"
        );
    }
});

on_both_backends!(a_batch_with_a_case_moved_meanwhile_dispatches_nothing_and_uses_no_number, |db| {
    use chuangwen::domain::cases::{Actor, Transition, TransitionInput, apply};
    let district = db.with_demo().await;
    let spot = common::first_street_point(&db, district).await.1;
    let mut supervisor = common::as_user(&db, "supervisor001").await;
    let mut office = common::as_user(&db, "office01").await;
    let a = report_and_accept(&mut supervisor, &mut office, "06010", spot).await["id"].as_i64().unwrap();
    let b = report_and_accept(&mut supervisor, &mut office, "06010", spot).await["id"].as_i64().unwrap();
    let street = db.store.unit_by_code(district, "120199001").await.unwrap().unwrap();
    let read = |id| db.store.case(district, &Scope::District, None, id);
    let (case_a, case_b) = (read(a).await.unwrap().unwrap(), read(b).await.unwrap().unwrap());
    // b moves after the office read it: another office user voids it.
    let (status, _) = office.json("POST", &format!("/api/v1/cases/{b}/void"), Some(json!({"note": "重复上报"}))).await;
    assert_eq!(status, StatusCode::OK);
    let input = TransitionInput { unit_id: Some(street.id), ..Default::default() };
    let roles = [chuangwen::domain::org::Role::Office];
    let actor = Actor { roles: &roles, in_assigned_unit: false };
    let calendar = db.store.calendar(district).await.unwrap();
    let facts = |c: &chuangwen::store::cases::Case| chuangwen::api::cases::facts_of(c);
    let now = chrono::Utc::now();
    let out_a = apply(&facts(&case_a), Transition::Dispatch, &input, &actor, now, &calendar).unwrap();
    let out_b = apply(&facts(&case_b), Transition::Dispatch, &input, &actor, now, &calendar).unwrap();
    let step = |case, outcome| chuangwen::store::cases::Step {
        case,
        expected_version: case.version,
        transition: Transition::Dispatch,
        outcome,
        input: &input,
    };
    let audit = chuangwen::auth::audit::NewAuditEntry {
        district_id: Some(district),
        actor_id: None,
        actor: "test".into(),
        action: chuangwen::auth::audit::AuditAction::CaseTransition,
        object: String::new(),
        detail: String::new(),
        ip: String::new(),
    };
    let steps = [step(&case_a, &out_a), step(&case_b, &out_b)];
    let conflict = db.store.dispatch_batch(district, "", &steps, None, "test", &audit).await.unwrap().unwrap_err();
    assert_eq!(conflict.current.id, b);
    assert_eq!(read(a).await.unwrap().unwrap().state, "accepted", "a, checked and fine, did not go alone");
    assert_eq!(read(a).await.unwrap().unwrap().batch_id, None);
    // The next batch still gets the first number of the year.
    let (batch, dispatched) =
        db.store.dispatch_batch(district, "", &steps[..1], None, "test", &audit).await.unwrap().unwrap();
    assert!(batch.number.ends_with("-第001批"), "{}", batch.number);
    assert_eq!((dispatched.len(), dispatched[0].batch_id), (1, Some(batch.id)));
});

async fn street_name(db: &common::TestDb, district: i64) -> String {
    db.store.unit_by_code(district, "120199001").await.unwrap().unwrap().name
}

on_both_backends!(malformed_api_requests_are_answered_with_the_json_error_body, |db| {
    db.with_demo().await;
    let mut office = common::as_user(&db, "office01").await;
    for (method, uri, body) in [
        ("GET", "/api/v1/cases/duplicates?category=06010&lon=abc&lat=39.1", None),
        ("GET", "/api/v1/cases/not-a-number", None),
        ("GET", "/api/v1/cases?limit=many", None),
        ("POST", "/api/v1/dispatch-batches", Some(json!({"cases": "all of them"}))),
        ("POST", "/api/v1/cases/1/accept", Some(json!({"note": 5}))),
    ] {
        let (status, body) = office.json(method, uri, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {uri}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{method} {uri}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "in Chinese: {message}");
    }
});

on_both_backends!(a_refused_step_on_the_case_page_keeps_what_was_typed, |db| {
    let (id, _, _) = dispatched_to_the_first_street(&db).await;
    let mut handler = common::as_user(&db, "handler046").await;
    let (status, _) = handler.json("POST", &format!("/api/v1/cases/{id}/acknowledge"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    handler.get(&format!("/cases/{id}")).await;
    let csrf = handler.csrf();
    // An extension asked for without the new deadline.
    let fields = [("csrf", csrf.as_str()), ("transition", "request_extension"), ("note", "需要调用清运车，周五前完成")];
    let page = handler.upload_to(&format!("/cases/{id}/step"), &fields, "photo", "", b"").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("申请延期须填写新的期限"), "the refusal beside its field");
    let form = html.split("data-step=\"request_extension\"").nth(1).unwrap().split("</form>").next().unwrap();
    assert!(form.contains("value=\"需要调用清运车，周五前完成\""), "the note stays in its form");
    let other = html.split("data-step=\"request_deferral\"").nth(1).unwrap().split("</form>").next().unwrap();
    assert!(!other.contains("需要调用清运车"), "and only in its form");
    let (_, case) = handler.json("GET", &format!("/api/v1/cases/{id}"), None).await;
    assert_eq!(case["state"], "in_progress", "nothing changed");
});

on_both_backends!(a_keyword_is_taken_literally_and_without_regard_to_case_on_both_backends, |db| {
    let district = db.with_demo().await;
    let spot = common::first_street_point(&db, district).await.1;
    let mut office = common::as_user(&db, "office01").await;
    let mut numbers_of = Vec::new();
    for description in ["KTV 门口占道约 50%_区域", "占道经营 50 米", "店外经营 5%"] {
        let body = json!({"category": "09006", "description": description, "lon": spot.0, "lat": spot.1});
        let (status, case) = office.json("POST", "/api/v1/cases", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{case}");
        numbers_of.push(case["number"].as_str().unwrap().to_string());
    }
    for (keyword, expected) in [("50%_", vec![0]), ("%", vec![0, 2]), ("ktv", vec![0]), ("_", vec![0])] {
        let q: String = form_urlencoded::byte_serialize(keyword.as_bytes()).collect();
        let shown = numbers(&office.get(&format!("/cases?q={q}")).await.text());
        let want: Vec<String> = expected.iter().rev().map(|i: &usize| numbers_of[*i].clone()).collect();
        assert_eq!(shown, want, "keyword {keyword}");
    }
});

on_both_backends!(a_keyword_finds_every_case_whose_description_holds_it_page_after_page, |db| {
    let district = db.with_demo_cases(600).await;
    let spot = common::first_street_point(&db, district).await.1;
    let mut office = common::as_user(&db, "office01").await;
    // Both pairs of 垃圾桶 are in this description, but not the word itself.
    let body = json!({"category": "09006", "description": "圾桶旁有垃圾", "lon": spot.0, "lat": spot.1});
    let (status, _) = office.json("POST", "/api/v1/cases", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    let all = db.store.cases_after(district, 0, 10_000).await.unwrap();
    assert!(all.len() > 600);
    let holding = |keyword: &str| -> Vec<String> {
        all.iter().rev().filter(|c| c.description.contains(keyword)).map(|c| c.number.clone()).collect()
    };
    let page_of =
        |numbers: &[String], page: usize| -> Vec<String> { numbers.iter().skip(page * 30).take(30).cloned().collect() };
    let keywords = ["垃圾", "垃圾桶", "占道经营", "圾桶旁有垃圾", "无此关键词"];
    for keyword in keywords {
        let want = holding(keyword);
        let q: String = form_urlencoded::byte_serialize(keyword.as_bytes()).collect();
        assert_eq!(numbers(&office.get(&format!("/cases?q={q}")).await.text()), page_of(&want, 0), "{keyword}");
        if want.len() > 30 {
            let last = all.iter().find(|c| c.number == want[29]).unwrap().id;
            let second = numbers(&office.get(&format!("/cases?q={q}&before={last}")).await.text());
            assert_eq!(second, page_of(&want, 1), "{keyword}, the second page");
        }
        let filter = CaseFilter { text: Some(keyword.into()), ..Default::default() };
        let count = db.store.count_cases(district, &Scope::District, None, &filter, 10_000).await.unwrap();
        assert_eq!(count, want.len() as i64, "{keyword}: the count");
    }
    assert!(holding("垃圾").len() > 30, "the demo has a second page of 垃圾");
    assert_eq!(holding("圾桶旁有垃圾").len(), 1);
    // With the database's statistics a common one-pair keyword is counted
    // from the descriptions alone (PostgreSQL), and counts the same.
    common::raw(&db.store, "ANALYZE").await;
    let common_word = CaseFilter { text: Some("垃圾".into()), ..Default::default() };
    let postgres = matches!(db.store.db, chuangwen::store::Db::Postgres(_));
    let common = |filter: CaseFilter, scope: Scope| {
        let store = db.store.clone();
        async move { store.common_keyword(district, &scope, &filter).await.unwrap() }
    };
    assert_eq!(common(common_word.clone(), Scope::District).await, postgres, "垃圾 is common here");
    let longer = CaseFilter { text: Some("垃圾桶".into()), ..Default::default() };
    assert!(!common(longer, Scope::District).await, "a keyword of two pairs is looked up by them");
    let narrowed = CaseFilter { state: Some("closed".into()), ..common_word.clone() };
    assert!(!common(narrowed, Scope::District).await, "with another filter the word may be rare: words kept");
    let unit = Scope::Subtree("/".into());
    assert!(!common(common_word, unit).await, "in a unit's scope the words are kept");
    for keyword in keywords {
        let filter = CaseFilter { text: Some(keyword.into()), ..Default::default() };
        let count = db.store.count_cases(district, &Scope::District, None, &filter, 10_000).await.unwrap();
        assert_eq!(count, holding(keyword).len() as i64, "{keyword}: the count with statistics");
        let capped = db.store.count_cases(district, &Scope::District, None, &filter, 5).await.unwrap();
        assert_eq!(capped, holding(keyword).len().min(5) as i64, "{keyword}: the count stops at its cap");
    }
    // A case number finds its case.
    let one = &all[all.len() / 2];
    assert_eq!(numbers(&office.get(&format!("/cases?q={}", one.number)).await.text()), vec![one.number.clone()]);

    // A database from before the keyword search gets the words when opened.
    match &db.store.db {
        chuangwen::store::Db::Sqlite { writer, .. } => {
            sqlx::query("DELETE FROM case_words").execute(writer).await.map(|_| ())
        }
        chuangwen::store::Db::Postgres(pg) => sqlx::query("DELETE FROM case_words").execute(pg).await.map(|_| ()),
    }
    .unwrap();
    // (The count of 垃圾, common here, reads the descriptions on PostgreSQL
    // and finds them all even so; the page is led by the words.)
    let filter = CaseFilter { text: Some("垃圾".into()), limit: 30, ..Default::default() };
    assert!(db.store.cases(district, &Scope::District, None, &filter).await.unwrap().is_empty(), "no words, no case");
    db.store.migrate().await.unwrap();
    let page: Vec<String> = db
        .store
        .cases(district, &Scope::District, None, &filter)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.number)
        .collect();
    assert_eq!(page, page_of(&holding("垃圾"), 0), "every case has its words again");
    let count = db.store.count_cases(district, &Scope::District, None, &filter, 10_000).await.unwrap();
    assert_eq!(count, holding("垃圾").len() as i64);
});

on_both_backends!(the_office_supervises_from_the_case_page_and_the_units_lead_reads_it_on_the_list, |db| {
    let (id, mut supervisor, mut office) = dispatched_to_the_first_street(&db).await;
    let page = office.get(&format!("/cases/{id}")).await.text();
    assert!(page.contains("data-step=\"supervise\""), "the office is offered the supervise form");
    let csrf = office.csrf();
    // Without a requirement: refused beside the form.
    let page = office.post_form(&format!("/cases/{id}/supervise"), &[("csrf", &csrf), ("note", " ")]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("请写明督办要求"));
    let page = office
        .post_form(&format!("/cases/{id}/supervise"), &[("csrf", &csrf), ("note", "请于明日中午前整改到位")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text());
    assert!(office.get(page.location()).await.text().contains("已督办"));
    // A supervisor is not offered the form.
    assert!(!supervisor.get(&format!("/cases/{id}")).await.text().contains("data-step=\"supervise\""));

    // The street's lead: one unread order on the home page; the list shows it once as unread, and it is read.
    let mut lead = common::as_user(&db, "unitlead046").await;
    assert_eq!(common::tile(&lead.get("/").await.text(), "督办"), 1);
    let list = lead.get("/supervision").await.text();
    assert!(list.contains("请于明日中午前整改到位") && list.contains("未阅"));
    assert_eq!(common::tile(&lead.get("/").await.text(), "督办"), 0, "read once the lead saw it");
    assert!(lead.get("/supervision").await.text().contains("已阅"));
});

on_both_backends!(a_case_keeps_the_category_name_it_was_filed_under_after_a_new_table, |db| {
    let (id, _, mut office) = dispatched_to_the_first_street(&db).await;
    let (_, case) = office.json("GET", &format!("/api/v1/cases/{id}"), None).await;
    // The administrator renames 暴露垃圾 in a new version of the table.
    let renamed = chuangwen::domain::categories::SHIPPED
        .replacen("version = \"2026.1\"", "version = \"2027.1\"", 1)
        .replacen("name = \"暴露垃圾\"", "name = \"垃圾暴露（新口径）\"", 1);
    let mut admin = common::as_user(&db, "admin").await;
    let csrf = admin.csrf();
    let page = admin.post_form("/settings/categories", &[("csrf", &csrf), ("body", &renamed)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text());
    // The list, its export and the map name the old case as it was filed.
    let number = case["number"].as_str().unwrap();
    let list = office.get("/cases").await.text();
    let row = list.split(number).nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains("<td>暴露垃圾</td>"), "{row}");
    let (_, layers) = office.json("GET", "/api/v1/map/layers?layers=cases", None).await;
    let on_map = layers["cases"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(on_map["category"], "暴露垃圾");
    // A report filed now takes the new name.
    let district = db.store.districts().await.unwrap()[0].id;
    let spot = common::first_street_point(&db, district).await.1;
    let body = json!({"category": "06010", "description": "新的上报", "lon": spot.0, "lat": spot.1});
    let (_, new_case) = office.json("POST", "/api/v1/cases", Some(body)).await;
    let list = office.get("/cases").await.text();
    let row = list.split(new_case["number"].as_str().unwrap()).nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains("<td>垃圾暴露（新口径）</td>"), "{row}");
});

on_both_backends!(the_phone_form_asks_which_filing_condition_and_the_case_takes_its_limit, |db| {
    let district = db.with_demo().await;
    let spot = common::first_street_point(&db, district).await.1;
    let mut supervisor = common::as_user(&db, "supervisor001").await;
    let form = supervisor.get("/cases/new").await.text();
    // 供水井盖异常 offers both of its conditions, each with its limit.
    let option = form.split("value=\"01001\"").nth(1).unwrap().split('>').next().unwrap();
    assert!(option.contains("井盖缺失") && option.contains("破损、松动、不平"), "{option}");
    let csrf = supervisor.csrf();
    let (lon, lat) = (spot.0.to_string(), spot.1.to_string());
    let report = |condition: &'static str| {
        [
            ("csrf", csrf.as_str()),
            ("category", "01001"),
            ("condition", condition),
            ("description", "人行道上的井盖"),
            ("lon", lon.as_str()),
            ("lat", lat.as_str()),
        ]
    };
    for (condition, clock) in [("0", "urgent"), ("1", "working_days")] {
        let fields = report(condition);
        let page = supervisor.upload_to("/cases/new", &fields, "photo", "", b"").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text());
        let id: i64 = page.location().trim_start_matches("/cases/").split('?').next().unwrap().parse().unwrap();
        let case = db.store.case(district, &Scope::District, None, id).await.unwrap().unwrap();
        assert_eq!((case.condition_index.to_string().as_str(), case.limit_clock.as_str()), (condition, clock));
    }
    // A condition the category does not have is refused beside the form, keeping the choice.
    let fields = report("5");
    let page = supervisor.upload_to("/cases/new", &fields, "photo", "", b"").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("data-chosen=\"5\"") && page.text().contains("field-error"));
});
