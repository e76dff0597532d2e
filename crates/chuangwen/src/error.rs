//! The one application error: an HTTP status, a message for people in
//! Chinese, and internal detail that goes to the log (with the request id),
//! never to the user.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Serialize;

use crate::store::StoreError;

/// An error a handler returns; pages render it as HTML.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Not logged in (pages redirect to the login page).
    #[error("请先登录")]
    Unauthenticated,
    /// Logged in, but the role may not do this.
    #[error("您的角色无权执行此操作")]
    Forbidden,
    /// No such object, or outside the user's scope (the same answer for both).
    #[error("您要找的内容不存在")]
    NotFound,
    /// The request is malformed; the message says how, in Chinese.
    #[error("{0}")]
    BadRequest(String),
    /// A field is invalid.
    #[error("{message}")]
    Invalid {
        /// The field's name in the form or body.
        field: String,
        /// What is wrong, in Chinese.
        message: String,
    },
    /// The user must choose a new password first (pages redirect there).
    #[error("请先修改初始密码")]
    MustChangePassword,
    /// Someone else changed the object first, or its state forbids this.
    #[error("{0}")]
    Conflict(String),
    /// The form's CSRF token is missing or wrong.
    #[error("页面已过期或来源不明，请刷新页面后重试")]
    Csrf,
    /// Something broke inside; the detail is logged.
    #[error("服务器内部错误，请稍后重试")]
    Internal(String),
}

impl AppError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::Csrf | AppError::MustChangePassword => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden => "forbidden",
            AppError::NotFound => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::BadRequest(_) => "bad_request",
            AppError::Invalid { .. } => "invalid",
            AppError::Csrf => "csrf",
            AppError::MustChangePassword => "password_change_required",
            AppError::Internal(_) => "internal",
        }
    }

    /// An internal failure: log the detail now, show a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> AppError {
        tracing::error!(error = %detail, "internal error");
        AppError::Internal(detail.to_string())
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => AppError::NotFound,
            other => AppError::internal(other),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Unauthenticated => return Redirect::to("/login").into_response(),
            AppError::MustChangePassword => return Redirect::to(crate::auth::CHANGE_PASSWORD_PATH).into_response(),
            _ => {}
        }
        let body = crate::web::error_page(self.status(), &self.to_string());
        (self.status(), Html(body)).into_response()
    }
}

/// The same error, answered as the API's one JSON error body.
#[derive(Debug)]
pub struct ApiError(pub AppError);

/// The API's error body: `{"error": {"code", "message", "field"}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What went wrong, in Chinese.
    pub message: String,
    /// The field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(err: E) -> Self {
        ApiError(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let field = match &self.0 {
            AppError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        let body = ErrorBody { error: ErrorDetail { code: self.0.code(), message: self.0.to_string(), field } };
        (self.0.status(), Json(body)).into_response()
    }
}
