//! Importing and exporting places against a real database: every bad row is
//! reported, and nothing is half-imported.

mod common;

use chuangwen::domain::coords::{Crs, gcj02_to_bd09, wgs84_to_gcj02};
use chuangwen::places::export::export_places;
use chuangwen::places::import::{FileFormat, PlaceKind};
use chuangwen::places::{import_places, load_grid_index};
use chuangwen::progress::{Counters, Silent};
use rust_xlsxwriter::Workbook;
use serde_json::json;

/// An xlsx file from a header and rows of text cells.
fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            if !cell.is_empty() {
                sheet.write_string(r as u32, c as u16, *cell).unwrap();
            }
        }
    }
    book.save_to_buffer().unwrap()
}

/// Imports a WGS-84 file into a district.
async fn import(
    db: &common::TestDb,
    district: &chuangwen::store::org::District,
    kind: PlaceKind,
    bytes: &[u8],
    skip_bad_rows: bool,
) -> chuangwen::places::ImportReport {
    import_places(&db.store, district, kind, bytes, Crs::Wgs84, skip_bad_rows, &Silent).await.unwrap()
}

/// A spot inside the demo district (the centre of its first grid cell).
async fn spot_inside(db: &common::TestDb, district: i64) -> (f64, f64) {
    let index = load_grid_index(&db.store, district).await.unwrap();
    index.cells()[0].polygon.centroid()
}

on_both_backends!(a_malformed_geojson_file_reports_every_bad_feature_and_imports_nothing, |db| {
    let district_id = db.with_demo().await;
    let district = db.store.district(district_id).await.unwrap();
    let (lon, lat) = spot_inside(&db, district_id).await;
    let feature = |props: serde_json::Value, geometry: serde_json::Value| json!({"type": "Feature", "properties": props, "geometry": geometry});
    let point = json!({"type": "Point", "coordinates": [lon, lat]});
    let file = json!({"type": "FeatureCollection", "features": [
        feature(json!({"编码": "NEW-1", "名称": "新建公园", "类型": "公园", "责任单位": "D003"}), point.clone()),
        feature(json!({"编码": "NEW-2", "名称": "坐标错误", "类型": "公园", "责任单位": "D003"}), json!({"type": "Point", "coordinates": ["x", 39]})),
        feature(json!({"编码": "NEW-1", "名称": "重复编码", "类型": "公园", "责任单位": "D003"}), point.clone()),
        feature(json!({"编码": "NEW-4", "名称": "未知类型", "类型": "游乐场", "责任单位": "D003"}), point.clone()),
        feature(json!({"编码": "NEW-5", "名称": "未知单位", "类型": "广场", "责任单位": "区不存在局"}), point.clone()),
        feature(json!({"编码": "NEW-6", "名称": "北京的点", "类型": "广场", "责任单位": "D003"}), json!({"type": "Point", "coordinates": [116.39, 39.9]})),
        feature(json!({"编码": "NEW-7", "类型": "广场", "责任单位": "D003"}), point.clone()),
    ]});
    let bytes = serde_json::to_vec(&file).unwrap();

    let report = import(&db, &district, PlaceKind::Points, &bytes, false).await;
    assert!(report.refused);
    assert_eq!(report.imported, 0);
    let rows: Vec<(usize, &str)> = report.errors.iter().map(|e| (e.row, e.field.as_str())).collect();
    assert_eq!(rows, vec![(2, "位置"), (3, "编码"), (4, "类型"), (5, "责任单位"), (6, "位置"), (7, "名称")]);
    assert!(report.errors.iter().all(|e| !e.reason.is_empty()));
    assert_eq!(db.store.place_totals(district_id).await.unwrap().1, 1500, "nothing was written");

    // Asked to skip bad rows, the one good feature goes in.
    let report = import(&db, &district, PlaceKind::Points, &bytes, true).await;
    assert!(!report.refused);
    assert_eq!((report.imported, report.skipped), (1, 6));
    assert_eq!(db.store.place_totals(district_id).await.unwrap().1, 1501);
});

