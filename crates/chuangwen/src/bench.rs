//! Benchmarks, each figure printed beside its ceiling (docs/PERFORMANCE.md).
//!
//! `chuangwen bench pages`: the server time of every workbench page, with
//! the one-year demo district, against the 300 ms each page must stay under
//! (issue W1-D). Requests go through the application's router in-process, so
//! the figure is the server's own time: routing, authorization, queries,
//! rendering and the body, without the network.
//!
//! `chuangwen bench stats`: the office dashboard's figures and the rankings
//! from the kept sums, against 20 ms, beside the direct recount of the same
//! figures from the cases on the same database (issue W1-E).
//!
//! `chuangwen bench sheets`: the daily inspection sheets (督察单) of every
//! unit with running cases, made and delivered as the 08:00 job does, and
//! the weekly report, against the 5 s all sheets for 500 units must stay
//! under (issue W1-G).
//!
//! `chuangwen bench intake`: a spreadsheet of findings taken in whole — read
//! for its mapping, kept, checked row by row, its duplicates looked up and
//! its cases filed by the intake job — against the 5 s a 10,000-row file
//! must stay under (issue W1-G); then the batch undone, so the database is
//! the same for the next round.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::app::AppState;
use crate::auth::policy::Scope;
use crate::auth::{random_token, token_hash};
use crate::store::cases::CaseFilter;
use crate::web::cases::PAGE;

/// The ceiling every page is measured against.
pub const PAGE_CEILING: Duration = Duration::from_millis(300);

