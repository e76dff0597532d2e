//! Administration (系统管理员): users, API tokens, the audit trail. Every
//! change is written with its audit entry in the same transaction.

use askama::Template;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::audit::{AuditAction, AuditRecord};
use crate::auth::crypto::{mask_phone, normalize, valid_mobile};
use crate::auth::policy::Action;
use crate::auth::{CurrentUser, TOKEN_PREFIX, check_csrf, csrf_token, password, random_token, token_hash};
use crate::domain::org::{Role, UnitKind};
use crate::error::AppError;
use crate::store::audit::AuditFilter;
use crate::store::org::Unit;
use crate::store::users::{ApiToken, NewUser, UserFilter, UserRow};
use crate::web::{Nav, field, form_pairs, render};

const PAGE: i64 = 50;

fn beijing(at: DateTime<Utc>) -> String {
    super::beijing_time(at, "%Y-%m-%d %H:%M:%S")
}

fn role_labels(codes: &str) -> String {
    codes.split(',').filter_map(Role::parse).map(Role::label).collect::<Vec<_>>().join("、")
}

fn roles_in(pairs: &[(String, String)]) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == "role")
        .filter_map(|(_, v)| Role::parse(v))
        .map(|r| r.code().to_string())
        .collect()
}

/// Units for a choice list: the tree in path order, indented by depth.
fn unit_choices(units: &[Unit]) -> Vec<(i64, String)> {
    units
        .iter()
        .map(|u| {
            let depth = u.path.matches('/').count().saturating_sub(2);
            let kind = UnitKind::from_code(&u.kind).map(UnitKind::label).unwrap_or("");
            (u.id, format!("{}{}（{kind}）", "　".repeat(depth), u.name))
        })
        .collect()
}

// ---- users ----------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    nav: Option<Nav>,
    rows: Vec<UserRow>,
    roles: Vec<(&'static str, &'static str)>,
    q: UsersQuery,
    next_url: Option<String>,
}

/// Filters of the user list.
#[derive(Deserialize, Default, Clone)]
pub struct UsersQuery {
    #[serde(default)]
    text: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    after: Option<i64>,
}

