//! The JSON API under `/api/v1`, one module per product module.

pub mod cases;
pub mod dispatch;
pub mod map;
pub mod openapi;
pub mod places;
pub mod settings;
pub mod statistics;
pub mod supervision;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;

use crate::error::{ApiError, AppError};

/// `Json` whose refusal is the API's JSON error body, in Chinese.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(e) => Err(ApiError(AppError::BadRequest(format!("请求体不是所需的 JSON：{}", e.body_text())))),
        }
    }
}

/// `Query` whose refusal is the API's JSON error body, in Chinese.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    Query<T>: FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(e) => Err(ApiError(AppError::BadRequest(format!("查询参数有误：{}", e.body_text())))),
        }
    }
}

/// `Path` whose refusal is the API's JSON error body, in Chinese.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    Path<T>: FromRequestParts<S, Rejection = PathRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(e) => Err(ApiError(AppError::BadRequest(format!("地址中的编号有误：{}", e.body_text())))),
        }
    }
}
