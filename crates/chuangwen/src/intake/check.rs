//! Checking a table of findings row by row (批量导入的逐行校验).
//!
//! Pure: a table, the column mapping and what the district knows (its
//! categories, points and grid cells) in; findings ready to file and every
//! bad row — its number, the field and the reason, in Chinese — out. Then
//! [`find_duplicates`] sets aside findings already imported or already open
//! as a case nearby.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::calendar::beijing;
use crate::domain::categories::{Category, CategoryTable};
use crate::domain::coords::{Crs, distance_m};
use crate::domain::geometry::valid_position;
use crate::places::import::RowError;
use crate::places::spatial::GridIndex;
use crate::progress::Progress;
use crate::sheet::{Table, TableRow};
use crate::store::cases::NewCase;

/// The sources whose files are taken in (PRODUCT.md M12): findings of a
/// third-party evaluation company and tickets exported by the 12345 hotline.
pub const SOURCES: &[&str] = &["third_party", "hotline"];

/// The Chinese name of a source.
pub fn source_label(code: &str) -> &'static str {
    crate::domain::cases::source_label(code).unwrap_or("其他来源")
}

/// A field of a finding: its key, its Chinese name, the headers that name it
/// in the files evaluators and the hotline hand over, and a hint for people.
#[derive(Debug)]
pub struct Field {
    /// English key (kept in saved mappings).
    pub key: &'static str,
    /// Chinese name.
    pub label: &'static str,
    /// Other headers recognised without a saved mapping.
    pub aliases: &'static [&'static str],
    /// Must be mapped to a column.
    pub required: bool,
    /// What goes in it.
    pub hint: &'static str,
}

const fn field(
    key: &'static str,
    label: &'static str,
    aliases: &'static [&'static str],
    required: bool,
    hint: &'static str,
) -> Field {
    Field { key, label, aliases, required, hint }
}

/// Every field of a finding, in the order the mapping page shows them.
pub const FIELDS: &[Field] = &[
    field(
        "external_ref",
        "外部编号",
        &["编号", "工单编号", "工单号", "问题编号", "受理编号"],
        false,
        "对方系统中的编号；同一来源同一编号只导入一次",
    ),
    field(
        "category",
        "问题分类",
        &["分类", "问题类别", "分类编码", "问题类型", "诉求分类"],
        true,
        "分类编码（如 01001）或分类名称",
    ),
    field("condition", "立案条件", &["条件"], false, "第几个立案条件（1、2…）或其名称；空则为第一个"),
    field(
        "description",
        "问题描述",
        &["描述", "诉求内容", "工单内容", "问题内容", "情况说明"],
        true,
        "发现的问题，不超过 10000 字",
    ),
    field("address", "地址", &["事发地址", "问题地址", "详细地址", "地点"], false, "经纬度、点位、地址至少填一项"),
    field("lon", "经度", &["lng", "lon", "longitude"], false, "与纬度同填；坐标系在本页选择"),
    field("lat", "纬度", &["lat", "latitude"], false, "与经度同填"),
    field("point", "点位", &["点位编码", "点位名称"], false, "点位编码或名称；无经纬度时取点位位置"),
    field(
        "found_at",
        "发现时间",
        &["受理时间", "来电时间", "测评时间", "时间"],
        false,
        "如 2026-11-20 09:30（北京时间）",
    ),
    field("reporter", "上报人", &["测评员", "发现人"], false, "空则记为来源名称"),
];

/// The field with this key.
pub fn field_by_key(key: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.key == key)
}

/// Which column each field is read from, and the coordinate system of the
/// file's longitudes and latitudes. Saved per source after each use, so the
/// next export from the same system maps itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mapping {
    /// Field key → the header of its column.
    pub columns: BTreeMap<String, String>,
    /// `wgs84`, `gcj02` or `bd09`.
    pub crs: String,
}

impl Mapping {
    /// The mapping to offer for a file: the saved one where its headers are
    /// still there, else a header that names the field.
    pub fn propose(headers: &[String], saved: Option<&Mapping>) -> Mapping {
        let mut columns = BTreeMap::new();
        for f in FIELDS {
            let saved_header = saved.and_then(|m| m.columns.get(f.key)).filter(|h| headers.contains(h));
            let named = || {
                headers.iter().find(|h| {
                    let h = h.trim();
                    h == f.label || h == f.key || f.aliases.contains(&h)
                })
            };
            if let Some(header) = saved_header.or_else(named) {
                columns.insert(f.key.to_string(), header.clone());
            }
        }
        let crs = saved.map(|m| m.crs.clone()).filter(|c| Crs::parse(c).is_some()).unwrap_or_else(|| "wgs84".into());
        Mapping { columns, crs }
    }

