//! The home page: the district at a glance.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::auth::policy::Action;
use crate::domain::org::{Role, UnitKind};
use crate::domain::places::point_types;
use crate::error::AppError;
use crate::store::org::District;
use crate::web::{Nav, render};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    nav: Option<Nav>,
    inbox: Vec<(&'static str, i64, String)>,
    district: District,
    tiles: Vec<(&'static str, i64)>,
    point_types: Vec<(String, String, i64)>,
    roles: Vec<(&'static str, i64)>,
    unit_kinds: Vec<(&'static str, i64)>,
}

/// `GET /`.
pub async fn page(State(state): State<AppState>, user: CurrentUser, headers: HeaderMap) -> Result<Response, AppError> {
    user.require(Action::ViewDistrict)?;
    let district_id = user.district_id;
    let store = &state.store;
    let district = store.district(district_id).await?;
    let unit_counts = store.unit_counts(district_id).await?;
    let count_of = |kinds: &[UnitKind]| -> i64 {
        unit_counts
            .iter()
            .filter(|(k, _)| UnitKind::from_code(k).is_some_and(|k| kinds.contains(&k)))
            .map(|(_, n)| n)
            .sum()
    };
    let (grids, points, shops) = store.place_totals(district_id).await?;
    let tiles = vec![
        ("街道（镇）", count_of(&[UnitKind::Street, UnitKind::Town])),
        ("社区（村）", count_of(&[UnitKind::Community, UnitKind::Village])),
        ("单元网格", grids),
        ("点位", points),
        ("门前三包商户", shops),
        (
            "部门及单位",
            count_of(&[
                UnitKind::Department,
                UnitKind::School,
                UnitKind::Hospital,
                UnitKind::Market,
                UnitKind::Enterprise,
                UnitKind::Other,
            ]),
        ),
    ];
    // Shown in the order people know them: the data file's, the role list's.
    let point_counts = store.point_counts(district_id).await?;
    let point_types = point_types()
        .iter()
        .filter_map(|t| {
            point_counts.iter().find(|(code, _)| *code == t.code).map(|(_, n)| (t.code.clone(), t.name.clone(), *n))
        })
        .collect();
    let role_counts = store.role_counts(district_id).await?;
    let roles = Role::ALL
        .iter()
        .filter_map(|r| role_counts.iter().find(|(code, _)| code == r.code()).map(|(_, n)| (r.label(), *n)))
        .collect();
    let unit_kinds = UnitKind::ALL
        .iter()
        .filter_map(|k| unit_counts.iter().find(|(code, _)| code == k.code()).map(|(_, n)| (k.label(), *n)))
        .collect();
    let inbox = inbox_tiles(&state, &user).await?;
    let nav = Some(Nav::of(&state, &user, &headers).await?);
    render(&HomePage { nav, inbox, district, tiles, point_types, roles, unit_kinds })
}

/// The piles of work a user's roles look at first, with links to each.
async fn inbox_tiles(state: &AppState, user: &CurrentUser) -> Result<Vec<(&'static str, i64, String)>, AppError> {
    let inbox = state.store.inbox(user.district_id, &user.scope(), user.user_id).await?;
    let has = |roles: &[Role]| user.roles.iter().any(|r| roles.contains(r));
    let link = |query: &str| format!("/cases?{query}");
    let mut tiles = Vec::new();
    if has(&[Role::Office, Role::Admin]) {
        tiles.push(("待受理", inbox.reported, link("state=reported")));
        tiles.push(("待派遣", inbox.accepted, "/cases/dispatch".to_string()));
        tiles.push(("回退、延期、挂账申请", inbox.requests, link("state=requests")));
    }
    if has(&[Role::Handler, Role::UnitLead]) {
        tiles.push(("待签收", inbox.dispatched, link("state=dispatched")));
        tiles.push(("待处置", inbox.in_progress, link("state=in_progress")));
    }
    if has(&[Role::Inspector, Role::Office, Role::Admin]) {
        tiles.push(("待核查", inbox.handled, link("state=handled")));
    }
    if has(&[Role::Office, Role::Admin, Role::Handler, Role::UnitLead, Role::Leader, Role::Inspector]) {
        tiles.push(("即将超期", inbox.amber, link("amber=1")));
        tiles.push(("已超期", inbox.overdue, link("overdue=1")));
    }
    if has(&[Role::UnitLead, Role::Leader, Role::Office, Role::Admin]) {
        let unread = state.store.unread_supervision_orders(user.district_id, &user.scope()).await?;
        tiles.push(("督办", unread, "/supervision".to_string()));
    }
    tiles.push(("我上报的（办理中）", inbox.mine, link("mine=1")));
    Ok(tiles)
}