on_both_backends!(a_malformed_xlsx_file_reports_every_bad_row_by_spreadsheet_row_and_imports_nothing, |db| {
    let district_id = db.with_demo().await;
    let district = db.store.district(district_id).await.unwrap();
    let (lon, lat) = spot_inside(&db, district_id).await;
    let (lon, lat) = (format!("{lon}"), format!("{lat}"));
    let bytes = xlsx(&[
        &["编码", "名称", "经营类型", "经度", "纬度", "地址", "责任人"],
        &["X1", "好商户", "餐饮", &lon, &lat, "一号", "王某"],
        &["X2", "没有责任人", "餐饮", &lon, &lat, "二号", ""],
        &["X3", "经度不是数字", "餐饮", "东经117度", &lat, "三号", "李某"],
        &["X4", "纬度越界", "餐饮", &lon, "95", "四号", "赵某"],
        &[],
        &["X5", "空行之后", "餐饮", &lon, &lat, "五号", "钱某"],
        &["X1", "重复", "餐饮", &lon, &lat, "六号", "孙某"],
    ]);
    let before = db.store.place_totals(district_id).await.unwrap().2;
    let progress = Counters::default();
    let report =
        import_places(&db.store, &district, PlaceKind::ShopFronts, &bytes, Crs::Wgs84, false, &progress).await.unwrap();
    assert!(report.refused);
    assert_eq!(report.format, Some(FileFormat::Xlsx));
    let rows: Vec<(usize, &str)> = report.errors.iter().map(|e| (e.row, e.field.as_str())).collect();
    assert_eq!(rows, vec![(3, "责任人"), (4, "经度"), (5, "经度/纬度"), (8, "编码")], "{:?}", report.errors);
    assert_eq!(report.total_rows, 6, "the empty row is not a record");
    assert_eq!(db.store.place_totals(district_id).await.unwrap().2, before, "nothing was written");
    let (done, total) = progress.get();
    assert!(total > 0 && done <= total);
});

on_both_backends!(a_file_that_is_not_a_spreadsheet_or_lacks_a_column_is_refused_whole, |db| {
    let district_id = db.with_demo().await;
    let district = db.store.district(district_id).await.unwrap();
    let mut corrupt = xlsx(&[&["编码", "名称"]]);
    corrupt.truncate(corrupt.len() / 2);
    let report = import(&db, &district, PlaceKind::Points, &corrupt, true).await;
    assert!(report.refused);
    assert_eq!(report.errors[0].row, 0);
    assert!(report.errors[0].reason.contains("Excel"), "{}", report.errors[0].reason);

    let missing = xlsx(&[&["编码", "名称", "经度", "纬度"], &["P", "缺列", "117.2", "39.1"]]);
    let report = import(&db, &district, PlaceKind::Points, &missing, true).await;
    assert!(report.refused);
    assert!(
        report.errors[0].reason.contains("类型") && report.errors[0].reason.contains("责任单位"),
        "{}",
        report.errors[0].reason
    );
    assert_eq!(db.store.place_totals(district_id).await.unwrap().1, 1500);
});

on_both_backends!(an_exported_register_imports_again_unchanged, |db| {
    let district_id = db.with_demo().await;
    let district = db.store.district(district_id).await.unwrap();
    for (kind, format) in [
        (PlaceKind::Points, FileFormat::Xlsx),
        (PlaceKind::Points, FileFormat::Geojson),
        (PlaceKind::Grids, FileFormat::Geojson),
        (PlaceKind::Grids, FileFormat::Xlsx),
        (PlaceKind::ShopFronts, FileFormat::Xlsx),
        (PlaceKind::Units, FileFormat::Xlsx),
        (PlaceKind::Units, FileFormat::Geojson),
    ] {
        let bytes = export_places(&db.store, district_id, kind, format).await.unwrap();
        assert_eq!(FileFormat::sniff(&bytes), Some(format));
        let report = import(&db, &district, kind, &bytes, false).await;
        assert!(report.errors.is_empty(), "{kind:?} {format:?}: {:?}", &report.errors[..report.errors.len().min(3)]);
        assert!(!report.refused);
    }
    assert_eq!(db.store.place_totals(district_id).await.unwrap(), (600, 1500, 1200), "updated in place, nothing added");
});