    /// The coordinate system.
    pub fn crs(&self) -> Crs {
        Crs::parse(&self.crs).unwrap_or(Crs::Wgs84)
    }

    /// Column positions in a file with these headers; an unmapped required
    /// field, a header the file lacks or a column used twice is refused.
    pub fn columns_in(&self, headers: &[String]) -> Result<Columns, String> {
        let mut problems = Vec::new();
        let mut positions = Vec::with_capacity(FIELDS.len());
        let mut used: HashMap<usize, &str> = HashMap::new();
        for f in FIELDS {
            let header = self.columns.get(f.key).filter(|h| !h.is_empty());
            let position = match header {
                None if f.required => {
                    problems.push(format!("请为“{}”选择对应的列", f.label));
                    None
                }
                None => None,
                Some(h) => match headers.iter().position(|x| x == h) {
                    None => {
                        problems.push(format!("文件中没有“{h}”列（“{}”）", f.label));
                        None
                    }
                    Some(i) => {
                        if let Some(other) = used.insert(i, f.label) {
                            problems.push(format!("“{h}”列不能同时作为“{other}”和“{}”", f.label));
                        }
                        Some(i)
                    }
                },
            };
            positions.push(position);
        }
        if Crs::parse(&self.crs).is_none() {
            problems.push("请选择坐标系".into());
        }
        if problems.is_empty() { Ok(Columns(positions)) } else { Err(problems.join("；")) }
    }
}

/// Column positions, one per field of [`FIELDS`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns(Vec<Option<usize>>);

impl Columns {
    fn text<'r>(&self, row: &'r TableRow, key: &str) -> &'r str {
        let at = FIELDS.iter().position(|f| f.key == key).and_then(|i| self.0[i]);
        at.map(|i| row.cell(i)).unwrap_or("")
    }
}

/// An evaluation point, as a finding may name it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PointRef {
    /// Id.
    pub id: i64,
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// WGS-84 location.
    pub lon: f64,
    /// WGS-84 location.
    pub lat: f64,
}

/// What checking needs to know.
pub struct Context<'a> {
    /// Source code, e.g. `hotline`.
    pub source: &'a str,
    /// The district's category table.
    pub categories: &'a CategoryTable,
    /// The district's points.
    pub points: &'a [PointRef],
    /// The district's grid cells.
    pub grids: &'a GridIndex,
    /// The file's coordinate system.
    pub crs: Crs,
    /// Now: a finding cannot be found later than this.
    pub now: DateTime<Utc>,
}

/// A row that passed: the case to file and what the source said of it.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Row number in the file.
    pub row: usize,
    /// The source's own number.
    pub external_ref: Option<String>,
    /// When the source found it.
    pub found_at: Option<DateTime<Utc>>,
    /// The case.
    pub case: NewCase,
}

/// Longest text kept in a cell (description excepted).
const MAX_TEXT: usize = 500;

/// Checks every row; a row with any error gives no finding. A repeated
/// external number is an error on its later rows.
pub fn check_rows(
    table: &Table,
    columns: &Columns,
    ctx: &Context<'_>,
    progress: &dyn Progress,
) -> (Vec<Finding>, Vec<RowError>) {
    let categories: HashMap<&str, &Category> =
        ctx.categories.categories.iter().flat_map(|c| [(c.code.as_str(), c), (c.name.as_str(), c)]).collect();
    let points: HashMap<&str, &PointRef> =
        ctx.points.iter().flat_map(|p| [(p.code.as_str(), p), (p.name.as_str(), p)]).collect();
    // A number repeated in the file is an error on its later good rows: a
    // bad row does not keep its number from the corrected copy below it.
    let mut first_row_of: HashMap<&str, usize> = HashMap::new();
    let (mut findings, mut errors) = (Vec::with_capacity(table.rows.len()), Vec::new());
    for (i, row) in table.rows.iter().enumerate() {
        let before = errors.len();
        let external_ref = columns.text(row, "external_ref");
        if external_ref.chars().count() > 64 {
            errors.push(RowError::new(row.row, "外部编号", "不超过 64 个字符"));
        }
        let finding = check_row(row, columns, ctx, &categories, &points, &mut errors);
        if errors.len() == before
            && !external_ref.is_empty()
            && let Some(first) = first_row_of.get(external_ref)
        {
            errors.push(RowError::new(row.row, "外部编号", format!("与第 {first} 行的编号“{external_ref}”相同")));
        }
        if errors.len() == before
            && let Some(case) = finding
        {
            if !external_ref.is_empty() {
                first_row_of.insert(external_ref, row.row);
            }
            let found_at = parse_found_at(&halfwidth(columns.text(row, "found_at"))).ok().flatten();
            let external_ref = (!external_ref.is_empty()).then(|| external_ref.to_string());
            findings.push(Finding { row: row.row, external_ref, found_at, case });
        }
        if i % 1000 == 999 {
            progress.advance(1000);
        }
    }
    progress.advance((table.rows.len() % 1000) as u64);
    (findings, errors)
}

