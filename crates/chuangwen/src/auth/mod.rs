//! Who is asking and what they may do: sessions, the policy (role × action ×
//! scope), CSRF tokens. The access issue builds lockout, tokens and the
//! audit trail on this.

pub mod password;
pub mod policy;

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::domain::org::Role;
use crate::error::AppError;
use crate::store::users::User;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "cw_session";
/// Name of the CSRF cookie (double-submit: the form carries the same value).
pub const CSRF_COOKIE: &str = "cw_csrf";
/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after login, however busy.
pub const ABSOLUTE_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The logged-in user of a request.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    /// The account.
    pub user: User,
    /// Roles held.
    pub roles: Vec<Role>,
}

impl CurrentUser {
    /// True when any role allows the action (see [`policy::allows`]).
    pub fn may(&self, action: policy::Action) -> bool {
        policy::allows(&self.roles, action)
    }
    /// Refuses with 403 unless a role allows the action.
    pub fn require(&self, action: policy::Action) -> Result<(), AppError> {
        if self.may(action) { Ok(()) } else { Err(AppError::Forbidden) }
    }
}

/// Reads one cookie from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, path `/`.
pub fn set_cookie(name: &str, value: &str, max_age: Option<Duration>) -> String {
    let age = max_age.map(|d| format!("; Max-Age={}", d.as_secs())).unwrap_or_default();
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{age}")
}

/// A fresh random token (256 bits, hex).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a token, hex: what the database keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the double-submitted CSRF token of a form.
pub fn check_csrf(headers: &HeaderMap, form_token: &str) -> Result<(), AppError> {
    match cookie(headers, CSRF_COOKIE) {
        Some(expected) if !form_token.is_empty() && expected == form_token => Ok(()),
        _ => Err(AppError::Csrf),
    }
}

/// The CSRF token of this browser, and the cookie to set when it is new.
pub fn csrf_token(headers: &HeaderMap) -> (String, Option<String>) {
    match cookie(headers, CSRF_COOKIE).filter(|t| t.len() == 64) {
        Some(token) => (token, None),
        None => {
            let token = random_token();
            let set = set_cookie(CSRF_COOKIE, &token, None);
            (token, Some(set))
        }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(AppError::Unauthenticated)?;
        let hash = token_hash(&token);
        let (user, created_at, last_seen) = state.store.session_user(&hash).await?.ok_or(AppError::Unauthenticated)?;
        let now = Utc::now();
        let idle = (now - last_seen).to_std().unwrap_or_default();
        let age = (now - created_at).to_std().unwrap_or_default();
        if user.disabled || idle > IDLE_TIMEOUT || age > ABSOLUTE_LIFETIME {
            state.store.delete_session(&hash).await?;
            return Err(AppError::Unauthenticated);
        }
        // Touch at most once a minute: a page load is several requests.
        if (now - last_seen).num_seconds() > 60 {
            state.store.touch_session(&hash).await?;
        }
        let roles = state.store.roles_of(user.id).await?.iter().filter_map(|r| Role::parse(r)).collect();
        Ok(CurrentUser { user, roles })
    }
}

/// The logged-in user of an API request: refused with a JSON 401, not a redirect.
#[derive(Clone, Debug)]
pub struct ApiUser(pub CurrentUser);

impl std::ops::Deref for ApiUser {
    type Target = CurrentUser;
    fn deref(&self) -> &CurrentUser {
        &self.0
    }
}

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        CurrentUser::from_request_parts(parts, state).await.map(ApiUser).map_err(crate::error::ApiError)
    }
}