on_both_backends!(gcj02_and_bd09_input_is_stored_as_wgs84_in_the_right_grid, |db| {
    let district_id = db.with_demo().await;
    let district = db.store.district(district_id).await.unwrap();
    let (lon, lat) = spot_inside(&db, district_id).await;
    let (g_lon, g_lat) = wgs84_to_gcj02(lon, lat);
    let (b_lon, b_lat) = gcj02_to_bd09(g_lon, g_lat);
    for (crs, x, y, code) in [(Crs::Gcj02, g_lon, g_lat, "G-1"), (Crs::Bd09, b_lon, b_lat, "B-1")] {
        let file = json!({"type": "FeatureCollection", "features": [{"type": "Feature",
            "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": {"code": code, "name": "测试商户", "responsible_party": "周某"}}]});
        let report = import_places(
            &db.store,
            &district,
            PlaceKind::ShopFronts,
            file.to_string().as_bytes(),
            crs,
            false,
            &Silent,
        )
        .await
        .unwrap();
        assert_eq!(report.imported, 1, "{:?}", report.errors);
        let shop = db.store.shop_fronts(district_id).await.unwrap().into_iter().find(|s| s.code == code).unwrap();
        assert!((shop.lon - lon).abs() < 1e-6 && (shop.lat - lat).abs() < 1e-6, "{crs:?}: {} {}", shop.lon, shop.lat);
        let first_cell = load_grid_index(&db.store, district_id).await.unwrap().cells()[0].code.clone();
        assert_eq!(shop.grid_code.as_deref(), Some(first_cell.as_str()));
    }
});

on_both_backends!(a_real_district_loads_its_org_tree_from_a_spreadsheet_parents_in_any_order, |db| {
    let store = &db.store;
    let district = store.create_district("120103", "河西区", (117.22, 39.11), false).await.unwrap();
    let root = chuangwen::store::org::NewUnit {
        parent_code: None,
        kind: "district".into(),
        code: "120103".into(),
        name: "河西区".into(),
    };
    store.upsert_units(district.id, &[root]).await.unwrap();
    let bytes = xlsx(&[
        &["编码", "名称", "类型", "上级编码"],
        &["120103001001", "佳荣里社区", "社区", "120103001"],
        &["120103001", "友谊路街道", "街道", ""],
        &["120103002", "双港镇", "镇", "120103"],
        &["120103002001", "双港村", "村", "120103002"],
        &["CG", "区城市管理委员会", "职能部门", ""],
        &["CG-1", "区市容环境管理所", "其他单位", "CG"],
    ]);
    let report = import_places(store, &district, PlaceKind::Units, &bytes, Crs::Wgs84, false, &Silent).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.imported, 6);
    let street = store.unit_by_code(district.id, "120103001").await.unwrap().unwrap();
    let names: Vec<String> = store.unit_subtree(&street).await.unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names, vec!["友谊路街道", "佳荣里社区"]);
    let office = store.unit_by_code(district.id, "CG-1").await.unwrap().unwrap();
    assert!(office.path.starts_with(&store.unit_by_code(district.id, "CG").await.unwrap().unwrap().path));
});

on_both_backends!(an_org_tree_file_with_bad_rows_names_each_and_changes_nothing, |db| {
    let district_id = db.with_demo().await;
    let district = db.store.district(district_id).await.unwrap();
    let before = db.store.units(district_id).await.unwrap().len();
    let bytes = xlsx(&[
        &["编码", "名称", "类型", "上级编码"],
        &["D900", "新部门", "职能部门", ""],
        &["120199009", "错层街道", "街道", "D001"],
        &["12019900101", "短编码社区", "社区", "120199001"],
        &["X1", "未知类型", "委员会", ""],
        &["X2", "成环甲", "其他单位", "X3"],
        &["X3", "成环乙", "其他单位", "X2"],
        &["D003", "城管委改名", "职能部门", "120199001"],
        &["X4", "无上级", "其他单位", "NOPE"],
    ]);
    let report = import(&db, &district, PlaceKind::Units, &bytes, false).await;
    assert!(report.refused);
    let rows: Vec<(usize, &str)> = report.errors.iter().map(|e| (e.row, e.field.as_str())).collect();
    assert_eq!(
        rows,
        vec![(3, "上级编码"), (4, "编码"), (5, "类型"), (6, "上级编码"), (7, "上级编码"), (8, "编码"), (9, "上级编码")],
        "{:?}",
        report.errors
    );
    assert!(report.errors[5].reason.contains("不能移动单位"));
    assert_eq!(db.store.units(district_id).await.unwrap().len(), before, "nothing changed");
});