/// Full-width digits and signs (１１４．０５, typed with a Chinese input
/// method) as their ASCII forms.
pub fn halfwidth(text: &str) -> std::borrow::Cow<'_, str> {
    if text.is_ascii() {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .collect()
}

fn check_row(
    row: &TableRow,
    columns: &Columns,
    ctx: &Context<'_>,
    categories: &HashMap<&str, &Category>,
    points: &HashMap<&str, &PointRef>,
    errors: &mut Vec<RowError>,
) -> Option<NewCase> {
    let n = row.row;
    let text = |key| columns.text(row, key);
    let number = |key| halfwidth(columns.text(row, key));
    let mut fail = |field: &str, reason: String| {
        errors.push(RowError::new(n, field, reason));
    };

    let category = match text("category") {
        "" => {
            fail("问题分类", "必填".into());
            None
        }
        raw => {
            // "01001", "暴露垃圾" or "01001 暴露垃圾"; Excel keeps 01001 typed as a number as 1001.
            let first = halfwidth(raw.split_whitespace().next().unwrap_or(raw)).into_owned();
            let code = if !first.is_empty() && first.len() < 5 && first.bytes().all(|b| b.is_ascii_digit()) {
                format!("{first:0>5}")
            } else {
                first
            };
            let found = categories.get(raw).or_else(|| categories.get(code.as_str())).copied();
            if found.is_none() {
                fail("问题分类", format!("未知的分类“{raw}”：请填写分类编码或分类名称"));
            }
            found
        }
    };
    let condition = category.and_then(|c| {
        let raw = text("condition");
        let index = if raw.is_empty() {
            Some(0)
        } else if let Ok(k) = number("condition").parse::<usize>() {
            k.checked_sub(1).filter(|k| *k < c.conditions.len())
        } else {
            c.conditions.iter().position(|k| k.name == raw)
        };
        if index.is_none() {
            fail("立案条件", format!("分类“{}”没有立案条件“{raw}”（共 {} 个）", c.name, c.conditions.len()));
        }
        index.map(|i| (i, &c.conditions[i]))
    });
    let description = text("description");
    if description.is_empty() {
        fail("问题描述", "必填".into());
    } else if description.chars().count() > 10_000 {
        fail("问题描述", "不超过 10000 字".into());
    }
    let address = text("address");
    if address.chars().count() > MAX_TEXT {
        fail("地址", format!("不超过 {MAX_TEXT} 字"));
    }
    let reporter = text("reporter");
    if reporter.chars().count() > 50 {
        fail("上报人", "不超过 50 字".into());
    }
    if let Err(reason) = parse_found_at(&number("found_at")).and_then(|t| match t {
        Some(t) if t > ctx.now + chrono::Duration::minutes(10) => Err("晚于现在".to_string()),
        _ => Ok(()),
    }) {
        fail("发现时间", reason);
    }
    let point = match text("point") {
        "" => None,
        raw => {
            let found = points.get(raw).copied();
            if found.is_none() {
                fail("点位", format!("点位“{raw}”不存在"));
            }
            found
        }
    };
    let (lon_text, lat_text) = (number("lon"), number("lat"));
    let location = match (lon_text.as_ref(), lat_text.as_ref()) {
        ("", "") => point.map(|p| (p.lon, p.lat)),
        (lon, lat) if lon.is_empty() || lat.is_empty() => {
            let missing = if lon.is_empty() { "经度" } else { "纬度" };
            fail(missing, "经度和纬度须同时填写".into());
            None
        }
        (lon, lat) => match (lon.parse::<f64>(), lat.parse::<f64>()) {
            (Ok(lon), Ok(lat)) if valid_position(lon, lat) => Some(ctx.crs.to_wgs84(lon, lat)),
            (Ok(_), Ok(_)) => {
                fail("经度", format!("经纬度（{lon}，{lat}）超出范围"));
                None
            }
            (Err(_), _) => {
                fail("经度", format!("“{lon}”不是数字"));
                None
            }
            (_, Err(_)) => {
                fail("纬度", format!("“{lat}”不是数字"));
                None
            }
        },
    };
    let place = match location {
        Some((lon, lat)) => match ctx.grids.resolve(lon, lat) {
            Some(l) => Some((l.grid_id, l.community_id, l.street_id)),
            None if !ctx.grids.is_empty() => {
                fail("经度", "位置不在本区任何网格内（请检查坐标系）".into());
                None
            }
            None => None,
        },
        None => None,
    };
    if [text("lon"), text("lat"), text("point"), address].iter().all(|t| t.is_empty()) {
        fail("地址", "请提供位置：经纬度、点位、地址至少填一项".into());
    }
    let (category, (condition_index, condition)) = (category?, condition?);
    Some(NewCase {
        source: ctx.source.to_string(),
        category_code: category.code.clone(),
        category_version: ctx.categories.version.clone(),
        condition_index: condition_index as i64,
        campaign: category.campaign.clone(),
        limit_amount: condition.limit as i64,
        limit_clock: condition.clock.code().to_string(),
        description: description.to_string(),
        address: address.to_string(),
        location,
        place,
        point_id: point.map(|p| p.id),
        reporter_id: None,
        reporter_name: if reporter.is_empty() { source_label(ctx.source).to_string() } else { reporter.to_string() },
    })
}

