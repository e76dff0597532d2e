//! The demo district, generated deterministically from a seed: the same seed
//! gives the same district, row for row, on any machine.
//!
//! The district is a fictitious one on Tianjin's coordinates (south-east of
//! the city centre, along the Haihe): 8 streets and towns, 60 communities and
//! villages, 600 grid cells that tile it without gaps or overlaps, 45
//! departments and other units, 1,500 evaluation points of every type, shop
//! fronts under 门前三包, and a few hundred users in every role.

use crate::domain::geometry::Polygon;
use crate::domain::org::{Role, UnitKind};

pub use crate::domain::rng::SeededRng;

/// The demo district's county code and name (fictitious: 1201xx is Tianjin's
/// range, 99 is unused there).
pub const DISTRICT_CODE: &str = "120199";
/// The demo district's name.
pub const DISTRICT_NAME: &str = "海河示范区";

const COLUMNS: usize = 30;
const ROWS: usize = 20;
/// South-west corner of the lattice, WGS-84.
const ORIGIN: (f64, f64) = (117.170, 39.070);
/// A cell is about 300 m × 300 m at this latitude.
const CELL_LON: f64 = 0.003_473;
const CELL_LAT: f64 = 0.002_713;
/// Street boundaries on the lattice: 4 column bands × 2 row bands = 8 streets.
const STREET_COLUMNS: [usize; 5] = [0, 8, 16, 24, 30];
const STREET_ROWS: [usize; 3] = [0, 10, 20];
/// Each community is a block of 2 × 5 cells.
const COMMUNITY_WIDTH: usize = 2;
const COMMUNITY_HEIGHT: usize = 5;

const STREET_NAMES: [&str; 8] =
    ["海河路街道", "梅江街道", "柳林街道", "桃园街道", "东湖街道", "体育中心街道", "南楼街道", "双港镇"];

const PLACE_WORDS: [&str; 48] = [
    "佳荣", "宝翠", "嘉华", "富裕", "光华", "景福", "金泉", "龙都", "平山", "文化", "永安", "春晖", "和平", "瑞景",
    "紫金", "泰达", "海逸", "水云", "兴华", "复兴", "广顺", "新华", "育英", "长江", "黄河", "友好", "谊景", "碧华",
    "怡和", "云居", "梧桐", "丽江", "翠园", "芳林", "吉庆", "康宁", "瑞丰", "德才", "华丰", "围堤", "珠江", "卫津",
    "微山", "解放", "郁江", "大沽", "琼州", "环湖",
];
const COMMUNITY_SUFFIXES: [&str; 6] = ["里", "园", "苑", "花园", "新村", "家园"];

const SURNAMES: [&str; 32] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林",
    "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
];
const GIVEN_CHARS: [&str; 40] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超", "秀", "霞", "平",
    "刚", "桂", "英", "华", "建", "国", "志", "海", "红", "玉", "兰", "文", "辉", "鹏", "晨", "宇", "欣", "婷", "浩",
    "博", "琳",
];

