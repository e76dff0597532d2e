//! A year of cases for the demo district, weighted as a real district's are
//! (占道经营, 乱停放, 暴露垃圾 and 小广告 lead), from every source, in a
//! realistic mix of states with some overdue. Deterministic for a seed and
//! an anchor day; generated in chunks so ten million cases never sit in
//! memory at once.

use chrono::{DateTime, Duration, Utc};

use super::generate::SeededRng;
use crate::domain::calendar::WorkCalendar;
use crate::domain::categories::CategoryTable;
use crate::domain::geometry::Polygon;
pub use crate::store::cases::BulkCase;

/// Categories and their share of reports, in per mille; the rest is spread
/// over every other category.
const LEADING: [(&str, u32); 9] = [
    ("09006", 180), // 占道经营
    ("09009", 140), // 机动车乱停放
    ("06010", 120), // 暴露垃圾
    ("07001", 100), // 非法小广告
    ("09010", 60),  // 非机动车乱停放
    ("09005", 50),  // 店外经营
    ("06012", 50),  // 道路不洁
    ("06036", 40),  // 乱堆杂物
    ("09011", 40),  // 共享单车乱象
];

/// Sources and their share, in per mille.
const SOURCES: [(&str, u32); 10] = [
    ("supervisor", 350),
    ("inspection", 200),
    ("third_party", 120),
    ("citizen", 100),
    ("hotline", 100),
    ("eval_round", 50),
    ("office", 30),
    ("leader", 20),
    ("volunteer", 20),
    ("media", 10),
];

/// A grid cell cases can be placed in.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Grid id.
    pub grid_id: i64,
    /// Community unit id.
    pub community_id: i64,
    /// Street unit id.
    pub street_id: i64,
    /// Boundary.
    pub polygon: Polygon,
}

