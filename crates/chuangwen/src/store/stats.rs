//! The sums behind every dashboard (`case_stats`, see domain::stats): kept
//! current by `record_stats!` inside the transaction of each step, read by
//! period in a handful of bucket rows, and recounted directly from the cases
//! for checks and the benchmark.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::QueryBuilder;

use super::cases::Case;
use super::{Store, StoreResult};
use crate::domain::calendar::{Clock, beijing};
use crate::domain::cases::CaseState;
use crate::domain::stats::{self, CaseFacts, Dim, Grain, Key, Period, Tally};
use crate::{read, transaction};

/// The statistics facts of a stored case (`None` for an unknown state code).
pub fn facts_of(case: &Case) -> Option<CaseFacts<'_>> {
    Some(CaseFacts {
        state: CaseState::from_code(&case.state)?,
        accepted: case.accepted_at.is_some(),
        dispatch_count: case.dispatch_count,
        return_count: case.return_count,
        handle_count: case.handle_count,
        rework_count: case.rework_count,
        unit_id: case.unit_id,
        deadline: case.deadline,
        handled_at: case.handled_at,
        overdue: case.overdue_at.is_some(),
        handling_minutes: case.handling_minutes,
        reported_at: case.reported_at,
        street_id: case.street_id,
        grid_id: case.grid_id,
        point_id: case.point_id,
        category_code: &case.category_code,
        campaign: &case.campaign,
        source: &case.source,
        reporter_id: case.reporter_id,
    })
}

/// The change a step makes: `before` (none for a new case) out, `after` in.
pub fn step_delta(before: Option<&Case>, after: &Case) -> Vec<(Key, Tally)> {
    stats::delta(before.and_then(facts_of).as_ref(), facts_of(after).as_ref())
}

/// Changes to the sums gathered from many cases (a batch, a bulk load, a
/// rebuild), merged by key and written in key order.
#[derive(Debug, Default)]
pub struct Deltas(BTreeMap<Key, Tally>);

impl Deltas {
    /// Adds changes.
    pub fn add(&mut self, changes: impl IntoIterator<Item = (Key, Tally)>) {
        for (key, tally) in changes {
            *self.0.entry(key).or_default() += tally;
        }
    }

    /// The rows to write, zeros left out.
    pub fn into_rows(self) -> Vec<(Key, Tally)> {
        self.0.into_iter().filter(|(_, t)| !t.is_zero()).collect()
    }
}

/// Rows per multi-row upsert (21 parameters each, under SQLite's limit).
pub(crate) const STATS_ROWS: usize = 1000;

/// Adds `$deltas` (`&[(Key, Tally)]`) to the district's sums inside `$tx`.
#[macro_export]
#[doc(hidden)]
macro_rules! record_stats {
    ($tx:ident, $district:expr, $deltas:expr) => {
        for chunk in $deltas.chunks($crate::store::stats::STATS_ROWS) {
            let mut q = sqlx::QueryBuilder::new($crate::store::stats::UPSERT_HEAD.as_str());
            q.push_values(chunk, |mut row, (key, tally)| {
                row.push_bind($district)
                    .push_bind(key.dim.code())
                    .push_bind(key.grain.code())
                    .push_bind(key.bucket.clone())
                    .push_bind(key.value.clone());
                for v in tally.values() {
                    row.push_bind(v);
                }
            });
            q.push($crate::store::stats::UPSERT_TAIL.as_str());
            q.build().execute(&mut *$tx).await?;
        }
    };
}

/// `INSERT INTO case_stats (…) ` for `record_stats!`.
pub static UPSERT_HEAD: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("INSERT INTO case_stats (district_id, dim, grain, bucket, value, {}) ", stats::COLUMNS.join(", "))
});

/// ` ON CONFLICT … DO UPDATE` adding to the sums, for `record_stats!`.
pub static UPSERT_TAIL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let sets: Vec<String> = stats::COLUMNS.iter().map(|c| format!("{c} = case_stats.{c} + excluded.{c}")).collect();
    format!(" ON CONFLICT (district_id, dim, grain, bucket, value) DO UPDATE SET {}", sets.join(", "))
});

