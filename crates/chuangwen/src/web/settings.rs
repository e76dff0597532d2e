//! The district's settings (data, not code): the category table with its
//! time limits, the working calendar, and the dispatch rules. The office
//! edits dispatch rules; the administrator replaces the category table and
//! the calendar. A refused change keeps what was typed and changes nothing.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::api::dispatch::save_rules;
use crate::api::settings::{save_calendar, save_categories};
use crate::app::AppState;
use crate::auth::policy::Action;
use crate::auth::{CurrentUser, check_csrf, csrf_token};
use crate::domain::calendar;
use crate::domain::categories;
use crate::domain::dispatch::{PlaceKind, Rule};
use crate::error::AppError;
use crate::web::{Nav, render};

/// A category as the page lists it.
struct CategoryRow {
    code: String,
    name: String,
    class: String,
    campaign: String,
    /// (condition, time limit, closing condition)
    conditions: Vec<(String, String, String)>,
}

/// A dispatch rule as the page lists it.
struct RuleRow {
    /// What names the rule in a removal: its content, not its row, so an edit
    /// made meanwhile by someone else never removes the wrong rule.
    key: String,
    category: String,
    place_kind: &'static str,
    place: String,
    unit: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    nav: Option<Nav>,
    csrf: String,
    may_edit_tables: bool,
    may_edit_rules: bool,
    version: String,
    categories: Vec<CategoryRow>,
    category_text: String,
    calendar_text: String,
    rules: Vec<RuleRow>,
    category_choices: Vec<(String, String)>,
    units: Vec<(i64, String)>,
    rule_form: RuleForm,
    message: Option<String>,
    /// (section, message): `categories`, `calendar` or `rules`.
    error: Option<(&'static str, String)>,
}

impl SettingsPage {
    fn error_for(&self, section: &str) -> Option<&str> {
        self.error.as_ref().filter(|(s, _)| *s == section).map(|(_, m)| m.as_str())
    }
}

fn place_kind_label(kind: PlaceKind) -> &'static str {
    match kind {
        PlaceKind::Point => "点位",
        PlaceKind::Grid => "网格",
        PlaceKind::Street => "街道",
        PlaceKind::Category => "全区（按分类）",
    }
}

/// What the page is asked to show after a change.
#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

/// What may be typed again after a refusal.
#[derive(Default)]
struct Typed {
    categories: Option<String>,
    calendar: Option<String>,
    rule: RuleForm,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    typed: Typed,
    message: Option<String>,
    error: Option<(&'static str, String)>,
) -> Result<Response, AppError> {
    let table = state.store.categories(user.district_id).await?;
    let units = state.store.units(user.district_id).await?;
    let unit_names = super::unit_names(&units);
    let rules = state.store.dispatch_rules(user.district_id).await?;
    let grids: HashMap<i64, String> = if rules.iter().any(|r| r.place_kind == PlaceKind::Grid) {
        state
            .store
            .grids(user.district_id)
            .await?
            .into_iter()
            .map(|g| (g.id, format!("{} {}", g.code, g.name)))
            .collect()
    } else {
        HashMap::new()
    };
    let mut rule_rows = Vec::new();
    for rule in &rules {
        let place = match (rule.place_kind, rule.place_id) {
            (PlaceKind::Street, Some(id)) => unit_names.get(&id).cloned().unwrap_or_default(),
            (PlaceKind::Grid, Some(id)) => grids.get(&id).cloned().unwrap_or_default(),
            (PlaceKind::Point, Some(id)) => state
                .store
                .point(user.district_id, &crate::auth::policy::Scope::District, id)
                .await?
                .map(|p| format!("{} {}", p.code, p.name))
                .unwrap_or_default(),
            _ => String::new(),
        };
        rule_rows.push(RuleRow {
            key: rule_key(rule),
            category: if rule.category_code == "*" {
                "任何分类".into()
            } else {
                table.category(&rule.category_code).map(|c| format!("{} {}", c.code, c.name)).unwrap_or_default()
            },
            place_kind: place_kind_label(rule.place_kind),
            place,
            unit: unit_names.get(&rule.unit_id).cloned().unwrap_or_default(),
        });
    }
    let categories = table
        .categories
        .iter()
        .map(|c| CategoryRow {
            code: c.code.clone(),
            name: c.name.clone(),
            class: table.classes.iter().find(|k| k.code == c.class()).map(|k| k.name.clone()).unwrap_or_default(),
            campaign: table.campaign(&c.campaign).map(|k| k.name.clone()).unwrap_or_default(),
            conditions: c
                .conditions
                .iter()
                .map(|k| (k.name.clone(), k.time_limit().to_string(), k.closing.clone()))
                .collect(),
        })
        .collect();
    let category_text = match typed.categories {
        Some(text) => text,
        None => state
            .store
            .category_table_text(user.district_id)
            .await?
            .map(|(_, body)| body)
            .unwrap_or_else(|| categories::SHIPPED.to_string()),
    };
    let calendar_text = match typed.calendar {
        Some(text) => text,
        None => state.store.calendar_text(user.district_id).await?.unwrap_or_else(|| calendar::SHIPPED.to_string()),
    };
    render(&SettingsPage {
        nav: Some(Nav::of(state, user, headers).await?),
        csrf: csrf_token(headers),
        may_edit_tables: user.may(Action::ManageSettings),
        may_edit_rules: user.may(Action::ManageDispatchRules),
        version: table.version.clone(),
        category_choices: table.categories.iter().map(|c| (c.code.clone(), format!("{} {}", c.code, c.name))).collect(),
        categories,
        category_text,
        calendar_text,
        rules: rule_rows,
        units: super::assignable_units(&units),
        rule_form: typed.rule,
        message,
        error,
    })
}

fn may_see(user: &CurrentUser) -> Result<(), AppError> {
    if user.may(Action::ManageDispatchRules) || user.may(Action::ManageSettings) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// `GET /settings`.
pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    may_see(&user)?;
    let message = match q.done.as_str() {
        "categories" => Some("分类表已保存为新版本；此后上报的案卷按新版本立案，此前的案卷不变。".to_string()),
        "calendar" => Some("工作日历已保存；此后的期限按新日历计算。".to_string()),
        "rules" => Some("派遣规则已保存。".to_string()),
        _ => None,
    };
    page(&state, &user, &headers, Typed::default(), message, None).await
}

/// A table typed or pasted into the page.
#[derive(Deserialize)]
pub struct TableForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
}