/// `GET /admin/users`.
pub async fn users(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(q): Query<UsersQuery>,
) -> Result<Response, AppError> {
    user.require(Action::ManageUsers)?;
    let filter = UserFilter {
        text: Some(q.text.clone()).filter(|t| !t.is_empty()),
        role: Role::parse(&q.role).map(|r| r.code().to_string()),
        unit_id: None,
        phone_index: Some(q.phone.clone()).filter(|p| !p.is_empty()).map(|p| state.crypto.index(&p)),
        after_id: q.after,
        limit: PAGE + 1,
    };
    let mut rows = state.store.users_page(user.district_id, &filter).await?;
    let next_url = (rows.len() as i64 > PAGE).then(|| {
        rows.truncate(PAGE as usize);
        let last = rows.last().map(|r| r.id).unwrap_or_default();
        format!("/admin/users?text={}&role={}&after={last}", q.text, q.role)
    });
    for row in &mut rows {
        row.roles = row.roles.as_deref().map(role_labels);
    }
    let page = UsersPage {
        nav: Some(Nav::of(&state, &user, &headers).await?),
        rows,
        roles: Role::ALL.iter().map(|r| (r.code(), r.label())).collect(),
        q,
        next_url,
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "admin_user_new.html")]
struct NewUserPage {
    nav: Option<Nav>,
    csrf: String,
    units: Vec<(i64, String)>,
    roles: Vec<(&'static str, &'static str)>,
    values: Vec<(String, String)>,
    errors: Vec<(&'static str, String)>,
    created: Option<(String, String)>,
}

impl NewUserPage {
    fn value(&self, name: &str) -> &str {
        field(&self.values, name)
    }
    fn checked(&self, role: &str) -> bool {
        self.values.iter().any(|(k, v)| k == "role" && v == role)
    }
    fn error(&self, name: &str) -> Option<&str> {
        self.errors.iter().find(|(k, _)| *k == name).map(|(_, e)| e.as_str())
    }
}

async fn new_user_page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    values: Vec<(String, String)>,
    errors: Vec<(&'static str, String)>,
    created: Option<(String, String)>,
) -> Result<Response, AppError> {
    let units = state.store.units(user.district_id).await?;
    render(&NewUserPage {
        nav: Some(Nav::of(state, user, headers).await?),
        csrf: csrf_token(headers),
        units: unit_choices(&units),
        roles: Role::ALL.iter().map(|r| (r.code(), r.label())).collect(),
        values,
        errors,
        created,
    })
}

/// `GET /admin/users/new`.
pub async fn new_user(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    user.require(Action::ManageUsers)?;
    new_user_page(&state, &user, &headers, Vec::new(), Vec::new(), None).await
}

/// `POST /admin/users`: creates an account with a generated password shown
/// once; the user must change it at first login.
pub async fn create_user(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    RawForm(raw): RawForm,
) -> Result<Response, AppError> {
    user.require(Action::ManageUsers)?;
    let values = form_pairs(&raw);
    check_csrf(&headers, field(&values, "csrf"))?;
    let mut errors: Vec<(&'static str, String)> = Vec::new();
    let username = field(&values, "username").to_string();
    let name = field(&values, "display_name").to_string();
    let phone = field(&values, "phone").to_string();
    if username.is_empty()
        || username.len() > 32
        || !username.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        errors.push(("username", "用户名为 1～32 位字母、数字或 . _ -".into()));
    } else if state.store.user_by_username(&username).await?.is_some() {
        errors.push(("username", format!("用户名“{username}”已被使用")));
    }
    if name.is_empty() || name.chars().count() > 32 {
        errors.push(("display_name", "请填写姓名（不超过 32 个字）".into()));
    }
    let units = state.store.units(user.district_id).await?;
    let unit = field(&values, "unit_id").parse::<i64>().ok().and_then(|id| units.iter().find(|u| u.id == id));
    if unit.is_none() {
        errors.push(("unit_id", "请选择所属单位".into()));
    }
    let roles = roles_in(&values);
    if roles.is_empty() {
        errors.push(("role", "请至少选择一个角色".into()));
    }
    if !phone.is_empty() && !valid_mobile(&phone) {
        errors.push(("phone", "手机号应为 11 位数字，以 1 开头".into()));
    }
    let Some(unit) = unit.filter(|_| errors.is_empty()) else {
        return new_user_page(&state, &user, &headers, values, errors, None).await;
    };
    let plain = password::generate(12);
    let to_hash = plain.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&to_hash)).await.map_err(AppError::internal)?;
    let new = NewUser {
        unit_id: unit.id,
        username: username.clone(),
        display_name: name,
        password_hash: hash,
        roles: roles.clone(),
        must_change_password: true,
        phone: (!phone.is_empty()).then(|| (state.crypto.encrypt(&normalize(&phone)), state.crypto.index(&phone))),
    };
    let detail = serde_json::json!({ "username": username, "unit": unit.code, "roles": roles }).to_string();
    let entry = user.audit(AuditAction::UserCreated, "", detail);
    state.store.create_user_audited(user.district_id, &new, &entry).await?;
    new_user_page(&state, &user, &headers, Vec::new(), Vec::new(), Some((username, plain))).await
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage {
    nav: Option<Nav>,
    csrf: String,
    account: crate::store::users::User,
    unit_name: String,
    units: Vec<(i64, String)>,
    roles: Vec<(&'static str, &'static str, bool)>,
    phone: Option<String>,
    phone_revealed: bool,
    can_reveal: bool,
    new_password: Option<String>,
    message: Option<String>,
    error: Option<String>,
    locked: bool,
}

#[derive(Default)]
struct UserPageExtras {
    phone_clear: Option<String>,
    new_password: Option<String>,
    message: Option<String>,
    error: Option<String>,
}