/// The 45 departments and other units: (kind, code, name).
pub const OTHER_UNITS: [(UnitKind, &str, &str); 45] = [
    (UnitKind::Department, "D001", "区委宣传部（区文明办）"),
    (UnitKind::Department, "D002", "区委组织部"),
    (UnitKind::Department, "D003", "区城市管理委员会"),
    (UnitKind::Department, "D004", "区住房和建设委员会"),
    (UnitKind::Department, "D005", "区交通运输局"),
    (UnitKind::Department, "D006", "公安分局交通警察支队"),
    (UnitKind::Department, "D007", "区市场监督管理局"),
    (UnitKind::Department, "D008", "区生态环境局"),
    (UnitKind::Department, "D009", "区卫生健康委员会"),
    (UnitKind::Department, "D010", "区教育局"),
    (UnitKind::Department, "D011", "区文化和旅游局"),
    (UnitKind::Department, "D012", "区商务局"),
    (UnitKind::Department, "D013", "区民政局"),
    (UnitKind::Department, "D014", "区水务局"),
    (UnitKind::Department, "D015", "区应急管理局"),
    (UnitKind::Department, "D016", "区政务服务办公室"),
    (UnitKind::Department, "D017", "区体育局"),
    (UnitKind::Department, "D018", "区司法局"),
    (UnitKind::Department, "D019", "区人力资源和社会保障局"),
    (UnitKind::Department, "D020", "规划和自然资源分局"),
    (UnitKind::Department, "D021", "区房屋管理局"),
    (UnitKind::Department, "D022", "区消防救援支队"),
    (UnitKind::Department, "D023", "团区委"),
    (UnitKind::Department, "D024", "区妇联"),
    (UnitKind::Department, "D025", "区总工会"),
    (UnitKind::Department, "D026", "区残联"),
    (UnitKind::Department, "D027", "区退役军人事务局"),
    (UnitKind::School, "S001", "区实验小学"),
    (UnitKind::School, "S002", "区第一中学"),
    (UnitKind::School, "S003", "海河中学"),
    (UnitKind::Hospital, "H001", "区人民医院"),
    (UnitKind::Hospital, "H002", "区中医医院"),
    (UnitKind::Hospital, "H003", "区妇幼保健院"),
    (UnitKind::Market, "M001", "梅江农贸市场管理有限公司"),
    (UnitKind::Market, "M002", "柳林综合市场有限公司"),
    (UnitKind::Enterprise, "E001", "国网供电公司海河分公司"),
    (UnitKind::Enterprise, "E002", "区自来水有限公司"),
    (UnitKind::Enterprise, "E003", "区燃气有限公司"),
    (UnitKind::Enterprise, "E004", "公交集团第三客运公司"),
    (UnitKind::Enterprise, "E005", "邮政分公司"),
    (UnitKind::Enterprise, "E006", "区城市投资集团"),
    (UnitKind::Enterprise, "E007", "区环卫服务有限公司"),
    (UnitKind::Enterprise, "E008", "海河物业服务有限公司"),
    (UnitKind::Enterprise, "E009", "共享单车运营企业（区域运维站）"),
    (UnitKind::Enterprise, "E010", "明鉴第三方测评有限公司"),
];

/// The office's unit (创文办 sits in the 文明办).
pub const OFFICE_UNIT: &str = "D001";
/// The third-party evaluator's unit.
pub const EVALUATOR_UNIT: &str = "E010";

/// The demo's dispatch rules: the department of each category (an office
/// sets its own; these follow the usual division of work in a Chinese district).
pub fn category_departments() -> Vec<(String, &'static str)> {
    crate::domain::categories::shipped()
        .categories
        .iter()
        .map(|c| {
            let unit = match c.code.as_str() {
                "06025" | "01001" | "01002" | "01003" => "D014",
                "06027" | "06028" | "06020" => "D008",
                "08011" => "D003",
                "09009" | "02010" | "02014" | "02017" => "D006",
                "09010" | "09011" => "D005",
                "09012" => "D022",
                "09015" => "D007",
                "09020" => "D012",
                "09003" => "D013",
                "02004" => "E004",
                "10002" => "E001",
                code if code.starts_with("08") => "D004",
                _ => "D003",
            };
            (c.code.clone(), unit)
        })
        .collect()
}

/// Points of each type in the demo (1,500 in all) and the unit responsible.
/// `None` as unit: the community (居民小区, 文明实践站) or street of the place.
const POINT_MIX: [(&str, usize, Responsible); 20] = [
    ("residential_compound", 330, Responsible::Community),
    ("back_street", 190, Responsible::Street),
    ("main_road", 110, Responsible::Unit("D003")),
    ("bus_stop", 210, Responsible::Unit("D005")),
    ("commercial_street", 40, Responsible::Unit("D012")),
    ("supermarket", 60, Responsible::Unit("D007")),
    ("farmers_market", 30, Responsible::Markets),
    ("hospital", 20, Responsible::Hospitals),
    ("school", 90, Responsible::Unit("D010")),
    ("park", 25, Responsible::Unit("D003")),
    ("square", 20, Responsible::Unit("D003")),
    ("station", 8, Responsible::Unit("D005")),
    ("government_service_hall", 10, Responsible::Unit("D016")),
    ("practice_station", 68, Responsible::Community),
    ("construction_site", 40, Responsible::Unit("D004")),
    ("hotel_restaurant", 120, Responsible::Unit("D007")),
    ("cultural_venue", 20, Responsible::Unit("D011")),
    ("patriotic_education_base", 8, Responsible::Unit("D001")),
    ("urban_rural_fringe", 20, Responsible::Street),
    ("service_window", 81, Responsible::Utilities),
];

