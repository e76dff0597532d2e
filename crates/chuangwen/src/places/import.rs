//! Reading place files (GeoJSON, xlsx) and checking every row.
//!
//! Pure: bytes and a context in, checked rows and a list of row errors out.
//! Every bad row is reported with its row number, the field and the reason,
//! in Chinese; the caller decides whether anything is written.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::spatial::GridIndex;
use crate::domain::coords::Crs;
use crate::domain::geometry::{Polygon, valid_position};
use crate::domain::org::UnitKind;
use crate::domain::places::{GridCode, point_type, point_types};
use crate::store::org::NewUnit;
use crate::store::org::Unit;
use crate::store::places::{NewGrid, NewPoint, NewShopFront};

/// Which register a file fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceKind {
    /// 单元网格.
    Grids,
    /// 点位.
    Points,
    /// 门前三包商户.
    ShopFronts,
    /// 组织架构: streets, communities, departments and other units.
    Units,
}

impl PlaceKind {
    /// Code used in URLs and the database.
    pub fn code(self) -> &'static str {
        match self {
            PlaceKind::Grids => "grids",
            PlaceKind::Points => "points",
            PlaceKind::ShopFronts => "shop_fronts",
            PlaceKind::Units => "units",
        }
    }
    /// Chinese name.
    pub fn label(self) -> &'static str {
        match self {
            PlaceKind::Grids => "单元网格",
            PlaceKind::Points => "点位",
            PlaceKind::ShopFronts => "门前三包商户",
            PlaceKind::Units => "组织架构",
        }
    }
    /// Parses the code.
    pub fn parse(raw: &str) -> Option<PlaceKind> {
        [PlaceKind::Grids, PlaceKind::Points, PlaceKind::ShopFronts, PlaceKind::Units]
            .into_iter()
            .find(|k| k.code() == raw)
    }
    /// The columns / properties of this register.
    pub fn fields(self) -> &'static [Field] {
        match self {
            PlaceKind::Grids => GRID_FIELDS,
            PlaceKind::Points => POINT_FIELDS,
            PlaceKind::ShopFronts => SHOP_FIELDS,
            PlaceKind::Units => UNIT_FIELDS,
        }
    }
}

/// File formats we read and write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// RFC 7946 GeoJSON FeatureCollection.
    Geojson,
    /// Office Open XML spreadsheet.
    Xlsx,
}

impl FileFormat {
    /// Recognises a file by its content, not its name.
    pub fn sniff(bytes: &[u8]) -> Option<FileFormat> {
        let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
        let text = &bytes[start..];
        let text = text.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(text);
        if text.starts_with(b"{") {
            Some(FileFormat::Geojson)
        } else if bytes.starts_with(b"PK\x03\x04") {
            Some(FileFormat::Xlsx)
        } else {
            None
        }
    }
    /// Code used in URLs and the database.
    pub fn code(self) -> &'static str {
        match self {
            FileFormat::Geojson => "geojson",
            FileFormat::Xlsx => "xlsx",
        }
    }
}

/// One column of a register: its key (GeoJSON property, English), its
/// Chinese header, and other headers accepted on import.
#[derive(Debug)]
pub struct Field {
    /// English key.
    pub key: &'static str,
    /// Chinese header.
    pub label: &'static str,
    /// Other accepted headers.
    pub aliases: &'static [&'static str],
    /// Must be filled.
    pub required: bool,
}

const fn field(key: &'static str, label: &'static str, aliases: &'static [&'static str], required: bool) -> Field {
    Field { key, label, aliases, required }
}

const GRID_FIELDS: &[Field] = &[
    field("code", "编码", &["网格编码", "标识码"], true),
    field("name", "名称", &["网格名称"], true),
    field("boundary", "边界", &["范围", "geometry"], false),
];

const POINT_FIELDS: &[Field] = &[
    field("code", "编码", &["点位编码"], true),
    field("name", "名称", &["点位名称"], true),
    field("type", "类型", &["点位类型", "point_type"], true),
    field("lon", "经度", &["lng", "longitude"], false),
    field("lat", "纬度", &["latitude"], false),
    field("area", "面域", &["范围"], false),
    field("address", "地址", &[], false),
    field("unit", "责任单位", &["responsible_unit", "责任单位编码"], true),
    field("leader", "包保领导", &["leader_name"], false),
];