/// The timing of one page.
pub struct PageTiming {
    /// Who asked (demo username).
    pub user: String,
    /// What was asked.
    pub path: String,
    /// HTTP status of the answers (all the same, or the first that differed).
    pub status: u16,
    /// Bytes of the answer.
    pub bytes: usize,
    /// Median server time.
    pub median: Duration,
    /// 99th-percentile server time (nearest rank: of fewer than 100
    /// measurements, the slowest).
    pub p99: Duration,
    /// The slowest measurement.
    pub slowest: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Measures every page for the demo users who use it, `rounds` times each
/// after two warm-up requests.
pub async fn pages(state: AppState, rounds: usize) -> anyhow::Result<Vec<PageTiming>> {
    let store = state.store.clone();
    let district =
        store.districts().await?.into_iter().find(|d| d.is_demo).ok_or_else(|| anyhow::anyhow!("no demo district"))?;
    // Every page is measured on real data or the run stops: a missing case
    // must not turn into a fast 404 counted as a page.
    let need = |what: &str| anyhow::anyhow!("the demo district has no {what} to measure");
    let district_id = district.id;
    let newest_of = |filter: CaseFilter| {
        let store = store.clone();
        async move {
            let filter = CaseFilter { limit: 1, ..filter };
            anyhow::Ok(store.cases(district_id, &Scope::District, None, &filter).await?.pop())
        }
    };
    let pick = |state: &str| CaseFilter { state: Some(state.into()), ..Default::default() };
    let newest_id = newest_of(CaseFilter::default()).await?.ok_or_else(|| need("case"))?.id;
    let street =
        store.units(district.id).await?.into_iter().find(|u| u.kind == "street").ok_or_else(|| need("street"))?.id;
    let closed = newest_of(pick("closed")).await?.ok_or_else(|| need("closed case"))?;
    let in_progress = newest_of(pick("in_progress")).await?.ok_or_else(|| need("case in progress"))?;
    let point = store
        .points(district.id, &Scope::District, &crate::store::places::PointFilter { limit: 1, ..Default::default() })
        .await?
        .pop()
        .ok_or_else(|| need("point"))?;

    // A case of handler003's own unit, in progress: the page a handler opens most.
    let handler = store.user_by_username("handler003").await?.ok_or_else(|| anyhow::anyhow!("no user handler003"))?;
    let own = newest_of(CaseFilter { unit_id: Some(handler.unit_id), ..pick("in_progress") }).await?;
    let own = own.ok_or_else(|| need("case in progress of handler003's unit"))?;
    let plan: Vec<(&str, Vec<String>)> = vec![
        (
            "office01",
            [
                Some("/".to_string()),
                Some("/cases".into()),
                Some("/cases?state=reported".into()),
                Some("/cases?overdue=1".into()),
                Some(format!("/cases?street={street}&state=closed")),
                Some("/cases?category=06010&from=2026-01-01&to=2026-12-31".into()),
                Some("/cases?q=垃圾".into()),
                Some(format!("/cases?before={}", newest_id / 2)),
                Some(format!("/cases?before={}", newest_id / 50)),
                Some(format!("/cases/{}", closed.id)),
                Some(format!("/cases/{}", in_progress.id)),
                Some("/cases/new".into()),
                Some("/cases/dispatch".into()),
                Some("/supervision".into()),
                Some("/map".into()),
                Some("/api/v1/map/layers".into()),
                Some("/places".into()),
                Some(format!("/places/points/{}", point.id)),
                Some("/settings".into()),
            ]
            .into_iter()
            .flatten()
            .collect(),
        ),
        ("supervisor001", vec!["/".into(), "/cases/new".into(), "/cases?mine=1".into()]),
        (
            "handler003",
            vec!["/".into(), "/cases".into(), "/cases?state=in_progress".into(), format!("/cases/{}", own.id)],
        ),
        ("inspector01", vec!["/".into(), "/cases?state=handled".into()]),
        (
            "leader01",
            vec![
                "/".into(),
                "/cases?overdue=1".into(),
                "/map".into(),
                "/dashboard?preset=year".into(),
                "/dashboard/rankings?preset=year".into(),
            ],
        ),
        ("office01", vec!["/dashboard".into(), "/reports".into()]),
        ("handler046", vec!["/dashboard?preset=year".into(), "/reports".into()]),
        ("admin", vec!["/admin/users".into(), "/admin/audit".into(), "/settings".into()]),
    ];

    let app = crate::routes::router(state);
    let mut out = Vec::new();
    for (username, paths) in plan {
        let cookie = session_cookie(&store, username).await?;
        for path in paths {
            out.push(measure_page(&app, username, &cookie, path, rounds).await?);
        }
    }
    Ok(out)
}

/// A session of a demo user, as the cookie a browser sends.
async fn session_cookie(store: &crate::store::Store, username: &str) -> anyhow::Result<String> {
    let user = store.user_by_username(username).await?.ok_or_else(|| anyhow::anyhow!("no user {username}"))?;
    let session = random_token();
    store.create_session(&token_hash(&session), user.id).await?;
    Ok(format!("cw_session={session}"))
}

/// Asks for one page `rounds` times after two warm-up requests, through the
/// router in-process, and times each answer to its last byte.
async fn measure_page(
    app: &axum::Router,
    username: &str,
    cookie: &str,
    path: String,
    rounds: usize,
) -> anyhow::Result<PageTiming> {
    let mut times = Vec::with_capacity(rounds);
    let mut status = 0;
    let mut bytes = 0;
    for round in 0..rounds + 2 {
        let request = Request::get(&path)
            .header(header::COOKIE, cookie)
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Body::empty())?;
        let started = Instant::now();
        let response = app.clone().oneshot(request).await?;
        let code = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        let took = started.elapsed();
        if status == 0 || code != 200 {
            status = code;
        }
        bytes = body.len();
        if round >= 2 {
            times.push(took);
        }
    }
    times.sort_unstable();
    Ok(PageTiming {
        user: username.to_string(),
        path,
        status,
        bytes,
        median: percentile(&times, 0.5),
        p99: percentile(&times, 0.99),
        slowest: percentile(&times, 1.0),
    })
}

/// The page far down the case list is measured at (or the last page).
const FAR_PAGE: i64 = 100;

/// Given how many cases the first [`FAR_PAGE`] pages of a filter hold, the
/// index of the case whose id is the cursor (`before`) of the page measured
/// far down: the page after page `FAR_PAGE`; with fewer cases, the filter's
/// last page, as the list's "next" links reach it (none when every case fits
/// on the first page). The last page of a walk newest first is its costly
/// one: it ends at the table's end, not at a full page.
fn far_cursor(found: usize) -> Option<usize> {
    let page = PAGE as usize;
    if found as i64 >= FAR_PAGE * PAGE {
        return found.checked_sub(1);
    }
    (found.checked_sub(1)? / page * page).checked_sub(1)
}

/// The ceiling of the case list at ten million cases (issue W1-G).
pub const CASE_LIST_CEILING: Duration = Duration::from_millis(30);

/// Requests per page of the case list: a p99 by nearest rank is the
/// slowest of fewer than 100 measurements; at 100 it is the second slowest
/// (the slowest is printed beside it).
pub const CASE_LIST_ROUNDS: usize = 100;

