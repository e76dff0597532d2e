//! Who is asking and what they may do: sessions and API tokens, the policy
//! (role × action × scope), CSRF tokens, the audit chain, personal-data
//! encryption and passwords.

pub mod audit;
pub mod crypto;
pub mod password;
pub mod policy;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::domain::org::Role;
use crate::error::{ApiError, AppError};
use audit::{AuditAction, NewAuditEntry};
use policy::{Action, Scope};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "cw_session";
/// Name of the CSRF cookie (double-submit: the form carries the same value).
pub const CSRF_COOKIE: &str = "cw_csrf";
/// Prefix of API tokens, so a leaked one is recognisable in logs and scanners.
pub const TOKEN_PREFIX: &str = "cwt_";
/// The page where a user must choose a new password.
pub const CHANGE_PASSWORD_PATH: &str = "/account/password";

/// The caller of a request: a logged-in user, or a machine client holding
/// an API token (which acts with the token's unit and roles).
#[derive(Clone, Debug)]
pub struct CurrentUser {
    /// The person: a user's id; `None` for an API token, which is nobody —
    /// so a token never sees "what I reported" nor signs a step as someone.
    pub user_id: Option<i64>,
    /// The API token's id, when the caller is one.
    pub token_id: Option<i64>,
    /// District.
    pub district_id: i64,
    /// The unit whose subtree is the data scope.
    pub unit_id: i64,
    /// That unit's materialised path.
    pub unit_path: String,
    /// Login name, or the token's name.
    pub username: String,
    /// Name shown to people.
    pub display_name: String,
    /// Roles held.
    pub roles: Vec<Role>,
    /// Must choose a new password before anything else.
    pub must_change_password: bool,
    /// The session's hash (for "log out everywhere else").
    pub session_hash: Option<String>,
    /// The client's address.
    pub ip: String,
    /// The district's current category table and map, when they were read
    /// with the session (`None`: read them when needed).
    pub tables: Option<crate::store::settings::DistrictTables>,
}

impl CurrentUser {
    /// The person behind a session as read from the store (the session
    /// already checked for age, idleness and a disabled account).
    pub fn of_session(
        session: crate::store::users::SessionUser,
        session_hash: Option<String>,
        ip: String,
    ) -> CurrentUser {
        let crate::store::users::SessionUser { user, unit_path, roles, tables, .. } = session;
        CurrentUser {
            user_id: Some(user.id),
            token_id: None,
            district_id: user.district_id,
            unit_id: user.unit_id,
            unit_path,
            username: user.username,
            display_name: user.display_name,
            roles: roles.split(',').filter_map(Role::parse).collect(),
            must_change_password: user.must_change_password,
            session_hash,
            ip,
            tables: Some(tables),
        }
    }

    /// True for an API token.
    pub fn via_token(&self) -> bool {
        self.token_id.is_some()
    }

    /// The person calling: what only a person does (one's own account,
    /// sessions, imports, tokens made) is refused to a token.
    pub fn person(&self) -> Result<i64, AppError> {
        self.user_id.ok_or(AppError::Forbidden)
    }

    /// True when any role allows the action (see [`policy::allows`]).
    pub fn may(&self, action: Action) -> bool {
        policy::allows(&self.roles, action)
    }

    /// Refuses with 403 unless a role allows the action.
    pub fn require(&self, action: Action) -> Result<(), AppError> {
        if self.may(action) { Ok(()) } else { Err(AppError::Forbidden) }
    }

    /// Which rows this caller may see.
    pub fn scope(&self) -> Scope {
        policy::scope_of(&self.roles, &self.unit_path)
    }

