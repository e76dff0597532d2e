//! Access: the walk of every route with every role and with objects from
//! another street and another district; lockout, session expiry, CSRF,
//! tokens, the audit trail and personal data, each by a test.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Utc;

use chuangwen::auth::audit::{AuditAction, NewAuditEntry};
use chuangwen::auth::policy::Scope;
use chuangwen::auth::{password, random_token, token_hash};
use chuangwen::domain::org::Role;
use chuangwen::store::Store;
use chuangwen::store::users::NewUser;
use common::browser::{Browser, Page};
use serde_json::json;

/// Who may call a route, written here independently of `auth::policy`, so a
/// mistake in the policy shows up as a failed expectation.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// Anyone, logged in or not.
    Public,
    /// Any logged-in user.
    LoggedIn,
    /// Only these roles.
    Roles(&'static [Role]),
    /// Only an Open311 client's api_key: a session of any role is 403.
    ApiKey,
}

/// The object a route's `{id}` names, and what "someone else's" means for it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Object {
    /// An evaluation point; the other one lies in another street.
    Point,
    /// A place import; the other one belongs to another district.
    Import,
    /// A user; the other one belongs to another district.
    User,
    /// An API token; the other one belongs to another district.
    Token,
    /// A problem case; the other one lies in another street. Out of scope it
    /// is 404 before the case rules are asked, so the rules' 403 applies only
    /// to what the caller can see.
    Case,
    /// A supervision order; the other one went to another street's unit.
    Order,
    /// A batch of rectification orders; the other one belongs to another district.
    Batch,
    /// A photo of a case; the other one belongs to a case in another street.
    Attachment,
    /// The walkers' street's daily sheet (督察单); the other one belongs to another district.
    Report,
    /// A webhook; the other one belongs to another district.
    Webhook,
    /// A webhook delivery; the other one belongs to another district.
    Delivery,
    /// A bulk intake batch; the other one belongs to another district.
    Intake,
    /// A round of evaluation; the other one belongs to another district.
    Round,
}

const ALL: &[Role] = &Role::ALL;
const DISTRICT_WIDE: &[Role] = &[Role::Admin, Role::Office, Role::Inspector, Role::Leader];
const IMPORTERS: &[Role] = &[Role::Admin, Role::Office];
const ADMIN: &[Role] = &[Role::Admin];
const EVALUATION_READERS: &[Role] = &[Role::Admin, Role::Office, Role::Inspector, Role::Leader, Role::Evaluator];