/// `POST /settings/categories`: a new version of the category table.
pub async fn replace_categories(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<TableForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageSettings)?;
    check_csrf(&headers, &form.csrf)?;
    match save_categories(&state, &user, &form.body).await {
        Ok(_) => Ok(Redirect::to("/settings?done=categories").into_response()),
        Err(AppError::Invalid { message, .. }) => {
            let typed = Typed { categories: Some(form.body), ..Default::default() };
            page(&state, &user, &headers, typed, None, Some(("categories", message))).await
        }
        Err(other) => Err(other),
    }
}

/// `POST /settings/calendar`: replaces the working calendar.
pub async fn replace_calendar(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<TableForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageSettings)?;
    check_csrf(&headers, &form.csrf)?;
    match save_calendar(&state, &user, &form.body).await {
        Ok(()) => Ok(Redirect::to("/settings?done=calendar").into_response()),
        Err(AppError::Invalid { message, .. }) => {
            let typed = Typed { calendar: Some(form.body), ..Default::default() };
            page(&state, &user, &headers, typed, None, Some(("calendar", message))).await
        }
        Err(other) => Err(other),
    }
}

/// A rule's content as one string (category, kind, place, unit).
fn rule_key(rule: &Rule) -> String {
    let place = rule.place_id.map(|p| p.to_string()).unwrap_or_default();
    format!("{}|{}|{}|{}", rule.category_code, rule.place_kind.code(), place, rule.unit_id)
}

/// A rule to add, or one to remove (`remove` = its key, see `rule_key`).
#[derive(Deserialize, Default)]
pub struct RuleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    place_kind: String,
    /// The place's code: a point's code, a grid's 15-digit code, a street's unit code.
    #[serde(default)]
    place: String,
    #[serde(default)]
    unit_id: String,
    #[serde(default)]
    remove: Option<String>,
}

impl RuleForm {
    fn unit_is(&self, id: &i64) -> bool {
        self.unit_id == id.to_string()
    }
}

/// Finds the place a rule names, by its code.
async fn place_of(state: &AppState, district_id: i64, kind: PlaceKind, code: &str) -> Result<Option<i64>, AppError> {
    let code = code.trim();
    if kind == PlaceKind::Category {
        return Ok(None);
    }
    let not_found =
        |what: &str| AppError::Invalid { field: "place".into(), message: format!("找不到{what}“{code}”") };
    if code.is_empty() {
        return Err(AppError::Invalid { field: "place".into(), message: "请填写地点编码".into() });
    }
    match kind {
        PlaceKind::Street => match state.store.unit_by_code(district_id, code).await? {
            Some(unit) if crate::domain::org::UnitKind::from_code(&unit.kind).is_some_and(|k| k.is_street_level()) => {
                Ok(Some(unit.id))
            }
            _ => Err(not_found("街道")),
        },
        PlaceKind::Grid => {
            let grids = state.store.grids(district_id).await?;
            grids.iter().find(|g| g.code == code).map(|g| Some(g.id)).ok_or_else(|| not_found("网格"))
        }
        PlaceKind::Point => {
            let points = state.store.all_points(district_id).await?;
            points.iter().find(|p| p.code == code).map(|p| Some(p.id)).ok_or_else(|| not_found("点位"))
        }
        PlaceKind::Category => Ok(None),
    }
}

/// `POST /settings/dispatch-rules`: adds a rule, or removes one.
pub async fn change_rules(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<RuleForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageDispatchRules)?;
    check_csrf(&headers, &form.csrf)?;
    let mut rules = state.store.dispatch_rules(user.district_id).await?;
    let outcome = async {
        if let Some(key) = &form.remove {
            let Some(row) = rules.iter().position(|r| &rule_key(r) == key) else {
                let message = "这条规则已不存在（可能刚被他人修改），请刷新后再看".into();
                return Err(AppError::Invalid { field: "remove".into(), message });
            };
            rules.remove(row);
        } else {
            let place_kind = PlaceKind::from_code(&form.place_kind).ok_or_else(|| AppError::Invalid {
                field: "place_kind".into(),
                message: "请选择规则适用的范围".into(),
            })?;
            let unit_id = form
                .unit_id
                .parse()
                .map_err(|_| AppError::Invalid { field: "unit_id".into(), message: "请选择责任单位".into() })?;
            let category_code = if form.category.is_empty() { "*".to_string() } else { form.category.clone() };
            let place_id = place_of(&state, user.district_id, place_kind, &form.place).await?;
            rules.push(Rule { category_code, place_kind, place_id, unit_id });
        }
        save_rules(&state, &user, &rules).await
    }
    .await;
    match outcome {
        Ok(_) => Ok(Redirect::to("/settings?done=rules#rules").into_response()),
        Err(AppError::Invalid { message, .. }) => {
            let typed = Typed { rule: RuleForm { csrf: String::new(), remove: None, ..form }, ..Default::default() };
            page(&state, &user, &headers, typed, None, Some(("rules", message))).await
        }
        Err(other) => Err(other),
    }
}