async fn user_page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    id: i64,
    extras: UserPageExtras,
) -> Result<Response, AppError> {
    let account = state.store.user(user.district_id, id).await?.ok_or(AppError::NotFound)?;
    let held = state.store.roles_of(id).await?;
    let units = state.store.units(user.district_id).await?;
    let unit_name = units.iter().find(|u| u.id == account.unit_id).map(|u| u.name.clone()).unwrap_or_default();
    let masked = account
        .phone_enc
        .as_ref()
        .map(|stored| state.crypto.decrypt(stored).map(|p| mask_phone(&p)).unwrap_or_else(|e| e.to_string()));
    let phone_revealed = extras.phone_clear.is_some();
    let page = UserPage {
        nav: Some(Nav::of(state, user, headers).await?),
        csrf: csrf_token(headers),
        locked: account.locked_until.is_some_and(|t| t > Utc::now()),
        unit_name,
        units: unit_choices(&units),
        roles: Role::ALL.iter().map(|r| (r.code(), r.label(), held.iter().any(|h| h == r.code()))).collect(),
        phone: extras.phone_clear.or(masked),
        phone_revealed,
        can_reveal: user.may(Action::RevealPersonalData),
        new_password: extras.new_password,
        message: extras.message,
        error: extras.error,
        account,
    };
    render(&page)
}

/// `GET /admin/users/{id}`.
pub async fn user_detail(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Action::ManageUsers)?;
    user_page(&state, &user, &headers, id, UserPageExtras::default()).await
}

/// `POST /admin/users/{id}/roles`: the unit (data scope) and roles.
pub async fn set_roles(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    RawForm(raw): RawForm,
) -> Result<Response, AppError> {
    user.require(Action::ManageUsers)?;
    let values = form_pairs(&raw);
    check_csrf(&headers, field(&values, "csrf"))?;
    let account = state.store.user(user.district_id, id).await?.ok_or(AppError::NotFound)?;
    let units = state.store.units(user.district_id).await?;
    let unit = field(&values, "unit_id").parse::<i64>().ok().and_then(|u| units.iter().find(|x| x.id == u));
    let roles = roles_in(&values);
    let error = match (unit, roles.is_empty()) {
        (None, _) => Some("请选择所属单位".to_string()),
        (_, true) => Some("请至少选择一个角色".to_string()),
        _ if Some(account.id) == user.user_id && !roles.iter().any(|r| r == Role::Admin.code()) => {
            Some("不能取消自己的系统管理员角色（避免无人管理）".to_string())
        }
        _ => None,
    };
    if let Some(error) = error {
        return user_page(&state, &user, &headers, id, UserPageExtras { error: Some(error), ..Default::default() })
            .await;
    }
    let unit = unit.expect("checked above");
    let before = state.store.roles_of(id).await?;
    let old_unit = units.iter().find(|u| u.id == account.unit_id).map(|u| u.code.clone()).unwrap_or_default();
    let detail = serde_json::json!({
        "before": { "unit": old_unit, "roles": before },
        "after": { "unit": unit.code, "roles": roles },
    })
    .to_string();
    let entry = user.audit(AuditAction::RolesChanged, format!("user:{id}"), detail);
    state.store.set_unit_and_roles(user.district_id, id, unit.id, &roles, &entry).await?;
    let extras = UserPageExtras {
        message: Some("单位和角色已更新，该用户需重新登录".into()), ..Default::default()
    };
    user_page(&state, &user, &headers, id, extras).await
}

/// A form with a CSRF token and a yes/no value.
#[derive(Deserialize)]
pub struct FlagForm {
    csrf: String,
    #[serde(default)]
    value: String,
}

/// `POST /admin/users/{id}/disabled`: `value=1` disables, `value=0` enables.
pub async fn set_disabled(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<FlagForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageUsers)?;
    check_csrf(&headers, &form.csrf)?;
    state.store.user(user.district_id, id).await?.ok_or(AppError::NotFound)?;
    let disable = form.value == "1";
    if disable && Some(id) == user.user_id {
        let extras = UserPageExtras { error: Some("不能停用自己的账号".into()), ..Default::default() };
        return user_page(&state, &user, &headers, id, extras).await;
    }
    let action = if disable { AuditAction::UserDisabled } else { AuditAction::UserEnabled };
    state.store.set_disabled(id, disable, &user.audit(action, format!("user:{id}"), "")).await?;
    let message = if disable { "账号已停用，其登录已全部退出" } else { "账号已启用" };
    user_page(&state, &user, &headers, id, UserPageExtras { message: Some(message.into()), ..Default::default() }).await
}

