//! The map's layers (M2 places, M3 cases): grid cells, evaluation points and
//! the open cases of the caller's scope, in the datum of the district's tiles
//! (`map.tile_crs`), so markers sit on the right street of 高德 or 天地图.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::ApiQuery;
use crate::app::AppState;
use crate::auth::ApiUser;
use crate::auth::policy::Action;
use crate::domain::cases::CaseState;
use crate::domain::coords::wgs84_to_gcj02;
use crate::error::{ApiError, AppError};
use crate::store::cases::CaseFilter;
use crate::store::places::PointFilter;

/// Open cases a map shows at most, newest first.
pub const MAP_CASE_LIMIT: i64 = 5_000;
/// Points a map shows at most.
pub const MAP_POINT_LIMIT: i64 = 20_000;

/// Which layers to send: any of `grids`, `points`, `cases`, comma-separated; all when empty.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LayersQuery {
    #[serde(default)]
    layers: String,
}

/// An evaluation point on the map.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MapPoint {
    id: i64,
    name: String,
    type_name: String,
    point_type: String,
    lon: f64,
    lat: f64,
}

/// An open case on the map.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MapCase {
    id: i64,
    number: String,
    category: String,
    state: &'static str,
    /// `red` overdue, `amber` past 80% of its limit, or empty.
    alert: &'static str,
    lon: f64,
    lat: f64,
}

/// The layers asked for.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Layers {
    /// Datum of every position below: `wgs84` or `gcj02`.
    crs: String,
    /// The district's centre, `[lon, lat]`.
    center: [f64; 2],
    /// Grid cells as a GeoJSON FeatureCollection.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    grids: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    points: Option<Vec<MapPoint>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cases: Option<Vec<MapCase>>,
    /// More open cases exist than were sent.
    cases_truncated: bool,
}

/// Moves a WGS-84 position into the tiles' datum.
pub fn to_tiles(crs: &str, lon: f64, lat: f64) -> (f64, f64) {
    if crs == "gcj02" { wgs84_to_gcj02(lon, lat) } else { (lon, lat) }
}

fn shift_geometry(crs: &str, geometry: &mut serde_json::Value) {
    match geometry {
        serde_json::Value::Array(items) => {
            if let [serde_json::Value::Number(lon), serde_json::Value::Number(lat)] = items.as_slice() {
                if let (Some(lon), Some(lat)) = (lon.as_f64(), lat.as_f64()) {
                    let (x, y) = to_tiles(crs, lon, lat);
                    *items = vec![serde_json::json!(x), serde_json::json!(y)];
                }
            } else {
                items.iter_mut().for_each(|item| shift_geometry(crs, item));
            }
        }
        serde_json::Value::Object(map) => {
            if let Some(coordinates) = map.get_mut("coordinates") {
                shift_geometry(crs, coordinates);
            }
        }
        _ => {}
    }
}

/// Grid cells as a GeoJSON FeatureCollection in the tiles' datum.
pub fn grid_feature_collection(crs: &str, grids: &[crate::store::places::Grid]) -> serde_json::Value {
    let features = grids
        .iter()
        .filter_map(|g| {
            let mut geometry: serde_json::Value = serde_json::from_str(&g.boundary).ok()?;
            shift_geometry(crs, &mut geometry);
            Some(serde_json::json!({
                "type": "Feature",
                "geometry": geometry,
                "properties": { "id": g.id, "code": g.code, "name": g.name },
            }))
        })
        .collect::<Vec<_>>();
    serde_json::json!({ "type": "FeatureCollection", "features": features })
}

/// `GET /api/v1/map/layers?layers=grids,points,cases`.
#[utoipa::path(get, path = "/api/v1/map/layers", tag = "map", summary = "地图图层：网格、点位、未结问题", params(LayersQuery), responses((status = 200, description = "所要的图层", body = Layers), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn layers(
    State(state): State<AppState>,
    user: ApiUser,
    ApiQuery(q): ApiQuery<LayersQuery>,
) -> Result<Json<Layers>, ApiError> {
    user.require(Action::WorkCases)?;
    let wanted: Vec<&str> = q.layers.split(',').map(str::trim).filter(|l| !l.is_empty()).collect();
    if let Some(unknown) = wanted.iter().find(|l| !matches!(**l, "grids" | "points" | "cases")) {
        return Err(ApiError(AppError::Invalid {
            field: "layers".into(),
            message: format!("未知的图层“{unknown}”，可选 grids、points、cases"),
        }));
    }
    let want = |layer: &str| wanted.is_empty() || wanted.contains(&layer);
    let crs = state.config.map.tile_crs.clone();
    let district = state.store.district(user.district_id).await?;
    let center = to_tiles(&crs, district.center_lon, district.center_lat);
    let grids = if want("grids") {
        Some(grid_feature_collection(&crs, &state.store.grids(user.district_id).await?))
    } else {
        None
    };
    let points = if want("points") {
        let filter = PointFilter { limit: MAP_POINT_LIMIT, ..Default::default() };
        let points = state.store.points(user.district_id, &user.scope(), &filter).await?;
        Some(
            points
                .into_iter()
                .map(|p| {
                    let (lon, lat) = to_tiles(&crs, p.lon, p.lat);
                    let type_name =
                        crate::domain::places::point_type(&p.point_type).map(|t| t.name.clone()).unwrap_or_default();
                    MapPoint { id: p.id, name: p.name, type_name, point_type: p.point_type, lon, lat }
                })
                .collect(),
        )
    } else {
        None
    };
    let mut cases_truncated = false;
    let cases = if want("cases") {
        let filter = CaseFilter { open: true, located: true, limit: MAP_CASE_LIMIT + 1, ..Default::default() };
        let mut found = state.store.cases(user.district_id, &user.scope(), user.user_id, &filter).await?;
        cases_truncated = found.len() as i64 > MAP_CASE_LIMIT;
        found.truncate(MAP_CASE_LIMIT as usize);
        let category_names = state.store.category_names(user.district_id, &found).await?;
        Some(
            found
                .into_iter()
                .filter_map(|c| {
                    let (lon, lat) = to_tiles(&crs, c.lon?, c.lat?);
                    let case_state = CaseState::from_code(&c.state)?;
                    let alert = c.alert().css();
                    Some(MapCase {
                        id: c.id,
                        category: category_names.of(&c),
                        number: c.number,
                        state: case_state.label(),
                        alert,
                        lon,
                        lat,
                    })
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(Json(Layers { crs, center: [center.0, center.1], grids, points, cases, cases_truncated }))
}