/// Every route the application serves, with who may call it. A route the
/// application gains without a line here fails the walk.
fn expectations() -> Vec<(&'static str, &'static str, &'static str, Rule, Option<Object>)> {
    // (method, route as in the table, request path, rule, object)
    vec![
        ("GET", "/healthz", "/healthz", Rule::Public, None),
        ("GET", "/metrics", "/metrics", Rule::Public, None),
        ("GET", "/assets/{*path}", "/assets/leaflet.js", Rule::Public, None),
        ("GET", "/login", "/login", Rule::Public, None),
        ("POST", "/login", "/login", Rule::Public, None),
        ("POST", "/logout", "/logout", Rule::Public, None),
        ("GET", "/account/password", "/account/password", Rule::LoggedIn, None),
        ("POST", "/account/password", "/account/password", Rule::LoggedIn, None),
        ("POST", "/account/logout-everywhere", "/account/logout-everywhere", Rule::LoggedIn, None),
        ("GET", "/", "/", Rule::Roles(ALL), None),
        ("GET", "/cases", "/cases", Rule::Roles(ALL), None),
        ("GET", "/cases/new", "/cases/new", Rule::Roles(ALL), None),
        ("GET", "/cases/total", "/cases/total?overdue=1", Rule::Roles(ALL), None),
        ("GET", "/cases/export", "/cases/export?overdue=1", Rule::Roles(ALL), None),
        ("POST", "/cases/new", "/cases/new", Rule::Roles(ALL), None),
        // Dispatching is the office's step (domain::cases).
        ("GET", "/cases/dispatch", "/cases/dispatch", Rule::Roles(IMPORTERS), None),
        ("POST", "/cases/dispatch", "/cases/dispatch", Rule::Roles(IMPORTERS), None),
        ("GET", "/cases/{id}", "/cases/{id}", Rule::Roles(ALL), Some(Object::Case)),
        // The walk's step is `accept`: the office's (domain::cases).
        ("POST", "/cases/{id}/step", "/cases/{id}/step", Rule::Roles(IMPORTERS), Some(Object::Case)),
        ("GET", "/supervision", "/supervision", Rule::Roles(ALL), None),
        (
            "POST",
            "/cases/{id}/supervise",
            "/cases/{id}/supervise",
            Rule::Roles(&[Role::Admin, Role::Office, Role::Leader]),
            Some(Object::Case),
        ),
        ("GET", "/map", "/map", Rule::Roles(ALL), None),
        ("GET", "/api/v1/map/layers", "/api/v1/map/layers", Rule::Roles(ALL), None),
        ("GET", "/places", "/places", Rule::Roles(ALL), None),
        ("GET", "/places/points/{id}", "/places/points/{id}", Rule::Roles(ALL), Some(Object::Point)),
        ("GET", "/places/export", "/places/export?kind=points&format=geojson", Rule::Roles(DISTRICT_WIDE), None),
        ("GET", "/places/import", "/places/import", Rule::Roles(IMPORTERS), None),
        ("POST", "/places/import", "/places/import", Rule::Roles(IMPORTERS), None),
        ("GET", "/places/imports/{id}", "/places/imports/{id}", Rule::Roles(IMPORTERS), Some(Object::Import)),
        (
            "GET",
            "/places/imports/{id}/progress",
            "/places/imports/{id}/progress",
            Rule::Roles(IMPORTERS),
            Some(Object::Import),
        ),
        ("GET", "/evaluation", "/evaluation", Rule::Roles(EVALUATION_READERS), None),
        ("GET", "/evaluation/rounds", "/evaluation/rounds", Rule::Roles(EVALUATION_READERS), None),
        (
            "GET",
            "/evaluation/system/download",
            "/evaluation/system/download?format=xlsx",
            Rule::Roles(EVALUATION_READERS),
            None,
        ),
        ("POST", "/evaluation/system", "/evaluation/system", Rule::Roles(IMPORTERS), None),
        ("POST", "/evaluation/rounds", "/evaluation/rounds", Rule::Roles(IMPORTERS), None),
        // An evaluator sees only rounds with points of theirs (the walkers have none).
        ("GET", "/evaluation/rounds/{id}", "/evaluation/rounds/{id}", Rule::Roles(DISTRICT_WIDE), Some(Object::Round)),
        (
            "GET",
            "/evaluation/rounds/{id}/score",
            "/evaluation/rounds/{id}/score",
            Rule::Roles(DISTRICT_WIDE),
            Some(Object::Round),
        ),
        (
            "GET",
            "/evaluation/rounds/{id}/score/download",
            "/evaluation/rounds/{id}/score/download?format=xlsx",
            Rule::Roles(DISTRICT_WIDE),
            Some(Object::Round),
        ),
        // The walkers are assigned no point: an evaluator or inspector answers only at their own.
        (
            "GET",
            "/evaluation/rounds/{id}/points/{point}",
            "/evaluation/rounds/{id}/points/{point}",
            Rule::Roles(IMPORTERS),
            Some(Object::Round),
        ),
        (
            "POST",
            "/evaluation/rounds/{id}/points/{point}",
            "/evaluation/rounds/{id}/points/{point}",
            Rule::Roles(IMPORTERS),
            Some(Object::Round),
        ),
        (
            "POST",
            "/evaluation/rounds/{id}/entered",
            "/evaluation/rounds/{id}/entered",
            Rule::Roles(IMPORTERS),
            Some(Object::Round),
        ),
        // Last of the round's routes: after it the round takes no answers.
        (
            "POST",
            "/evaluation/rounds/{id}/close",
            "/evaluation/rounds/{id}/close",
            Rule::Roles(IMPORTERS),
            Some(Object::Round),
        ),
        ("GET", "/intake", "/intake", Rule::Roles(IMPORTERS), None),
        ("POST", "/intake", "/intake", Rule::Roles(IMPORTERS), None),
        ("GET", "/intake/template.xlsx", "/intake/template.xlsx", Rule::Roles(IMPORTERS), None),
        ("GET", "/intake/batches/{id}", "/intake/batches/{id}", Rule::Roles(IMPORTERS), Some(Object::Intake)),
        ("POST", "/intake/batches/{id}/run", "/intake/batches/{id}/run", Rule::Roles(IMPORTERS), Some(Object::Intake)),
        (
            "GET",
            "/intake/batches/{id}/progress",
            "/intake/batches/{id}/progress",
            Rule::Roles(IMPORTERS),
            Some(Object::Intake),
        ),
        (
            "POST",
            "/intake/batches/{id}/undo",
            "/intake/batches/{id}/undo",
            Rule::Roles(IMPORTERS),
            Some(Object::Intake),
        ),
        ("GET", "/settings", "/settings", Rule::Roles(IMPORTERS), None),
        ("POST", "/settings/categories", "/settings/categories", Rule::Roles(ADMIN), None),
        ("POST", "/settings/calendar", "/settings/calendar", Rule::Roles(ADMIN), None),
        ("POST", "/settings/dispatch-rules", "/settings/dispatch-rules", Rule::Roles(IMPORTERS), None),
        ("GET", "/admin/users", "/admin/users", Rule::Roles(ADMIN), None),
        ("POST", "/admin/users", "/admin/users", Rule::Roles(ADMIN), None),
        ("GET", "/admin/users/new", "/admin/users/new", Rule::Roles(ADMIN), None),
        ("GET", "/admin/users/{id}", "/admin/users/{id}", Rule::Roles(ADMIN), Some(Object::User)),
        ("POST", "/admin/users/{id}/roles", "/admin/users/{id}/roles", Rule::Roles(ADMIN), Some(Object::User)),
        ("POST", "/admin/users/{id}/disabled", "/admin/users/{id}/disabled", Rule::Roles(ADMIN), Some(Object::User)),
        ("POST", "/admin/users/{id}/password", "/admin/users/{id}/password", Rule::Roles(ADMIN), Some(Object::User)),
        ("POST", "/admin/users/{id}/phone", "/admin/users/{id}/phone", Rule::Roles(ADMIN), Some(Object::User)),
        ("GET", "/admin/tokens", "/admin/tokens", Rule::Roles(ADMIN), None),
        ("POST", "/admin/tokens", "/admin/tokens", Rule::Roles(ADMIN), None),
        ("POST", "/admin/tokens/{id}/revoke", "/admin/tokens/{id}/revoke", Rule::Roles(ADMIN), Some(Object::Token)),
        ("GET", "/admin/audit", "/admin/audit", Rule::Roles(ADMIN), None),
        ("GET", "/admin/webhooks", "/admin/webhooks", Rule::Roles(ADMIN), None),
        ("POST", "/admin/webhooks", "/admin/webhooks", Rule::Roles(ADMIN), None),
        (
            "POST",
            "/admin/webhooks/{id}/active",
            "/admin/webhooks/{id}/active",
            Rule::Roles(ADMIN),
            Some(Object::Webhook),
        ),
        (
            "POST",
            "/admin/webhooks/deliveries/{id}/retry",
            "/admin/webhooks/deliveries/{id}/retry",
            Rule::Roles(ADMIN),
            Some(Object::Delivery),
        ),
        // Statistics: everyone sees figures (a unit its own); rankings and the wall display are district-wide.
        ("GET", "/dashboard", "/dashboard", Rule::Roles(ALL), None),
        ("GET", "/dashboard/rankings", "/dashboard/rankings", Rule::Roles(DISTRICT_WIDE), None),
        ("GET", "/dashboard/screen", "/dashboard/screen", Rule::Roles(DISTRICT_WIDE), None),
        ("GET", "/dashboard/measures", "/dashboard/measures", Rule::Roles(ALL), None),
        ("GET", "/api/v1/statistics", "/api/v1/statistics?dim=unit", Rule::Roles(ALL), None),
        ("GET", "/reports", "/reports", Rule::Roles(ALL), None),
        ("POST", "/reports/daily-sheets", "/reports/daily-sheets", Rule::Roles(IMPORTERS), None),
        ("POST", "/reports/weekly", "/reports/weekly", Rule::Roles(IMPORTERS), None),
        ("POST", "/reports/bulletin", "/reports/bulletin", Rule::Roles(IMPORTERS), None),
        ("GET", "/reports/batches/{id}", "/reports/batches/{id}", Rule::Roles(IMPORTERS), Some(Object::Batch)),
        // The object is the walkers' street's daily sheet (who sees the district's
        // weekly reports, and whose sheets a unit sees: tests/reports.rs).
        ("GET", "/reports/{id}", "/reports/{id}", Rule::Roles(ALL), Some(Object::Report)),
        ("GET", "/reports/{id}/download", "/reports/{id}/download?format=xlsx", Rule::Roles(ALL), Some(Object::Report)),
        ("POST", "/settings/assessment", "/settings/assessment", Rule::Roles(IMPORTERS), None),
        ("GET", "/api/v1/places/resolve", "/api/v1/places/resolve?lon=117.2&lat=39.1", Rule::Roles(ALL), None),
        ("GET", "/api/v1/places/points", "/api/v1/places/points", Rule::Roles(ALL), None),
        ("GET", "/api/v1/places/points/{id}", "/api/v1/places/points/{id}", Rule::Roles(ALL), Some(Object::Point)),
        ("POST", "/api/v1/cases", "/api/v1/cases", Rule::Roles(ALL), None),
        ("GET", "/api/v1/cases", "/api/v1/cases", Rule::Roles(ALL), None),
        (
            "GET",
            "/api/v1/cases/duplicates",
            "/api/v1/cases/duplicates?category=06010&lon=117.2&lat=39.1",
            Rule::Roles(ALL),
            None,
        ),
        ("GET", "/api/v1/cases/{id}", "/api/v1/cases/{id}", Rule::Roles(ALL), Some(Object::Case)),
        // Accepting a report is the office's step (domain::cases).
        (
            "POST",
            "/api/v1/cases/{id}/{transition}",
            "/api/v1/cases/{id}/accept",
            Rule::Roles(IMPORTERS),
            Some(Object::Case),
        ),
        ("POST", "/api/v1/attachments", "/api/v1/attachments", Rule::Roles(ALL), None),
        (
            "POST",
            "/api/v1/cases/{id}/supervise",
            "/api/v1/cases/{id}/supervise",
            Rule::Roles(&[Role::Admin, Role::Office, Role::Leader]),
            Some(Object::Case),
        ),
        ("GET", "/api/v1/supervision-orders", "/api/v1/supervision-orders", Rule::Roles(ALL), None),
        ("GET", "/api/v1/cases/{id}/suggestion", "/api/v1/cases/{id}/suggestion", Rule::Roles(ALL), Some(Object::Case)),
        ("POST", "/api/v1/dispatch-batches", "/api/v1/dispatch-batches", Rule::Roles(ALL), None),
        (
            "GET",
            "/api/v1/dispatch-batches/{id}",
            "/api/v1/dispatch-batches/{id}",
            Rule::Roles(ALL),
            Some(Object::Batch),
        ),
        ("GET", "/api/v1/dispatch-rules", "/api/v1/dispatch-rules", Rule::Roles(IMPORTERS), None),
        ("GET", "/api/v1/settings/categories", "/api/v1/settings/categories", Rule::Roles(ALL), None),
        ("PUT", "/api/v1/settings/categories", "/api/v1/settings/categories", Rule::Roles(ADMIN), None),
        ("GET", "/api/v1/settings/calendar", "/api/v1/settings/calendar", Rule::Roles(ALL), None),
        ("PUT", "/api/v1/settings/calendar", "/api/v1/settings/calendar", Rule::Roles(ADMIN), None),
        ("GET", "/api/v1/attachments/{id}", "/api/v1/attachments/{id}", Rule::Roles(ALL), Some(Object::Attachment)),
        (
            "GET",
            "/api/v1/attachments/{id}/thumbnail",
            "/api/v1/attachments/{id}/thumbnail",
            Rule::Roles(ALL),
            Some(Object::Attachment),
        ),
        ("PUT", "/api/v1/dispatch-rules", "/api/v1/dispatch-rules", Rule::Roles(IMPORTERS), None),
        (
            "GET",
            "/api/v1/supervision-orders/{id}",
            "/api/v1/supervision-orders/{id}",
            Rule::Roles(ALL),
            Some(Object::Order),
        ),
        // The API's description is public: it says how to call, not what is stored.
        ("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", Rule::Public, None),
        ("GET", "/api/v1/docs", "/api/v1/docs", Rule::Public, None),
        // Open311: reading is public; filing and updates need a client's api_key.
        ("GET", "/open311/v2/discovery.xml", "/open311/v2/discovery.xml", Rule::Public, None),
        ("GET", "/open311/v2/discovery.json", "/open311/v2/discovery.json", Rule::Public, None),
        ("GET", "/open311/v2/services.xml", "/open311/v2/services.xml", Rule::Public, None),
        ("GET", "/open311/v2/services.json", "/open311/v2/services.json", Rule::Public, None),
        ("GET", "/open311/v2/services/{file}", "/open311/v2/services/09006.json", Rule::Public, None),
        ("GET", "/open311/v2/requests.xml", "/open311/v2/requests.xml", Rule::Public, None),
        ("GET", "/open311/v2/requests.json", "/open311/v2/requests.json", Rule::Public, None),
        ("POST", "/open311/v2/requests.xml", "/open311/v2/requests.xml", Rule::ApiKey, None),
        ("POST", "/open311/v2/requests.json", "/open311/v2/requests.json", Rule::ApiKey, None),
        ("GET", "/open311/v2/requests/{file}", "/open311/v2/requests/2026-000001.json", Rule::Public, None),
        ("GET", "/open311/v2/tokens/{file}", "/open311/v2/tokens/abc.json", Rule::Public, None),
        ("GET", "/open311/v2/servicerequestupdates.xml", "/open311/v2/servicerequestupdates.xml", Rule::ApiKey, None),
        ("GET", "/open311/v2/servicerequestupdates.json", "/open311/v2/servicerequestupdates.json", Rule::ApiKey, None),
        ("POST", "/open311/v2/servicerequestupdates.xml", "/open311/v2/servicerequestupdates.xml", Rule::ApiKey, None),
        (
            "POST",
            "/open311/v2/servicerequestupdates.json",
            "/open311/v2/servicerequestupdates.json",
            Rule::ApiKey,
            None,
        ),
    ]
}

