//! Building each report from the store: what goes in it, in Chinese.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use super::{Block, Cell, Document, Table};
use crate::domain::assessment::Settings;
use crate::domain::calendar::WorkCalendar;
use crate::domain::cases::CaseState;
use crate::domain::stats::{Dim, Figures, Period, percent};
use crate::statistics::{self, Focus, Names, Row};
use crate::store::cases::Case;
use crate::store::org::Unit;
use crate::store::stats::day_start;
use crate::store::{Store, StoreResult};
use crate::web::beijing_time;

/// The case columns every list of cases shows.
const CASE_HEADERS: [&str; 6] = ["案卷编号", "问题类别", "位置或描述", "派遣时间", "处置期限", "状态"];

fn short(text: &str, n: usize) -> String {
    let mut out: String = text.chars().take(n).collect();
    if text.chars().count() > n {
        out.push('…');
    }
    out
}

async fn case_table(store: &Store, district_id: i64, caption: &str, cases: &[Case]) -> StoreResult<Table> {
    let names = store.category_names(district_id, cases).await?;
    let when = |t: Option<DateTime<Utc>>| t.map(|t| beijing_time(t, "%m-%d %H:%M")).unwrap_or_default();
    let rows = cases
        .iter()
        .map(|c| {
            let place = if c.address.trim().is_empty() { &c.description } else { &c.address };
            let state = CaseState::from_code(&c.state).map_or(c.state.clone(), |s| s.label().to_string());
            vec![
                Cell::from(c.number.clone()),
                names.of(c).into(),
                short(place, 30).into(),
                when(c.dispatched_at).into(),
                when(c.deadline).into(),
                state.into(),
            ]
        })
        .collect();
    Ok(Table { caption: caption.into(), headers: CASE_HEADERS.iter().map(|h| h.to_string()).collect(), rows })
}

/// Since when a sheet for `day` lists cases as newly dispatched: the
/// previous working day's sheet time (08:00), so Monday's sheet lists what
/// came on Friday after its sheet, and over the weekend.
pub fn new_since(calendar: &WorkCalendar, day: NaiveDate) -> DateTime<Utc> {
    let mut previous = day - Duration::days(1);
    // A holiday runs at most a few weeks; stop looking after two months.
    for _ in 0..60 {
        if calendar.is_working_day(previous) {
            break;
        }
        previous -= Duration::days(1);
    }
    day_start(previous) + Duration::hours(crate::jobs::reports::SHEET_HOUR)
}

/// Cases a daily sheet lists per section; the rest are counted.
pub const SHEET_ROWS: i64 = 100;

