//! Writing the place registers as GeoJSON and xlsx, in the same columns the
//! importer reads, so an export can be edited and imported again.

use rust_xlsxwriter::{Format, Workbook, XlsxError};
use serde_json::{Value, json};

use super::import::{FileFormat, PlaceKind, ring_text};
use crate::domain::geometry::Polygon;
use crate::domain::org::UnitKind;
use crate::domain::places::point_type;
use crate::store::{Store, StoreError};

/// A failure while exporting.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the registers failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the spreadsheet failed.
    #[error("xlsx: {0}")]
    Xlsx(#[from] XlsxError),
}

/// One exported table: headers (Chinese) and rows of cells, plus a geometry per row.
struct Table {
    headers: Vec<&'static str>,
    keys: Vec<&'static str>,
    rows: Vec<(Vec<Value>, Value)>,
}

fn polygon_of(text: &str) -> Option<Polygon> {
    serde_json::from_str::<Value>(text).ok().and_then(|v| Polygon::from_geojson_value(&v).ok())
}

async fn table(store: &Store, district_id: i64, kind: PlaceKind) -> Result<Table, StoreError> {
    Ok(match kind {
        PlaceKind::Units => {
            let units = store.units(district_id).await?;
            let code_of = |id: Option<i64>| id.and_then(|id| units.iter().find(|u| u.id == id)).map(|u| u.code.clone());
            let name_of = |id: Option<i64>| id.and_then(|id| units.iter().find(|u| u.id == id)).map(|u| u.name.clone());
            Table {
                headers: vec!["编码", "名称", "类型", "上级编码", "上级名称"],
                keys: vec!["code", "name", "kind", "parent", "parent_name"],
                rows: units
                    .iter()
                    // The district itself is the root every file hangs under.
                    .filter(|u| u.parent_id.is_some())
                    .map(|u| {
                        let kind = UnitKind::from_code(&u.kind).map(UnitKind::label).unwrap_or(&u.kind);
                        let cells = vec![
                            json!(u.code),
                            json!(u.name),
                            json!(kind),
                            json!(code_of(u.parent_id).unwrap_or_default()),
                            json!(name_of(u.parent_id).unwrap_or_default()),
                        ];
                        (cells, Value::Null)
                    })
                    .collect(),
            }
        }
        PlaceKind::Grids => {
            let units = store.units(district_id).await?;
            let name_of = |id: i64| units.iter().find(|u| u.id == id).map(|u| u.name.clone()).unwrap_or_default();
            let grids = store.grids(district_id).await?;
            Table {
                headers: vec!["编码", "名称", "社区", "街道", "面积（平方米）", "边界"],
                keys: vec!["code", "name", "community", "street", "area_m2", "boundary"],
                rows: grids
                    .into_iter()
                    .map(|g| {
                        let polygon = polygon_of(&g.boundary);
                        let ring = polygon.as_ref().map(ring_text).unwrap_or_default();
                        let geometry = polygon.map(|p| p.to_geojson_value()).unwrap_or(Value::Null);
                        let cells = vec![
                            json!(g.code),
                            json!(g.name),
                            json!(name_of(g.community_id)),
                            json!(name_of(g.street_id)),
                            json!(g.area_m2.round()),
                            json!(ring),
                        ];
                        (cells, geometry)
                    })
                    .collect(),
            }
        }
        PlaceKind::Points => {
            let points = store.all_points(district_id).await?;
            Table {
                headers: vec![
                    "编码",
                    "名称",
                    "类型",
                    "经度",
                    "纬度",
                    "面域",
                    "地址",
                    "责任单位",
                    "责任单位名称",
                    "包保领导",
                    "网格",
                    "社区",
                    "街道",
                ],
                keys: vec![
                    "code",
                    "name",
                    "type",
                    "lon",
                    "lat",
                    "area",
                    "address",
                    "unit",
                    "unit_name",
                    "leader",
                    "grid",
                    "community",
                    "street",
                ],
                rows: points
                    .into_iter()
                    .map(|p| {
                        let area = p.area.as_deref().and_then(polygon_of);
                        let geometry = match &area {
                            Some(poly) => poly.to_geojson_value(),
                            None => json!({"type": "Point", "coordinates": [p.lon, p.lat]}),
                        };
                        let type_name =
                            point_type(&p.point_type).map(|t| t.name.clone()).unwrap_or(p.point_type.clone());
                        let cells = vec![
                            json!(p.code),
                            json!(p.name),
                            json!(type_name),
                            json!(p.lon),
                            json!(p.lat),
                            json!(area.as_ref().map(ring_text).unwrap_or_default()),
                            json!(p.address),
                            json!(p.responsible_unit_code),
                            json!(p.responsible_unit_name),
                            json!(p.leader_name),
                            json!(p.grid_code.unwrap_or_default()),
                            json!(p.community_name.unwrap_or_default()),
                            json!(p.street_name.unwrap_or_default()),
                        ];
                        (cells, geometry)
                    })
                    .collect(),
            }
        }
        PlaceKind::ShopFronts => {
            let shops = store.shop_fronts(district_id).await?;
            Table {
                headers: vec!["编码", "名称", "经营类型", "经度", "纬度", "地址", "责任人", "网格", "街道"],
                keys: vec![
                    "code",
                    "name",
                    "business_type",
                    "lon",
                    "lat",
                    "address",
                    "responsible_party",
                    "grid",
                    "street",
                ],
                rows: shops
                    .into_iter()
                    .map(|s| {
                        let geometry = json!({"type": "Point", "coordinates": [s.lon, s.lat]});
                        let cells = vec![
                            json!(s.code),
                            json!(s.name),
                            json!(s.business_type),
                            json!(s.lon),
                            json!(s.lat),
                            json!(s.address),
                            json!(s.responsible_party),
                            json!(s.grid_code.unwrap_or_default()),
                            json!(s.street_name.unwrap_or_default()),
                        ];
                        (cells, geometry)
                    })
                    .collect(),
            }
        }
    })
}