/// The world the walk runs in: the demo district, a second district with
/// its own objects, and one user per role in the first street.
struct World {
    store: Store,
    walkers: Vec<(Role, i64)>,
    street_unit: i64,
    victim: i64,
    point_here: i64,
    point_elsewhere: i64,
    import_here: i64,
    import_elsewhere: i64,
    user_elsewhere: i64,
    token_elsewhere: i64,
    case_here: i64,
    case_elsewhere: i64,
    order_here: i64,
    order_elsewhere: i64,
    batch_here: i64,
    batch_elsewhere: i64,
    photo_here: i64,
    photo_elsewhere: i64,
    report_here: i64,
    report_elsewhere: i64,
    webhook_here: i64,
    webhook_elsewhere: i64,
    delivery_here: i64,
    delivery_elsewhere: i64,
    intake_here: i64,
    intake_elsewhere: i64,
    round_here: i64,
    round_elsewhere: i64,
    round_point: i64,
    district: i64,
}

async fn world(db: &common::TestDb) -> World {
    let store = db.store.clone();
    let district = db.with_demo().await;
    let street = store.unit_by_code(district, "120199001").await.unwrap().unwrap();
    let hash = password::hash(common::DEMO_PASSWORD);
    let walkers: Vec<NewUser> = Role::ALL
        .iter()
        .map(|role| NewUser {
            unit_id: street.id,
            username: format!("walk_{}", role.code()),
            display_name: format!("巡查{}", role.label()),
            password_hash: hash.clone(),
            roles: vec![role.code().to_string()],
            must_change_password: false,
            phone: None,
        })
        .chain(std::iter::once(NewUser {
            unit_id: street.id,
            username: "victim".into(),
            display_name: "被管理的用户".into(),
            password_hash: hash.clone(),
            roles: vec!["handler".into()],
            must_change_password: false,
            phone: Some((db.state().crypto.encrypt("13812341234"), db.state().crypto.index("13812341234"))),
        }))
        .collect();
    let ids = store.create_users(district, &walkers).await.unwrap();
    let walkers_with_roles = Role::ALL.iter().copied().zip(ids.iter().copied()).collect();
    let victim = *ids.last().unwrap();

    let scope = chuangwen::auth::policy::Scope::District;
    let all = store
        .points(district, &scope, &chuangwen::store::places::PointFilter { limit: 5000, ..Default::default() })
        .await
        .unwrap();
    // A point of the first street that a street user sees, and one the
    // street user does not see: elsewhere, and not its unit's responsibility.
    let point_here = all.iter().find(|p| p.street_name.as_deref() == Some(street.name.as_str())).unwrap().id;
    let street_subtree: Vec<String> = store.unit_subtree(&street).await.unwrap().into_iter().map(|u| u.code).collect();
    let point_elsewhere = all
        .iter()
        .find(|p| {
            p.street_name.as_deref() != Some(street.name.as_str()) && !street_subtree.contains(&p.responsible_unit_code)
        })
        .unwrap()
        .id;

    let new_import = |district: i64, user: i64| {
        let store = store.clone();
        async move {
            store
                .create_place_import(
                    district,
                    &chuangwen::store::places::NewPlaceImport {
                        user_id: user,
                        kind: "points",
                        format: "geojson",
                        crs: "wgs84",
                        file_name: "x.geojson",
                        file_key: "imports/none",
                        skip_bad_rows: false,
                    },
                )
                .await
                .unwrap()
        }
    };
    let import_here = new_import(district, victim).await;
    // A bulk intake batch waiting for its mapping in each district, with its file.
    db.files
        .put("intake/walk.csv", bytes::Bytes::from_static("编号,问题描述\nA1,暴露垃圾\n".as_bytes()))
        .await
        .unwrap();
    let new_intake = |district: i64| {
        let store = store.clone();
        async move {
            let new = chuangwen::store::intake::NewIntakeBatch {
                source: "hotline",
                file_name: "walk.csv",
                file_key: "intake/walk.csv",
                format: "csv",
                mapping: "{}",
                created_by: None,
                created_by_name: "测试",
            };
            store.create_intake_batch(district, &new).await.unwrap()
        }
    };
    let intake_here = new_intake(district).await;

    // A second district with a user, an import and a token of its own.
    let other = store.create_district("120198", "邻区", (117.3, 39.2), false).await.unwrap();
    store
        .upsert_units(
            other.id,
            &[chuangwen::store::org::NewUnit {
                parent_code: None,
                kind: "district".into(),
                code: "120198".into(),
                name: "邻区".into(),
            }],
        )
        .await
        .unwrap();
    let other_root = store.unit_by_code(other.id, "120198").await.unwrap().unwrap();
    let other_user = store
        .create_users(
            other.id,
            &[NewUser {
                unit_id: other_root.id,
                username: "neighbour".into(),
                display_name: "邻区用户".into(),
                password_hash: hash.clone(),
                roles: vec!["admin".into()],
                must_change_password: false,
                phone: None,
            }],
        )
        .await
        .unwrap()[0];
    let import_elsewhere = new_import(other.id, other_user).await;
    let intake_elsewhere = new_intake(other.id).await;
    // A round of evaluation in each district (the other district's draws nothing: it has no points).
    let round_in = |district: i64| {
        let store = store.clone();
        async move {
            let sample = chuangwen::domain::evaluation::shipped();
            let audit = NewAuditEntry {
                district_id: Some(district),
                actor_id: None,
                actor: "test".into(),
                action: AuditAction::EvaluationChanged,
                object: String::new(),
                detail: String::new(),
                ip: String::new(),
            };
            if store.evaluation_system(district, sample.year as i64).await.unwrap().is_none() {
                let body = chuangwen::domain::evaluation::SHIPPED;
                store
                    .save_evaluation_system(district, sample.year as i64, "t", body, "测试", Some(&audit))
                    .await
                    .unwrap();
            }
            let stored = store.evaluation_system(district, sample.year as i64).await.unwrap().unwrap();
            let plan = chuangwen::evaluation::Plan {
                kind: "simulated".into(),
                name: "巡查模拟测评".into(),
                seed: 1,
                quotas: [("main_road".to_string(), 1)].into(),
                evaluators: vec![],
                streets: vec![],
            };
            chuangwen::evaluation::plan_round(&store, district, &stored, &plan, "测试", &audit).await.unwrap().0
        }
    };
    let round_here = round_in(district).await;
    let round_elsewhere = round_in(other.id).await;
    let round_point = store.round_points(district, round_here).await.unwrap()[0].point_id;
    let token_elsewhere = new_token(&store, other.id, other_root.id, other_user).await.0;
    let batch_elsewhere = batch_of_nothing(&store, other.id, other_user).await;
    let sheet = |district: i64, unit: i64, kind: &'static str| {
        let store = store.clone();
        async move {
            let body = r#"{"title":"督察单","subtitle":"","blocks":[]}"#;
            store
                .deliver_report(district, kind, Some(unit), "2020-01-06", "督察单", body, |_| String::new())
                .await
                .unwrap()
        }
    };
    // A webhook in each district, each with one delivery of a weekly report.
    let hooked = |district: i64| {
        let store = store.clone();
        async move {
            let audit = NewAuditEntry {
                district_id: Some(district),
                actor_id: None,
                actor: "test".into(),
                action: AuditAction::SettingsChanged,
                object: String::new(),
                detail: String::new(),
                ip: String::new(),
            };
            store
                .create_webhook(district, "市平台", "http://127.0.0.1:9/hook", "sealed", "weekly", &audit)
                .await
                .unwrap()
        }
    };
    let webhook_here = hooked(district).await;
    let webhook_elsewhere = hooked(other.id).await;
    let report_here = sheet(district, street.id, "daily_sheet").await;
    let report_elsewhere = sheet(other.id, other_root.id, "daily_sheet").await;
    // A weekly report in each district, for the webhooks' deliveries.
    sheet(district, street.id, "weekly").await;
    sheet(other.id, other_root.id, "weekly").await;
    let delivery_here = store.deliveries(district, 1).await.unwrap()[0].id;
    let delivery_elsewhere = store.deliveries(other.id, 1).await.unwrap()[0].id;
    // Two reports by someone else: one in the walkers' street, one elsewhere.
    let new_case = |point: i64| {
        let store = store.clone();
        async move {
            let p = store.point(district, &scope_all(), point).await.unwrap().unwrap();
            let grid = store
                .grids(district)
                .await
                .unwrap()
                .into_iter()
                .find(|g| Some(&g.code) == p.grid_code.as_ref())
                .unwrap();
            let new = chuangwen::store::cases::NewCase {
                source: "inspection".into(),
                category_code: "06010".into(),
                category_version: "2026.1".into(),
                condition_index: 0,
                campaign: "city_appearance".into(),
                limit_amount: 1,
                limit_clock: "working_days".into(),
                description: "暴露垃圾".into(),
                address: p.address.clone(),
                location: Some((p.lon, p.lat)),
                place: Some((grid.id, grid.community_id, grid.street_id)),
                point_id: Some(p.id),
                reporter_id: None,
                reporter_name: "督察组".into(),
            };
            let entry = NewAuditEntry {
                district_id: Some(district),
                actor_id: None,
                actor: "test".into(),
                action: AuditAction::CaseReported,
                object: String::new(),
                detail: String::new(),
                ip: String::new(),
            };
            store.create_case(district, &new, &entry, &[], None, |_| (201, String::new())).await.unwrap().0.id
        }
    };
    let case_here = new_case(point_here).await;
    let case_elsewhere = new_case(point_elsewhere).await;
    // Each case held by its street, each with a supervision order to that street.
    let street_two = store.unit_by_code(district, "120199002").await.unwrap().unwrap();
    for (case, unit) in [(case_here, street.id), (case_elsewhere, street_two.id)] {
        common::raw(&store, &format!("UPDATE cases SET unit_id = {unit} WHERE id = {case}")).await;
    }
    let order_here = store.supervise(district, case_here, "督办", Some(victim), None).await.unwrap().unwrap();
    let order_elsewhere = store.supervise(district, case_elsewhere, "督办", Some(victim), None).await.unwrap().unwrap();
    let batch_here = batch_of_nothing(&store, district, victim).await;
    // A photo on each case, with its file and thumbnail in the file store.
    let mut photos = Vec::new();
    for (n, case) in [case_here, case_elsewhere].into_iter().enumerate() {
        let key = format!("attachments/walk-{n}.jpg");
        db.files.put(&key, bytes::Bytes::from_static(&[0xFF, 0xD8, 0xFF, 0xE0])).await.unwrap();
        db.files.put(&format!("{key}.thumb.jpg"), bytes::Bytes::from_static(&[0xFF, 0xD8, 0xFF, 0xE0])).await.unwrap();
        let new = chuangwen::store::cases::NewAttachment {
            kind: "before",
            file_name: "p.jpg",
            content_type: "image/jpeg",
            size: 4,
            file_key: &key,
            sha256: "x",
            uploaded_by: Some(victim),
            taken_at: None,
            position: None,
        };
        let id = store.create_attachment(district, &new).await.unwrap();
        common::raw(&store, &format!("UPDATE attachments SET case_id = {case} WHERE id = {id}")).await;
        photos.push(id);
    }
    // Queued import jobs would run against files that do not exist; the
    // walk is about access, not imports.
    while store.claim_job("walk").await.unwrap().is_some() {}

    World {
        store,
        walkers: walkers_with_roles,
        street_unit: street.id,
        victim,
        point_here,
        point_elsewhere,
        import_here,
        import_elsewhere,
        intake_here,
        intake_elsewhere,
        round_here,
        round_elsewhere,
        round_point,
        user_elsewhere: other_user,
        token_elsewhere,
        case_here,
        case_elsewhere,
        order_here,
        order_elsewhere,
        batch_here,
        batch_elsewhere,
        photo_here: photos[0],
        photo_elsewhere: photos[1],
        report_here,
        report_elsewhere,
        webhook_here,
        webhook_elsewhere,
        delivery_here,
        delivery_elsewhere,
        district,
    }
}