#[derive(Clone, Copy, Debug)]
enum Responsible {
    Community,
    Street,
    Unit(&'static str),
    Markets,
    Hospitals,
    Utilities,
}

/// A unit of the demo, parent named by code.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoUnit {
    /// Parent code (`None` for the district).
    pub parent: Option<String>,
    /// Kind.
    pub kind: UnitKind,
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
}

/// A grid cell of the demo.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoGrid {
    /// 15-digit code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Community code (12 digits).
    pub community: String,
    /// Street code (9 digits).
    pub street: String,
    /// Boundary.
    pub polygon: Polygon,
}

/// An evaluation point of the demo.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoPoint {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Type code.
    pub point_type: String,
    /// Location (centre of the area).
    pub lon: f64,
    /// Location.
    pub lat: f64,
    /// Area, for area types.
    pub area: Option<Polygon>,
    /// Address.
    pub address: String,
    /// The grid cell it lies in.
    pub grid: String,
    /// Responsible unit code.
    pub unit: String,
    /// 包保 leader.
    pub leader: String,
}

/// A shop front of the demo.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoShop {
    /// Code.
    pub code: String,
    /// Shop name.
    pub name: String,
    /// Business type.
    pub business_type: String,
    /// Location.
    pub lon: f64,
    /// Location.
    pub lat: f64,
    /// Address.
    pub address: String,
    /// Responsible party.
    pub responsible_party: String,
    /// Grid cell.
    pub grid: String,
}

/// A user of the demo.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoUser {
    /// Login name.
    pub username: String,
    /// Chinese name.
    pub display_name: String,
    /// Unit code.
    pub unit: String,
    /// Role.
    pub role: Role,
}

/// Everything the demo district holds.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoDistrict {
    /// Units, parents first.
    pub units: Vec<DemoUnit>,
    /// Grid cells.
    pub grids: Vec<DemoGrid>,
    /// The district's outline (the outer edge of the lattice).
    pub outline: Polygon,
    /// Evaluation points.
    pub points: Vec<DemoPoint>,
    /// Shop fronts.
    pub shops: Vec<DemoShop>,
    /// Users.
    pub users: Vec<DemoUser>,
}

/// The centre of the demo district.
pub fn center() -> (f64, f64) {
    (ORIGIN.0 + CELL_LON * COLUMNS as f64 / 2.0, ORIGIN.1 + CELL_LAT * ROWS as f64 / 2.0)
}

fn person_name(rng: &mut SeededRng) -> String {
    let mut name = rng.pick(&SURNAMES).to_string();
    name.push_str(rng.pick::<&str>(&GIVEN_CHARS));
    if rng.unit() < 0.7 {
        name.push_str(rng.pick::<&str>(&GIVEN_CHARS));
    }
    name
}

