//! Logging in and out.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::{
    self, SESSION_COOKIE, check_csrf, cookie, csrf_token, password, random_token, set_cookie, token_hash,
};
use crate::error::AppError;
use crate::web::{Nav, render};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    csrf: String,
    username: String,
    error: Option<String>,
}

fn login_page(headers: &HeaderMap, username: String, error: Option<String>) -> Result<Response, AppError> {
    let (csrf, set) = csrf_token(headers);
    let mut response = render(&LoginPage { nav: None, csrf, username, error })?;
    if let Some(set) = set {
        response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&set).map_err(AppError::internal)?);
    }
    Ok(response)
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

/// `POST /login`: checks the password off the async threads, starts a session.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    check_csrf(&headers, &form.csrf)?;
    let username = form.username.trim().to_string();
    let wrong = || login_page(&headers, username.clone(), Some("用户名或密码错误".into()));
    if username.is_empty() || form.password.is_empty() {
        return login_page(&headers, username, Some("请输入用户名和密码".into()));
    }
    let user = state.store.user_by_username(&username).await?;
    // Verify against a dummy hash when the user is unknown, so timing does
    // not reveal which usernames exist.
    let stored = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(dummy_hash);
    let given = form.password.clone();
    let matches =
        tokio::task::spawn_blocking(move || password::verify(&stored, &given)).await.map_err(AppError::internal)?;
    let Some(user) = user.filter(|u| matches && !u.disabled) else {
        tracing::info!(username = %username, "login failed");
        return wrong();
    };
    let token = random_token();
    state.store.create_session(&token_hash(&token), user.id).await?;
    tracing::info!(user = user.id, "login");
    let mut response = Redirect::to("/").into_response();
    let cookie = set_cookie(SESSION_COOKIE, &token, Some(auth::ABSOLUTE_LIFETIME));
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(AppError::internal)?);
    Ok(response)
}

fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| password::hash("not a real password")).clone()
}

/// The logout form.
#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, AppError> {
    check_csrf(&headers, &form.csrf)?;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.store.delete_session(&token_hash(&token)).await?;
    }
    let mut response = Redirect::to("/login").into_response();
    let expired = set_cookie(SESSION_COOKIE, "", Some(std::time::Duration::ZERO));
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&expired).map_err(AppError::internal)?);
    Ok(response)
}