fn scope_all() -> chuangwen::auth::policy::Scope {
    chuangwen::auth::policy::Scope::District
}

/// A numbered batch with no case in it, issued by `by`.
async fn batch_of_nothing(store: &Store, district: i64, by: i64) -> i64 {
    let audit = NewAuditEntry {
        district_id: Some(district),
        actor_id: Some(by),
        actor: "test".into(),
        action: AuditAction::CaseTransition,
        object: String::new(),
        detail: String::new(),
        ip: String::new(),
    };
    let (batch, _) = store.dispatch_batch(district, "", &[], Some(by), "test", &audit).await.unwrap().unwrap();
    batch.id
}

async fn new_token(store: &Store, district: i64, unit: i64, by: i64) -> (i64, String) {
    let token = format!("cwt_{}", random_token());
    let entry = NewAuditEntry {
        district_id: Some(district),
        actor_id: Some(by),
        actor: "test".into(),
        action: AuditAction::TokenCreated,
        object: String::new(),
        detail: String::new(),
        ip: String::new(),
    };
    let id = store
        .create_api_token(
            district,
            "测试客户端",
            unit,
            &["supervisor".to_string()],
            &token_hash(&token),
            "cwt_xx",
            by,
            &entry,
        )
        .await
        .unwrap();
    (id, token)
}