/// Reads a time as people write it in a spreadsheet, in Beijing time:
/// `2026-11-20 09:30[:00]`, `2026/11/20 9:30`, `2026-11-20`, `2026年11月20日`.
pub fn parse_found_at(raw: &str) -> Result<Option<DateTime<Utc>>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    const WITH_TIME: &[&str] = &[
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S%.f",
        "%Y/%m/%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y年%m月%d日 %H:%M:%S",
        "%Y年%m月%d日 %H:%M",
        "%Y年%m月%d日 %H时%M分",
        "%Y年%m月%d日%H时%M分",
    ];
    const DATE_ONLY: &[&str] = &["%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y.%m.%d"];
    let local = WITH_TIME.iter().find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok()).or_else(|| {
        DATE_ONLY
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(raw, f).ok())
            .map(|d| d.and_time(chrono::NaiveTime::MIN))
    });
    let Some(local) = local else {
        return Err(format!("无法识别的时间“{raw}”：请写成 2026-11-20 09:30"));
    };
    if local.date() < NaiveDate::from_ymd_opt(2000, 1, 1).expect("a date") {
        return Err(format!("时间“{raw}”早于 2000 年"));
    }
    let at = beijing().from_local_datetime(&local).single().ok_or_else(|| format!("时间“{raw}”无效"))?;
    Ok(Some(at.with_timezone(&Utc)))
}

/// Why a finding is not filed as a new case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateKind {
    /// The same source's same number is already a case: never filed twice.
    AlreadyImported,
    /// An open case of the same category lies within the duplicate radius.
    NearOpenCase,
}

/// A finding that matches a case already in the register.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Duplicate {
    /// Row number in the file.
    pub row: usize,
    /// Which kind of match.
    pub kind: DuplicateKind,
    /// The case it matches.
    pub case_id: i64,
    /// That case's number.
    pub case_number: String,
    /// How far apart, in metres (near open cases only).
    pub distance_m: Option<f64>,
}

impl Duplicate {
    /// What people read.
    pub fn reason(&self) -> String {
        match (self.kind, self.distance_m) {
            (DuplicateKind::AlreadyImported, _) => "该编号已导入".into(),
            (DuplicateKind::NearOpenCase, Some(d)) => format!("{d:.0} 米内有同类未结案卷"),
            (DuplicateKind::NearOpenCase, None) => "附近有同类未结案卷".into(),
        }
    }
}

/// An open case a finding may repeat.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OpenCase {
    /// Id.
    pub id: i64,
    /// Number.
    pub number: String,
    /// Category code.
    pub category_code: String,
    /// Location.
    pub lon: f64,
    /// Location.
    pub lat: f64,
}

