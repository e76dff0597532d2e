//! `chuangwen demo`: creates or refreshes the demo district in the
//! configured database.

pub mod cases;
pub mod generate;

use std::collections::{BTreeMap, HashMap};

use crate::auth::password;
use crate::domain::org::Role;
use crate::progress::Progress;
use crate::store::cases::BulkBatch;
use crate::store::org::{District, NewUnit};
use crate::store::places::{NewGrid, NewPoint, NewShopFront};
use crate::store::users::NewUser;
use crate::store::{Store, StoreError};
use generate::{DISTRICT_CODE, DISTRICT_NAME, DemoDistrict};

/// What `demo` made: the district and the password of each role's users,
/// shown once.
pub struct DemoCreated {
    /// The district row.
    pub district: District,
    /// Role → (example username, password).
    pub passwords: BTreeMap<Role, (String, String)>,
    /// Users per role.
    pub users_per_role: BTreeMap<Role, usize>,
}

/// Creates the demo district from `seed`, replacing an earlier demo district.
/// Each role's users share one password: `password` when given, otherwise a
/// fresh random one per role.
pub async fn create(
    store: &Store,
    seed: u64,
    password: Option<&str>,
    cases: u64,
    progress: &dyn Progress,
) -> Result<DemoCreated, StoreError> {
    let demo = generate::generate(seed);
    let total =
        demo.units.len() + demo.grids.len() + demo.points.len() + demo.shops.len() + demo.users.len() + cases as usize;
    progress.set_total(total as u64);

    progress.step("清除旧的演示数据");
    if let Some(old) = store.district_by_code(DISTRICT_CODE).await? {
        store.delete_district(old.id).await?;
    }
    let district = store.create_district(DISTRICT_CODE, DISTRICT_NAME, generate::center(), true).await?;

    progress.step("组织架构");
    let units: Vec<NewUnit> = demo
        .units
        .iter()
        .map(|u| NewUnit {
            parent_code: u.parent.clone(),
            kind: u.kind.code().into(),
            code: u.code.clone(),
            name: u.name.clone(),
        })
        .collect();
    store.upsert_units(district.id, &units).await?;
    progress.advance(units.len() as u64);
    let unit_ids: HashMap<String, i64> = store.units(district.id).await?.into_iter().map(|u| (u.code, u.id)).collect();

    progress.step("单元网格");
    write_grids(store, district.id, &demo, &unit_ids).await?;
    progress.advance(demo.grids.len() as u64);
    let grid_ids: HashMap<String, (i64, i64, i64)> =
        store.grids(district.id).await?.into_iter().map(|g| (g.code, (g.id, g.community_id, g.street_id))).collect();

    progress.step("点位");
    let points: Vec<NewPoint> = demo
        .points
        .iter()
        .map(|p| {
            let place = grid_ids.get(&p.grid);
            NewPoint {
                code: p.code.clone(),
                name: p.name.clone(),
                point_type: p.point_type.clone(),
                lon: p.lon,
                lat: p.lat,
                area: p.area.as_ref().map(|a| a.to_geojson_value().to_string()),
                address: p.address.clone(),
                grid_id: place.map(|g| g.0),
                community_id: place.map(|g| g.1),
                street_id: place.map(|g| g.2),
                responsible_unit_id: unit_ids[&p.unit],
                leader_name: p.leader.clone(),
            }
        })
        .collect();
    store.upsert_points(district.id, &points).await?;
    progress.advance(points.len() as u64);

    progress.step("门前三包商户");
    let shops: Vec<NewShopFront> = demo
        .shops
        .iter()
        .map(|s| {
            let place = grid_ids.get(&s.grid);
            NewShopFront {
                code: s.code.clone(),
                name: s.name.clone(),
                business_type: s.business_type.clone(),
                lon: s.lon,
                lat: s.lat,
                address: s.address.clone(),
                responsible_party: s.responsible_party.clone(),
                grid_id: place.map(|g| g.0),
                community_id: place.map(|g| g.1),
                street_id: place.map(|g| g.2),
            }
        })
        .collect();
    store.upsert_shop_fronts(district.id, &shops).await?;
    progress.advance(shops.len() as u64);

    progress.step("派遣规则");
    let rules: Vec<crate::domain::dispatch::Rule> = generate::category_departments()
        .into_iter()
        .map(|(category_code, unit)| crate::domain::dispatch::Rule {
            category_code,
            place_kind: crate::domain::dispatch::PlaceKind::Category,
            place_id: None,
            unit_id: unit_ids[unit],
        })
        .collect();
    store.replace_dispatch_rules(district.id, &rules).await?;

    progress.step("用户");
    // One Argon2 hash per role: a few hundred hashes would take most of a minute.
    let mut passwords = BTreeMap::new();
    let mut hashes = BTreeMap::new();
    for role in Role::ALL {
        let plain = password.map(str::to_string).unwrap_or_else(|| password::generate(12));
        let to_hash = plain.clone();
        let hashed =
            tokio::task::spawn_blocking(move || password::hash(&to_hash)).await.expect("hashing does not panic");
        let example = demo.users.iter().find(|u| u.role == role).map(|u| u.username.clone()).unwrap_or_default();
        passwords.insert(role, (example, plain));
        hashes.insert(role, hashed);
    }
    let mut users_per_role = BTreeMap::new();
    let new_users: Vec<NewUser> = demo
        .users
        .iter()
        .map(|u| {
            *users_per_role.entry(u.role).or_insert(0) += 1;
            NewUser {
                unit_id: unit_ids[&u.unit],
                username: u.username.clone(),
                display_name: u.display_name.clone(),
                password_hash: hashes[&u.role].clone(),
                roles: vec![u.role.code().to_string()],
                must_change_password: false,
                phone: None,
            }
        })
        .collect();
    store.create_users(district.id, &new_users).await?;
    progress.advance(new_users.len() as u64);

    // The sample evaluation system (测评体系（示例）), loaded for its year.
    let system = crate::domain::evaluation::shipped();
    let shipped = crate::domain::evaluation::SHIPPED;
    store.save_evaluation_system(district.id, system.year as i64, &system.version, shipped, "演示数据", None).await?;

    if cases > 0 {
        progress.step("案卷");
        write_cases(store, district.id, seed, cases, &demo, &unit_ids, progress).await?;
    }

    let district = store.district(district.id).await?;
    Ok(DemoCreated { district, passwords, users_per_role })
}