/// The daily inspection sheet (督察单) of `unit` for `day`, as things
/// stand at `now`: what is overdue (as the deadline watcher marked it, the
/// same rule as every list and dashboard), what falls due by the end of the
/// day, and what was dispatched since the previous working day's sheet.
pub async fn daily_sheet(
    store: &Store,
    district_id: i64,
    unit: &Unit,
    calendar: &WorkCalendar,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> StoreResult<Document> {
    let since = new_since(calendar, day);
    let end_of_day = day_start(day + Duration::days(1));
    // Counted in full, listed up to SHEET_ROWS each: a unit with a backlog of
    // thousands gets a sheet people can read, and the rest on the case list.
    let (running, [overdue, due, new]) =
        store.unit_sheet_cases(unit.district_id, unit.id, end_of_day, since, SHEET_ROWS).await?;
    let summary = format!(
        "{}：截至 {}，你单位在办问题 {} 件，其中已超期 {} 件，今日到期 {} 件，{}以来新交办 {} 件。请于期限内整改完毕，并上传整改后照片。",
        unit.name,
        beijing_time(now, "%m月%d日 %H:%M"),
        running,
        overdue.count,
        due.count,
        beijing_time(since, "%m月%d日 %H:%M"),
        new.count
    );
    let mut blocks = vec![Block::Paragraph { text: summary }];
    for (heading, section) in [("已超期", &overdue), ("今日到期", &due), ("新交办", &new)] {
        blocks.push(Block::Heading { text: format!("{heading}（{} 件）", section.count) });
        if section.cases.is_empty() {
            blocks.push(Block::Paragraph { text: "无。".into() });
        } else {
            blocks.push(Block::Table(case_table(store, district_id, heading, &section.cases).await?));
            let unlisted = section.count - section.cases.len() as i64;
            if unlisted > 0 {
                blocks.push(Block::Paragraph {
                    text: format!(
                        "以上为期限最早的 {} 件，另有 {unlisted} 件未列出，请在案卷列表中查看。",
                        section.cases.len()
                    ),
                });
            }
        }
    }
    Ok(Document {
        title: "督察单".into(), subtitle: format!("{} · {}", unit.name, day.format("%Y年%m月%d日")), blocks
    })
}

/// The figures columns of a breakdown table.
fn figures_headers(first: &str) -> Vec<String> {
    [first, "上报", "应整改", "已整改", "整改率", "按期整改率", "返工率", "超期", "挂账"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn figures_cells(name: &str, f: &Figures) -> Vec<Cell> {
    let t = &f.tally;
    vec![
        name.into(),
        t.reported.into(),
        t.due.into(),
        t.closed.into(),
        Cell::Rate(f.rectification_rate),
        Cell::Rate(f.on_time_rate),
        Cell::Rate(f.rework_rate),
        t.overdue.into(),
        t.deferred.into(),
    ]
}

fn breakdown_table(caption: &str, first: &str, rows: &[Row]) -> Table {
    Table {
        caption: caption.into(),
        headers: figures_headers(first),
        rows: rows.iter().map(|r| figures_cells(&r.name, &r.figures)).collect(),
    }
}

fn change(now: Option<f64>, before: Option<f64>) -> String {
    match (now, before) {
        (Some(a), Some(b)) => format!("{:+.1} 个百分点", (a - b) * 100.0),
        _ => "无可比数据".into(),
    }
}

/// The Monday of the week of `day`.
pub fn monday_of(day: NaiveDate) -> NaiveDate {
    day - Duration::days(day.weekday().num_days_from_monday() as i64)
}

/// The weekly coordination report (每周协调会) of the week holding `day`.
pub async fn weekly(store: &Store, district_id: i64, day: NaiveDate) -> StoreResult<Document> {
    let names = Names::of(store, district_id).await?;
    let monday = monday_of(day);
    let week = Period { from: monday, to: monday + Duration::days(6) };
    let focus = Focus { dim: Dim::All, value: String::new(), name: "全区".into() };
    let o = statistics::overview(store, district_id, focus, week).await?;
    let t = &o.now.tally;
    let summary = format!(
        "本周（{}至{}）发现问题 {} 件，立案 {} 件，交办责任单位 {} 件，已整改 {} 件，整改率 {}（环比 {}），按期整改率 {}，返工率 {}；目前超期未整改 {} 件，挂账 {} 件。",
        week.from.format("%m月%d日"),
        week.to.format("%m月%d日"),
        t.reported,
        t.accepted,
        t.due,
        t.closed,
        percent(o.now.rectification_rate),
        change(o.now.rectification_rate, o.previous.rectification_rate),
        percent(o.now.on_time_rate),
        percent(o.now.rework_rate),
        t.overdue,
        t.deferred,
    );
    let mut blocks = vec![Block::Heading { text: "一、总体情况".into() }, Block::Paragraph { text: summary }];
    blocks.push(Block::Heading { text: "二、重点难点问题".into() });
    for (which, caption) in
        [("overdue", "超期未整改"), ("reworked", "返工未结"), ("deferred", "挂账"), ("returned", "回退后未结")]
    {
        let (total, cases) = store.difficult_cases(district_id, which, 20).await?;
        let shown =
            if total > cases.len() as i64 { format!("，列出最新的 {} 件", cases.len()) } else { String::new() };
        blocks.push(Block::Paragraph { text: format!("{caption}：{total} 件{shown}。") });
        if !cases.is_empty() {
            blocks.push(Block::Table(case_table(store, district_id, caption, &cases).await?));
        }
    }
    let year = Period { from: NaiveDate::from_ymd_opt(day.year(), 1, 1).expect("1 January"), to: week.to };
    blocks.push(Block::Heading { text: "三、各责任单位本年累计".into() });
    let units = statistics::breakdown(store, district_id, Dim::Unit, &year, &names).await?;
    blocks.push(Block::Table(breakdown_table("责任单位", "责任单位", &units)));
    blocks.push(Block::Heading { text: "四、近八周走势".into() });
    let mut trend = Vec::new();
    for back in (0..8).rev() {
        let from = monday - Duration::weeks(back);
        let p = Period { from, to: from + Duration::days(6) };
        let f = Figures::of(store.stats_total(district_id, Dim::All, "", &p).await?);
        trend.push(figures_cells(&format!("{}—{}", p.from.format("%m.%d"), p.to.format("%m.%d")), &f));
    }
    blocks.push(Block::Table(Table { caption: "近八周".into(), headers: figures_headers("周"), rows: trend }));
    Ok(Document {
        title: "创文工作周报".into(),
        subtitle: format!(
            "{}年第{}周（{}至{}）",
            monday.iso_week().year(),
            monday.iso_week().week(),
            week.from,
            week.to
        ),
        blocks,
    })
}

/// A bulletin (通报) over `period`: the streets and departments under the
/// office's thresholds, each with why, and the three best of each.
pub async fn bulletin(store: &Store, district_id: i64, period: &Period, settings: &Settings) -> StoreResult<Document> {
    let names = Names::of(store, district_id).await?;
    let rankings = statistics::rankings(store, district_id, period, settings, &names).await?;
    let mut named = Vec::new();
    let mut praised = Vec::new();
    for (kind, list) in [("街道", &rankings.streets), ("部门", &rankings.departments)] {
        for r in list.iter() {
            let reasons = settings.bulletin_reasons(&r.item.figures);
            if !reasons.is_empty() {
                let f = &r.item.figures;
                named.push(vec![
                    Cell::from(r.item.name.clone()),
                    kind.into(),
                    reasons.join("；").into(),
                    Cell::Rate(f.rectification_rate),
                    Cell::Rate(f.on_time_rate),
                    f.tally.overdue.into(),
                ]);
            }
        }
        let best: Vec<String> =
            list.iter().filter(|r| r.place.is_some()).take(3).map(|r| r.item.name.clone()).collect();
        if !best.is_empty() {
            praised.push(format!("{kind}：{}", best.join("、")));
        }
    }
    let b = &settings.bulletin;
    let mut blocks = vec![Block::Paragraph {
        text: format!(
            "统计期间 {} 至 {}（按问题发现日期）。通报条件：整改率低于 {}，或按期整改率低于 {}，或超期未整改达到 {} 件（创文办在“设置—考核设置”中确定）。",
            period.from,
            period.to,
            percent(Some(b.rectification_rate_below)),
            percent(Some(b.on_time_rate_below)),
            b.overdue_at_least
        ),
    }];
    blocks.push(Block::Heading { text: format!("一、通报批评（{} 个单位）", named.len()) });
    if named.is_empty() {
        blocks.push(Block::Paragraph { text: "本期没有单位达到通报条件。".into() });
    } else {
        blocks.push(Block::Table(Table {
            caption: "通报单位".into(),
            headers: ["单位", "类型", "通报原因", "整改率", "按期整改率", "超期"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            rows: named,
        }));
    }
    blocks.push(Block::Heading { text: "二、表扬".into() });
    blocks.push(Block::Paragraph {
        text: if praised.is_empty() {
            "本期参加排名的单位不足。".into()
        } else {
            format!("综合得分前三名 — {}。", praised.join("；"))
        },
    });
    blocks.push(Block::Paragraph { text: rankings.explanation.clone() });
    Ok(Document {
        title: "创文工作通报".into(),
        subtitle: format!("{} 至 {}", period.from.format("%Y年%m月%d日"), period.to.format("%Y年%m月%d日")),
        blocks,
    })
}

/// The rectification orders (整改单) of a dispatch batch.
pub async fn batch(store: &Store, district_id: i64, batch_id: i64, number: &str, note: &str) -> StoreResult<Document> {
    let cases = store.batch_cases(district_id, batch_id).await?;
    let units: std::collections::HashMap<i64, String> =
        store.units(district_id).await?.into_iter().map(|u| (u.id, u.name)).collect();
    let mut blocks = vec![Block::Paragraph {
        text: format!(
            "以下 {} 个问题已交办责任单位，请按处置期限整改完毕，并在系统中上传整改后照片。{}",
            cases.len(),
            if note.trim().is_empty() { String::new() } else { format!("说明：{note}") }
        ),
    }];
    let mut by_unit: std::collections::BTreeMap<String, Vec<Case>> = std::collections::BTreeMap::new();
    for c in cases {
        let unit = c.unit_id.and_then(|u| units.get(&u).cloned()).unwrap_or_else(|| "（未定）".into());
        by_unit.entry(unit).or_default().push(c);
    }
    for (unit, cases) in &by_unit {
        blocks.push(Block::Heading { text: format!("{unit}（{} 件）", cases.len()) });
        blocks.push(Block::Table(case_table(store, district_id, unit, cases).await?));
    }
    Ok(Document { title: "整改通知单".into(), subtitle: number.to_string(), blocks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_sheet_lists_as_new_what_came_since_the_previous_working_days_sheet() {
        let calendar = WorkCalendar::standard();
        let beijing = |y, m, d, h| crate::domain::calendar::beijing().with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
        // Monday 30 November 2026: since Friday's sheet at 08:00.
        let monday = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert_eq!(new_since(&calendar, monday), beijing(2026, 11, 27, 8));
        // Thursday 8 October 2026, the first working day after National Day: since 30 September.
        let after_holiday = NaiveDate::from_ymd_opt(2026, 10, 8).unwrap();
        assert_eq!(new_since(&calendar, after_holiday), beijing(2026, 9, 30, 8));
        // An ordinary Wednesday: since Tuesday.
        let wednesday = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert_eq!(new_since(&calendar, wednesday), beijing(2026, 11, 24, 8));
    }
}
