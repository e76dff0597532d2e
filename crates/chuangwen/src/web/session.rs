//! Logging in and out, and each user's own account: password, sessions.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::audit::{AuditAction, NewAuditEntry};
use crate::auth::{
    CHANGE_PASSWORD_PATH, ClientIp, CurrentUser, SESSION_COOKIE, check_csrf, cookie, csrf_token, password,
    random_token, set_cookie, token_hash,
};
use crate::error::AppError;
use crate::store::users::FailedLogin;
use crate::web::{Nav, render};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    csrf: String,
    username: String,
    error: Option<String>,
}

/// Appends a `Set-Cookie` header.
pub fn with_cookie(mut response: Response, cookie: &str) -> Result<Response, AppError> {
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(cookie).map_err(AppError::internal)?);
    Ok(response)
}

fn login_page(headers: &HeaderMap, username: String, error: Option<String>) -> Result<Response, AppError> {
    render(&LoginPage { nav: None, csrf: csrf_token(headers), username, error })
}

/// `GET /login`.
pub async fn form(headers: HeaderMap) -> Result<Response, AppError> {
    login_page(&headers, String::new(), None)
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    username: String,
    password: String,
}

fn local_time(at: chrono::DateTime<Utc>) -> String {
    super::beijing_time(at, "%H:%M")
}

/// `POST /login`: checks the password off the async threads, counts
/// failures, locks the account at the configured threshold, starts a session.
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    check_csrf(&headers, &form.csrf)?;
    let username = form.username.trim().to_string();
    if username.is_empty() || form.password.is_empty() {
        return login_page(&headers, username, Some("请输入用户名和密码".into()));
    }
    let security = &state.config.security;
    let store = &state.store;
    let user = store.user_by_username(&username).await?;
    if let Some(until) = user.as_ref().and_then(|u| u.locked_until).filter(|until| *until > Utc::now()) {
        let entry = NewAuditEntry {
            district_id: user.as_ref().map(|u| u.district_id),
            actor_id: user.as_ref().map(|u| u.id),
            actor: username.clone(),
            action: AuditAction::LoginFailed,
            object: user.as_ref().map(|u| format!("user:{}", u.id)).unwrap_or_default(),
            detail: r#"{"reason":"locked"}"#.into(),
            ip,
        };
        store.audit(&entry).await?;
        let message = format!("账号已被锁定，请于 {} 后再试，或联系系统管理员解锁", local_time(until));
        return login_page(&headers, username, Some(message));
    }
    // Verify against a dummy hash when the user is unknown, so the time
    // taken does not reveal which usernames exist.
    let stored = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(dummy_hash);
    let given = form.password.clone();
    let matches =
        tokio::task::spawn_blocking(move || password::verify(&stored, &given)).await.map_err(AppError::internal)?;
    let user = match user {
        Some(user) if matches => user,
        user => {
            let outcome = store
                .record_failed_login(
                    user.as_ref(),
                    &username,
                    &ip,
                    security.lockout_threshold as i64,
                    chrono::Duration::minutes(security.lockout_minutes as i64),
                )
                .await?;
            let message = match outcome {
                Some(FailedLogin::Locked(until)) => {
                    tracing::warn!(username = %username, "account locked after repeated failures");
                    format!("连续 {} 次密码错误，账号已锁定至 {}", security.lockout_threshold, local_time(until))
                }
                _ => "用户名或密码错误".to_string(),
            };
            return login_page(&headers, username, Some(message));
        }
    };
    if user.disabled {
        return login_page(&headers, username, Some("账号已停用，请联系系统管理员".into()));
    }
    let token = random_token();
    store.record_login(&user, &token_hash(&token), &ip).await?;
    tracing::info!(user = user.id, "login");
    let next = if user.must_change_password { CHANGE_PASSWORD_PATH } else { "/" };
    let lifetime = std::time::Duration::from_secs(security.session_lifetime_hours as u64 * 3600);
    let cookie = set_cookie(SESSION_COOKIE, &token, Some(lifetime), security.secure_cookies);
    with_cookie(Redirect::to(next).into_response(), &cookie)
}

fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| password::hash("not a real password")).clone()
}

/// A form that carries only its CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

fn expired_session_cookie(state: &AppState) -> String {
    set_cookie(SESSION_COOKIE, "", Some(std::time::Duration::ZERO), state.config.security.secure_cookies)
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    check_csrf(&headers, &form.csrf)?;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        let hash = token_hash(&token);
        match state.store.session_user(&hash).await? {
            Some(crate::store::users::SessionUser { user, .. }) => {
                let entry = NewAuditEntry {
                    district_id: Some(user.district_id),
                    actor_id: Some(user.id),
                    actor: user.username.clone(),
                    action: AuditAction::Logout,
                    object: format!("user:{}", user.id),
                    detail: String::new(),
                    ip,
                };
                state.store.logout(&hash, &entry).await?;
            }
            None => state.store.delete_session(&hash).await?,
        }
    }
    with_cookie(Redirect::to("/login").into_response(), &expired_session_cookie(&state))
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Option<Nav>,
    forced: bool,
    csrf: String,
    unit_name: String,
    sessions: i64,
    errors: PasswordErrors,
    saved: bool,
}

/// Messages beside the fields of the password form.
#[derive(Default)]
struct PasswordErrors {
    current: Option<String>,
    new: Option<String>,
    confirm: Option<String>,
}

async fn account_page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    errors: PasswordErrors,
    saved: bool,
) -> Result<Response, AppError> {
    let nav = if user.must_change_password { None } else { Some(Nav::of(state, user, headers).await?) };
    let page = AccountPage {
        nav,
        forced: user.must_change_password,
        csrf: csrf_token(headers),
        unit_name: state.store.unit_by_id(user.unit_id).await?.name,
        sessions: state.store.session_count(user.person()?).await?,
        errors,
        saved,
    };
    render(&page)
}

/// `GET /account/password`: the user's account, where the password changes.
pub async fn account(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    account_page(&state, &user, &headers, PasswordErrors::default(), false).await
}

/// The password form.
#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
    confirm: String,
}

/// `POST /account/password`: checks the current password and the policy;
/// every other session of the user ends.
pub async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    check_csrf(&headers, &form.csrf)?;
    let account = state.store.user(user.district_id, user.person()?).await?.ok_or(AppError::NotFound)?;
    let mut errors = PasswordErrors::default();
    let stored = account.password_hash.clone();
    let current = form.current.clone();
    let current_ok =
        tokio::task::spawn_blocking(move || password::verify(&stored, &current)).await.map_err(AppError::internal)?;
    if !current_ok {
        errors.current = Some("当前密码不正确".into());
    }
    if let Err(reason) = password::check_policy(&form.new, &user.username) {
        errors.new = Some(reason);
    } else if form.new == form.current {
        errors.new = Some("新密码不能与当前密码相同".into());
    }
    if form.confirm != form.new {
        errors.confirm = Some("两次输入的新密码不一致".into());
    }
    if errors.current.is_some() || errors.new.is_some() || errors.confirm.is_some() {
        return account_page(&state, &user, &headers, errors, false).await;
    }
    let new = form.new.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&new)).await.map_err(AppError::internal)?;
    let keep = user.session_hash.clone().unwrap_or_default();
    state.store.change_own_password(&account, &hash, &keep, &user.ip).await?;
    let updated = CurrentUser { must_change_password: false, ..user };
    account_page(&state, &updated, &headers, PasswordErrors::default(), true).await
}

/// `POST /account/logout-everywhere`: ends every session of the user, this one too.
pub async fn logout_everywhere(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    check_csrf(&headers, &form.csrf)?;
    let entry = user.audit(AuditAction::LogoutEverywhere, format!("user:{}", user.person()?), "");
    state.store.logout_everywhere(user.person()?, &entry).await?;
    with_cookie(Redirect::to("/login").into_response(), &expired_session_cookie(&state))
}