async fn write_grids(
    store: &Store,
    district_id: i64,
    demo: &DemoDistrict,
    unit_ids: &HashMap<String, i64>,
) -> Result<(), StoreError> {
    let grids: Vec<NewGrid> = demo
        .grids
        .iter()
        .map(|g| NewGrid {
            code: g.code.clone(),
            name: g.name.clone(),
            community_id: unit_ids[&g.community],
            street_id: unit_ids[&g.street],
            boundary: g.polygon.to_geojson_value().to_string(),
            bbox: g.polygon.bbox(),
            area_m2: g.polygon.area_m2(),
        })
        .collect();
    store.upsert_grids(district_id, &grids).await?;
    Ok(())
}

/// Cases per chunk: generated, then written in one transaction.
const CASE_CHUNK: u64 = 5_000;

/// Writes `count` generated cases over the year before today, numbered per
/// year in report order.
async fn write_cases(
    store: &Store,
    district_id: i64,
    seed: u64,
    count: u64,
    demo: &DemoDistrict,
    unit_ids: &HashMap<String, i64>,
    progress: &dyn Progress,
) -> Result<(), StoreError> {
    use chrono::{Datelike, TimeZone};
    let stored: HashMap<String, (i64, i64, i64)> =
        store.grids(district_id).await?.into_iter().map(|g| (g.code, (g.id, g.community_id, g.street_id))).collect();
    let cells: Vec<cases::Cell> = demo
        .grids
        .iter()
        .filter_map(|g| {
            stored.get(&g.code).map(|&(grid_id, community_id, street_id)| cases::Cell {
                grid_id,
                community_id,
                street_id,
                polygon: g.polygon.clone(),
            })
        })
        .collect();
    let departments: HashMap<String, i64> =
        generate::category_departments().into_iter().map(|(category, unit)| (category, unit_ids[unit])).collect();
    let calendar = crate::domain::calendar::WorkCalendar::standard();
    let beijing = crate::domain::calendar::beijing();
    let today = chrono::Utc::now().with_timezone(&beijing).date_naive();
    let anchor = beijing
        .from_local_datetime(&today.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("a fixed offset")
        .with_timezone(&chrono::Utc);
    let version = crate::domain::categories::shipped().version.clone();
    let first_id = store.next_case_id().await?;
    // The secondary indexes are built once after the load: kept on every
    // row, a ten-million-case load rewrote their pages many times over. On
    // PostgreSQL the foreign keys are checked, and the inbox counted, once.
    store.suspend_for_bulk_load().await?;
    // Chunks are generated and prepared on a blocking thread while the last
    // one is written: generation and SQLite each keep one core busy.
    let (chunks, mut ready) = tokio::sync::mpsc::channel::<BulkBatch>(2);
    let generator = tokio::task::spawn_blocking(move || {
        let setting = cases::Setting {
            categories: crate::domain::categories::shipped(),
            departments: &departments,
            cells: &cells,
            calendar: &calendar,
            anchor,
        };
        let mut numbers: Vec<(i64, i64)> = Vec::new();
        let mut next_id = first_id;
        let mut start = 0;
        while start < count {
            let end = (start + CASE_CHUNK).min(count);
            let rows: Vec<(i64, String, cases::BulkCase)> = (start..end)
                .map(|n| {
                    let case = cases::case(seed, n, count, &setting);
                    let year = case.reported_at.with_timezone(&beijing).year() as i64;
                    let seq = match numbers.last_mut() {
                        Some((y, last)) if *y == year => {
                            *last += 1;
                            *last
                        }
                        _ => {
                            numbers.push((year, 1));
                            1
                        }
                    };
                    let id = next_id;
                    next_id += 1;
                    (id, format!("{year}-{seq:06}"), case)
                })
                .collect();
            if chunks.blocking_send(BulkBatch::prepare(rows, &calendar)).is_err() {
                break; // the writer stopped on an error, reported below
            }
            start = end;
        }
        numbers
    });
    let mut written = Ok(());
    while let Some(batch) = ready.recv().await {
        written = store.bulk_insert_cases(district_id, &version, &batch).await;
        if written.is_err() {
            break;
        }
        progress.advance(batch.len() as u64);
    }
    drop(ready);
    let numbers = generator.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    // Built whether or not the load went through: nothing else would.
    progress.step("索引");
    let restored = store.restore_suspended().await;
    // The load's own error first; what is left suspended comes back at the next start.
    written?;
    restored?;
    store.finish_bulk_cases(district_id, &numbers).await
}