/// `CAST(SUM(reported) AS BIGINT) AS reported, …` (PostgreSQL sums bigints as numeric).
fn sums() -> String {
    stats::COLUMNS.iter().map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}")).collect::<Vec<_>>().join(", ")
}

/// The columns of a range added, `reported, accepted, …`, and of one taken
/// away, `-reported AS reported, …`.
static ADDED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| stats::COLUMNS.join(", "));
static TAKEN_AWAY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| stats::COLUMNS.iter().map(|c| format!("-{c} AS {c}")).collect::<Vec<_>>().join(", "));

/// A row of sums: the group's value (`v`), then one column per `stats::COLUMNS`.
struct SumRow(String, Tally);

impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for SumRow
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<SumRow, sqlx::Error> {
        let mut values = [0; stats::COLUMNS.len()];
        for (value, column) in values.iter_mut().zip(stats::COLUMNS) {
            *value = row.try_get(column)?;
        }
        Ok(SumRow(row.try_get("v")?, Tally::from_values(values)))
    }
}

/// `SELECT v, CAST(SUM(…)) … FROM (one range scan per bucket range UNION
/// ALL) GROUP BY v`: each range is its own index range scan (an `OR` of
/// ranges makes SQLite read every row of the dimension), `label` the
/// grouping (`value`, `bucket`, or a bucket's month).
fn sums_over<DB: sqlx::Database>(
    district_id: i64,
    dim: Dim,
    value: Option<&str>,
    ranges: &[stats::BucketRange],
    label: &str,
) -> QueryBuilder<DB>
where
    for<'x> i64: sqlx::Encode<'x, DB> + sqlx::Type<DB>,
    for<'x> String: sqlx::Encode<'x, DB> + sqlx::Type<DB>,
    for<'x> &'x str: sqlx::Encode<'x, DB> + sqlx::Type<DB>,
{
    let mut q = QueryBuilder::new(format!("SELECT v, {} FROM (", sums()));
    for (i, range) in ranges.iter().enumerate() {
        if i > 0 {
            q.push(" UNION ALL ");
        }
        // Days taken away from a whole month count negative (`Period::buckets`).
        let columns = if range.taken_away { &*TAKEN_AWAY } else { &*ADDED };
        q.push(format!("SELECT {label} AS v, {columns} FROM case_stats WHERE district_id = "));
        q.push_bind(district_id).push(" AND dim = ").push_bind(dim.code());
        q.push(" AND grain = ").push_bind(range.grain.code());
        q.push(" AND bucket BETWEEN ").push_bind(range.first.clone()).push(" AND ").push_bind(range.last.clone());
        if let Some(value) = value {
            q.push(" AND value = ").push_bind(value.to_string());
        }
    }
    q.push(") AS ranges GROUP BY v ORDER BY v");
    q
}

/// The rows as `(value, sums)`, those whose sums are all zero left out: a
/// value reported only on days taken away from a month, or a bucket whose
/// cases were all taken out again (an import undone).
fn nonzero(rows: Vec<SumRow>) -> Vec<(String, Tally)> {
    rows.into_iter().filter(|SumRow(_, t)| !t.is_zero()).map(|SumRow(v, t)| (v, t)).collect()
}

/// The first instant of a Beijing day, in UTC.
pub fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_local_timezone(beijing())
        .single()
        .expect("Beijing has no DST")
        .with_timezone(&Utc)
}

impl Store {
    /// The sums of the cases reported in `period`, by value of `dim`
    /// (`only`: one value), read from the kept sums; values whose sums are
    /// all zero left out.
    pub async fn stats_by(
        &self,
        district_id: i64,
        dim: Dim,
        period: &Period,
        only: Option<&str>,
    ) -> StoreResult<Vec<(String, Tally)>> {
        let ranges = period.buckets();
        let rows: Vec<SumRow> = read!(&self.db, |pool| sums_over(district_id, dim, only, &ranges, "value")
            .build_query_as::<SumRow>()
            .fetch_all(pool)
            .await)?;
        Ok(nonzero(rows))
    }