/// Sends one request as a user (a fresh session each time, since some routes end it).
async fn call(db: &common::TestDb, world: &World, user: Option<i64>, method: &str, path: &str) -> Page {
    let path = &path.replace("{point}", &world.round_point.to_string());
    let mut browser = Browser::new(db.state());
    let csrf = random_token();
    browser.cookies.push(("cw_csrf".into(), csrf.clone()));
    if let Some(user) = user {
        let session = random_token();
        world.store.create_session(&token_hash(&session), user).await.unwrap();
        browser.cookies.push(("cw_session".into(), session));
    }
    if method == "GET" {
        return browser.get(path).await;
    }
    if path.starts_with("/api/v1/") && path != "/api/v1/attachments" {
        let body = if method == "PUT" { "[]" } else { "{}" };
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        return browser.send(request).await;
    }
    if path.starts_with("/cases/") && path != "/cases/dispatch" && !path.ends_with("/supervise") {
        let fields = [("csrf", csrf.as_str()), ("transition", "accept")];
        return browser.upload_to(path, &fields, "photo", "x.bin", b"").await;
    }
    if path.starts_with("/evaluation/rounds/") && path.contains("/points/") {
        return browser.upload_to(path, &[("csrf", csrf.as_str())], "photos", "x.jpg", b"").await;
    }
    if path == "/evaluation/system" {
        return browser.upload_to(path, &[("csrf", csrf.as_str())], "file", "x.toml", b"year = ").await;
    }
    if path == "/intake" {
        let fields = [("csrf", csrf.as_str()), ("source", "hotline")];
        return browser.upload_to(path, &fields, "file", "x.csv", "编号,问题描述\nA1,暴露垃圾\n".as_bytes()).await;
    }
    if path == "/places/import" {
        return browser.upload(&[("csrf", &csrf), ("kind", "points"), ("crs", "wgs84")], "x.csv", b"not a file").await;
    }
    // Every field any form here reads, with harmless values: a POST that is
    // allowed must reach its handler, not fail in the extractor.
    let unit = world.street_unit.to_string();
    let form = [
        ("csrf", csrf.as_str()),
        ("username", ""),
        ("password", ""),
        ("current", "wrong"),
        ("new", "x"),
        ("confirm", "y"),
        ("value", "0"),
        ("name", ""),
        ("display_name", ""),
        ("unit_id", unit.as_str()),
    ];
    browser.post_form(path, &form).await
}