fn pick_weighted<'a>(rng: &mut SeededRng, table: &'a [(&'a str, u32)]) -> Option<&'a str> {
    let mut roll = rng.below(1000) as u32;
    for (code, share) in table {
        if roll < *share {
            return Some(code);
        }
        roll -= share;
    }
    None
}

/// What generation needs to know about the district.
pub struct Setting<'a> {
    /// The category table.
    pub categories: &'a CategoryTable,
    /// Category code → its department's unit id.
    pub departments: &'a std::collections::HashMap<String, i64>,
    /// Grid cells.
    pub cells: &'a [Cell],
    /// The working calendar.
    pub calendar: &'a WorkCalendar,
    /// The last moment of the year of cases.
    pub anchor: DateTime<Utc>,
}

/// Generates case `n` of `total` for `seed`. Each case has its own
/// generator, so chunks can be made in any order; report times rise with
/// `n`, so numbering in `n` order is numbering in time order.
pub fn case(seed: u64, n: u64, total: u64, setting: &Setting<'_>) -> BulkCase {
    let mut rng = SeededRng::new(seed.wrapping_mul(0x9E37_79B9).wrapping_add(n.wrapping_mul(0x85EB_CA6B)));
    let table = setting.categories;
    let category = match pick_weighted(&mut rng, &LEADING).and_then(|code| table.category(code)) {
        Some(c) => c,
        None => rng.pick(&table.categories),
    };
    let condition_index = rng.below(category.conditions.len());
    let condition = &category.conditions[condition_index];
    let limit = condition.time_limit();
    let source: &'static str = pick_weighted(&mut rng, &SOURCES).unwrap_or("supervisor");
    let reporter_name = crate::domain::cases::source_label(source).unwrap_or(source);

    let cell = rng.pick(setting.cells);
    let (min_lon, min_lat, max_lon, max_lat) = cell.polygon.bbox();
    let (mut lon, mut lat) = cell.polygon.centroid();
    for _ in 0..8 {
        let (x, y) = (rng.range(min_lon, max_lon), rng.range(min_lat, max_lat));
        if cell.polygon.contains(x, y) {
            (lon, lat) = (x, y);
            break;
        }
    }

    // Spread evenly over the last year, in the order of `n`.
    let year_minutes = 365.0 * 24.0 * 60.0;
    let slot = year_minutes / total.max(1) as f64;
    let offset = (n as f64 * slot + rng.unit() * slot * 0.999) as i64;
    let reported_at = setting.anchor - Duration::minutes(year_minutes as i64) + Duration::minutes(offset);
    let age_days = (setting.anchor - reported_at).num_days();
    let unit = if rng.unit() < 0.55 {
        Some(cell.street_id)
    } else {
        setting.departments.get(&category.code).copied().or(Some(cell.street_id))
    };

    let mut c = BulkCase {
        state: "reported",
        source,
        category_code: category.code.clone(),
        condition_index: condition_index as i64,
        campaign: category.campaign.clone(),
        limit,
        reporter_name: reporter_name.to_string(),
        description: format!("{}：{}", category.name, condition.name),
        lon,
        lat,
        cell: (cell.grid_id, cell.community_id, cell.street_id),
        unit_id: None,
        deadline: None,
        clock_started_at: None,
        rework_count: 0,
        reported_at,
        dispatched_at: None,
        handled_at: None,
        closed_at: None,
        overdue_at: None,
        deferred_until: None,
        events: vec![("report", None, "reported", reported_at, "")],
    };

    // Where the case should stand now, given its age.
    let roll = rng.unit();
    let target = if age_days > 30 {
        match roll {
            r if r < 0.86 => "closed",
            r if r < 0.89 => "rejected",
            r if r < 0.91 => "merged",
            r if r < 0.92 => "voided",
            r if r < 0.96 => "deferred",
            _ => "in_progress",
        }
    } else {
        match roll {
            r if r < 0.06 => "reported",
            r if r < 0.11 => "accepted",
            r if r < 0.13 => "rejected",
            r if r < 0.23 => "dispatched",
            r if r < 0.48 => "in_progress",
            r if r < 0.58 => "handled",
            r if r < 0.60 => "extension_requested",
            r if r < 0.62 => "deferred",
            _ => "closed",
        }
    };
    let mut now = reported_at;
    let step = |rng: &mut SeededRng, now: &mut DateTime<Utc>, lo: i64, hi: i64| {
        *now = (*now + Duration::minutes(lo + rng.below((hi - lo).max(1) as usize) as i64)).min(setting.anchor);
        *now
    };
    match target {
        "reported" => return c,
        "rejected" => {
            let at = step(&mut rng, &mut now, 30, 600);
            c.events.push(("reject", Some("reported"), "rejected", at, "不属于创文问题"));
            c.state = "rejected";
            return c;
        }
        "merged" => {
            let at = step(&mut rng, &mut now, 30, 600);
            c.events.push(("merge", Some("reported"), "merged", at, "重复上报"));
            c.state = "merged";
            return c;
        }
        _ => {}
    }
    let at = step(&mut rng, &mut now, 20, 240);
    c.events.push(("accept", Some("reported"), "accepted", at, ""));
    c.state = "accepted";
    if target == "accepted" {
        return c;
    }
    if target == "voided" {
        let at = step(&mut rng, &mut now, 60, 2000);
        c.events.push(("void", Some("accepted"), "voided", at, "问题已不存在"));
        c.state = "voided";
        return c;
    }
    let at = step(&mut rng, &mut now, 20, 480);
    c.events.push(("dispatch", Some("accepted"), "dispatched", at, ""));
    c.state = "dispatched";
    c.unit_id = unit;
    c.dispatched_at = Some(at);
    c.clock_started_at = Some(at);
    c.deadline = Some(setting.calendar.deadline(at, limit));
    if target == "dispatched" {
        return c;
    }
    let at = step(&mut rng, &mut now, 10, 600);
    c.events.push(("acknowledge", Some("dispatched"), "in_progress", at, ""));
    c.state = "in_progress";
    if target == "extension_requested" {
        let at = step(&mut rng, &mut now, 60, 1200);
        c.events.push(("request_extension", Some("in_progress"), "extension_requested", at, "需协调相关部门"));
        c.state = "extension_requested";
        return c;
    }
    if target == "deferred" {
        let at = step(&mut rng, &mut now, 60, 2880);
        c.events.push(("request_deferral", Some("in_progress"), "deferral_requested", at, "纳入年度改造计划"));
        let at = step(&mut rng, &mut now, 60, 1440);
        c.events.push(("approve_deferral", Some("deferral_requested"), "deferred", at, ""));
        c.state = "deferred";
        c.deferred_until = Some((at + Duration::days(90)).format("%Y-%m-%d").to_string());
        return c;
    }
    // Handling: most on time, some late.
    let deadline = c.deadline.expect("dispatched");
    let late = rng.unit() < 0.12;
    if target == "in_progress" {
        if age_days > 3 && deadline < setting.anchor {
            c.overdue_at = Some(deadline + Duration::minutes(1));
        }
        return c;
    }
    let mut handled = if late {
        deadline + Duration::minutes(30 + rng.below(4000) as i64)
    } else {
        let span = (deadline - now).num_minutes().max(10);
        now + Duration::minutes(5 + rng.below(span as usize) as i64)
    };
    // Never before the acknowledgement, never after the anchor.
    handled = handled.max(now + Duration::minutes(5)).min(setting.anchor).max(now);
    now = handled;
    c.events.push(("handle", Some("in_progress"), "handled", handled, "已整改"));
    c.state = "handled";
    c.handled_at = Some(handled);
    if late {
        c.overdue_at = Some(deadline + Duration::minutes(1));
    }
    if target == "handled" {
        return c;
    }
    // One in twelve fails verification once.
    if rng.unit() < 0.08 {
        let at = step(&mut rng, &mut now, 60, 1440);
        c.events.push(("verify_fail", Some("handled"), "in_progress", at, "整改不彻底"));
        c.rework_count = 1;
        c.clock_started_at = Some(at);
        c.deadline = Some(setting.calendar.deadline(at, limit));
        let at = step(&mut rng, &mut now, 60, 1440);
        c.events.push(("handle", Some("in_progress"), "handled", at, "已返工整改"));
        c.handled_at = Some(at);
    }
    let at = step(&mut rng, &mut now, 60, 2880);
    c.events.push(("verify_pass", Some("handled"), "closed", at, ""));
    c.state = "closed";
    c.closed_at = Some(at);
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::categories;
    use std::collections::HashMap;

    fn setting_parts() -> (Vec<Cell>, HashMap<String, i64>) {
        let d = super::super::generate::generate(1);
        let cells = d
            .grids
            .iter()
            .enumerate()
            .map(|(i, g)| Cell {
                grid_id: i as i64,
                community_id: 1000 + i as i64,
                street_id: 2000,
                polygon: g.polygon.clone(),
            })
            .collect();
        (cells, HashMap::from([("09009".to_string(), 77)]))
    }

    #[test]
    fn cases_are_deterministic_and_their_events_are_in_order() {
        let (cells, departments) = setting_parts();
        let calendar = WorkCalendar::standard();
        let anchor = DateTime::parse_from_rfc3339("2026-11-27T00:00:00+08:00").unwrap().with_timezone(&Utc);
        let setting = Setting {
            categories: categories::shipped(),
            departments: &departments,
            cells: &cells,
            calendar: &calendar,
            anchor,
        };
        for n in 0..2000 {
            let a = case(9, n, 2000, &setting);
            let b = case(9, n, 2000, &setting);
            assert_eq!((a.state, &a.category_code, a.reported_at), (b.state, &b.category_code, b.reported_at));
            assert!(a.events.windows(2).all(|w| w[0].3 <= w[1].3), "events in time order: {:?}", a.events);
            assert!(a.events.windows(2).all(|w| Some(w[0].2) == w[1].1), "each step starts where the last ended");
            assert_eq!(a.events.last().unwrap().2, a.state);
            assert!(a.reported_at <= anchor && a.events.iter().all(|e| e.3 <= anchor));
            if n > 0 {
                assert!(case(9, n - 1, 2000, &setting).reported_at <= a.reported_at, "report times rise with n");
            }
            assert!(cells[a.cell.0 as usize].polygon.contains(a.lon, a.lat), "placed inside its grid cell");
        }
    }

    #[test]
    fn the_leading_categories_lead_and_every_state_appears() {
        let (cells, departments) = setting_parts();
        let calendar = WorkCalendar::standard();
        let anchor = DateTime::parse_from_rfc3339("2026-11-27T00:00:00+08:00").unwrap().with_timezone(&Utc);
        let setting = Setting {
            categories: categories::shipped(),
            departments: &departments,
            cells: &cells,
            calendar: &calendar,
            anchor,
        };
        let mut by_category: HashMap<String, usize> = HashMap::new();
        let mut states = std::collections::BTreeSet::new();
        let mut sources = std::collections::BTreeSet::new();
        let mut overdue = 0;
        for n in 0..20_000 {
            let c = case(3, n, 20_000, &setting);
            *by_category.entry(c.category_code.clone()).or_default() += 1;
            states.insert(c.state);
            sources.insert(c.source);
            overdue += c.overdue_at.is_some() as usize;
        }
        let mut ranked: Vec<(String, usize)> = by_category.into_iter().collect();
        ranked.sort_by_key(|r| std::cmp::Reverse(r.1));
        let top4: Vec<&str> = ranked.iter().take(4).map(|(c, _)| c.as_str()).collect();
        for leading in ["09006", "09009", "06010", "07001"] {
            assert!(top4.contains(&leading), "{leading} leads: {top4:?}");
        }
        for state in [
            "reported",
            "accepted",
            "rejected",
            "merged",
            "voided",
            "dispatched",
            "in_progress",
            "handled",
            "deferred",
            "closed",
        ] {
            assert!(states.contains(state), "{state} appears");
        }
        assert_eq!(sources.len(), SOURCES.len(), "every source");
        assert!(overdue > 100, "some overdue: {overdue}");
    }
}