    /// The sums of one value (the whole district: `Dim::All`, `""`).
    pub async fn stats_total(&self, district_id: i64, dim: Dim, value: &str, period: &Period) -> StoreResult<Tally> {
        Ok(self
            .stats_by(district_id, dim, period, Some(value))
            .await?
            .into_iter()
            .map(|(_, t)| t)
            .next()
            .unwrap_or_default())
    }

    /// The sums of one value bucket by bucket: days for a period of up to
    /// 92 days, months beyond (a partial first or last month as the month
    /// less its days outside, or as its days, so the trend adds up to the
    /// period's figures); `(bucket, sums)` in time order, empty buckets left out.
    pub async fn stats_series(
        &self,
        district_id: i64,
        dim: Dim,
        value: &str,
        period: &Period,
    ) -> StoreResult<(Grain, Vec<(String, Tally)>)> {
        let grain = if period.days() <= 92 { Grain::Day } else { Grain::Month };
        // A day bucket `2026-11-27` belongs to month `2026-11`: its first seven characters.
        let label = if grain == Grain::Day { "bucket" } else { "SUBSTR(bucket, 1, 7)" };
        let ranges = period.buckets_up_to(grain);
        let rows: Vec<SumRow> = read!(&self.db, |pool| sums_over(district_id, dim, Some(value), &ranges, label)
            .build_query_as::<SumRow>()
            .fetch_all(pool)
            .await)?;
        Ok((grain, nonzero(rows)))
    }

    /// The same sums as `stats_by`, recounted straight from the cases — for
    /// checks, tests and the benchmark, never for pages.
    pub async fn recount_by(&self, district_id: i64, dim: Dim, period: &Period) -> StoreResult<Vec<(String, Tally)>> {
        let value = match dim {
            Dim::All => "''",
            Dim::Unit => "CAST(unit_id AS TEXT)",
            Dim::Street => "CAST(street_id AS TEXT)",
            Dim::Grid => "CAST(grid_id AS TEXT)",
            Dim::Point => "CAST(point_id AS TEXT)",
            Dim::Category => "category_code",
            Dim::Campaign => "campaign",
            Dim::Source => "source",
            Dim::Reporter => "CAST(reporter_id AS TEXT)",
        };
        let (running, open) = (super::cases::RUNNING_STATES.as_str(), super::cases::OPEN_STATES.as_str());
        let counted = [
            ("accepted", "CASE WHEN accepted_at IS NOT NULL THEN 1 ELSE 0 END"),
            ("rejected", "CASE WHEN state = 'rejected' THEN 1 ELSE 0 END"),
            ("merged", "CASE WHEN state = 'merged' THEN 1 ELSE 0 END"),
            ("voided", "CASE WHEN state = 'voided' THEN 1 ELSE 0 END"),
            ("dispatched", "dispatch_count"),
            ("returned", "return_count"),
            ("handled", "handle_count"),
            ("reworked", "rework_count"),
            ("due", "CASE WHEN unit_id IS NOT NULL AND state <> 'voided' THEN 1 ELSE 0 END"),
            ("closed", "CASE WHEN state = 'closed' THEN 1 ELSE 0 END"),
            ("closed_on_time", "CASE WHEN state = 'closed' AND handled_at <= deadline THEN 1 ELSE 0 END"),
            ("deferred", "CASE WHEN state = 'deferred' THEN 1 ELSE 0 END"),
            ("open", "CASE WHEN state IN {open} THEN 1 ELSE 0 END"),
            ("overdue", "CASE WHEN state IN {running} AND overdue_at IS NOT NULL THEN 1 ELSE 0 END"),
            ("handling_minutes", "CASE WHEN state = 'closed' THEN COALESCE(handling_minutes, 0) ELSE 0 END"),
        ];
        let counted: Vec<String> = counted
            .iter()
            .map(|(name, expr)| {
                let expr = expr.replace("{open}", open).replace("{running}", running);
                format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT) AS {name}")
            })
            .collect();
        let counted = counted.join(", ");
        let sql = format!(
            "SELECT {value} AS v, COUNT(*) AS reported, {counted}
             FROM cases WHERE district_id = $1 AND reported_at >= $2 AND reported_at < $3
               AND {value} IS NOT NULL {group}",
            // The whole district is one group (PostgreSQL refuses a constant in GROUP BY).
            group = if dim == Dim::All { String::new() } else { format!("GROUP BY {value}") },
        );
        let (from, to) = (day_start(period.from), day_start(period.to + chrono::Duration::days(1)));
        let rows: Vec<SumRow> = read!(&self.db, |pool| sqlx::query_as::<_, SumRow>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(district_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(|SumRow(v, t)| (v, t)).collect())
    }