    /// An audit entry with this caller as the actor.
    pub fn audit(&self, action: AuditAction, object: impl Into<String>, detail: impl Into<String>) -> NewAuditEntry {
        NewAuditEntry {
            district_id: Some(self.district_id),
            actor_id: self.user_id,
            actor: if self.via_token() { format!("token:{}", self.username) } else { self.username.clone() },
            action,
            object: object.into(),
            detail: detail.into(),
            ip: self.ip.clone(),
        }
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

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, path `/`, and `Secure`
/// when the deployment is reached over HTTPS.
pub fn set_cookie(name: &str, value: &str, max_age: Option<std::time::Duration>, secure: bool) -> String {
    let age = max_age.map(|d| format!("; Max-Age={}", d.as_secs())).unwrap_or_default();
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{age}{secure}")
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

/// The CSRF token of this browser (every request has one: see [`ensure_csrf_cookie`]).
pub fn csrf_token(headers: &HeaderMap) -> String {
    cookie(headers, CSRF_COOKIE).unwrap_or_default()
}

/// Middleware: a request without a CSRF cookie gets one, visible to the
/// handler as if the browser had sent it and set on the response — so every
/// page's forms work, also after the browser dropped its session cookies
/// while the (longer-lived) login survived.
pub async fn ensure_csrf_cookie(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if cookie(request.headers(), CSRF_COOKIE).is_some_and(|t| t.len() == 64) {
        return next.run(request).await;
    }
    let token = random_token();
    let sent = request.headers().get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let with_token =
        if sent.is_empty() { format!("{CSRF_COOKIE}={token}") } else { format!("{sent}; {CSRF_COOKIE}={token}") };
    if let Ok(value) = HeaderValue::from_str(&with_token) {
        request.headers_mut().insert(header::COOKIE, value);
    }
    let mut response = next.run(request).await;
    let set = set_cookie(CSRF_COOKIE, &token, None, state.config.security.secure_cookies);
    if let Ok(value) = HeaderValue::from_str(&set) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The client's address: the first `X-Forwarded-For` hop when a proxy sets
/// it, otherwise the connection's peer.
pub fn client_ip(parts: &Parts) -> String {
    let forwarded = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    if let Some(first) = forwarded.and_then(|f| f.split(',').next()).map(str::trim).filter(|s| !s.is_empty()) {
        return first.chars().take(64).collect();
    }
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_default()
}

/// Why a request has no caller.
enum NoCaller {
    Anonymous,
    Failed(AppError),
}

async fn from_session(parts: &Parts, state: &AppState) -> Result<CurrentUser, NoCaller> {
    let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(NoCaller::Anonymous)?;
    let hash = token_hash(&token);
    let store = &state.store;
    let session =
        store.session_user(&hash).await.map_err(|e| NoCaller::Failed(e.into()))?.ok_or(NoCaller::Anonymous)?;
    let (user, created_at, last_seen) = (&session.user, session.created_at, session.last_seen);
    let security = &state.config.security;
    let now = Utc::now();
    let idle = now - last_seen;
    let age = now - created_at;
    if user.disabled
        || idle > chrono::Duration::minutes(security.session_idle_minutes as i64)
        || age > chrono::Duration::hours(security.session_lifetime_hours as i64)
    {
        store.delete_session(&hash).await.map_err(|e| NoCaller::Failed(e.into()))?;
        return Err(NoCaller::Anonymous);
    }
    // Touch at most once a minute: a page load is several requests.
    if idle.num_seconds() > 60 {
        store.touch_session(&hash).await.map_err(|e| NoCaller::Failed(e.into()))?;
    }
    Ok(CurrentUser::of_session(session, Some(hash), client_ip(parts)))
}

async fn from_token(parts: &Parts, state: &AppState, bearer: &str) -> Result<CurrentUser, AppError> {
    let store = &state.store;
    let token = store.api_token_by_hash(&token_hash(bearer)).await?.ok_or(AppError::Unauthenticated)?;
    let unit = store.unit_by_id(token.unit_id).await?;
    let caller = CurrentUser {
        user_id: None,
        token_id: Some(token.id),
        district_id: token.district_id,
        unit_id: token.unit_id,
        unit_path: unit.path,
        username: token.name.clone(),
        display_name: token.name.clone(),
        roles: token.roles.split(',').filter_map(Role::parse).collect(),
        must_change_password: false,
        session_hash: None,
        ip: client_ip(parts),
        tables: None,
    };
    let entry = caller.audit(AuditAction::TokenUsed, format!("token:{}", token.id), "");
    store.touch_api_token(&token, chrono::Duration::minutes(10), &entry).await?;
    Ok(caller)
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    /// Pages: the session's user; anonymous callers go to the login page, and
    /// a user who must change the password goes to that page first.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match from_session(parts, state).await {
            Ok(user) if user.must_change_password && parts.uri.path() != CHANGE_PASSWORD_PATH => {
                Err(AppError::MustChangePassword)
            }
            Ok(user) => Ok(user),
            Err(NoCaller::Anonymous) => Err(AppError::Unauthenticated),
            Err(NoCaller::Failed(err)) => Err(err),
        }
    }
}

/// The caller of an API request: a session or `Authorization: Bearer cwt_…`;
/// refused with a JSON 401, not a redirect.
#[derive(Clone, Debug)]
pub struct ApiUser(pub CurrentUser);

impl std::ops::Deref for ApiUser {
    type Target = CurrentUser;
    fn deref(&self) -> &CurrentUser {
        &self.0
    }
}

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| t.starts_with(TOKEN_PREFIX))
            .map(str::to_string);
        if let Some(bearer) = bearer {
            return from_token(parts, state, &bearer).await.map(ApiUser).map_err(ApiError);
        }
        match from_session(parts, state).await {
            Ok(user) if user.must_change_password => Err(ApiError(AppError::MustChangePassword)),
            Ok(user) => Ok(ApiUser(user)),
            Err(NoCaller::Anonymous) => Err(ApiError(AppError::Unauthenticated)),
            Err(NoCaller::Failed(err)) => Err(ApiError(err)),
        }
    }
}

/// The client's address as an extractor (see [`client_ip`]).
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}