on_both_backends!(skipping_bad_units_skips_their_children_too_and_writes_the_rest, |db| {
    let district_id = db.with_demo().await;
    let district = db.store.district(district_id).await.unwrap();
    let bytes = xlsx(&[
        &["编码", "名称", "类型", "上级编码"],
        &["D901", "新部门", "职能部门", ""],
        &["X1", "", "其他单位", ""],
        &["X11", "其下属单位", "其他单位", "X1"],
        &["X111", "再下一级", "其他单位", "X11"],
        &["D902", "另一新部门", "职能部门", ""],
    ]);
    let report =
        import_places(&db.store, &district, PlaceKind::Units, &bytes, Crs::Wgs84, true, &Silent).await.unwrap();
    assert!(!report.refused, "{:?}", report.errors);
    let rows: Vec<usize> = report.errors.iter().map(|e| e.row).collect();
    assert_eq!(rows, vec![3, 4, 5], "the bad row and both levels below it: {:?}", report.errors);
    assert!(report.errors[0].reason.contains("必填项为空"), "{:?}", report.errors);
    assert!(report.errors[1].reason.contains("上级单位“X1”（第 3 行）有错误"), "{:?}", report.errors);
    assert!(report.errors[2].reason.contains("上级单位“X11”（第 4 行）有错误"), "{:?}", report.errors);
    assert_eq!(report.imported, 2);
    let codes: Vec<String> = db.store.units(district_id).await.unwrap().into_iter().map(|u| u.code).collect();
    assert!(codes.contains(&"D901".to_string()) && codes.contains(&"D902".to_string()));
    assert!(!codes.iter().any(|c| c.starts_with('X')));
});

on_both_backends!(the_grid_index_is_built_once_and_again_after_a_grid_import, |db| {
    let district = db.with_demo().await;
    let first = load_grid_index(&db.store, district).await.unwrap();
    let again = load_grid_index(&db.store, district).await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again), "the second report reuses the index");
    // Any grid import bumps the district's places version: the index is rebuilt.
    let grids = db.store.grids(district).await.unwrap();
    let g = &grids[0];
    let value: serde_json::Value = serde_json::from_str(&g.boundary).unwrap();
    let ring: Vec<(f64, f64)> = value["coordinates"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    let (lons, lats): (Vec<f64>, Vec<f64>) = ring.iter().copied().unzip();
    let bbox = (
        lons.iter().copied().fold(f64::MAX, f64::min),
        lats.iter().copied().fold(f64::MAX, f64::min),
        lons.iter().copied().fold(f64::MIN, f64::max),
        lats.iter().copied().fold(f64::MIN, f64::max),
    );
    let renamed = chuangwen::store::places::NewGrid {
        code: g.code.clone(),
        name: "改名后的网格".into(),
        community_id: g.community_id,
        street_id: g.street_id,
        boundary: g.boundary.clone(),
        bbox,
        area_m2: g.area_m2,
    };
    db.store.upsert_grids(district, &[renamed]).await.unwrap();
    let rebuilt = load_grid_index(&db.store, district).await.unwrap();
    assert!(!std::sync::Arc::ptr_eq(&first, &rebuilt), "a changed register is seen at once");
    let (lon, lat) = ((bbox.0 + bbox.2) / 2.0, (bbox.1 + bbox.3) / 2.0);
    let resolved = rebuilt.resolve(lon, lat).map(|l| l.grid_id);
    assert!(resolved.is_some());
    assert_eq!(resolved, first.resolve(lon, lat).map(|l| l.grid_id));
    assert_eq!(db.store.grids(district).await.unwrap()[0].name, "改名后的网格");

    // The demo district made anew (SQLite may reuse its id): the index names the new grids.
    let again = db.with_demo().await;
    let index = load_grid_index(&db.store, again).await.unwrap();
    let grid = index.resolve(lon, lat).expect("the same spot").grid_id;
    assert!(db.store.grids(again).await.unwrap().iter().any(|g| g.id == grid), "not a deleted district's grid");
});