/// The case list as the office reads it, with the typical filters — a
/// street, a state, a category, the last 30 days, a keyword, and all of them
/// at once — each on its first page and on its hundred-and-first page
/// (keyset: the cases older than the first hundred pages), or its last page
/// when it has fewer ([`far_cursor`]), `rounds` times each.
pub async fn case_list(
    state: AppState,
    rounds: usize,
    measured: impl Fn(&PageTiming),
) -> anyhow::Result<Vec<PageTiming>> {
    let store = state.store.clone();
    let district =
        store.districts().await?.into_iter().find(|d| d.is_demo).ok_or_else(|| anyhow::anyhow!("no demo district"))?;
    let street = store
        .units(district.id)
        .await?
        .into_iter()
        .find(|u| u.kind == "street")
        .ok_or_else(|| anyhow::anyhow!("the demo district has no street"))?
        .id;
    let today = crate::domain::stats::beijing_day(chrono::Utc::now());
    let month_ago = today - chrono::Duration::days(30);
    let (from, to) = (crate::web::day_start(&month_ago.to_string(), 0), crate::web::day_start(&today.to_string(), 1));
    // Each filter as the page's query and as the store's filter, which finds
    // the cursor of the page far down (page 100, or the last one).
    let filters = [
        (String::new(), CaseFilter::default()),
        (format!("street={street}"), CaseFilter { street_id: Some(street), ..Default::default() }),
        ("state=in_progress".into(), CaseFilter { state: Some("in_progress".into()), ..Default::default() }),
        ("category=06010".into(), CaseFilter { category: Some("06010".into()), ..Default::default() }),
        (format!("from={month_ago}&to={today}"), CaseFilter { from, to, ..Default::default() }),
        ("q=垃圾".into(), CaseFilter { text: Some("垃圾".into()), ..Default::default() }),
        (
            format!("street={street}&state=closed&category=06010&from={month_ago}&to={today}"),
            CaseFilter {
                street_id: Some(street),
                state: Some("closed".into()),
                category: Some("06010".into()),
                from,
                to,
                ..Default::default()
            },
        ),
        // A word no case has, last: the search reads every case.
        ("q=无此关键词".into(), CaseFilter { text: Some("无此关键词".into()), ..Default::default() }),
    ];
    let app = crate::routes::router(state);
    let cookie = session_cookie(&store, "office01").await?;
    let mut out = Vec::new();
    for (query, filter) in filters {
        let far_down = CaseFilter { limit: FAR_PAGE * PAGE, ..filter };
        let found = store.cases(district.id, &Scope::District, None, &far_down).await?;
        let far = far_cursor(found.len()).map(|i| found[i].id);
        let join = if query.is_empty() { "" } else { "&" };
        let mut paths = vec![format!("/cases?{query}")];
        paths.extend(far.map(|far| format!("/cases?{query}{join}before={far}")));
        // The total the page asks for once it is shown (web::cases::total).
        paths.push(format!("/cases/total?{query}"));
        for path in paths {
            let timing = measure_page(&app, "office01", &cookie, path, rounds).await?;
            measured(&timing);
            out.push(timing);
        }
    }
    // The office's home page: its piles, from the kept counts (migration 0017).
    let timing = measure_page(&app, "office01", &cookie, "/".into(), rounds).await?;
    measured(&timing);
    out.push(timing);
    Ok(out)
}

/// The office's piles from the kept counts and counted again from the cases,
/// on the same database: (kept median, recount median) over `rounds`.
pub async fn inbox_against_recount(state: &AppState, rounds: usize) -> anyhow::Result<(Duration, Duration)> {
    let store = &state.store;
    let district =
        store.districts().await?.into_iter().find(|d| d.is_demo).ok_or_else(|| anyhow::anyhow!("no demo district"))?;
    let kept = timed(rounds, || async {
        store.inbox(district.id, &Scope::District, None).await?;
        Ok(())
    })
    .await?;
    let recount = timed(rounds, || async {
        store.recount_inbox(district.id, &Scope::District, None).await?;
        Ok(())
    })
    .await?;
    let (a, b) = (
        store.inbox(district.id, &Scope::District, None).await?,
        store.recount_inbox(district.id, &Scope::District, None).await?,
    );
    anyhow::ensure!(a == b, "the kept piles {a:?} differ from their recount {b:?}");
    Ok((median(&kept), median(&recount)))
}

/// The ceiling of the office dashboard and the rankings (issue W1-E).
pub const STATS_CEILING: Duration = Duration::from_millis(20);

/// Measurements of each figure set: at 200 the p99 by nearest rank is the
/// third slowest (at 50, the rounds before, it was the slowest; the
/// slowest is printed beside it).
pub const STATS_ROUNDS: usize = 200;

