//! `GET /api/v1/statistics`: the figures of the dashboards as JSON, for the
//! city platform and other systems (session or API token).

use axum::Json;
use axum::extract::State;

use super::ApiQuery;
use crate::app::AppState;
use crate::auth::ApiUser;
use crate::auth::policy::Action;
use crate::domain::stats::{Dim, Figures, MEASURES};
use crate::error::{ApiError, AppError};
use crate::statistics::{self, Names, Row};
use crate::web::dashboard::{PeriodQuery, focus_of};

/// `GET /api/v1/statistics?dim=&from=&to=&preset=`: the figures of every
/// value of a dimension (district-wide roles), or of the caller's own unit
/// whatever it asks for.
#[utoipa::path(get, path = "/api/v1/statistics", tag = "statistics", summary = "统计指标：按维度的各项数字与定义", params(crate::web::dashboard::PeriodQuery), responses((status = 200, description = "period、dim、measures（定义）与 rows", body = Object), (status = 400, description = "请求无法读取", body = crate::error::ErrorBody), (status = 422, description = "输入有误（error.field 指明字段）", body = crate::error::ErrorBody), (status = 401, description = "未登录或令牌无效", body = crate::error::ErrorBody), (status = 403, description = "角色无权", body = crate::error::ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn statistics(
    State(state): State<AppState>,
    user: ApiUser,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Action::ViewStatistics)?;
    let period = q.period()?;
    let dim = match q.dim.as_deref() {
        None | Some("") => Dim::All,
        Some(code) => Dim::from_code(code).ok_or_else(|| AppError::Invalid {
            field: "dim".into(),
            message: format!("未知的统计维度“{code}”，可选 {}", Dim::ALL.map(Dim::code).join("、")),
        })?,
    };
    let focus = focus_of(&state, &user).await?;
    let rows = if focus.dim == Dim::All {
        let names = Names::of(&state.store, user.district_id).await?;
        statistics::breakdown(&state.store, user.district_id, dim, &period, &names).await?
    } else {
        let t = state.store.stats_total(user.district_id, focus.dim, &focus.value, &period).await?;
        vec![Row { value: focus.value.clone(), name: focus.name.clone(), figures: Figures::of(t) }]
    };
    Ok(Json(serde_json::json!({
        "period": period,
        "dim": if focus.dim == Dim::All { dim.code() } else { focus.dim.code() },
        "measures": MEASURES,
        "rows": rows,
    })))
}