/// `POST /admin/users/{id}/password`: a new password, shown once; the user
/// must change it at next login, and the lock is lifted.
pub async fn reset_password(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<FlagForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageUsers)?;
    check_csrf(&headers, &form.csrf)?;
    state.store.user(user.district_id, id).await?.ok_or(AppError::NotFound)?;
    let plain = password::generate(12);
    let to_hash = plain.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&to_hash)).await.map_err(AppError::internal)?;
    state.store.reset_password(id, &hash, &user.audit(AuditAction::PasswordReset, format!("user:{id}"), "")).await?;
    user_page(&state, &user, &headers, id, UserPageExtras { new_password: Some(plain), ..Default::default() }).await
}

/// `POST /admin/users/{id}/phone`: shows the phone number in clear; the
/// audit entry is written before the number is shown.
pub async fn reveal_phone(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<FlagForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageUsers)?;
    user.require(Action::RevealPersonalData)?;
    check_csrf(&headers, &form.csrf)?;
    let entry = user.audit(AuditAction::PersonalDataRevealed, format!("user:{id}"), r#"{"field":"phone"}"#);
    let stored = state.store.reveal_phone(user.district_id, id, &entry).await?;
    let phone = match stored {
        Some(stored) => state.crypto.decrypt(&stored).map_err(AppError::internal)?,
        None => String::new(),
    };
    user_page(&state, &user, &headers, id, UserPageExtras { phone_clear: Some(phone), ..Default::default() }).await
}

// ---- API tokens -----------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_tokens.html")]
struct TokensPage {
    nav: Option<Nav>,
    csrf: String,
    tokens: Vec<(ApiToken, String, String, String, String)>,
    units: Vec<(i64, String)>,
    roles: Vec<(&'static str, &'static str)>,
    created: Option<String>,
    error: Option<String>,
    /// What a refused form held: (name, unit id, role codes).
    typed: (String, String, Vec<String>),
}

impl TokensPage {
    fn unit_chosen(&self, id: &i64) -> bool {
        self.typed.1 == id.to_string()
    }
    fn role_chosen(&self, code: &str) -> bool {
        self.typed.2.iter().any(|r| r == code)
    }
}

async fn tokens_page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    created: Option<String>,
    error: Option<String>,
    typed: (String, String, Vec<String>),
) -> Result<Response, AppError> {
    let units = state.store.units(user.district_id).await?;
    let tokens = state
        .store
        .api_tokens(user.district_id)
        .await?
        .into_iter()
        .map(|t| {
            let unit = units.iter().find(|u| u.id == t.unit_id).map(|u| u.name.clone()).unwrap_or_default();
            let roles = role_labels(&t.roles);
            let used = t.last_used_at.map(beijing).unwrap_or_else(|| "从未".into());
            let created_at = beijing(t.created_at);
            (t, unit, roles, used, created_at)
        })
        .collect();
    render(&TokensPage {
        nav: Some(Nav::of(state, user, headers).await?),
        csrf: csrf_token(headers),
        tokens,
        units: unit_choices(&units),
        roles: Role::ALL.iter().map(|r| (r.code(), r.label())).collect(),
        created,
        error,
        typed,
    })
}

/// `GET /admin/tokens`.
pub async fn tokens(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    user.require(Action::ManageTokens)?;
    tokens_page(&state, &user, &headers, None, None, Default::default()).await
}