const SHOP_FIELDS: &[Field] = &[
    field("code", "编码", &["商户编码"], true),
    field("name", "名称", &["店名", "商户名称"], true),
    field("business_type", "经营类型", &["业态"], false),
    field("lon", "经度", &["lng", "longitude"], false),
    field("lat", "纬度", &["latitude"], false),
    field("address", "地址", &[], false),
    field("responsible_party", "责任人", &["门前三包责任人"], true),
];

const UNIT_FIELDS: &[Field] = &[
    field("code", "编码", &["单位编码", "统计用区划代码"], true),
    field("name", "名称", &["单位名称"], true),
    field("kind", "类型", &["单位类型"], true),
    field("parent", "上级编码", &["上级单位编码", "parent"], false),
];

/// A bad row: where, which field, why (in Chinese). Row 0 is the file itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// Spreadsheet row (header = 1) or feature number (first = 1); 0 for the whole file.
    pub row: usize,
    /// Chinese name of the field.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl RowError {
    /// A problem with one field of one row.
    pub fn new(row: usize, field: &str, reason: impl Into<String>) -> RowError {
        RowError { row, field: field.to_string(), reason: reason.into() }
    }
    /// A problem with the file as a whole.
    pub fn file(reason: impl Into<String>) -> RowError {
        RowError::new(0, "文件", reason)
    }
}

/// One record read from a file, before checking.
#[derive(Clone, Debug)]
pub struct Record {
    /// Row or feature number.
    pub row: usize,
    /// Field key → text as given.
    pub values: HashMap<&'static str, String>,
    /// A GeoJSON geometry, when the file had one.
    pub geometry: Option<serde_json::Value>,
}

impl Record {
    fn get(&self, key: &str) -> &str {
        self.values.get(key).map(|s| s.trim()).unwrap_or("")
    }
}

/// Reads the records of a file; a file-level problem is one error with row 0.
pub fn read_records(kind: PlaceKind, bytes: &[u8]) -> Result<(FileFormat, Vec<Record>), RowError> {
    match FileFormat::sniff(bytes) {
        Some(FileFormat::Geojson) => read_geojson(kind, bytes).map(|r| (FileFormat::Geojson, r)),
        Some(FileFormat::Xlsx) => read_xlsx(kind, bytes).map(|r| (FileFormat::Xlsx, r)),
        None => Err(RowError::file("无法识别的文件格式：请上传 GeoJSON（.geojson/.json）或 Excel（.xlsx）文件")),
    }
}

fn match_field(kind: PlaceKind, name: &str) -> Option<&'static Field> {
    let name = name.trim();
    kind.fields().iter().find(|f| f.key == name || f.label == name || f.aliases.contains(&name))
}

fn json_to_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn read_geojson(kind: PlaceKind, bytes: &[u8]) -> Result<Vec<Record>, RowError> {
    let text = std::str::from_utf8(bytes).map_err(|_| RowError::file("文件不是 UTF-8 编码的文本"))?;
    let text = text.trim_start_matches('\u{feff}');
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| RowError::file(format!("不是有效的 JSON：第 {} 行第 {} 列附近有误", e.line(), e.column())))?;
    if value.get("type").and_then(|t| t.as_str()) != Some("FeatureCollection") {
        return Err(RowError::file("GeoJSON 顶层应为 FeatureCollection"));
    }
    let features =
        value.get("features").and_then(|f| f.as_array()).ok_or_else(|| RowError::file("GeoJSON 缺少 features 数组"))?;
    let mut records = Vec::with_capacity(features.len());
    for (i, feature) in features.iter().enumerate() {
        let mut values = HashMap::new();
        if let Some(props) = feature.get("properties").and_then(|p| p.as_object()) {
            for (name, v) in props {
                if let Some(f) = match_field(kind, name) {
                    values.insert(f.key, json_to_text(v));
                }
            }
        }
        let geometry = feature.get("geometry").filter(|g| !g.is_null()).cloned();
        records.push(Record { row: i + 1, values, geometry });
    }
    Ok(records)
}