/// One measured figure set: the kept sums, and the direct recount of the
/// same figures from the cases on the same database.
pub struct StatsTiming {
    /// What was measured (the dashboard's figures or the rankings).
    pub what: &'static str,
    /// The period, as its preset or dates.
    pub period: String,
    /// Median with the kept sums.
    pub median: Duration,
    /// p99 with the kept sums (nearest rank: of fewer than 100
    /// measurements, the slowest).
    pub p99: Duration,
    /// The slowest measurement with the kept sums.
    pub slowest: Duration,
    /// Median of the direct recount.
    pub recount_median: Duration,
}

async fn timed<F, Fut>(rounds: usize, mut run: F) -> anyhow::Result<Vec<Duration>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut times = Vec::with_capacity(rounds);
    for round in 0..rounds + 1 {
        let started = Instant::now();
        run().await?;
        if round > 0 {
            times.push(started.elapsed());
        }
    }
    times.sort_unstable();
    Ok(times)
}

/// Measures the office dashboard's figures and the rankings over several
/// periods, `rounds` times each, and a direct recount of the same figures
/// (`recount_rounds` times: it is slow).
pub async fn stats(state: &AppState, rounds: usize, recount_rounds: usize) -> anyhow::Result<Vec<StatsTiming>> {
    use crate::domain::assessment::Settings;
    use crate::domain::stats::{Dim, Period, beijing_day};
    use crate::statistics::{self, Focus, Names};
    let store = &state.store;
    let district =
        store.districts().await?.into_iter().find(|d| d.is_demo).ok_or_else(|| anyhow::anyhow!("no demo district"))?;
    let id = district.id;
    let names = Names::of(store, id).await?;
    let settings = Settings::shipped();
    let today = beijing_day(chrono::Utc::now());
    let preset = |p: &str| statistics::period_of(None, None, Some(p), today).map_err(anyhow::Error::msg);
    let odd = Period::new(today - chrono::Duration::days(340), today - chrono::Duration::days(17)).expect("a period");
    let periods = [
        ("本月 month".to_string(), preset("month")?),
        ("本季度 quarter".to_string(), preset("quarter")?),
        ("本年 year".to_string(), preset("year")?),
        ("三年 all".to_string(), preset("all")?),
        (format!("{}..{}", odd.from, odd.to), odd),
    ];
    const BREAKDOWNS: [Dim; 5] = [Dim::Street, Dim::Unit, Dim::Campaign, Dim::Category, Dim::Source];
    let mut out = Vec::new();
    for (label, period) in periods {
        let all = Focus { dim: Dim::All, value: String::new(), name: "全区".into() };
        // The office dashboard: the figures now, a period before and a year
        // before, the trend, and five breakdowns.
        let dashboard = timed(rounds, || async {
            statistics::overview(store, id, all.clone(), period).await?;
            for dim in BREAKDOWNS {
                statistics::breakdown(store, id, dim, &period, &names).await?;
            }
            Ok(())
        })
        .await?;
        // The same figures recounted from the cases (the trend left out: it
        // would take one more GROUP BY per bucket).
        // No recount asked for (`--recount-rounds 0`): zero, printed as not measured.
        let not_measured = || async { anyhow::Ok(vec![Duration::ZERO]) };
        let dashboard_recount = if recount_rounds == 0 {
            not_measured().await?
        } else {
            timed(recount_rounds, || async {
                for p in [period, period.previous(), period.year_before()] {
                    store.recount_by(id, Dim::All, &p).await?;
                }
                for dim in BREAKDOWNS {
                    store.recount_by(id, dim, &period).await?;
                }
                Ok(())
            })
            .await?
        };
        out.push(StatsTiming {
            what: "office dashboard",
            period: label.clone(),
            median: percentile(&dashboard, 0.5),
            p99: percentile(&dashboard, 0.99),
            slowest: percentile(&dashboard, 1.0),
            recount_median: percentile(&dashboard_recount, 0.5),
        });
        let ranked = timed(rounds, || async {
            statistics::rankings(store, id, &period, &settings, &names).await?;
            Ok(())
        })
        .await?;
        let ranked_recount = if recount_rounds == 0 {
            not_measured().await?
        } else {
            timed(recount_rounds, || async {
                store.recount_by(id, Dim::Street, &period).await?;
                store.recount_by(id, Dim::Unit, &period).await?;
                Ok(())
            })
            .await?
        };
        out.push(StatsTiming {
            what: "rankings",
            period: label,
            median: percentile(&ranked, 0.5),
            p99: percentile(&ranked, 0.99),
            slowest: percentile(&ranked, 1.0),
            recount_median: percentile(&ranked_recount, 0.5),
        });
    }
    Ok(out)
}

