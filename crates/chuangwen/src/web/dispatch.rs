//! Batch dispatch (批量派遣): the accepted cases of the office's scope with the
//! unit the rules suggest for each; the office checks or changes the units and
//! issues them together as one numbered batch of rectification orders (整改单).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use serde::Deserialize;

use crate::api::dispatch::{dispatch_batch, suggestions_for};
use crate::app::AppState;
use crate::auth::policy::Action;
use crate::auth::{CurrentUser, check_csrf, csrf_token};
use crate::domain::cases::{CaseState, Transition};
use crate::error::AppError;
use crate::store::cases::CaseFilter;
use crate::web::{Nav, render};

/// Cases the page lists at most.
const QUEUE: i64 = 200;

/// One case waiting for dispatch.
struct Waiting {
    id: i64,
    number: String,
    category: String,
    description: String,
    street: String,
    reported: String,
    /// The unit chosen: the form's, else the suggestion's.
    unit_id: Option<i64>,
    /// Why the rules suggest it, or empty.
    reason: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "dispatch.html")]
struct DispatchPage {
    nav: Option<Nav>,
    csrf: String,
    rows: Vec<Waiting>,
    more: bool,
    units: Vec<(i64, String)>,
    note: String,
    message: Option<(String, Option<i64>)>,
    error: Option<String>,
}

impl DispatchPage {
    fn is_chosen(&self, row: &Waiting, unit: &i64) -> bool {
        row.unit_id == Some(*unit)
    }
}

/// What the page is asked to show after a batch.
#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    batch: String,
    #[serde(default)]
    count: String,
    /// The batch's id, for its printable orders.
    #[serde(default)]
    id: Option<i64>,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    form: Option<&HashMap<i64, (bool, Option<i64>)>>,
    note: String,
    message: Option<(String, Option<i64>)>,
    error: Option<String>,
) -> Result<Response, AppError> {
    let filter = CaseFilter { state: Some(CaseState::Accepted.code().into()), limit: QUEUE + 1, ..Default::default() };
    let mut cases = state.store.cases(user.district_id, &user.scope(), user.user_id, &filter).await?;
    let more = cases.len() as i64 > QUEUE;
    cases.truncate(QUEUE as usize);
    let suggestions = suggestions_for(&state.store, user.district_id, &cases).await.map_err(|e| e.0)?;
    let units = state.store.units(user.district_id).await?;
    let names = super::unit_names(&units);
    let category_names = state.store.category_names(user.district_id, &cases).await?;
    let rows = cases
        .iter()
        .zip(suggestions)
        .map(|(c, suggestion)| {
            let chosen = form.and_then(|f| f.get(&c.id));
            Waiting {
                id: c.id,
                number: c.number.clone(),
                category: category_names.of(c),
                description: c.description.clone(),
                street: c.street_id.and_then(|s| names.get(&s).cloned()).unwrap_or_default(),
                reported: super::cases::local(c.reported_at),
                unit_id: chosen.and_then(|(_, u)| *u).or(suggestion.as_ref().map(|s| s.unit_id)),
                reason: suggestion.map(|s| format!("建议：{}（{}）", s.unit_name, s.reason_label)).unwrap_or_default(),
                checked: chosen.is_none_or(|(checked, _)| *checked),
            }
        })
        .collect();
    render(&DispatchPage {
        nav: Some(Nav::of(state, user, headers).await?),
        csrf: csrf_token(headers),
        rows,
        more,
        units: super::assignable_units(&units),
        note,
        message,
        error,
    })
}

/// `GET /cases/dispatch`.
pub async fn queue(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    user.require(Action::WorkCases)?;
    if !Transition::Dispatch.may_take(&user.roles, false) {
        return Err(AppError::Forbidden);
    }
    let message = (!q.batch.is_empty()).then(|| (format!("已派遣 {} 件，整改单批次 {}。", q.count, q.batch), q.id));
    page(&state, &user, &headers, None, String::new(), message, None).await
}

/// `POST /cases/dispatch`: issues the checked cases as one batch. A refused
/// batch dispatches nothing and comes back with every choice as it was.
pub async fn issue(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require(Action::WorkCases)?;
    if !Transition::Dispatch.may_take(&user.roles, false) {
        return Err(AppError::Forbidden);
    }
    let mut csrf = String::new();
    let mut note = String::new();
    let mut form: HashMap<i64, (bool, Option<i64>)> = HashMap::new();
    for (key, value) in form_urlencoded::parse(&body) {
        match key.as_ref() {
            "csrf" => csrf = value.into_owned(),
            "note" => note = value.into_owned(),
            "case" => {
                if let Ok(id) = value.parse() {
                    form.entry(id).or_insert((false, None)).0 = true;
                }
            }
            other => {
                if let Some(id) = other.strip_prefix("unit_").and_then(|id| id.parse().ok()) {
                    form.entry(id).or_insert((false, None)).1 = value.parse().ok();
                }
            }
        }
    }
    check_csrf(&headers, &csrf)?;
    let mut items: Vec<(i64, Option<i64>)> =
        form.iter().filter(|(_, (checked, _))| *checked).map(|(id, (_, unit))| (*id, *unit)).collect();
    items.sort_unstable();
    if items.is_empty() {
        let error = Some("请至少勾选一件案卷".to_string());
        return page(&state, &user, &headers, Some(&form), note, None, error).await;
    }
    match dispatch_batch(&state, &user, &items, &note).await {
        Ok(view) => {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("batch", &view.batch.number)
                .append_pair("count", &view.case_ids.len().to_string())
                .append_pair("id", &view.batch.id.to_string())
                .finish();
            Ok(Redirect::to(&format!("/cases/dispatch?{query}")).into_response())
        }
        Err(AppError::Invalid { message, .. } | AppError::Conflict(message)) => {
            page(&state, &user, &headers, Some(&form), note, None, Some(message)).await
        }
        Err(other) => Err(other),
    }
}