fn read_xlsx(kind: PlaceKind, bytes: &[u8]) -> Result<Vec<Record>, RowError> {
    let table = crate::sheet::read_table(bytes).map_err(RowError::file)?;
    let columns: Vec<Option<&'static Field>> = table.headers.iter().map(|h| match_field(kind, h)).collect();
    let missing: Vec<&str> = kind
        .fields()
        .iter()
        .filter(|f| f.required && !columns.iter().any(|c| c.map(|c| c.key) == Some(f.key)))
        .map(|f| f.label)
        .collect();
    if !missing.is_empty() {
        return Err(RowError::file(format!("表头缺少必填列：{}", missing.join("、"))));
    }
    let records = table
        .rows
        .into_iter()
        .map(|row| {
            let values =
                row.cells.into_iter().zip(&columns).filter_map(|(cell, c)| Some((c.as_ref()?.key, cell))).collect();
            Record { row: row.row, values, geometry: None }
        })
        .collect();
    Ok(records)
}

/// What checking needs to know about the district.
pub struct Context<'a> {
    /// The district's 6-digit code.
    pub district_code: &'a str,
    /// The coordinate system of the file.
    pub crs: Crs,
    /// Every unit of the district.
    pub units: &'a [Unit],
    /// The district's grid cells.
    pub grids: &'a GridIndex,
}

/// A checked row, ready to write.
#[derive(Clone, Debug)]
pub enum CheckedRow {
    /// A grid cell.
    Grid(NewGrid),
    /// An evaluation point.
    Point(NewPoint),
    /// A shop front.
    ShopFront(NewShopFront),
    /// A unit of the org tree.
    Unit(NewUnit),
}

/// Parses a ring written in a cell: GeoJSON, or `lon,lat;lon,lat;…`.
pub fn parse_ring_text(text: &str) -> Result<Polygon, String> {
    let text = text.trim();
    if text.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|_| "边界不是有效的 GeoJSON".to_string())?;
        return Polygon::from_geojson_value(&value);
    }
    let mut ring = Vec::new();
    for pair in text.split([';', '；', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.split([',', '，', ' ']).map(str::trim).filter(|p| !p.is_empty());
        let lon = parts.next().and_then(|v| v.parse::<f64>().ok());
        let lat = parts.next().and_then(|v| v.parse::<f64>().ok());
        match (lon, lat, parts.next()) {
            (Some(lon), Some(lat), None) => ring.push((lon, lat)),
            _ => return Err(format!("坐标“{pair}”应写成“经度,纬度”")),
        }
    }
    Polygon::new(ring).map_err(|e| e.to_string())
}

/// Writes a ring the way [`parse_ring_text`] reads it.
pub fn ring_text(polygon: &Polygon) -> String {
    polygon.ring().iter().map(|(x, y)| format!("{x:.7},{y:.7}")).collect::<Vec<_>>().join(";")
}

/// Checks every record; returns the good rows and every problem found.
pub fn check_records(
    kind: PlaceKind,
    records: &[Record],
    ctx: &Context<'_>,
    progress: &dyn crate::progress::Progress,
) -> (Vec<CheckedRow>, Vec<RowError>) {
    let mut rows = Vec::with_capacity(records.len());
    let mut errors = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let units_by_code: HashMap<&str, &Unit> = ctx.units.iter().map(|u| (u.code.as_str(), u)).collect();
    let mut units_by_name: HashMap<&str, Vec<&Unit>> = HashMap::new();
    for u in ctx.units {
        units_by_name.entry(u.name.as_str()).or_default().push(u);
    }
    let units_by_id: HashMap<i64, &Unit> = ctx.units.iter().map(|u| (u.id, u)).collect();
    // Units may name a parent further down the file.
    let file_units: HashMap<&str, (&str, &str)> = if kind == PlaceKind::Units {
        records.iter().map(|r| (r.get("code"), (r.get("kind"), r.get("parent")))).collect()
    } else {
        HashMap::new()
    };

    for record in records {
        let before = errors.len();
        let mut err = |field: &str, reason: String| errors.push(RowError::new(record.row, field, reason));
        for f in kind.fields() {
            if f.required && record.get(f.key).is_empty() {
                err(f.label, "必填项为空".into());
            }
        }
        let code = record.get("code").to_string();
        if !code.is_empty() {
            if let Some(first) = seen.get(&code) {
                err("编码", format!("编码“{code}”与第 {first} 行重复"));
            } else {
                seen.insert(code.clone(), record.row);
            }
        }
        let checked = match kind {
            PlaceKind::Grids => check_grid(record, ctx, &units_by_code, &units_by_id, &mut err),
            PlaceKind::Points => check_point(record, ctx, &units_by_code, &units_by_name, &mut err),
            PlaceKind::ShopFronts => check_shop(record, ctx, &mut err),
            PlaceKind::Units => check_unit(record, ctx, &units_by_code, &units_by_id, &file_units, &mut err),
        };
        if let Some(row) = checked.filter(|_| errors.len() == before) {
            rows.push(row);
        }
        progress.advance(1);
    }
    if kind == PlaceKind::Units {
        drop_orphans(&mut rows, &mut errors, records, &units_by_code);
    }
    (rows, errors)
}