/// The ceiling of taking in a 10,000-row spreadsheet (issue W1-G).
pub const INTAKE_CEILING: Duration = Duration::from_secs(5);

/// The rounds of one intake benchmark.
pub struct IntakeTiming {
    /// Rows in the file.
    pub rows: usize,
    /// Bytes of the file.
    pub bytes: usize,
    /// Reading the workbook alone (what the upload does to propose a mapping).
    pub read: Vec<Duration>,
    /// Upload to batch done: read, kept, checked, filed.
    pub whole: Vec<Duration>,
    /// Undoing the batch.
    pub undo: Vec<Duration>,
}

/// The median of some timings.
pub fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    percentile(&sorted, 0.5)
}

/// A workbook of `rows` findings inside the district's grid cells, each
/// with its own number, a category of the district's table and a time.
pub async fn findings_workbook(state: &AppState, district: i64, rows: usize) -> anyhow::Result<Vec<u8>> {
    let cells = crate::places::load_grid_index(&state.store, district).await?;
    let spots: Vec<(f64, f64)> = cells.cells().iter().map(|c| c.polygon.centroid()).collect();
    anyhow::ensure!(!spots.is_empty(), "the district has no grid cells");
    let categories = state.store.categories(district).await?;
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["问题编号", "问题分类", "问题描述", "经度", "纬度", "发现时间"].iter().enumerate()
    {
        sheet.write_string(0, c as u16, *h)?;
    }
    let batch = uuid::Uuid::new_v4().simple().to_string();
    for i in 0..rows {
        let r = i as u32 + 1;
        let (lon, lat) = spots[i % spots.len()];
        let category = &categories.categories[i % categories.categories.len()];
        sheet.write_string(r, 0, format!("B{}-{i:05}", &batch[..8]))?;
        sheet.write_string(r, 1, &category.code)?;
        sheet.write_string(r, 2, format!("测评发现：{}（第 {i} 条）", category.name))?;
        sheet.write_number(r, 3, lon)?;
        sheet.write_number(r, 4, lat)?;
        sheet.write_string(r, 5, "2026-11-20 09:30")?;
    }
    Ok(book.save_to_buffer()?)
}

/// Takes in a fresh workbook of `rows` findings `rounds` times, as a
/// third-party evaluation company's, and undoes each.
pub async fn intake(state: &AppState, rows: usize, rounds: usize) -> anyhow::Result<IntakeTiming> {
    use crate::intake::check::Mapping;
    use crate::store::intake::{IntakeJob, NewIntakeBatch};
    anyhow::ensure!(rounds > 0 && rows > 0, "rounds and rows must be at least 1");
    let store = &state.store;
    let district =
        store.districts().await?.into_iter().find(|d| d.is_demo).ok_or_else(|| anyhow::anyhow!("no demo district"))?;
    let audit = crate::auth::audit::NewAuditEntry {
        district_id: Some(district.id),
        actor_id: None,
        actor: "bench".into(),
        action: crate::auth::audit::AuditAction::DataImported,
        object: String::new(),
        detail: String::new(),
        ip: String::new(),
    };
    let mut timing = IntakeTiming { rows, bytes: 0, read: vec![], whole: vec![], undo: vec![] };
    for _ in 0..rounds {
        let bytes = findings_workbook(state, district.id, rows).await?;
        timing.bytes = bytes.len();
        let started = Instant::now();
        let table = crate::sheet::read_table(&bytes).map_err(|e| anyhow::anyhow!(e))?;
        timing.read.push(started.elapsed());
        let mapping = serde_json::to_string(&Mapping::propose(&table.headers, None))?;
        let key = format!("intake/{}/bench-{}.xlsx", district.id, uuid::Uuid::new_v4());
        state.files.put(&key, bytes.into()).await?;
        let new = NewIntakeBatch {
            source: "third_party",
            file_name: "bench.xlsx",
            file_key: &key,
            format: "xlsx",
            mapping: &mapping,
            created_by: None,
            created_by_name: "bench",
        };
        let id = store.create_intake_batch(district.id, &new).await?;
        let job = IntakeJob {
            batch_id: id,
            actor_id: None,
            actor: "bench".into(),
            ip: String::new(),
            duplicate_radius_m: state.config.duplicate_radius_m,
            duplicate_days: state.config.duplicate_days,
        };
        // A finding near an open case is filed too, so every round files the same number of cases.
        store.queue_intake_batch(district.id, &mapping, false, true, &job).await?;
        crate::jobs::drain(&state.job_context()).await;
        timing.whole.push(started.elapsed());
        let batch = store.intake_batch(district.id, id).await?.ok_or_else(|| anyhow::anyhow!("batch gone"))?;
        anyhow::ensure!(
            batch.state == "done" && batch.imported == rows as i64,
            "the batch ended {} with {} of {rows} cases: {}",
            batch.state,
            batch.imported,
            batch.report.unwrap_or_default()
        );
        let started = Instant::now();
        store.undo_intake_batch(district.id, id, "bench", &audit).await?;
        timing.undo.push(started.elapsed());
        state.files.delete(&key).await.ok();
    }
    Ok(timing)
}

