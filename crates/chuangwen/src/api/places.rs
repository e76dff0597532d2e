//! `/api/v1/places`: resolving a location, listing points.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::{ApiPath, ApiQuery};
use crate::app::AppState;
use crate::auth::ApiUser;
use crate::auth::policy::Action;
use crate::domain::coords::Crs;
use crate::domain::geometry::valid_position;
use crate::error::{ApiError, AppError};
use crate::places::load_grid_index;
use crate::store::places::{Point, PointFilter};

/// A location to resolve.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResolveQuery {
    lon: f64,
    lat: f64,
    #[serde(default)]
    crs: Option<String>,
}

/// Where a location lies.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Resolved {
    /// WGS-84 longitude after conversion.
    pub lon: f64,
    /// WGS-84 latitude after conversion.
    pub lat: f64,
    /// Grid-cell code.
    pub grid_code: String,
    /// Grid-cell name.
    pub grid_name: String,
    /// Community.
    pub community: String,
    /// Street.
    pub street: String,
}

/// `GET /api/v1/places/resolve?lon=&lat=&crs=`: the grid, community and street of a location.
#[utoipa::path(get, path = "/api/v1/places/resolve", tag = "places", summary = "一个位置所在的网格、社区和街道", params(ResolveQuery), responses((status = 200, description = "所在网格", body = Resolved), (status = 404, description = "不在本区任何网格内", body = crate::error::ErrorBody), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn resolve(
    State(state): State<AppState>,
    user: ApiUser,
    ApiQuery(q): ApiQuery<ResolveQuery>,
) -> Result<Json<Resolved>, ApiError> {
    user.require(Action::ViewPlaces)?;
    let crs = match q.crs.as_deref() {
        None | Some("") => Crs::Wgs84,
        Some(raw) => Crs::parse(raw).ok_or_else(|| AppError::Invalid {
            field: "crs".into(),
            message: "坐标系应为 wgs84、gcj02 或 bd09".into(),
        })?,
    };
    if !valid_position(q.lon, q.lat) {
        return Err(AppError::Invalid { field: "lon".into(), message: "经纬度超出范围".into() }.into());
    }
    let (lon, lat) = crs.to_wgs84(q.lon, q.lat);
    let district_id = user.district_id;
    let index = load_grid_index(&state.store, district_id).await?;
    let cell = index.locate(lon, lat).ok_or(AppError::NotFound)?;
    let units = state.store.units(district_id).await?;
    let name = |id: i64| units.iter().find(|u| u.id == id).map(|u| u.name.clone()).unwrap_or_default();
    let grid = state.store.grids(district_id).await?.into_iter().find(|g| g.id == cell.id).ok_or(AppError::NotFound)?;
    Ok(Json(Resolved {
        lon,
        lat,
        grid_code: grid.code,
        grid_name: grid.name,
        community: name(cell.community_id),
        street: name(cell.street_id),
    }))
}

/// Filters and cursor of the point list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PointsQuery {
    #[serde(rename = "type")]
    point_type: Option<String>,
    street_id: Option<i64>,
    after: Option<i64>,
    limit: Option<i64>,
}

/// A page of points and the cursor of the next.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PointsPage {
    /// The points.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Point>,
    /// Pass as `after` for the next page; absent on the last.
    pub next_after: Option<i64>,
}

/// `GET /api/v1/places/points`.
#[utoipa::path(get, path = "/api/v1/places/points", tag = "places", summary = "点位列表（键集分页：next_after 传回 after）", params(PointsQuery), responses((status = 200, description = "一页点位", body = PointsPage), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn points(
    State(state): State<AppState>,
    user: ApiUser,
    ApiQuery(q): ApiQuery<PointsQuery>,
) -> Result<Json<PointsPage>, ApiError> {
    user.require(Action::ViewPlaces)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let filter = PointFilter { point_type: q.point_type, street_id: q.street_id, after_id: q.after, limit: limit + 1 };
    let mut items = state.store.points(user.district_id, &user.scope(), &filter).await?;
    let next_after = (items.len() as i64 > limit).then(|| {
        items.truncate(limit as usize);
        items.last().map(|p| p.id).unwrap_or_default()
    });
    Ok(Json(PointsPage { items, next_after }))
}

/// `GET /api/v1/places/points/{id}`: one point, if the caller's scope sees it.
#[utoipa::path(get, path = "/api/v1/places/points/{id}", tag = "places", summary = "一个点位", params(("id" = i64, Path, description = "点位 id")), responses((status = 200, description = "点位", body = Object), (status = 404, description = "不存在或不可见", body = crate::error::ErrorBody), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn point(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Point>, ApiError> {
    user.require(Action::ViewPlaces)?;
    let point = state.store.point(user.district_id, &user.scope(), id).await?.ok_or(AppError::NotFound)?;
    Ok(Json(point))
}