/// A unit whose parent is a row of the file that was refused has no parent
/// to be written under: it is refused too, by name, down the whole chain —
/// so skipping bad rows never aborts the import halfway.
fn drop_orphans(
    rows: &mut Vec<CheckedRow>,
    errors: &mut Vec<RowError>,
    records: &[Record],
    units_by_code: &HashMap<&str, &Unit>,
) {
    let row_of: HashMap<&str, usize> = records.iter().map(|r| (r.get("code"), r.row)).collect();
    loop {
        let accepted: std::collections::HashSet<String> =
            rows.iter().filter_map(|r| if let CheckedRow::Unit(u) = r { Some(u.code.clone()) } else { None }).collect();
        let orphan = |r: &CheckedRow| match r {
            CheckedRow::Unit(u) => u
                .parent_code
                .as_deref()
                .is_some_and(|p| !accepted.contains(p) && !units_by_code.contains_key(p) && row_of.contains_key(p)),
            _ => false,
        };
        let (orphans, kept): (Vec<CheckedRow>, Vec<CheckedRow>) = std::mem::take(rows).into_iter().partition(orphan);
        *rows = kept;
        if orphans.is_empty() {
            errors.sort_by_key(|e| e.row);
            return;
        }
        for r in orphans {
            if let CheckedRow::Unit(u) = r {
                let parent = u.parent_code.unwrap_or_default();
                let reason =
                    format!("上级单位“{parent}”（第 {} 行）有错误未能导入，本行随之不导入", row_of[parent.as_str()]);
                errors.push(RowError::new(row_of.get(u.code.as_str()).copied().unwrap_or(0), "上级编码", reason));
            }
        }
    }
}

type ErrSink<'a> = dyn FnMut(&str, String) + 'a;

fn check_grid(
    record: &Record,
    ctx: &Context<'_>,
    units_by_code: &HashMap<&str, &Unit>,
    units_by_id: &HashMap<i64, &Unit>,
    err: &mut ErrSink<'_>,
) -> Option<CheckedRow> {
    let code_text = record.get("code");
    let mut community = None;
    let mut code_ok = None;
    if !code_text.is_empty() {
        match GridCode::parse(code_text) {
            Err(e) => err("编码", e),
            Ok(code) if code.county() != ctx.district_code => {
                err("编码", format!("网格编码的前 6 位 {} 与本区区划代码 {} 不符", code.county(), ctx.district_code))
            }
            Ok(code) => match units_by_code.get(code.community()) {
                Some(unit) if UnitKind::from_code(&unit.kind).is_some_and(|k| k.is_community_level()) => {
                    let street = unit.parent_id.and_then(|p| units_by_id.get(&p));
                    match street {
                        Some(street) if street.code == code.street() => {
                            community = Some(((*unit).clone(), (*street).clone()));
                            code_ok = Some(code);
                        }
                        _ => {
                            err("编码", format!("编码中的街道码 {} 与社区“{}”的上级街道不符", code.street(), unit.name))
                        }
                    }
                }
                _ => err("编码", format!("找不到编码为 {} 的社区（网格编码前 12 位）", code.community())),
            },
        }
    }
    let polygon = match (&record.geometry, record.get("boundary")) {
        (Some(geometry), _) => Polygon::from_geojson_value(geometry),
        (None, text) if !text.is_empty() => parse_ring_text(text),
        (None, _) => Err("缺少边界：GeoJSON 要素应有 Polygon 几何，Excel 应填写“边界”列".to_string()),
    };
    let polygon = match polygon {
        Ok(p) => {
            let converted = p.map(|x, y| ctx.crs.to_wgs84(x, y));
            match Polygon::new(converted.ring().to_vec()) {
                Ok(p) => Some(p),
                Err(e) => {
                    err("边界", e.to_string());
                    None
                }
            }
        }
        Err(e) => {
            err("边界", e);
            None
        }
    };
    let (code, (community, street), polygon) = (code_ok?, community?, polygon?);
    Some(CheckedRow::Grid(NewGrid {
        code: code.as_str().to_string(),
        name: record.get("name").to_string(),
        community_id: community.id,
        street_id: street.id,
        boundary: polygon.to_geojson_value().to_string(),
        bbox: polygon.bbox(),
        area_m2: polygon.area_m2(),
    }))
}

