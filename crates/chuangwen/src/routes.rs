//! Every page and endpoint of Chuangwen, grouped by module: the table of
//! contents of the application. Each handler authorizes its caller through
//! `auth::policy` before it acts.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use axum::middleware;
use axum::routing::{get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::{api, telemetry, web};

/// Largest upload accepted by import forms.
pub const MAX_IMPORT_BYTES: usize = 50 * 1024 * 1024;

/// The application's router.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        // Operations: health and metrics, for load balancers and Prometheus.
        .route("/healthz", get(web::healthz))
        .route("/metrics", get(web::metrics))
        .route("/assets/app.css", get(web::stylesheet))
        .route("/assets/import.js", get(web::import_script))
        // M1 people: signing in and out.
        .route("/login", get(web::session::form).post(web::session::login))
        .route("/logout", post(web::session::logout))
        // Home: the district at a glance.
        .route("/", get(web::home::page))
        // M2 places: points, grids, shop fronts; import and export.
        .route("/places", get(web::places::list))
        .route("/places/export", get(web::places::export))
        .route(
            "/places/import",
            get(web::places::import_page)
                .post(web::places::start_import)
                .layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route("/places/imports/{id}", get(web::places::import_run))
        .route("/places/imports/{id}/progress", get(web::places::import_progress))
        // JSON API v1.
        .route("/api/v1/places/resolve", get(api::places::resolve))
        .route("/api/v1/places/points", get(api::places::points))
        .fallback(web::not_found)
        .with_state(state)
        .layer(middleware::from_fn(telemetry::track_requests))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path())
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
