//! Every page and endpoint of Chuangwen, grouped by module: the table of
//! contents of the application. Each handler authorizes its caller through
//! `auth::policy` before it acts; `tests/access.rs` walks this table with
//! every role and fails on a route it does not know.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::HeaderName;
use axum::middleware;
use axum::routing::{MethodRouter, get, post};
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::{api, open311, telemetry, web};

/// Largest upload accepted by import forms.
pub const MAX_IMPORT_BYTES: usize = 50 * 1024 * 1024;

/// The route table: every (method, path) and its handler.
fn table() -> Table {
    Table::default()
        // Operations: health and metrics, for load balancers and Prometheus.
        .get("/healthz", web::healthz)
        .get("/metrics", web::metrics)
        .get("/assets/{*path}", web::asset)
        // M1 people: signing in and out, one's own account.
        .get("/login", web::session::form)
        .post("/login", web::session::login)
        .post("/logout", web::session::logout)
        .get("/account/password", web::session::account)
        .post("/account/password", web::session::change_password)
        .post("/account/logout-everywhere", web::session::logout_everywhere)
        // Home: the district at a glance.
        .get("/", web::home::page)
        // M3 cases: the list, the report form, the case page and its steps.
        .get("/cases", web::cases::list)
        .get("/cases/total", web::cases::total)
        .get("/cases/new", web::cases::new_case)
        .get("/cases/export", web::cases::export)
        .get("/cases/dispatch", web::dispatch::queue)
        .post("/cases/dispatch", web::dispatch::issue)
        .add(
            "POST",
            "/cases/new",
            post(web::cases::create_case).layer(DefaultBodyLimit::max(api::cases::MAX_EVIDENCE_BYTES + 64 * 1024)),
        )
        .get("/cases/{id}", web::cases::case)
        .post("/cases/{id}/supervise", web::cases::supervise)
        .get("/supervision", web::cases::supervision)
        // M6 evaluation: the indicator tree, rounds, the evaluator's checklist, the score.
        .get("/evaluation", web::evaluation::tree)
        .get("/evaluation/system/download", web::evaluation::export_system)
        .add(
            "POST",
            "/evaluation/system",
            post(web::evaluation::import_system).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .get("/evaluation/rounds", web::evaluation::rounds)
        .post("/evaluation/rounds", web::evaluation::plan)
        .get("/evaluation/rounds/{id}", web::evaluation::round)
        .post("/evaluation/rounds/{id}/entered", web::evaluation::enter)
        .post("/evaluation/rounds/{id}/close", web::evaluation::close)
        .get("/evaluation/rounds/{id}/score", web::evaluation::score)
        .get("/evaluation/rounds/{id}/score/download", web::evaluation::download)
        .get("/evaluation/rounds/{id}/points/{point}", web::evaluation::point)
        .add(
            "POST",
            "/evaluation/rounds/{id}/points/{point}",
            post(web::evaluation::answer).layer(DefaultBodyLimit::max(4 * api::cases::MAX_EVIDENCE_BYTES + 64 * 1024)),
        )
        // M12 bulk intake: third-party evaluation findings and 12345 hotline exports become cases.
        .get("/intake", web::intake::index)
        .add("POST", "/intake", post(web::intake::upload).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)))
        .get("/intake/template.xlsx", web::intake::template)
        .get("/intake/batches/{id}", web::intake::batch)
        .post("/intake/batches/{id}/run", web::intake::run)
        .get("/intake/batches/{id}/progress", web::intake::progress)
        .post("/intake/batches/{id}/undo", web::intake::undo)
        .get("/map", web::map::page)
        .add(
            "POST",
            "/cases/{id}/step",
            post(web::cases::step).layer(DefaultBodyLimit::max(api::cases::MAX_EVIDENCE_BYTES + 64 * 1024)),
        )
        // M4/M5 supervision output and the war room: dashboards, rankings, the
        // wall display, reports (督察单, 周报, 通报, 整改单) and their files.
        .get("/dashboard", web::dashboard::page)
        .get("/dashboard/rankings", web::dashboard::rankings)
        .get("/dashboard/screen", web::dashboard::screen)
        .get("/dashboard/measures", web::dashboard::measures)
        .get("/reports", web::reports::list)
        .post("/reports/daily-sheets", web::reports::make_sheets)
        .post("/reports/weekly", web::reports::make_weekly)
        .post("/reports/bulletin", web::reports::make_bulletin)
        .get("/reports/batches/{id}", web::reports::batch)
        .get("/reports/{id}", web::reports::show)
        .get("/reports/{id}/download", web::reports::download)
        // M2 places: points, grids, shop fronts, the org tree; import and export.
        .get("/places", web::places::list)
        .get("/places/points/{id}", web::places::point)
        .get("/places/export", web::places::export)
        .get("/places/import", web::places::import_page)
        .add("POST", "/places/import", post(web::places::start_import).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)))
        .get("/places/imports/{id}", web::places::import_run)
        .get("/places/imports/{id}/progress", web::places::import_progress)
        // Settings: categories and time limits, the working calendar, dispatch rules.
        .get("/settings", web::settings::show)
        .post("/settings/categories", web::settings::replace_categories)
        .post("/settings/calendar", web::settings::replace_calendar)
        .post("/settings/dispatch-rules", web::settings::change_rules)
        .post("/settings/assessment", web::reports::save_assessment)
        // Administration: users, API tokens, the audit trail.
        .get("/admin/users", web::admin::users)
        .post("/admin/users", web::admin::create_user)
        .get("/admin/users/new", web::admin::new_user)
        .get("/admin/users/{id}", web::admin::user_detail)
        .post("/admin/users/{id}/roles", web::admin::set_roles)
        .post("/admin/users/{id}/disabled", web::admin::set_disabled)
        .post("/admin/users/{id}/password", web::admin::reset_password)
        .post("/admin/users/{id}/phone", web::admin::reveal_phone)
        .get("/admin/tokens", web::admin::tokens)
        .post("/admin/tokens", web::admin::create_token)
        .post("/admin/tokens/{id}/revoke", web::admin::revoke_token)
        .get("/admin/audit", web::admin::audit)
        .get("/admin/webhooks", web::reports::webhooks)
        .post("/admin/webhooks", web::reports::create_webhook)
        .post("/admin/webhooks/{id}/active", web::reports::set_active)
        .post("/admin/webhooks/deliveries/{id}/retry", web::reports::retry)
        // JSON API v1 (session or `Authorization: Bearer cwt_…`).
        // M3 cases: report, the loop's steps, evidence.
        .post("/api/v1/cases", api::cases::report)
        .get("/api/v1/cases", api::cases::cases)
        .get("/api/v1/cases/duplicates", api::cases::duplicates)
        .get("/api/v1/cases/{id}", api::cases::case)
        .post("/api/v1/cases/{id}/{transition}", api::cases::step)
        .post("/api/v1/cases/{id}/supervise", api::supervision::supervise)
        .get("/api/v1/cases/{id}/suggestion", api::dispatch::suggestion)
        .post("/api/v1/dispatch-batches", api::dispatch::issue_batch)
        .get("/api/v1/dispatch-batches/{id}", api::dispatch::batch)
        .get("/api/v1/settings/categories", api::settings::categories)
        .add("PUT", "/api/v1/settings/categories", axum::routing::put(api::settings::replace_categories))
        .get("/api/v1/settings/calendar", api::settings::calendar)
        .add("PUT", "/api/v1/settings/calendar", axum::routing::put(api::settings::replace_calendar))
        .get("/api/v1/dispatch-rules", api::dispatch::rules)
        .add("PUT", "/api/v1/dispatch-rules", axum::routing::put(api::dispatch::replace_rules))
        .get("/api/v1/supervision-orders", api::supervision::orders)
        .get("/api/v1/supervision-orders/{id}", api::supervision::order)
        .add(
            "POST",
            "/api/v1/attachments",
            post(api::cases::upload).layer(DefaultBodyLimit::max(api::cases::MAX_EVIDENCE_BYTES + 64 * 1024)),
        )
        .get("/api/v1/attachments/{id}", api::cases::attachment)
        .get("/api/v1/attachments/{id}/thumbnail", api::cases::attachment_thumbnail)
        .get("/api/v1/map/layers", api::map::layers)
        .get("/api/v1/statistics", api::statistics::statistics)
        .get("/api/v1/places/resolve", api::places::resolve)
        .get("/api/v1/places/points", api::places::points)
        .get("/api/v1/places/points/{id}", api::places::point)
        // The API's own description: OpenAPI 3, and a page to read.
        .get("/api/v1/openapi.json", api::openapi::document)
        .get("/api/v1/docs", api::openapi::docs)
        // M12 integration: Open311 GeoReport v2 with mySociety's updates, each
        // in XML and JSON (reading is public; filing and updates need an api_key).
        .get("/open311/v2/discovery.xml", open311::discovery)
        .get("/open311/v2/discovery.json", open311::discovery)
        .get("/open311/v2/services.xml", open311::services)
        .get("/open311/v2/services.json", open311::services)
        .get("/open311/v2/services/{file}", open311::service_definition)
        .get("/open311/v2/requests.xml", open311::requests)
        .get("/open311/v2/requests.json", open311::requests)
        .add("POST", "/open311/v2/requests.xml", post(open311::create_request).layer(open311_upload()))
        .add("POST", "/open311/v2/requests.json", post(open311::create_request).layer(open311_upload()))
        .get("/open311/v2/requests/{file}", open311::request_one)
        .get("/open311/v2/tokens/{file}", open311::token)
        .get("/open311/v2/servicerequestupdates.xml", open311::updates)
        .get("/open311/v2/servicerequestupdates.json", open311::updates)
        .post("/open311/v2/servicerequestupdates.xml", open311::post_update)
        .post("/open311/v2/servicerequestupdates.json", open311::post_update)
}

/// A request filed through Open311 may carry one photo.
fn open311_upload() -> DefaultBodyLimit {
    DefaultBodyLimit::max(api::cases::MAX_EVIDENCE_BYTES + 64 * 1024)
}

/// The application's router.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    table()
        .router
        .fallback(web::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), crate::auth::ensure_csrf_cookie))
        .with_state(state)
        // Pages, scripts and JSON go out gzip-compressed to clients that ask
        // (phones on mobile data); images and event streams are left alone.
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn(telemetry::track_requests))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path())
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Every route as (method, path), in table order.
pub fn route_list() -> Vec<(&'static str, &'static str)> {
    table().routes
}

/// Builds the router and the list of its routes together, so the list
/// cannot drift from what is served.
#[derive(Default)]
struct Table {
    router: Router<AppState>,
    routes: Vec<(&'static str, &'static str)>,
}

impl Table {
    fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Table {
        self.add("GET", path, get(handler))
    }

    fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Table {
        self.add("POST", path, post(handler))
    }

    fn add(mut self, method: &'static str, path: &'static str, route: MethodRouter<AppState>) -> Table {
        self.routes.push((method, path));
        self.router = self.router.route(path, route);
        self
    }
}