/// A checked location: a spot, or an area and its centre.
struct Located {
    lon: f64,
    lat: f64,
    area: Option<Polygon>,
    place: Option<super::spatial::Location>,
}

fn check_location(record: &Record, ctx: &Context<'_>, err: &mut ErrSink<'_>) -> Option<Located> {
    let mut area = None;
    let spot = match &record.geometry {
        Some(g) => match g.get("type").and_then(|t| t.as_str()) {
            Some("Point") => {
                let c = g.get("coordinates");
                match (
                    c.and_then(|c| c.get(0)).and_then(|v| v.as_f64()),
                    c.and_then(|c| c.get(1)).and_then(|v| v.as_f64()),
                ) {
                    (Some(x), Some(y)) => Some((x, y)),
                    _ => {
                        err("位置", "Point 坐标应为 [经度, 纬度] 数字".into());
                        return None;
                    }
                }
            }
            Some("Polygon") => match Polygon::from_geojson_value(g) {
                Ok(p) => {
                    area = Some(p);
                    None
                }
                Err(e) => {
                    err("面域", e);
                    return None;
                }
            },
            _ => {
                err("位置", "几何类型应为 Point 或 Polygon".into());
                return None;
            }
        },
        None => None,
    };
    if area.is_none() && !record.get("area").is_empty() {
        match parse_ring_text(record.get("area")) {
            Ok(p) => area = Some(p),
            Err(e) => {
                err("面域", e);
                return None;
            }
        }
    }
    let area = area.map(|p| p.map(|x, y| ctx.crs.to_wgs84(x, y)));
    let (lon, lat) = match (spot, &area) {
        (Some((x, y)), _) => {
            if !valid_position(x, y) {
                err("位置", format!("坐标 ({x}, {y}) 超出范围"));
                return None;
            }
            ctx.crs.to_wgs84(x, y)
        }
        (None, Some(p)) => p.centroid(),
        (None, None) => {
            let (lon_text, lat_text) = (record.get("lon"), record.get("lat"));
            if lon_text.is_empty() || lat_text.is_empty() {
                err("经度/纬度", "缺少位置：请填写经度和纬度，或提供几何".into());
                return None;
            }
            let lon = lon_text.parse::<f64>().ok();
            let lat = lat_text.parse::<f64>().ok();
            match (lon, lat) {
                (Some(x), Some(y)) if valid_position(x, y) => ctx.crs.to_wgs84(x, y),
                (None, _) => {
                    err("经度", format!("“{lon_text}”不是数字"));
                    return None;
                }
                (_, None) => {
                    err("纬度", format!("“{lat_text}”不是数字"));
                    return None;
                }
                _ => {
                    err("经度/纬度", format!("坐标 ({lon_text}, {lat_text}) 超出范围"));
                    return None;
                }
            }
        }
    };
    let place = ctx.grids.resolve(lon, lat);
    if place.is_none() && !ctx.grids.is_empty() {
        err(
            "位置",
            format!(
                "位置（经度 {lon:.6}，纬度 {lat:.6}）不在本区任何网格内；请检查坐标系（WGS-84 / GCJ-02 / BD-09）是否选对"
            ),
        );
        return None;
    }
    Some(Located { lon, lat, area, place })
}