/// The ceiling of making every unit's daily sheet, for 500 units (issue W1-G).
pub const SHEETS_CEILING: Duration = Duration::from_secs(5);
/// The units that ceiling is stated for.
pub const SHEETS_UNITS: usize = 500;

/// The rounds of the sheets benchmark.
pub struct SheetsTiming {
    /// Units given a sheet each round.
    pub units: usize,
    /// Running cases those units hold (what the sheets read).
    pub running: usize,
    /// Making and delivering every unit's sheet.
    pub sheets: Vec<Duration>,
    /// Making the weekly report.
    pub weekly: Vec<Duration>,
}

/// Makes every unit's daily sheet for today and the weekly report, `rounds`
/// times (a sheet made again is changed in place, as the job does).
pub async fn sheets(state: &AppState, rounds: usize) -> anyhow::Result<SheetsTiming> {
    anyhow::ensure!(rounds > 0, "rounds must be at least 1");
    let store = &state.store;
    let district =
        store.districts().await?.into_iter().find(|d| d.is_demo).ok_or_else(|| anyhow::anyhow!("no demo district"))?;
    let now = chrono::Utc::now();
    let today = crate::domain::stats::beijing_day(now);
    let ctx = state.job_context();
    let mut running = 0;
    for unit in store.units_with_running_cases(district.id).await? {
        running += store.unit_running_counts(district.id, unit).await?.0 as usize;
    }
    let mut timing = SheetsTiming { units: 0, running, sheets: vec![], weekly: vec![] };
    for _ in 0..rounds {
        let started = Instant::now();
        timing.units = crate::jobs::reports::sheets_for(&ctx, district.id, today, now).await?;
        timing.sheets.push(started.elapsed());
        let started = Instant::now();
        crate::reports::build::weekly(store, district.id, today).await?;
        timing.weekly.push(started.elapsed());
    }
    anyhow::ensure!(timing.units > 0, "no unit has running cases: nothing to measure");
    Ok(timing)
}

/// The p99 ceiling of a report's answer at 64 clients (issue W1-G).
pub const REPORT_P99_CEILING: Duration = Duration::from_millis(50);

/// One run of the durable intake benchmark and its ceilings, measured on
/// the same database in the same run.
pub struct ReportsTiming {
    /// Concurrent clients.
    pub clients: usize,
    /// Reports filed over HTTP.
    pub reports: usize,
    /// The disk's flush rate: 4 KiB written and `fdatasync`ed, per second.
    pub fsync_per_s: f64,
    /// The same rows written straight into the store in batches of
    /// `batch` reports per transaction, without HTTP: reports per second.
    pub batched_per_s: f64,
    /// Reports per transaction of the batched ceiling.
    pub batch: usize,
    /// The same rows straight into the store again, in transactions of as
    /// many reports as a commit over HTTP held (`http_batch`): what the
    /// store does at that size without HTTP. It splits the ratio to the
    /// batched ceiling in two — what the smaller commits cost, and what
    /// HTTP and its clients on the same cores cost.
    pub batched_like_http_per_s: f64,
    /// Reports per transaction of `batched_like_http_per_s`: the reports
    /// over HTTP divided by their commits, rounded.
    pub http_batch: usize,
    /// One transaction per report straight into the store, from `clients`
    /// callers at once: reports per second.
    pub single_per_s: f64,
    /// Over HTTP, each answered only after its commit: reports per second.
    pub http_per_s: f64,
    /// Median answer time over HTTP.
    pub http_p50: Duration,
    /// 99th-percentile answer time over HTTP.
    pub http_p99: Duration,
    /// Commits the HTTP reports were filed in (reports sharing a commit
    /// share its time).
    pub http_commits: i64,
    /// Reports answered 201 and found in the database afterwards.
    pub http_found: i64,
}