/// Generates the demo district for a seed.
// (i, j) are lattice coordinates: they index corners and cells alike.
#[allow(clippy::needless_range_loop)]
pub fn generate(seed: u64) -> DemoDistrict {
    let mut rng = SeededRng::new(seed);

    // The lattice of shared corners, jittered so cells look like city blocks;
    // neighbouring cells share corners, so the tiling has no gaps or overlaps.
    let mut corners = vec![vec![(0.0, 0.0); ROWS + 1]; COLUMNS + 1];
    for (i, column) in corners.iter_mut().enumerate() {
        for (j, corner) in column.iter_mut().enumerate() {
            let jitter_lon = rng.range(-0.22, 0.22) * CELL_LON;
            let jitter_lat = rng.range(-0.22, 0.22) * CELL_LAT;
            *corner = (ORIGIN.0 + i as f64 * CELL_LON + jitter_lon, ORIGIN.1 + j as f64 * CELL_LAT + jitter_lat);
        }
    }
    let cell_polygon = |i: usize, j: usize| {
        Polygon::new(vec![corners[i][j], corners[i + 1][j], corners[i + 1][j + 1], corners[i][j + 1], corners[i][j]])
            .expect("a jittered lattice cell is a simple quadrilateral")
    };

    let mut units = vec![DemoUnit {
        parent: None,
        kind: UnitKind::District,
        code: DISTRICT_CODE.into(),
        name: DISTRICT_NAME.into(),
    }];
    for (kind, code, name) in OTHER_UNITS {
        units.push(DemoUnit { parent: Some(DISTRICT_CODE.into()), kind, code: code.into(), name: name.into() });
    }

    let mut words: Vec<&str> = PLACE_WORDS.to_vec();
    // A seeded shuffle, so each seed names its communities differently.
    for i in (1..words.len()).rev() {
        let j = rng.below(i + 1);
        words.swap(i, j);
    }
    let mut word_at = 0usize;
    let mut grids = Vec::with_capacity(COLUMNS * ROWS);
    // grid_of[i][j] = index into `grids`.
    let mut grid_of = vec![vec![0usize; ROWS]; COLUMNS];
    let mut street_number = 0;
    for band_row in 0..2 {
        for band_col in 0..4 {
            street_number += 1;
            let street_code = format!("{DISTRICT_CODE}{street_number:03}");
            let is_town = street_number == 8;
            units.push(DemoUnit {
                parent: Some(DISTRICT_CODE.into()),
                kind: if is_town { UnitKind::Town } else { UnitKind::Street },
                code: street_code.clone(),
                name: STREET_NAMES[street_number - 1].into(),
            });
            let (c0, c1) = (STREET_COLUMNS[band_col], STREET_COLUMNS[band_col + 1]);
            let (r0, r1) = (STREET_ROWS[band_row], STREET_ROWS[band_row + 1]);
            let mut community_number = 0;
            for block_row in (r0..r1).step_by(COMMUNITY_HEIGHT) {
                for block_col in (c0..c1).step_by(COMMUNITY_WIDTH) {
                    community_number += 1;
                    let community_code = format!("{street_code}{community_number:03}");
                    let word = words[word_at % words.len()];
                    word_at += 1;
                    let community_name = if is_town {
                        format!("{word}村")
                    } else {
                        format!("{word}{}社区", COMMUNITY_SUFFIXES[word_at % COMMUNITY_SUFFIXES.len()])
                    };
                    units.push(DemoUnit {
                        parent: Some(street_code.clone()),
                        kind: if is_town { UnitKind::Village } else { UnitKind::Community },
                        code: community_code.clone(),
                        name: community_name.clone(),
                    });
                    let mut cell_number = 0;
                    for j in block_row..(block_row + COMMUNITY_HEIGHT) {
                        for i in block_col..(block_col + COMMUNITY_WIDTH) {
                            cell_number += 1;
                            grid_of[i][j] = grids.len();
                            grids.push(DemoGrid {
                                code: format!("{community_code}{cell_number:03}"),
                                name: format!("{community_name}第{cell_number}网格"),
                                community: community_code.clone(),
                                street: street_code.clone(),
                                polygon: cell_polygon(i, j),
                            });
                        }
                    }
                }
            }
        }
    }

    let mut outline_ring = Vec::new();
    outline_ring.extend((0..=COLUMNS).map(|i| corners[i][0]));
    outline_ring.extend((1..=ROWS).map(|j| corners[COLUMNS][j]));
    outline_ring.extend((0..COLUMNS).rev().map(|i| corners[i][ROWS]));
    outline_ring.extend((0..ROWS).rev().map(|j| corners[0][j]));
    let outline = Polygon::new(outline_ring).expect("the outer edge of the lattice is a simple ring");

    // Users first: their leaders are the 包保 leaders of the points.
    let users = generate_users(&mut rng, &units);
    let leaders: Vec<String> =
        users.iter().filter(|u| u.role == Role::Leader).map(|u| u.display_name.clone()).collect();

    let community_name = |code: &str| units.iter().find(|u| u.code == code).map(|u| u.name.clone()).unwrap_or_default();
    let street_name = |code: &str| units.iter().find(|u| u.code == code).map(|u| u.name.clone()).unwrap_or_default();

    // A random spot well inside cell (i, j), by bilinear interpolation of its corners.
    let spot_in = |rng: &mut SeededRng, i: usize, j: usize| {
        let (u, v) = (rng.range(0.15, 0.85), rng.range(0.15, 0.85));
        let (a, b, c, d) = (corners[i][j], corners[i + 1][j], corners[i + 1][j + 1], corners[i][j + 1]);
        let lon = (1.0 - u) * (1.0 - v) * a.0 + u * (1.0 - v) * b.0 + u * v * c.0 + (1.0 - u) * v * d.0;
        let lat = (1.0 - u) * (1.0 - v) * a.1 + u * (1.0 - v) * b.1 + u * v * c.1 + (1.0 - u) * v * d.1;
        (lon, lat)
    };

    let road_names: Vec<String> = words.iter().take(24).map(|w| format!("{w}路")).collect();
    let mut points = Vec::with_capacity(1500);
    for (type_code, count, responsible) in POINT_MIX {
        let is_area = crate::domain::places::point_type(type_code).is_some_and(|t| t.area);
        for _ in 0..count {
            let (i, j) = (rng.below(COLUMNS), rng.below(ROWS));
            let grid = &grids[grid_of[i][j]];
            let (lon, lat) = spot_in(&mut rng, i, j);
            let area = is_area.then(|| {
                let (half_lon, half_lat) =
                    (rng.range(0.12, 0.3) * CELL_LON / 2.0, rng.range(0.12, 0.3) * CELL_LAT / 2.0);
                Polygon::new(vec![
                    (lon - half_lon, lat - half_lat),
                    (lon + half_lon, lat - half_lat),
                    (lon + half_lon, lat + half_lat),
                    (lon - half_lon, lat + half_lat),
                    (lon - half_lon, lat - half_lat),
                ])
                .expect("a small rectangle")
            });
            let (lon, lat) = area.as_ref().map(Polygon::centroid).unwrap_or((lon, lat));
            let road = rng.pick(&road_names).clone();
            let word = *rng.pick(&words);
            let name = match type_code {
                "residential_compound" => format!("{word}{}", rng.pick(&["小区", "花园", "公寓", "里", "家园"])),
                "back_street" => format!("{word}{}", rng.pick(&["胡同", "里巷", "东街", "西街", "后街"])),
                "main_road" => format!("{road}（{}段）", rng.pick(&["东", "西", "南", "北", "中"])),
                "bus_stop" => format!("{road}{word}公交站"),
                "commercial_street" => format!("{word}商业街"),
                "supermarket" => {
                    format!("{}{word}店", rng.pick(&["物美超市", "家乐福", "华润万家", "永辉超市", "便民超市"]))
                }
                "farmers_market" => format!("{word}农贸市场"),
                "hospital" => format!("{word}{}", rng.pick(&["社区卫生服务中心", "医院", "门诊部"])),
                "school" => format!("{word}{}周边", rng.pick(&["小学", "中学", "幼儿园", "实验学校"])),
                "park" => format!("{word}公园"),
                "square" => format!("{word}广场"),
                "station" => format!("{word}{}", rng.pick(&["长途汽车站", "地铁站", "公交枢纽站"])),
                "government_service_hall" => format!("{}政务服务中心", street_name(&grid.street)),
                "practice_station" => {
                    format!("{}新时代文明实践站", community_name(&grid.community))
                }
                "construction_site" => {
                    format!("{word}{}工地", rng.pick(&["住宅项目", "道路改造", "商业综合体", "管网改造"]))
                }
                "hotel_restaurant" => format!("{word}{}", rng.pick(&["大酒店", "宾馆", "快捷酒店", "饭庄"])),
                "cultural_venue" => format!("{word}{}", rng.pick(&["文化馆", "图书馆", "美术馆", "文化活动中心"])),
                "patriotic_education_base" => {
                    format!("{word}{}", rng.pick(&["纪念馆", "烈士陵园", "历史展览馆"]))
                }
                "urban_rural_fringe" => format!("{word}城乡结合部片区"),
                _ => format!(
                    "{word}{}",
                    rng.pick(&["供电营业厅", "自来水营业厅", "燃气营业厅", "邮政营业厅", "银行网点"])
                ),
            };
            let unit = match responsible {
                Responsible::Community => grid.community.clone(),
                Responsible::Street => grid.street.clone(),
                Responsible::Unit(code) => code.to_string(),
                Responsible::Markets => rng.pick(&["M001", "M002", "D012"]).to_string(),
                Responsible::Hospitals => rng.pick(&["H001", "H002", "H003", "D009"]).to_string(),
                Responsible::Utilities => rng.pick(&["E001", "E002", "E003", "E005"]).to_string(),
            };
            points.push(DemoPoint {
                code: String::new(),
                name,
                point_type: type_code.to_string(),
                lon,
                lat,
                area,
                address: format!("{}{road}{}号", street_name(&grid.street), 1 + rng.below(300)),
                grid: grid.code.clone(),
                unit,
                leader: rng.pick(&leaders).clone(),
            });
        }
    }
    // Codes in generation order: DW00001…DW01500.
    for (n, point) in points.iter_mut().enumerate() {
        point.code = format!("DW{:05}", n + 1);
    }

    let businesses =
        ["餐饮", "便利店", "理发美容", "水果生鲜", "五金建材", "药店", "服装", "烟酒副食", "洗衣", "快递驿站"];
    let mut shops = Vec::with_capacity(1200);
    for n in 1..=1200 {
        let (i, j) = (rng.below(COLUMNS), rng.below(ROWS));
        let grid = &grids[grid_of[i][j]];
        let (lon, lat) = spot_in(&mut rng, i, j);
        let business = *rng.pick(&businesses);
        let owner = person_name(&mut rng);
        let name = match business {
            "餐饮" => format!("{}记{}", &owner[..3], rng.pick(&["早点", "面馆", "饺子馆", "烧烤", "快餐"])),
            "便利店" => format!("{}便利店", rng.pick(&words)),
            "药店" => format!("{}大药房", rng.pick(&words)),
            other => format!("{}{other}", rng.pick(&words)),
        };
        shops.push(DemoShop {
            code: format!("MQ{n:05}"),
            name,
            business_type: business.into(),
            lon,
            lat,
            address: format!("{}{}{}号底商", street_name(&grid.street), rng.pick(&road_names), 1 + rng.below(400)),
            responsible_party: owner,
            grid: grid.code.clone(),
        });
    }

    DemoDistrict { units, grids, outline, points, shops, users }
}