fn check_point(
    record: &Record,
    ctx: &Context<'_>,
    units_by_code: &HashMap<&str, &Unit>,
    units_by_name: &HashMap<&str, Vec<&Unit>>,
    err: &mut ErrSink<'_>,
) -> Option<CheckedRow> {
    let type_text = record.get("type");
    let kind = if type_text.is_empty() {
        None
    } else {
        let found = point_type(type_text);
        if found.is_none() {
            let known = point_types().iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join("、");
            err("类型", format!("未知的点位类型“{type_text}”；可选：{known}"));
        }
        found
    };
    let unit_text = record.get("unit");
    let unit = if unit_text.is_empty() {
        None
    } else {
        match (units_by_code.get(unit_text), units_by_name.get(unit_text).map(Vec::as_slice)) {
            (Some(u), _) => Some(*u),
            (None, Some([u])) => Some(*u),
            (None, Some(_)) => {
                err("责任单位", format!("名称“{unit_text}”对应多个单位，请改填单位编码"));
                None
            }
            (None, None) => {
                err("责任单位", format!("找不到责任单位“{unit_text}”（按编码或全称查找）"));
                None
            }
        }
    };
    let located = check_location(record, ctx, err)?;
    let (kind, unit) = (kind?, unit?);
    Some(CheckedRow::Point(NewPoint {
        code: record.get("code").to_string(),
        name: record.get("name").to_string(),
        point_type: kind.code.clone(),
        lon: located.lon,
        lat: located.lat,
        area: located.area.map(|p| p.to_geojson_value().to_string()),
        address: record.get("address").to_string(),
        grid_id: located.place.map(|p| p.grid_id),
        community_id: located.place.map(|p| p.community_id),
        street_id: located.place.map(|p| p.street_id),
        responsible_unit_id: unit.id,
        leader_name: record.get("leader").to_string(),
    }))
}

/// The kind of a unit named in a file: a Chinese label or an English code.
fn unit_kind(raw: &str) -> Option<UnitKind> {
    UnitKind::ALL.into_iter().find(|k| k.code() == raw || k.label() == raw)
}

fn check_unit(
    record: &Record,
    ctx: &Context<'_>,
    units_by_code: &HashMap<&str, &Unit>,
    units_by_id: &HashMap<i64, &Unit>,
    file_units: &HashMap<&str, (&str, &str)>,
    err: &mut ErrSink<'_>,
) -> Option<CheckedRow> {
    let code = record.get("code");
    let kind_text = record.get("kind");
    let kind = match unit_kind(kind_text) {
        _ if kind_text.is_empty() => None,
        Some(UnitKind::District) => {
            err("类型", "区本身已存在，无需导入".into());
            None
        }
        Some(kind) => Some(kind),
        None => {
            let known = UnitKind::ALL[1..].iter().map(|k| k.label()).collect::<Vec<_>>().join("、");
            err("类型", format!("未知的单位类型“{kind_text}”；可选：{known}"));
            None
        }
    };
    let parent = match record.get("parent") {
        "" => ctx.district_code,
        p => p,
    };
    // The parent's kind, from the database or from this file.
    let parent_kind = units_by_code
        .get(parent)
        .and_then(|u| UnitKind::from_code(&u.kind))
        .or_else(|| file_units.get(parent).and_then(|(k, _)| unit_kind(k)));
    if parent_kind.is_none() {
        err("上级编码", format!("找不到上级单位“{parent}”（本区现有单位和本文件中都没有）"));
    }
    // Follow the chain of parents inside the file: it must reach the database.
    let mut cursor = parent;
    for _ in 0..=file_units.len() {
        if cursor == code {
            err("上级编码", "上级关系成环".into());
            return None;
        }
        match file_units.get(cursor) {
            Some((_, up)) if !units_by_code.contains_key(cursor) => {
                cursor = if up.is_empty() { ctx.district_code } else { up }
            }
            _ => break,
        }
    }
    let kind = kind?;
    let parent_kind = parent_kind?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if kind.is_street_level() {
        if parent_kind != UnitKind::District {
            err("上级编码", "街道、镇的上级应为区".into());
        } else if !(digits(code, 9) && code.starts_with(ctx.district_code)) {
            err("编码", format!("街道、镇的编码应为 9 位统计用区划代码，以本区代码 {} 开头", ctx.district_code));
        }
    } else if kind.is_community_level() {
        if !parent_kind.is_street_level() {
            err("上级编码", "社区、村的上级应为街道或镇".into());
        } else if !(digits(code, 12) && code.starts_with(parent)) {
            err("编码", format!("社区、村的编码应为 12 位统计用区划代码，以上级街道代码 {parent} 开头"));
        }
    } else if code.chars().count() > 32 {
        err("编码", "编码不能超过 32 个字符".into());
    }
    if let Some(existing) = units_by_code.get(code) {
        let existing_parent = existing.parent_id.and_then(|id| units_by_id.get(&id)).map(|p| p.code.as_str());
        if existing.kind != kind.code() || existing_parent != Some(parent) {
            err(
                "编码",
                format!("单位“{code}”已存在（{}），类型或上级与文件不同；导入只能改名，不能移动单位", existing.name),
            );
            return None;
        }
    }
    Some(CheckedRow::Unit(NewUnit {
        parent_code: Some(parent.to_string()),
        kind: kind.code().to_string(),
        code: code.to_string(),
        name: record.get("name").to_string(),
    }))
}