    /// Rebuilds a district's sums from its cases (a database whose cases
    /// predate the sums, or a repair): fills in the handling time of closed
    /// cases that lack it, then replaces every row — all in one transaction,
    /// so no step is lost or counted twice. With `only_if_missing`, a district
    /// that has sums by then (another node got there first) is left alone.
    /// Returns the rows written, if it rebuilt.
    pub async fn rebuild_stats(&self, district_id: i64, only_if_missing: bool) -> StoreResult<Option<usize>> {
        let calendar = self.calendar(district_id).await?;
        let written = transaction!(&self.db, |tx| {
            let has: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM case_stats WHERE district_id = $1)")
                .bind(district_id)
                .fetch_one(&mut *tx)
                .await?;
            if only_if_missing && has {
                None
            } else {
                let missing: Vec<(i64, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
                    "SELECT id, dispatched_at, handled_at FROM cases WHERE district_id = $1 AND state = 'closed'
                       AND handling_minutes IS NULL AND dispatched_at IS NOT NULL AND handled_at IS NOT NULL",
                )
                .bind(district_id)
                .fetch_all(&mut *tx)
                .await?;
                for (id, dispatched, handled) in missing {
                    sqlx::query("UPDATE cases SET handling_minutes = $1 WHERE id = $2")
                        .bind(calendar.elapsed_minutes(dispatched, handled, Clock::WorkingHours))
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                let mut sums = Deltas::default();
                let mut after = 0;
                loop {
                    let page: Vec<Case> = sqlx::query_as(concat!(
                        "SELECT ",
                        crate::store::cases::case_fields!(),
                        " FROM cases WHERE district_id = $1 AND id > $2 ORDER BY id LIMIT 5000"
                    ))
                    .bind(district_id)
                    .bind(after)
                    .fetch_all(&mut *tx)
                    .await?;
                    let Some(last) = page.last() else { break };
                    after = last.id;
                    sums.add(page.iter().filter_map(facts_of).flat_map(|f| stats::contributions(&f)));
                }
                let rows = sums.into_rows();
                sqlx::query("DELETE FROM case_stats WHERE district_id = $1")
                    .bind(district_id)
                    .execute(&mut *tx)
                    .await?;
                crate::record_stats!(tx, district_id, rows);
                Some(rows.len())
            }
        });
        Ok(written)
    }

    /// Districts that have cases but no sums yet (a database opened for the
    /// first time since the sums were introduced).
    pub async fn districts_without_stats(&self) -> StoreResult<Vec<i64>> {
        Ok(read!(&self.db, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT d.id FROM districts d WHERE EXISTS (SELECT 1 FROM cases c WHERE c.district_id = d.id)
               AND NOT EXISTS (SELECT 1 FROM case_stats s WHERE s.district_id = d.id)"
        )
        .fetch_all(pool)
        .await)?)
    }
}