fn generate_users(rng: &mut SeededRng, units: &[DemoUnit]) -> Vec<DemoUser> {
    let mut users = Vec::new();
    let mut add = |rng: &mut SeededRng, role: Role, prefix: &str, n: usize, width: usize, unit: &str| {
        users.push(DemoUser {
            username: if n == 0 { prefix.to_string() } else { format!("{prefix}{n:0width$}") },
            display_name: person_name(rng),
            unit: unit.to_string(),
            role,
        });
    };
    add(rng, Role::Admin, "admin", 0, 0, OFFICE_UNIT);
    add(rng, Role::Admin, "admin", 2, 0, OFFICE_UNIT);
    for n in 1..=8 {
        add(rng, Role::Office, "office", n, 2, OFFICE_UNIT);
    }
    for n in 1..=12 {
        add(rng, Role::Inspector, "inspector", n, 2, OFFICE_UNIT);
    }
    for n in 1..=6 {
        add(rng, Role::Leader, "leader", n, 2, DISTRICT_CODE);
    }
    for n in 1..=10 {
        add(rng, Role::Evaluator, "evaluator", n, 2, EVALUATOR_UNIT);
    }
    let streets: Vec<&DemoUnit> = units.iter().filter(|u| u.kind.is_street_level()).collect();
    let communities: Vec<&DemoUnit> = units.iter().filter(|u| u.kind.is_community_level()).collect();
    let others: Vec<&DemoUnit> =
        units.iter().filter(|u| u.parent.as_deref() == Some(DISTRICT_CODE) && !u.kind.is_street_level()).collect();
    let mut n = 0;
    for street in &streets {
        for _ in 0..8 {
            n += 1;
            add(rng, Role::Supervisor, "supervisor", n, 3, &street.code);
        }
    }
    let (mut handlers, mut leads) = (0, 0);
    for unit in others.iter().chain(streets.iter()) {
        leads += 1;
        add(rng, Role::UnitLead, "unitlead", leads, 3, &unit.code);
    }
    for unit in others.iter().chain(streets.iter()).chain(streets.iter()).chain(communities.iter()) {
        handlers += 1;
        add(rng, Role::Handler, "handler", handlers, 3, &unit.code);
    }
    for n in 1..=20 {
        let community = communities[(n * 3) % communities.len()];
        add(rng, Role::Volunteer, "volunteer", n, 2, &community.code);
    }
    users
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::places::spatial::{GridIndex, IndexedGrid};

    #[test]
    fn the_same_seed_gives_the_same_district_and_another_seed_another() {
        let a = generate(7);
        assert_eq!(a, generate(7));
        let b = generate(8);
        assert_ne!(a.grids[0].polygon, b.grids[0].polygon);
    }

    #[test]
    fn the_district_has_the_sizes_the_issue_asks_for() {
        let d = generate(1);
        let count = |kinds: &[UnitKind]| d.units.iter().filter(|u| kinds.contains(&u.kind)).count();
        assert_eq!(count(&[UnitKind::Street, UnitKind::Town]), 8);
        assert_eq!(count(&[UnitKind::Community, UnitKind::Village]), 60);
        assert_eq!(d.grids.len(), 600);
        assert_eq!(OTHER_UNITS.len(), 45);
        assert_eq!(d.points.len(), 1500);
        assert!(d.users.len() >= 200, "a few hundred users: {}", d.users.len());
        for role in Role::ALL {
            assert!(d.users.iter().any(|u| u.role == role), "no user holds {role:?}");
        }
        let mut types: Vec<&str> = d.points.iter().map(|p| p.point_type.as_str()).collect();
        types.sort();
        types.dedup();
        assert_eq!(types.len(), crate::domain::places::point_types().len(), "every point type appears");
    }

    #[test]
    fn codes_are_unique_and_grid_codes_nest_in_their_community_and_street() {
        let d = generate(3);
        let mut codes: Vec<&str> = d.grids.iter().map(|g| g.code.as_str()).collect();
        codes.extend(d.points.iter().map(|p| p.code.as_str()));
        codes.extend(d.units.iter().map(|u| u.code.as_str()));
        let before = codes.len();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), before);
        let mut usernames: Vec<&str> = d.users.iter().map(|u| u.username.as_str()).collect();
        usernames.sort();
        usernames.dedup();
        assert_eq!(usernames.len(), d.users.len());
        for g in &d.grids {
            let code = crate::domain::places::GridCode::parse(&g.code).unwrap();
            assert_eq!(code.community(), g.community);
            assert_eq!(code.street(), g.street);
            assert_eq!(code.county(), DISTRICT_CODE);
        }
    }

    #[test]
    fn the_grid_cells_tile_the_district_without_gaps_or_overlaps() {
        let d = generate(11);
        let area_of_cells: f64 = d.grids.iter().map(|g| g.polygon.area_m2()).sum();
        let area_of_outline = d.outline.area_m2();
        assert!(
            (area_of_cells - area_of_outline).abs() / area_of_outline < 1e-6,
            "{area_of_cells} vs {area_of_outline}"
        );

        let index = GridIndex::build(
            d.grids
                .iter()
                .enumerate()
                .map(|(i, g)| IndexedGrid {
                    id: i as i64,
                    code: g.code.clone(),
                    community_id: 0,
                    street_id: 0,
                    polygon: g.polygon.clone(),
                })
                .collect(),
        );
        let (min_lon, min_lat, max_lon, max_lat) = d.outline.bbox();
        let mut rng = SeededRng::new(99);
        let mut inside = 0;
        for _ in 0..20_000 {
            let (lon, lat) = (rng.range(min_lon, max_lon), rng.range(min_lat, max_lat));
            let containing = d.grids.iter().filter(|g| g.polygon.contains(lon, lat)).count();
            if d.outline.contains(lon, lat) {
                inside += 1;
                assert_eq!(containing, 1, "({lon}, {lat}) lies in {containing} cells");
                assert!(index.locate(lon, lat).is_some());
            } else {
                assert_eq!(containing, 0, "({lon}, {lat}) is outside the district but in a cell");
            }
        }
        assert!(inside > 15_000);
    }

    #[test]
    fn every_point_and_shop_lies_in_the_grid_cell_it_names() {
        let d = generate(5);
        for p in &d.points {
            let grid = d.grids.iter().find(|g| g.code == p.grid).unwrap();
            assert!(grid.polygon.contains(p.lon, p.lat), "{} {}", p.code, p.name);
        }
        for s in &d.shops {
            let grid = d.grids.iter().find(|g| g.code == s.grid).unwrap();
            assert!(grid.polygon.contains(s.lon, s.lat), "{}", s.code);
        }
    }
}