fn check_shop(record: &Record, ctx: &Context<'_>, err: &mut ErrSink<'_>) -> Option<CheckedRow> {
    let located = check_location(record, ctx, err)?;
    Some(CheckedRow::ShopFront(NewShopFront {
        code: record.get("code").to_string(),
        name: record.get("name").to_string(),
        business_type: record.get("business_type").to_string(),
        lon: located.lon,
        lat: located.lat,
        address: record.get("address").to_string(),
        responsible_party: record.get("responsible_party").to_string(),
        grid_id: located.place.map(|p| p.grid_id),
        community_id: located.place.map(|p| p.community_id),
        street_id: located.place.map(|p| p.street_id),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::places::spatial::IndexedGrid;
    use crate::progress::Silent;

    fn unit(id: i64, parent: Option<i64>, kind: &str, code: &str, name: &str) -> Unit {
        Unit {
            id,
            district_id: 1,
            parent_id: parent,
            kind: kind.into(),
            code: code.into(),
            name: name.into(),
            path: String::new(),
        }
    }

    fn fixture() -> (Vec<Unit>, GridIndex) {
        let units = vec![
            unit(1, None, "district", "120199", "演示区"),
            unit(2, Some(1), "street", "120199001", "海河街道"),
            unit(3, Some(2), "community", "120199001001", "佳荣里社区"),
            unit(4, Some(1), "department", "D01", "区城市管理委员会"),
        ];
        let ring = vec![(117.0, 39.0), (117.01, 39.0), (117.01, 39.01), (117.0, 39.01), (117.0, 39.0)];
        let index = GridIndex::build(vec![IndexedGrid {
            id: 10,
            code: "120199001001001".into(),
            community_id: 3,
            street_id: 2,
            polygon: Polygon::new(ring).unwrap(),
        }]);
        (units, index)
    }

    fn check(kind: PlaceKind, bytes: &[u8]) -> (Vec<CheckedRow>, Vec<RowError>) {
        let (units, index) = fixture();
        let ctx = Context { district_code: "120199", crs: Crs::Wgs84, units: &units, grids: &index };
        let (_, records) = read_records(kind, bytes).map_err(|e| vec![e]).unwrap();
        check_records(kind, &records, &ctx, &Silent)
    }

    #[test]
    fn a_good_point_is_resolved_to_its_grid_community_and_street() {
        let file = serde_json::json!({"type": "FeatureCollection", "features": [{
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [117.005, 39.005]},
            "properties": {"编码": "P1", "名称": "佳荣里菜市场", "类型": "农贸市场", "责任单位": "区城市管理委员会"}
        }]});
        let (rows, errors) = check(PlaceKind::Points, file.to_string().as_bytes());
        assert!(errors.is_empty(), "{errors:?}");
        let CheckedRow::Point(p) = &rows[0] else { panic!("not a point") };
        assert_eq!((p.grid_id, p.community_id, p.street_id), (Some(10), Some(3), Some(2)));
        assert_eq!(p.point_type, "farmers_market");
        assert_eq!(p.responsible_unit_id, 4);
    }

    #[test]
    fn every_bad_feature_is_reported_with_its_number_field_and_reason() {
        let file = serde_json::json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [117.005, 39.005]},
             "properties": {"code": "P1", "name": "好的", "type": "公园", "unit": "D01"}},
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [118.5, 39.005]},
             "properties": {"code": "P2", "name": "区外", "type": "公园", "unit": "D01"}},
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [117.005, 39.005]},
             "properties": {"code": "P1", "name": "", "type": "游乐场", "unit": "不存在的单位"}}
        ]});
        let (rows, errors) = check(PlaceKind::Points, file.to_string().as_bytes());
        assert_eq!(rows.len(), 1, "only the first feature is good");
        let summary: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.field.as_str())).collect();
        assert_eq!(summary, vec![(2, "位置"), (3, "名称"), (3, "编码"), (3, "类型"), (3, "责任单位")]);
        assert!(errors[0].reason.contains("不在本区任何网格内"));
        assert!(errors[2].reason.contains("与第 1 行重复"));
    }

    #[test]
    fn a_grid_code_must_belong_to_this_district_and_an_existing_community() {
        let file = serde_json::json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"code": "120199001001002", "name": "一号网格"},
             "geometry": {"type": "Polygon", "coordinates": [[[117.0,39.01],[117.01,39.01],[117.01,39.02],[117.0,39.02],[117.0,39.01]]]}},
            {"type": "Feature", "properties": {"code": "120101001001002", "name": "外区"},
             "geometry": {"type": "Polygon", "coordinates": [[[117.0,39.01],[117.01,39.01],[117.01,39.02],[117.0,39.02],[117.0,39.01]]]}},
            {"type": "Feature", "properties": {"code": "120199001009001", "name": "无社区"},
             "geometry": {"type": "Polygon", "coordinates": [[[117.0,39.01],[117.01,39.01],[117.0,39.01]]]}}
        ]});
        let (rows, errors) = check(PlaceKind::Grids, file.to_string().as_bytes());
        assert_eq!(rows.len(), 1);
        let summary: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.field.as_str())).collect();
        assert_eq!(summary, vec![(2, "编码"), (3, "编码"), (3, "边界")]);
    }

    #[test]
    fn a_file_that_is_neither_geojson_nor_xlsx_is_refused_as_a_whole() {
        let err = read_records(PlaceKind::Points, b"code,name\n1,2").unwrap_err();
        assert_eq!(err.row, 0);
        let err = read_records(PlaceKind::Points, b"{\"type\": \"FeatureCollection\", \"features\": [").unwrap_err();
        assert!(err.reason.contains("JSON"), "{}", err.reason);
    }

    #[test]
    fn gcj02_input_is_stored_as_wgs84() {
        let (units, index) = fixture();
        let ctx = Context { district_code: "120199", crs: Crs::Gcj02, units: &units, grids: &index };
        let (gx, gy) = crate::domain::coords::wgs84_to_gcj02(117.005, 39.005);
        let file = serde_json::json!({"type": "FeatureCollection", "features": [{
            "type": "Feature", "geometry": {"type": "Point", "coordinates": [gx, gy]},
            "properties": {"code": "S1", "name": "老王早点", "responsible_party": "王某"}}]});
        let (_, records) = read_records(PlaceKind::ShopFronts, file.to_string().as_bytes()).unwrap();
        let (rows, errors) = check_records(PlaceKind::ShopFronts, &records, &ctx, &Silent);
        assert!(errors.is_empty(), "{errors:?}");
        let CheckedRow::ShopFront(s) = &rows[0] else { panic!() };
        assert!((s.lon - 117.005).abs() < 1e-7 && (s.lat - 39.005).abs() < 1e-7);
    }

    #[test]
    fn a_ring_written_in_a_cell_round_trips() {
        let p = parse_ring_text("117,39; 117.01,39；117.01,39.01;117,39.01;117,39").unwrap();
        assert_eq!(parse_ring_text(&ring_text(&p)).unwrap(), p);
        assert!(parse_ring_text("117,39;abc").unwrap_err().contains("经度,纬度"));
    }
}