/// A refusal: 401, 403, 404, a server error, or a redirect to the login
/// page — except from the routes whose very job is to log out.
fn is_refusal(page: &Page, route: &str) -> bool {
    let logs_out = matches!(route, "/logout" | "/account/logout-everywhere");
    matches!(
        page.status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
    ) || (page.location() == "/login" && !logs_out)
        || page.status.is_server_error()
}

on_both_backends!(every_route_answers_every_role_as_the_rules_say, |db| {
    let world = world(&db).await;
    let table = expectations();

    // The walk knows every route, and every route it knows exists.
    let served: Vec<(&str, &str)> = chuangwen::routes::route_list();
    for (method, route) in &served {
        assert!(
            table.iter().any(|(m, r, ..)| m == method && r == route),
            "{method} {route} is served but the access walk does not know it: add its rule to tests/access.rs"
        );
    }
    for (method, route, ..) in &table {
        assert!(served.contains(&(*method, *route)), "{method} {route} is in the walk but not served");
    }

    let mut failures = Vec::new();
    for (method, route, path, rule, object) in &table {
        // Anonymous callers.
        let page = call(&db, &world, None, method, &path.replace("{id}", "1")).await;
        match rule {
            Rule::Public => {
                if is_refusal(&page, route) {
                    failures.push(format!("anonymous {method} {route}: {}", page.status));
                }
            }
            Rule::ApiKey => {
                if page.status != StatusCode::FORBIDDEN {
                    failures.push(format!("anonymous {method} {route}: {} (expected 403)", page.status));
                }
            }
            _ => {
                let refused = page.status == StatusCode::UNAUTHORIZED || page.location() == "/login";
                if !refused {
                    failures.push(format!("anonymous {method} {route}: {} (expected login)", page.status));
                }
            }
        }
        // Every role, on its own object and on someone else's.
        for (role, user) in &world.walkers {
            let allowed = match rule {
                Rule::Public | Rule::LoggedIn => true,
                Rule::Roles(roles) => roles.contains(role),
                Rule::ApiKey => false,
            };
            let mine = match object {
                Some(Object::Point) => world.point_here,
                Some(Object::Import) => world.import_here,
                Some(Object::Intake) => world.intake_here,
                Some(Object::Round) => world.round_here,
                Some(Object::User) => world.victim,
                Some(Object::Token) => new_token(&world.store, world.district, world.street_unit, world.victim).await.0,
                Some(Object::Case) => world.case_here,
                Some(Object::Order) => world.order_here,
                Some(Object::Batch) => world.batch_here,
                Some(Object::Report) => world.report_here,
                Some(Object::Webhook) => world.webhook_here,
                Some(Object::Delivery) => world.delivery_here,
                Some(Object::Attachment) => world.photo_here,
                None => 0,
            };
            let page = call(&db, &world, Some(*user), method, &path.replace("{id}", &mine.to_string())).await;
            let ok = if allowed { !is_refusal(&page, route) } else { page.status == StatusCode::FORBIDDEN };
            if !ok {
                failures.push(format!("{role:?} {method} {route}: {} (allowed: {allowed})", page.status));
            }
            let Some(object) = object else { continue };
            let theirs = match object {
                Object::Point => world.point_elsewhere,
                Object::Import => world.import_elsewhere,
                Object::Intake => world.intake_elsewhere,
                Object::Round => world.round_elsewhere,
                Object::User => world.user_elsewhere,
                Object::Token => world.token_elsewhere,
                Object::Case => world.case_elsewhere,
                Object::Order => world.order_elsewhere,
                Object::Batch => world.batch_elsewhere,
                Object::Attachment => world.photo_elsewhere,
                Object::Report => world.report_elsewhere,
                Object::Webhook => world.webhook_elsewhere,
                Object::Delivery => world.delivery_elsewhere,
            };
            let page = call(&db, &world, Some(*user), method, &path.replace("{id}", &theirs.to_string())).await;
            let expected = match (allowed, object) {
                (_, Object::Case | Object::Order | Object::Attachment) if !role.is_district_wide() => {
                    StatusCode::NOT_FOUND
                }
                // Evaluators and inspectors answer at the points they are given (and an
                // evaluator sees only such rounds): an unassigned one is refused here, and
                // another district's round is not theirs to see.
                (false, Object::Round)
                    if (*route == "/evaluation/rounds/{id}" && *role == Role::Evaluator)
                        || (route.contains("/points/") && matches!(role, Role::Inspector | Role::Evaluator)) =>
                {
                    StatusCode::NOT_FOUND
                }
                (false, _) => StatusCode::FORBIDDEN,
                (true, Object::Case | Object::Order | Object::Attachment) => page.status,
                // Another street's point: district-wide roles see it.
                (true, Object::Point) if role.is_district_wide() => page.status,
                (true, _) => StatusCode::NOT_FOUND,
            };
            let must_succeed = allowed
                && matches!(object, Object::Point | Object::Case | Object::Order | Object::Attachment)
                && role.is_district_wide();
            if page.status != expected || (must_succeed && is_refusal(&page, route)) {
                failures.push(format!(
                    "{role:?} {method} {route} on another's object: {} (expected {expected})",
                    page.status
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} unexpected answers:\n{}", failures.len(), failures.join("\n"));
});

on_both_backends!(five_wrong_passwords_lock_the_account_and_the_trail_records_it, |db| {
    db.with_demo().await;
    let state = db.state();
    let mut browser = Browser::new(state.clone());
    for attempt in 1..=5 {
        let page = browser.login("office02", "wrong-Password-1").await;
        let text = page.text();
        if attempt < 5 {
            assert!(text.contains("用户名或密码错误"), "attempt {attempt}");
        } else {
            assert!(text.contains("账号已锁定"), "attempt 5 locks: {text}");
        }
    }
    // Locked: even the right password is refused now.
    let page = browser.login("office02", common::DEMO_PASSWORD).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("账号已被锁定"));
    assert!(!browser.cookies.iter().any(|(k, _)| k == "cw_session"));

    let district = db.store.districts().await.unwrap()[0].id;
    let filter = |action: &str| chuangwen::store::audit::AuditFilter {
        action: Some(action.into()),
        actor: Some("office02".into()),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(db.store.audit_page(district, &filter("login_failed")).await.unwrap().len(), 6);
    assert_eq!(db.store.audit_page(district, &filter("lockout")).await.unwrap().len(), 1);

    // Once the lock has passed, the right password works again.
    sqlx_set_locked_until_past(&db.store, "office02").await;
    let page = browser.login("office02", common::DEMO_PASSWORD).await;
    assert_eq!(page.location(), "/");
    assert_eq!(
        db.store.verify_audit().await.unwrap(),
        Ok(db.store.audit_page(district, &Default::default()).await.unwrap().first().unwrap().id)
    );
});

/// Moves a lock into the past, as if fifteen minutes had gone by.
async fn sqlx_set_locked_until_past(store: &Store, username: &str) {
    let past = Utc::now() - chrono::Duration::minutes(1);
    match &store.db {
        chuangwen::store::Db::Sqlite { writer, .. } => {
            sqlx::query("UPDATE users SET locked_until = $1 WHERE username = $2")
                .bind(past)
                .bind(username)
                .execute(writer)
                .await
                .unwrap();
        }
        chuangwen::store::Db::Postgres(pool) => {
            sqlx::query("UPDATE users SET locked_until = $1 WHERE username = $2")
                .bind(past)
                .bind(username)
                .execute(pool)
                .await
                .unwrap();
        }
    }
}

on_both_backends!(a_session_ends_after_its_idle_time_and_its_lifetime, |db| {
    db.with_demo().await;
    let mut browser = Browser::new(db.state());
    browser.login("leader01", common::DEMO_PASSWORD).await;
    assert_eq!(browser.get("/").await.status, StatusCode::OK);
    // 31 minutes without a request: the session is over.
    let idle = (Utc::now() - chrono::Duration::minutes(31)).to_rfc3339();
    common::raw(&db.store, &format!("UPDATE sessions SET last_seen = '{idle}'")).await;
    assert_eq!(browser.get("/").await.location(), "/login");

    browser.login("leader01", common::DEMO_PASSWORD).await;
    assert_eq!(browser.get("/").await.status, StatusCode::OK);
    // Busy all along, but 13 hours since login: over too.
    let old = (Utc::now() - chrono::Duration::hours(13)).to_rfc3339();
    common::raw(&db.store, &format!("UPDATE sessions SET created_at = '{old}'")).await;
    assert_eq!(browser.get("/").await.location(), "/login");
});

on_both_backends!(a_revoked_token_is_refused_and_token_use_is_audited, |db| {
    let district = db.with_demo().await;
    let street = db.store.unit_by_code(district, "120199001").await.unwrap().unwrap();
    let admin = db.store.user_by_username("admin").await.unwrap().unwrap();
    let (id, token) = new_token(&db.store, district, street.id, admin.id).await;
    let mut browser = Browser::new(db.state());
    let request = |token: &str| {
        Request::get("/api/v1/places/points?limit=5")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let page = browser.send(request(&token)).await;
    assert_eq!(page.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(&page.body).unwrap();
    let items = body["items"].as_array().unwrap();
    assert!(!items.is_empty(), "the token reads the street's points");
    assert!(items.iter().all(|p| p["street_name"] == street.name.as_str()), "scoped like a user");

    let entry = NewAuditEntry {
        district_id: Some(district),
        actor_id: Some(admin.id),
        actor: "admin".into(),
        action: AuditAction::TokenRevoked,
        object: format!("token:{id}"),
        detail: String::new(),
        ip: String::new(),
    };
    assert!(db.store.revoke_api_token(district, id, &entry).await.unwrap());
    let page = browser.send(request(&token)).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let page = browser.send(request("cwt_not-a-token")).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);

    let used =
        chuangwen::store::audit::AuditFilter { action: Some("token_used".into()), limit: 10, ..Default::default() };
    assert_eq!(db.store.audit_page(district, &used).await.unwrap().len(), 1);
});

on_both_backends!(editing_removing_or_reordering_audit_rows_is_caught_at_the_first_bad_entry, |db| {
    db.with_demo().await;
    let store = &db.store;
    for n in 0..6 {
        let entry = NewAuditEntry {
            district_id: None,
            actor_id: None,
            actor: format!("actor{n}"),
            action: AuditAction::Login,
            object: format!("user:{n}"),
            detail: String::new(),
            ip: "127.0.0.1".into(),
        };
        store.audit(&entry).await.unwrap();
    }
    assert_eq!(store.verify_audit().await.unwrap(), Ok(6));

    // The application cannot change the trail: the database refuses.
    let sqlite = matches!(store.db, chuangwen::store::Db::Sqlite { .. });
    let refused = match &store.db {
        chuangwen::store::Db::Sqlite { writer, .. } => {
            sqlx::query("UPDATE audit_log SET actor = 'x' WHERE id = 2").execute(writer).await.is_err()
        }
        chuangwen::store::Db::Postgres(pool) => {
            sqlx::query("UPDATE audit_log SET actor = 'x' WHERE id = 2").execute(pool).await.is_err()
        }
    };
    assert!(refused, "the append-only trigger refuses updates");
    // Someone with the database's keys drops the guard and edits directly.
    if sqlite {
        common::raw(store, "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete").await;
    } else {
        common::raw(store, "DROP TRIGGER audit_log_no_change ON audit_log").await;
    }
    let snapshot = |sql: &'static str| common::raw(store, sql);

    snapshot("UPDATE audit_log SET actor = 'someone else' WHERE id = 3").await;
    let broken = store.verify_audit().await.unwrap().unwrap_err();
    assert_eq!(broken.id, 3, "{}", broken.reason);
    assert!(broken.reason.contains("改动"));
    snapshot("UPDATE audit_log SET actor = 'actor2' WHERE id = 3").await;
    assert_eq!(store.verify_audit().await.unwrap(), Ok(6), "restored, it verifies again");

    // Removed: entry 4 is gone.
    snapshot("CREATE TABLE audit_backup AS SELECT * FROM audit_log").await;
    snapshot("DELETE FROM audit_log WHERE id = 4").await;
    assert_eq!(store.verify_audit().await.unwrap().unwrap_err().id, 4);
    snapshot("DELETE FROM audit_log; INSERT INTO audit_log SELECT * FROM audit_backup").await;
    assert_eq!(store.verify_audit().await.unwrap(), Ok(6));

    // Removed at the end: the head still counts it.
    snapshot("DELETE FROM audit_log WHERE id = 6").await;
    assert_eq!(store.verify_audit().await.unwrap().unwrap_err().id, 6);
    snapshot("DELETE FROM audit_log; INSERT INTO audit_log SELECT * FROM audit_backup").await;

    // Appended behind the head's back: an entry 7 the head does not count.
    snapshot(
        "INSERT INTO audit_log (id, district_id, at, actor_id, actor, action, object, detail, ip, algorithm, prev_hash, hash)
         SELECT 7, district_id, at, actor_id, actor, action, object, detail, ip, algorithm, hash, hash FROM audit_log WHERE id = 6",
    )
    .await;
    let broken = store.verify_audit().await.unwrap().unwrap_err();
    assert_eq!(broken.id, 7, "{}", broken.reason);
    assert!(broken.reason.contains("追加"));
    snapshot("DELETE FROM audit_log; INSERT INTO audit_log SELECT * FROM audit_backup").await;

    // Reordered: entries 2 and 5 swap places (their numbers stay in order).
    snapshot("UPDATE audit_log SET id = -2 WHERE id = 2").await;
    snapshot("UPDATE audit_log SET id = 2 WHERE id = 5").await;
    snapshot("UPDATE audit_log SET id = 5 WHERE id = -2").await;
    assert_eq!(store.verify_audit().await.unwrap().unwrap_err().id, 2);
});

on_both_backends!(the_audit_verify_command_names_the_first_bad_entry, |db| {
    db.with_demo().await;
    for n in 0..3 {
        db.store
            .audit(&NewAuditEntry {
                district_id: None,
                actor_id: None,
                actor: format!("a{n}"),
                action: AuditAction::DataExported,
                object: String::new(),
                detail: String::new(),
                ip: String::new(),
            })
            .await
            .unwrap();
    }
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_chuangwen"))
            .args(["audit", "verify"])
            .env("CHUANGWEN_DATABASE_URL", &db.url)
            .env("CHUANGWEN_DATA_DIR", db.dir.path())
            .output()
            .unwrap()
    };
    let out = verify();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 条记录"));
    if matches!(db.store.db, chuangwen::store::Db::Sqlite { .. }) {
        common::raw(&db.store, "DROP TRIGGER audit_log_no_update").await;
    } else {
        common::raw(&db.store, "DROP TRIGGER audit_log_no_change ON audit_log").await;
    }
    common::raw(&db.store, "UPDATE audit_log SET detail = '{}' WHERE id = 2").await;
    let out = verify();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("entry 2") && err.contains("第 2 条"), "{err}");
});

on_both_backends!(a_phone_number_is_encrypted_at_rest_masked_on_screen_and_each_reveal_is_audited, |db| {
    db.with_demo().await;
    let mut admin = Browser::new(db.state());
    admin.login("admin", common::DEMO_PASSWORD).await;
    admin.get("/admin/users/new").await;
    let csrf = admin.csrf();
    let street = db.store.unit_by_code(db.store.districts().await.unwrap()[0].id, "120199001").await.unwrap().unwrap();
    let unit = street.id.to_string();
    let created = admin
        .post_form(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "zhangsan"),
                ("display_name", "张三"),
                ("unit_id", &unit),
                ("role", "handler"),
                ("phone", "138 1234 5678"),
            ],
        )
        .await;
    let text = created.text();
    assert!(text.contains("已创建用户 zhangsan"), "{text}");
    let initial = text.split("id=\"initial-password\">").nth(1).unwrap().split('<').next().unwrap().to_string();

    // Not in clear anywhere in the row.
    let user = db.store.user_by_username("zhangsan").await.unwrap().unwrap();
    let stored = user.phone_enc.clone().unwrap();
    assert!(!stored.contains("13812345678") && !stored.contains("5678"));

    // Masked on the page, found by exact number.
    let page = admin.get(&format!("/admin/users/{}", user.id)).await.text();
    assert!(page.contains("138****5678") && !page.contains("13812345678"));
    let found = admin.get("/admin/users?phone=13812345678").await.text();
    assert!(found.contains("zhangsan"));
    let not_found = admin.get("/admin/users?phone=13812345679").await.text();
    assert!(!not_found.contains("zhangsan"));

    // Revealed on request, and the trail says who looked.
    let revealed = admin.post_form(&format!("/admin/users/{}/phone", user.id), &[("csrf", &csrf)]).await.text();
    assert!(revealed.contains("13812345678"));
    let district = db.store.districts().await.unwrap()[0].id;
    let reveals = chuangwen::store::audit::AuditFilter {
        action: Some("personal_data_revealed".into()),
        limit: 10,
        ..Default::default()
    };
    let entries = db.store.audit_page(district, &reveals).await.unwrap();
    assert_eq!(
        (entries.len(), entries[0].actor.as_str(), entries[0].object.clone()),
        (1, "admin", format!("user:{}", user.id))
    );

    // The new user must change the initial password before anything else.
    let mut zhang = Browser::new(db.state());
    let login = zhang.login("zhangsan", &initial).await;
    assert_eq!(login.location(), "/account/password");
    assert_eq!(zhang.get("/places").await.location(), "/account/password");
    let csrf = zhang.csrf();
    let weak = zhang
        .post_form(
            "/account/password",
            &[("csrf", &csrf), ("current", &initial), ("new", "password"), ("confirm", "password")],
        )
        .await
        .text();
    assert!(weak.contains("至少三类"), "{weak}");
    let changed = zhang
        .post_form(
            "/account/password",
            &[("csrf", &csrf), ("current", &initial), ("new", "Haihe-2026-new"), ("confirm", "Haihe-2026-new")],
        )
        .await
        .text();
    assert!(changed.contains("密码已修改"), "{changed}");
    assert_eq!(zhang.get("/places").await.status, StatusCode::OK);
});

on_both_backends!(a_token_is_nobody_it_never_sees_cases_as_their_reporter, |db| {
    let district = db.with_demo().await;
    let street = db.store.unit_by_code(district, "120199001").await.unwrap().unwrap();
    let admin = db.store.user_by_username("admin").await.unwrap().unwrap();
    let (token_id, token) = new_token(&db.store, district, street.id, admin.id).await;
    // The person whose user id is the token's id reports in another street.
    let namesake = db.store.user(district, token_id).await.unwrap().expect("a user with the token's id");
    let filter = chuangwen::store::places::PointFilter { limit: 2000, ..Default::default() };
    let points = db.store.points(district, &Scope::District, &filter).await.unwrap();
    let elsewhere = points.iter().find(|p| p.street_name.as_deref() != Some(street.name.as_str())).unwrap();
    let mut person = Browser::new(db.state());
    assert_eq!(person.login(&namesake.username, common::DEMO_PASSWORD).await.location(), "/");
    let report =
        json!({"category": "06010", "description": "别处的暴露垃圾", "lon": elsewhere.lon, "lat": elsewhere.lat});
    let (status, case) = person.json("POST", "/api/v1/cases", Some(report)).await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let (_, mine) = person.json("GET", "/api/v1/cases", None).await;
    assert!(mine.to_string().contains(case["number"].as_str().unwrap()), "its reporter follows it");

    let mut machine = Browser::new(db.state());
    let get = |uri: String| {
        Request::get(uri).header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty()).unwrap()
    };
    let page = machine.send(get(format!("/api/v1/cases/{}", case["id"]))).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "outside the token's street");
    let page = machine.send(get("/api/v1/cases?limit=200".into())).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text().contains(case["number"].as_str().unwrap()), "not in the token's list either");
});
