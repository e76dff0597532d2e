//! The district map page: grid cells, evaluation points and open cases in
//! clusters, on the district's own tiles when it has them (`[map]` config).

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::auth::policy::Action;
use crate::config::MapConfig;
use crate::error::AppError;
use crate::web::{Nav, render};

#[derive(Template)]
#[template(path = "map.html")]
struct MapPage {
    nav: Option<Nav>,
    map: MapConfig,
}

/// `GET /map`.
pub async fn page(State(state): State<AppState>, user: CurrentUser, headers: HeaderMap) -> Result<Response, AppError> {
    user.require(Action::WorkCases)?;
    render(&MapPage { nav: Some(Nav::of(&state, &user, &headers).await?), map: state.config.map.clone() })
}