/// `POST /admin/tokens`: a new token, shown once; only its hash is kept.
pub async fn create_token(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    RawForm(raw): RawForm,
) -> Result<Response, AppError> {
    user.require(Action::ManageTokens)?;
    let values = form_pairs(&raw);
    check_csrf(&headers, field(&values, "csrf"))?;
    let name = field(&values, "name").to_string();
    let units = state.store.units(user.district_id).await?;
    let unit = field(&values, "unit_id").parse::<i64>().ok().and_then(|u| units.iter().find(|x| x.id == u));
    let roles = roles_in(&values);
    let error = if name.is_empty() || name.chars().count() > 64 {
        Some("请填写令牌名称（不超过 64 个字），写明是哪个系统在用".to_string())
    } else if unit.is_none() {
        Some("请选择令牌的数据范围（单位）".to_string())
    } else if roles.is_empty() {
        Some("请至少选择一个角色".to_string())
    } else {
        None
    };
    if error.is_some() {
        let typed = (name, field(&values, "unit_id").to_string(), roles);
        return tokens_page(&state, &user, &headers, None, error, typed).await;
    }
    let unit = unit.expect("checked above");
    let token = format!("{TOKEN_PREFIX}{}", random_token());
    let prefix: String = token.chars().take(TOKEN_PREFIX.len() + 6).collect();
    let detail = serde_json::json!({ "name": name, "unit": unit.code, "roles": roles }).to_string();
    let entry = user.audit(AuditAction::TokenCreated, "", detail);
    state
        .store
        .create_api_token(
            user.district_id,
            &name,
            unit.id,
            &roles,
            &token_hash(&token),
            &prefix,
            user.person()?,
            &entry,
        )
        .await?;
    tokens_page(&state, &user, &headers, Some(token), None, Default::default()).await
}

/// `POST /admin/tokens/{id}/revoke`.
pub async fn revoke_token(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<FlagForm>,
) -> Result<Response, AppError> {
    user.require(Action::ManageTokens)?;
    check_csrf(&headers, &form.csrf)?;
    let entry = user.audit(AuditAction::TokenRevoked, format!("token:{id}"), "");
    if !state.store.revoke_api_token(user.district_id, id, &entry).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/admin/tokens").into_response())
}

// ---- the audit trail --------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    rows: Vec<(AuditRecord, String, &'static str)>,
    actions: Vec<(&'static str, &'static str)>,
    q: AuditQuery,
    next_url: Option<String>,
    error: Option<String>,
}

/// Filters of the audit page.
#[derive(Deserialize, Default, Clone)]
pub struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: Option<i64>,
}

fn day_start(raw: &str) -> Result<Option<DateTime<Utc>>, String> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    super::day_start(raw, 0).map(Some).ok_or_else(|| format!("日期“{raw}”应写成 2026-11-27"))
}

/// `GET /admin/audit`.
pub async fn audit(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    user.require(Action::ViewAudit)?;
    let (from, to, error) = match (day_start(&q.from), day_start(&q.to)) {
        (Ok(from), Ok(to)) => (from, to.map(|t| t + chrono::Duration::days(1)), None),
        (Err(e), _) | (_, Err(e)) => (None, None, Some(e)),
    };
    let filter = AuditFilter {
        action: AuditAction::from_code(&q.action).map(|a| a.code().to_string()),
        actor: Some(q.actor.clone()).filter(|a| !a.is_empty()),
        from,
        to,
        before_id: q.before,
        limit: PAGE + 1,
    };
    let mut records = state.store.audit_page(user.district_id, &filter).await?;
    let next_url = (records.len() as i64 > PAGE).then(|| {
        records.truncate(PAGE as usize);
        let last = records.last().map(|r| r.id).unwrap_or_default();
        format!("/admin/audit?action={}&actor={}&from={}&to={}&before={last}", q.action, q.actor, q.from, q.to)
    });
    let rows = records
        .into_iter()
        .map(|r| {
            let at = beijing(r.at);
            let label = AuditAction::from_code(&r.action).map(AuditAction::label).unwrap_or("");
            (r, at, label)
        })
        .collect();
    render(&AuditPage {
        nav: Some(Nav::of(&state, &user, &headers).await?),
        rows,
        actions: AuditAction::ALL.iter().map(|a| (a.code(), a.label())).collect(),
        q,
        next_url,
        error,
    })
}