/// The findings that repeat a case: the same external number of the same
/// source already imported (`imported`: number → case id and case number),
/// or an open case of the same category within `radius_m`, the nearest.
pub fn find_duplicates(
    findings: &[Finding],
    imported: &HashMap<String, (i64, String)>,
    open: &[OpenCase],
    radius_m: f64,
) -> Vec<Duplicate> {
    let mut by_category: HashMap<&str, Vec<&OpenCase>> = HashMap::new();
    for c in open {
        by_category.entry(c.category_code.as_str()).or_default().push(c);
    }
    let d_lat = radius_m / 110_574.0;
    findings
        .iter()
        .filter_map(|f| {
            if let Some((case_id, number)) = f.external_ref.as_ref().and_then(|r| imported.get(r)) {
                return Some(Duplicate {
                    row: f.row,
                    kind: DuplicateKind::AlreadyImported,
                    case_id: *case_id,
                    case_number: number.clone(),
                    distance_m: None,
                });
            }
            let (lon, lat) = f.case.location?;
            let d_lon = radius_m / (111_320.0 * lat.to_radians().cos().max(0.01));
            by_category
                .get(f.case.category_code.as_str())?
                .iter()
                .filter(|c| (c.lon - lon).abs() <= d_lon && (c.lat - lat).abs() <= d_lat)
                .map(|c| (c, distance_m((lon, lat), (c.lon, c.lat))))
                .filter(|(_, d)| *d <= radius_m)
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(c, d)| Duplicate {
                    row: f.row,
                    kind: DuplicateKind::NearOpenCase,
                    case_id: c.id,
                    case_number: c.number.clone(),
                    distance_m: Some(d.round()),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::places::spatial::IndexedGrid;
    use crate::progress::Silent;
    use crate::sheet::TableFormat;

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn grid() -> GridIndex {
        let ring = vec![(114.0, 22.5), (114.1, 22.5), (114.1, 22.6), (114.0, 22.6), (114.0, 22.5)];
        GridIndex::build(vec![IndexedGrid {
            id: 7,
            code: "G1".into(),
            community_id: 3,
            street_id: 2,
            polygon: crate::domain::geometry::Polygon::new(ring).unwrap(),
        }])
    }

    fn point() -> PointRef {
        PointRef { id: 11, code: "P001".into(), name: "人民公园".into(), lon: 114.05, lat: 22.55 }
    }

    fn table(header: &[&str], rows: &[&[&str]]) -> Table {
        Table {
            format: TableFormat::Csv,
            headers: headers(header),
            rows: rows
                .iter()
                .enumerate()
                .map(|(i, r)| TableRow { row: i + 2, cells: r.iter().map(|c| c.to_string()).collect() })
                .collect(),
        }
    }

    fn check(header: &[&str], rows: &[&[&str]]) -> (Vec<Finding>, Vec<RowError>) {
        let table = table(header, rows);
        let columns = Mapping::propose(&table.headers, None).columns_in(&table.headers).unwrap();
        let (grids, points) = (grid(), [point()]);
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap();
        let ctx = Context {
            source: "hotline",
            categories: crate::domain::categories::shipped(),
            points: &points,
            grids: &grids,
            crs: Crs::Wgs84,
            now,
        };
        check_rows(&table, &columns, &ctx, &Silent)
    }

    const HEADER: &[&str] =
        &["工单编号", "问题分类", "诉求内容", "经度", "纬度", "点位", "地址", "来电时间", "立案条件"];

    #[test]
    fn a_good_row_becomes_a_case_of_its_source() {
        let first = &crate::domain::categories::shipped().categories[0];
        let (findings, errors) =
            check(HEADER, &[&["T1", &first.code, "门口垃圾", "114.05", "22.55", "", "", "2026-11-20 09:30", ""]]);
        assert_eq!(errors, []);
        let f = &findings[0];
        assert_eq!(f.external_ref.as_deref(), Some("T1"));
        assert_eq!(f.case.source, "hotline");
        assert_eq!(f.case.reporter_name, "12345 热线");
        assert_eq!(f.case.category_code, first.code);
        assert_eq!(f.case.limit_amount, first.conditions[0].limit as i64);
        assert_eq!(f.case.place, Some((7, 3, 2)));
        // 09:30 in Beijing is 01:30 UTC.
        assert_eq!(f.found_at, Some(Utc.with_ymd_and_hms(2026, 11, 20, 1, 30, 0).unwrap()));
    }

    #[test]
    fn a_category_may_be_named_and_a_point_gives_the_place() {
        let c = crate::domain::categories::shipped().categories.iter().find(|c| c.conditions.len() > 1).unwrap();
        let named = format!("{} {}", c.code, c.name);
        let (findings, errors) = check(
            HEADER,
            &[
                &["", &c.name, "a", "", "", "P001", "", "", "2"],
                &["", &named, "b", "", "", "人民公园", "", "", &c.conditions[1].name],
            ],
        );
        assert_eq!(errors, []);
        for f in &findings {
            assert_eq!(f.case.point_id, Some(11));
            assert_eq!(f.case.location, Some((114.05, 22.55)));
            assert_eq!(f.case.condition_index, 1);
        }
    }

    #[test]
    fn every_bad_row_is_named_with_its_field_and_reason() {
        let code = crate::domain::categories::shipped().categories[0].code.as_str();
        let rows: &[&[&str]] = &[
            &["T1", code, "ok", "114.05", "22.55", "", "", "", ""],
            &["T2", "99999", "x", "114.05", "22.55", "", "", "", ""],
            &["T3", code, "", "114.05", "22.55", "", "", "", ""],
            &["T4", code, "x", "114.05", "", "", "", "", ""],
            &["T5", code, "x", "abc", "22.55", "", "", "", ""],
            &["T6", code, "x", "120.0", "30.0", "", "", "", ""],
            &["T7", code, "x", "", "", "P999", "", "", ""],
            &["T8", code, "x", "", "", "", "", "", ""],
            &["T9", code, "x", "", "", "", "某路 1 号", "昨天", ""],
            &["T10", code, "x", "", "", "", "某路 1 号", "2026-12-30", ""],
            &["T11", code, "x", "", "", "", "某路 1 号", "", "9"],
            &["T1", code, "x", "", "", "", "某路 1 号", "", ""],
            &["T13", "", "x", "", "", "", "某路 1 号", "", ""],
        ];
        let (findings, errors) = check(HEADER, rows);
        assert_eq!(findings.iter().map(|f| f.row).collect::<Vec<_>>(), [2]);
        let named: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.field.as_str())).collect();
        assert_eq!(
            named,
            [
                (3, "问题分类"),
                (4, "问题描述"),
                (5, "纬度"),
                (6, "经度"),
                (7, "经度"),
                (8, "点位"),
                (9, "地址"),
                (10, "发现时间"),
                (11, "发现时间"),
                (12, "立案条件"),
                (13, "外部编号"),
                (14, "问题分类"),
            ]
        );
        assert!(errors[0].reason.contains("99999"));
        assert!(errors[3].reason.contains("abc"));
        assert!(errors[4].reason.contains("网格"));
        assert!(errors[8].reason.contains("晚于现在"));
        assert!(errors[10].reason.contains("第 2 行"));
    }

    #[test]
    fn full_width_digits_and_a_code_excel_made_a_number_are_read() {
        let c = &crate::domain::categories::shipped().categories[0];
        let as_number = c.code.trim_start_matches('0');
        let (findings, errors) = check(
            HEADER,
            &[
                &["T1", as_number, "a", "１１４．０５", "２２．５５", "", "", "２０２６－１１－２０", "１"],
                &["T2", &format!("{} {}", as_number, c.name), "b", "", "", "P001", "", "", ""],
            ],
        );
        assert_eq!(errors, []);
        assert_eq!(findings[0].case.category_code, c.code);
        assert_eq!(findings[0].case.location, Some((114.05, 22.55)));
        assert!(findings[0].found_at.is_some());
        assert_eq!(findings[1].case.category_code, c.code);
    }

    #[test]
    fn a_corrected_copy_of_a_bad_row_keeps_its_number() {
        let code = crate::domain::categories::shipped().categories[0].code.as_str();
        let (findings, errors) = check(
            HEADER,
            &[
                &["T1", "99999", "错的分类", "114.05", "22.55", "", "", "", ""],
                &["T1", code, "改正后", "114.05", "22.55", "", "", "", ""],
            ],
        );
        assert_eq!(errors.iter().map(|e| (e.row, e.field.as_str())).collect::<Vec<_>>(), [(2, "问题分类")]);
        assert_eq!(findings.iter().map(|f| f.row).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn parses_the_times_people_write() {
        let utc = |d, h| Some(Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap());
        // Beijing is eight hours ahead of UTC.
        assert_eq!(parse_found_at("2026-11-20 08:00").unwrap(), utc(20, 0));
        assert_eq!(parse_found_at("2026/11/20 8:00:00").unwrap(), utc(20, 0));
        assert_eq!(parse_found_at("2026年11月20日").unwrap(), utc(19, 16));
        assert_eq!(parse_found_at("2026年11月20日 08时00分").unwrap(), utc(20, 0));
        assert_eq!(parse_found_at("2026-11-20 08:00:00.0").unwrap(), utc(20, 0));
        assert_eq!(parse_found_at("2026-11-20T00:00:00Z").unwrap(), utc(20, 0));
        assert_eq!(parse_found_at(" ").unwrap(), None);
        assert!(parse_found_at("1999-01-01").unwrap_err().contains("2000"));
        assert!(parse_found_at("11/20").is_err());
    }

    #[test]
    fn a_mapping_proposes_named_columns_and_prefers_the_saved_one() {
        let file = headers(&["序号", "工单编号", "诉求内容", "处理类别", "问题分类"]);
        let proposed = Mapping::propose(&file, None);
        assert_eq!(proposed.columns.get("external_ref").map(String::as_str), Some("工单编号"));
        assert_eq!(proposed.columns.get("category").map(String::as_str), Some("问题分类"));
        assert_eq!(proposed.crs, "wgs84");
        let mut saved = proposed.clone();
        saved.columns.insert("category".into(), "处理类别".into());
        saved.columns.insert("address".into(), "不在此文件".into());
        saved.crs = "gcj02".into();
        let again = Mapping::propose(&file, Some(&saved));
        assert_eq!(again.columns.get("category").map(String::as_str), Some("处理类别"));
        assert_eq!(again.columns.get("address"), None);
        assert_eq!(again.crs(), Crs::Gcj02);
    }

    #[test]
    fn a_mapping_is_refused_when_required_fields_or_columns_are_missing() {
        let file = headers(&["编号", "内容"]);
        let mut m = Mapping::propose(&file, None);
        let err = m.columns_in(&file).unwrap_err();
        assert!(err.contains("问题分类") && err.contains("问题描述"), "{err}");
        m.columns.insert("category".into(), "内容".into());
        m.columns.insert("description".into(), "内容".into());
        assert!(m.columns_in(&file).unwrap_err().contains("不能同时"));
        m.columns.insert("description".into(), "没有".into());
        assert!(m.columns_in(&file).unwrap_err().contains("没有“没有”列"));
        m.columns.insert("description".into(), "编号".into());
        m.columns.remove("external_ref");
        assert!(m.columns_in(&file).is_ok());
    }

    #[test]
    fn duplicates_are_the_same_number_or_an_open_case_nearby() {
        let code = crate::domain::categories::shipped().categories[0].code.clone();
        let other = crate::domain::categories::shipped().categories[1].code.clone();
        let (findings, errors) = check(
            HEADER,
            &[
                &["T1", &code, "a", "114.05", "22.55", "", "", "", ""],
                &["T2", &code, "b", "114.05", "22.55", "", "", "", ""],
                &["T3", &other, "c", "114.05", "22.55", "", "", "", ""],
                &["T4", &code, "d", "114.06", "22.55", "", "", "", ""],
                &["T5", &code, "e", "", "", "", "某路", "", ""],
            ],
        );
        assert_eq!(errors, []);
        let imported = HashMap::from([("T1".to_string(), (5, "2026-000005".to_string()))]);
        let open = [
            OpenCase { id: 8, number: "2026-000008".into(), category_code: code.clone(), lon: 114.0503, lat: 22.55 },
            OpenCase { id: 9, number: "2026-000009".into(), category_code: code.clone(), lon: 114.0501, lat: 22.55 },
        ];
        let found = find_duplicates(&findings, &imported, &open, 50.0);
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].row, found[0].kind, found[0].case_id), (2, DuplicateKind::AlreadyImported, 5));
        // The nearer of two open cases; another category and 1 km away are not duplicates.
        assert_eq!((found[1].row, found[1].kind, found[1].case_id), (3, DuplicateKind::NearOpenCase, 9));
        assert_eq!(found[1].distance_m, Some(10.0));
        assert!(found[1].reason().contains("10 米"));
    }
}