/// The disk's flush rate in `dir`: 4 KiB written at a rotating offset and
/// flushed with `fdatasync`, as a database's log is, for `seconds`.
pub fn fsync_rate(dir: &std::path::Path, seconds: f64) -> anyhow::Result<f64> {
    use std::io::{Seek, SeekFrom, Write};
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("fsync-{}.bench", std::process::id()));
    let mut file = std::fs::OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
    let block = [7u8; 4096];
    let started = Instant::now();
    let mut flushes = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        file.seek(SeekFrom::Start((flushes % 256) * 4096))?;
        file.write_all(&block)?;
        file.sync_data()?;
        flushes += 1;
    }
    let rate = flushes as f64 / started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(rate)
}

/// Durable intake: `clients` reporters (the demo's supervisors, each with a
/// session) send `per_client` reports each over HTTP to the real server on
/// a loopback port, each waiting for its answer before the next, as a phone
/// does; beside it, on the same database, the disk's flush rate, the same
/// rows written straight into the store in batches of `clients`, and one
/// transaction per report; after it, the same rows in batches of the size
/// HTTP's commits had.
pub async fn reports(state: AppState, clients: usize, per_client: usize) -> anyhow::Result<ReportsTiming> {
    use crate::api::cases::{ReportBody, place_report};
    use crate::auth::audit::AuditAction;
    use crate::store::filing::Report;
    anyhow::ensure!(clients > 0 && per_client > 0, "clients and reports per client must be at least 1");
    let store = state.store.clone();
    let district =
        store.districts().await?.into_iter().find(|d| d.is_demo).ok_or_else(|| anyhow::anyhow!("no demo district"))?;
    let cells = crate::places::load_grid_index(&store, district.id).await?;
    let spots: Vec<(f64, f64)> = cells.cells().iter().map(|c| c.polygon.centroid()).collect();
    anyhow::ensure!(!spots.is_empty(), "the district has no grid cells");
    let categories = store.categories(district.id).await?;
    let body = |i: usize| {
        let (lon, lat) = spots[i % spots.len()];
        let category = &categories.categories[i % categories.categories.len()];
        ReportBody {
            category: category.code.clone(),
            condition: None,
            description: format!("早巡发现：{}（第 {i} 条）", category.name),
            lon: Some(lon),
            lat: Some(lat),
            crs: None,
            address: String::new(),
            point_id: None,
            source: None,
        }
    };

    // The reporters: the demo's supervisors, one session per client.
    let mut reporters = Vec::new();
    for n in 1.. {
        match store.user_by_username(&format!("supervisor{n:03}")).await? {
            Some(user) => reporters.push(user),
            None => break,
        }
    }
    anyhow::ensure!(!reporters.is_empty(), "the demo district has no supervisor");
    let mut sessions = Vec::with_capacity(clients);
    for c in 0..clients {
        let session = random_token();
        store.create_session(&token_hash(&session), reporters[c % reporters.len()].id).await?;
        sessions.push(session);
    }
    let session_user = store.session_user(&token_hash(&sessions[0])).await?.expect("a session just made");
    let caller = crate::auth::CurrentUser::of_session(session_user, None, "127.0.0.1".into());
    let total = clients * per_client;
    // One batch more than measured: it warms the database's pages first, so
    // the batched ceiling does not pay for a cold cache the HTTP run does not.
    let mut rows = Vec::with_capacity(total + clients);
    for i in 0..total + clients {
        let (new, _) = place_report(&state, &caller, &body(i), "supervisor".into()).await?;
        rows.push(new);
    }
    let report = |new: &crate::store::cases::NewCase| Report {
        district_id: district.id,
        case: new.clone(),
        audit: caller.audit(AuditAction::CaseReported, "", ""),
        photos: vec![],
        idempotency: None,
        respond: Box::new(|_| (201, String::new())),
    };

    // Ceiling: the disk's flush rate where the data lives.
    let dir = state.config.data_dir.join("bench");
    let fsync_per_s = tokio::task::spawn_blocking(move || fsync_rate(&dir, 2.0)).await??;

    // Ceiling: the same rows in batches, straight into the store.
    let batch = clients;
    let warm_up: Vec<Report> = rows.drain(total..).map(|new| report(&new)).collect();
    store.file_reports(warm_up).await?;
    let started = Instant::now();
    for chunk in rows.chunks(batch) {
        store.file_reports(chunk.iter().map(report).collect()).await?;
    }
    let batched_per_s = total as f64 / started.elapsed().as_secs_f64();

    // Beside it: one transaction per report, from every client at once.
    let started = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for c in 0..clients {
        let store = store.clone();
        let mine: Vec<Report> = rows.iter().skip(c).step_by(clients).map(report).collect();
        callers.spawn(async move {
            for one in mine {
                store.file_reports(vec![one]).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = callers.join_next().await {
        done??;
    }
    let single_per_s = total as f64 / started.elapsed().as_secs_f64();

    // Over HTTP: the real server on a loopback port, each report answered after its commit.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let app = crate::routes::router(state.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
    });
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    let url = format!("http://{address}/api/v1/cases");
    let first_id = store.next_case_id().await?;
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for (c, session) in sessions.iter().enumerate() {
        let (client, url) = (client.clone(), url.clone());
        let cookie = format!("cw_session={session}; cw_csrf={}", random_token());
        let bodies: Vec<String> = (0..per_client)
            .map(|k| serde_json::to_string(&body(c + k * clients)).expect("a report serialises"))
            .collect();
        senders.spawn(async move {
            let mut times = Vec::with_capacity(bodies.len());
            let mut ids = Vec::with_capacity(bodies.len());
            for body in bodies {
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header(header::COOKIE, &cookie)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await?;
                let status = response.status();
                let answer = response.bytes().await?;
                times.push(sent.elapsed());
                anyhow::ensure!(status == 201, "a report was answered {status}: {}", String::from_utf8_lossy(&answer));
                let case: serde_json::Value = serde_json::from_slice(&answer)?;
                ids.push(case["id"].as_i64().ok_or_else(|| anyhow::anyhow!("an answer without an id"))?);
            }
            anyhow::Ok((times, ids))
        });
    }
    let mut times = Vec::with_capacity(total);
    let mut ids = Vec::with_capacity(total);
    while let Some(done) = senders.join_next().await {
        let (t, i) = done??;
        times.extend(t);
        ids.extend(i);
    }
    let http_per_s = total as f64 / started.elapsed().as_secs_f64();
    server.abort();
    times.sort_unstable();
    let (http_found, http_commits) = store.reports_since(district.id, first_id).await?;
    let acknowledged: std::collections::HashSet<i64> = ids.iter().copied().collect();
    anyhow::ensure!(
        acknowledged.len() == total && http_found == total as i64,
        "{} reports acknowledged, {http_found} found in the database",
        acknowledged.len()
    );

    // Beside it: the same rows batched as HTTP's commits were.
    let http_batch = ((total as f64 / http_commits.max(1) as f64).round() as usize).max(1);
    let started = Instant::now();
    for chunk in rows.chunks(http_batch) {
        store.file_reports(chunk.iter().map(report).collect()).await?;
    }
    let batched_like_http_per_s = total as f64 / started.elapsed().as_secs_f64();
    Ok(ReportsTiming {
        clients,
        reports: total,
        fsync_per_s,
        batched_per_s,
        batch,
        batched_like_http_per_s,
        http_batch,
        single_per_s,
        http_per_s,
        http_p50: percentile(&times, 0.5),
        http_p99: percentile(&times, 0.99),
        http_commits,
        http_found,
    })
}

/// The process's peak resident memory (`VmHWM`), in bytes, where Linux tells it.
pub fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Starts the peak of [`peak_memory`] again from the memory resident now
/// (Linux's `clear_refs`, value 5), so that each benchmark of `bench all`
/// shows its own peak; false where it cannot be reset.
pub fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_far_down_is_page_101_or_the_last_page() {
        let page = PAGE as usize;
        let far = (FAR_PAGE * PAGE) as usize;
        // Everything on the first page: no page further down.
        assert_eq!(far_cursor(0), None);
        assert_eq!(far_cursor(1), None);
        assert_eq!(far_cursor(page), None);
        // A second page of one case: it comes after the first page's last.
        assert_eq!(far_cursor(page + 1), Some(page - 1));
        assert_eq!(far_cursor(2 * page), Some(page - 1));
        assert_eq!(far_cursor(2 * page + 1), Some(2 * page - 1));
        // A hundred pages or more: the page after the hundredth.
        assert_eq!(far_cursor(far - 1), Some(far - page - 1));
        assert_eq!(far_cursor(far), Some(far - 1));
    }
}