/// Exports a register in the given format.
pub async fn export_places(
    store: &Store,
    district_id: i64,
    kind: PlaceKind,
    format: FileFormat,
) -> Result<Vec<u8>, ExportError> {
    let table = table(store, district_id, kind).await?;
    match format {
        FileFormat::Geojson => {
            let features: Vec<Value> = table
                .rows
                .into_iter()
                .map(|(cells, geometry)| {
                    let properties: serde_json::Map<String, Value> = table
                        .keys
                        .iter()
                        .zip(cells)
                        // The boundary travels as the geometry itself.
                        .filter(|(k, _)| **k != "boundary" && **k != "area")
                        .map(|(k, v)| (k.to_string(), v))
                        .collect();
                    json!({"type": "Feature", "geometry": geometry, "properties": properties})
                })
                .collect();
            Ok(serde_json::to_vec_pretty(&json!({"type": "FeatureCollection", "features": features}))
                .expect("a JSON value always serialises"))
        }
        FileFormat::Xlsx => {
            let mut book = Workbook::new();
            let sheet = book.add_worksheet();
            sheet.set_name(kind.label())?;
            let bold = Format::new().set_bold();
            for (col, header) in table.headers.iter().enumerate() {
                sheet.write_string_with_format(0, col as u16, *header, &bold)?;
            }
            for (r, (cells, _)) in table.rows.iter().enumerate() {
                for (col, cell) in cells.iter().enumerate() {
                    let (row, col) = (r as u32 + 1, col as u16);
                    match cell {
                        Value::Number(n) => {
                            sheet.write_number(row, col, n.as_f64().unwrap_or_default())?;
                        }
                        Value::String(s) => {
                            sheet.write_string(row, col, s)?;
                        }
                        _ => {}
                    }
                }
            }
            sheet.autofit();
            Ok(book.save_to_buffer()?)
        }
    }
}
