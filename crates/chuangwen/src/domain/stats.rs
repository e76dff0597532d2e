//! Statistics of the loop (PRODUCT.md §4): what one case contributes to each
//! figure, the dimensions figures are broken down by, the time buckets they
//! are kept in, and the measures with their definitions. Pure: the store keeps
//! the sums current in the transaction that moves a case, and a recount from
//! the cases gives the same figures (the property test in tests/stats.rs).
//!
//! Every figure is about a *cohort*: the problems reported in the chosen
//! period (by Beijing day), counted as they stand now. "本月整改率" is the share
//! of this month's problems that are fixed — it rises as they are fixed, and
//! last month's figure stays comparable.

use std::ops::{AddAssign, Neg};

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::Serialize;

use super::calendar::beijing;
use super::cases::CaseState;

/// What one case contributes to the sums, or a sum of contributions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// 上报: every report.
    pub reported: i64,
    /// 立案 (有效上报): accepted by the office, whatever happened next.
    pub accepted: i64,
    /// 不予立案.
    pub rejected: i64,
    /// 合并 as a duplicate.
    pub merged: i64,
    /// 作废.
    pub voided: i64,
    /// 派遣次数: dispatches, a second after a return included.
    pub dispatched: i64,
    /// 回退次数: returns the office approved (a wrong dispatch).
    pub returned: i64,
    /// 处置次数: times a unit reported the problem handled.
    pub handled: i64,
    /// 返工次数: verifications failed.
    pub reworked: i64,
    /// 应整改: held by a responsible unit (dispatched, not returned, not voided).
    pub due: i64,
    /// 已整改: closed after a passed verification.
    pub closed: i64,
    /// 按期整改: closed, and handled by the deadline in force.
    pub closed_on_time: i64,
    /// 挂账: on the long-term ledger now.
    pub deferred: i64,
    /// 未结: the loop is not finished.
    pub open: i64,
    /// 超期: the unit's clock is running and the deadline has passed.
    pub overdue: i64,
    /// Working minutes from the last dispatch to the handling that passed, summed over closed cases.
    pub handling_minutes: i64,
}

/// The columns of a `Tally`, in storage order (names of `case_stats` columns).
pub const COLUMNS: [&str; 16] = [
    "reported",
    "accepted",
    "rejected",
    "merged",
    "voided",
    "dispatched",
    "returned",
    "handled",
    "reworked",
    "due",
    "closed",
    "closed_on_time",
    "deferred",
    "open",
    "overdue",
    "handling_minutes",
];

impl Tally {
    /// The values in `COLUMNS` order.
    pub fn values(&self) -> [i64; 16] {
        [
            self.reported,
            self.accepted,
            self.rejected,
            self.merged,
            self.voided,
            self.dispatched,
            self.returned,
            self.handled,
            self.reworked,
            self.due,
            self.closed,
            self.closed_on_time,
            self.deferred,
            self.open,
            self.overdue,
            self.handling_minutes,
        ]
    }

    /// From values in `COLUMNS` order.
    pub fn from_values(v: [i64; 16]) -> Tally {
        Tally {
            reported: v[0],
            accepted: v[1],
            rejected: v[2],
            merged: v[3],
            voided: v[4],
            dispatched: v[5],
            returned: v[6],
            handled: v[7],
            reworked: v[8],
            due: v[9],
            closed: v[10],
            closed_on_time: v[11],
            deferred: v[12],
            open: v[13],
            overdue: v[14],
            handling_minutes: v[15],
        }
    }

    /// All zero.
    pub fn is_zero(&self) -> bool {
        self.values().iter().all(|v| *v == 0)
    }

    /// What one case contributes, as it stands.
    pub fn of(case: &CaseFacts<'_>) -> Tally {
        let state = case.state;
        let one = |b: bool| b as i64;
        let closed = state == CaseState::Closed;
        let on_time = closed && matches!((case.handled_at, case.deadline), (Some(h), Some(d)) if h <= d);
        Tally {
            reported: 1,
            accepted: one(case.accepted),
            rejected: one(state == CaseState::Rejected),
            merged: one(state == CaseState::Merged),
            voided: one(state == CaseState::Voided),
            dispatched: case.dispatch_count,
            returned: case.return_count,
            handled: case.handle_count,
            reworked: case.rework_count,
            due: one(case.unit_id.is_some() && state != CaseState::Voided),
            closed: one(closed),
            closed_on_time: one(on_time),
            deferred: one(state == CaseState::Deferred),
            open: one(state.is_open()),
            overdue: one(state.unit_clock_runs() && case.overdue),
            handling_minutes: if closed { case.handling_minutes.unwrap_or(0) } else { 0 },
        }
    }
}

impl AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        let (a, b) = (self.values(), other.values());
        *self = Tally::from_values(std::array::from_fn(|i| a[i] + b[i]));
    }
}

impl Neg for Tally {
    type Output = Tally;
    fn neg(self) -> Tally {
        Tally::from_values(self.values().map(|v| -v))
    }
}

/// The facts of a case the statistics read (the store builds it from a row).
#[derive(Clone, Debug, PartialEq)]
pub struct CaseFacts<'a> {
    /// Current state.
    pub state: CaseState,
    /// Ever accepted (立案).
    pub accepted: bool,
    /// Dispatches so far.
    pub dispatch_count: i64,
    /// Approved returns so far.
    pub return_count: i64,
    /// Handlings so far.
    pub handle_count: i64,
    /// Failed verifications so far.
    pub rework_count: i64,
    /// The responsible unit now.
    pub unit_id: Option<i64>,
    /// The deadline in force.
    pub deadline: Option<DateTime<Utc>>,
    /// The last handling.
    pub handled_at: Option<DateTime<Utc>>,
    /// Marked overdue by the deadline watcher.
    pub overdue: bool,
    /// Working minutes of the handling that passed.
    pub handling_minutes: Option<i64>,
    /// When it was reported (its cohort day, in Beijing).
    pub reported_at: DateTime<Utc>,
    /// The values of its dimensions.
    pub street_id: Option<i64>,
    /// Grid cell.
    pub grid_id: Option<i64>,
    /// Evaluation point.
    pub point_id: Option<i64>,
    /// Category code.
    pub category_code: &'a str,
    /// Campaign code.
    pub campaign: &'a str,
    /// Source code.
    pub source: &'a str,
    /// The reporting person (a supervisor's 治理率).
    pub reporter_id: Option<i64>,
}

/// What figures are broken down by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    /// The whole district.
    All,
    /// Responsible unit.
    Unit,
    /// Street (属地).
    Street,
    /// Grid cell.
    Grid,
    /// Evaluation point.
    Point,
    /// Category.
    Category,
    /// Campaign (专项行动).
    Campaign,
    /// Source.
    Source,
    /// Reporting person.
    Reporter,
}

impl Dim {
    /// Every dimension.
    pub const ALL: [Dim; 9] = [
        Dim::All,
        Dim::Unit,
        Dim::Street,
        Dim::Grid,
        Dim::Point,
        Dim::Category,
        Dim::Campaign,
        Dim::Source,
        Dim::Reporter,
    ];

    /// Stored and URL code.
    pub fn code(self) -> &'static str {
        match self {
            Dim::All => "all",
            Dim::Unit => "unit",
            Dim::Street => "street",
            Dim::Grid => "grid",
            Dim::Point => "point",
            Dim::Category => "category",
            Dim::Campaign => "campaign",
            Dim::Source => "source",
            Dim::Reporter => "reporter",
        }
    }

    /// Chinese name.
    pub fn label(self) -> &'static str {
        match self {
            Dim::All => "全区",
            Dim::Unit => "责任单位",
            Dim::Street => "街道",
            Dim::Grid => "网格",
            Dim::Point => "点位",
            Dim::Category => "问题类别",
            Dim::Campaign => "专项行动",
            Dim::Source => "来源",
            Dim::Reporter => "上报人",
        }
    }

    /// Parses a code.
    pub fn from_code(code: &str) -> Option<Dim> {
        Dim::ALL.into_iter().find(|d| d.code() == code)
    }

    /// The value of a case in this dimension (`None`: it has none, e.g. no point).
    pub fn value_of(self, case: &CaseFacts<'_>) -> Option<String> {
        let id = |v: Option<i64>| v.map(|v| v.to_string());
        match self {
            Dim::All => Some(String::new()),
            Dim::Unit => id(case.unit_id),
            Dim::Street => id(case.street_id),
            Dim::Grid => id(case.grid_id),
            Dim::Point => id(case.point_id),
            Dim::Category => Some(case.category_code.to_string()),
            Dim::Campaign => Some(case.campaign.to_string()),
            Dim::Source => Some(case.source.to_string()),
            Dim::Reporter => id(case.reporter_id),
        }
    }
}

/// The size of a time bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Grain {
    /// One Beijing day: `2026-11-27`.
    Day,
    /// One month: `2026-11`.
    Month,
    /// One year: `2026`.
    Year,
}

impl Grain {
    /// Every grain.
    pub const ALL: [Grain; 3] = [Grain::Day, Grain::Month, Grain::Year];

    /// Stored code.
    pub fn code(self) -> &'static str {
        match self {
            Grain::Day => "d",
            Grain::Month => "m",
            Grain::Year => "y",
        }
    }

    /// The bucket a day falls in.
    pub fn bucket(self, day: NaiveDate) -> String {
        match self {
            Grain::Day => day.format("%Y-%m-%d").to_string(),
            Grain::Month => day.format("%Y-%m").to_string(),
            Grain::Year => day.format("%Y").to_string(),
        }
    }
}

/// Where a contribution is kept.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Dimension.
    pub dim: Dim,
    /// Grain.
    pub grain: Grain,
    /// Bucket.
    pub bucket: String,
    /// Value in the dimension.
    pub value: String,
}

/// The Beijing day a moment falls on.
pub fn beijing_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&beijing()).date_naive()
}

/// Every key a case contributes to, with its contribution.
pub fn contributions(case: &CaseFacts<'_>) -> Vec<(Key, Tally)> {
    let tally = Tally::of(case);
    let day = beijing_day(case.reported_at);
    let mut out = Vec::with_capacity(Dim::ALL.len() * Grain::ALL.len());
    for dim in Dim::ALL {
        let Some(value) = dim.value_of(case) else { continue };
        for grain in Grain::ALL {
            out.push((Key { dim, grain, bucket: grain.bucket(day), value: value.clone() }, tally));
        }
    }
    out
}

/// The changes a step makes to the sums: the case before (none for a new
/// report) taken out, the case after put in, merged by key, zeros dropped,
/// in key order (so concurrent writers lock rows in the same order).
pub fn delta(before: Option<&CaseFacts<'_>>, after: Option<&CaseFacts<'_>>) -> Vec<(Key, Tally)> {
    let mut sums: std::collections::BTreeMap<Key, Tally> = std::collections::BTreeMap::new();
    if let Some(before) = before {
        for (key, tally) in contributions(before) {
            *sums.entry(key).or_default() += -tally;
        }
    }
    if let Some(after) = after {
        for (key, tally) in contributions(after) {
            *sums.entry(key).or_default() += tally;
        }
    }
    sums.into_iter().filter(|(_, t)| !t.is_zero()).collect()
}

/// A period of Beijing days, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Period {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
}

/// A run of buckets of one grain, both ends included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketRange {
    /// Grain.
    pub grain: Grain,
    /// First bucket.
    pub first: String,
    /// Last bucket.
    pub last: String,
    /// Its sums are taken away, not added: the days of a month outside the
    /// period, when the whole month is read instead of its days inside.
    pub taken_away: bool,
}

impl Period {
    /// A period; `None` when it ends before it starts.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Option<Period> {
        (from <= to).then_some(Period { from, to })
    }

    /// Days in the period.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The month of `day`.
    pub fn month_of(day: NaiveDate) -> Period {
        let first = day.with_day(1).expect("day 1");
        let last = first + Months::new(1) - chrono::Duration::days(1);
        Period { from: first, to: last }
    }

    /// The period of the same length just before (环比).
    pub fn previous(&self) -> Period {
        // Whole months compare with the month(s) before, not with as many days.
        if self.is_whole_months() {
            let months = self.months_spanned();
            let from = self.from - Months::new(months);
            return Period { from, to: self.from - chrono::Duration::days(1) };
        }
        let len = chrono::Duration::days(self.days());
        Period { from: self.from - len, to: self.to - len }
    }

    /// The same days a year before (同比); whole months compare with the
    /// same whole months (February 2025 with all of February 2024).
    pub fn year_before(&self) -> Period {
        let back = |d: NaiveDate| d - Months::new(12);
        if self.is_whole_months() {
            return Period { from: back(self.from), to: Period::month_of(back(self.to)).to };
        }
        Period { from: back(self.from), to: back(self.to) }
    }

    fn is_whole_months(&self) -> bool {
        self.from.day() == 1 && (self.to + chrono::Duration::days(1)).day() == 1
    }

    fn months_spanned(&self) -> u32 {
        ((self.to.year() - self.from.year()) * 12 + self.to.month() as i32 - self.from.month() as i32 + 1) as u32
    }

    /// Few buckets that cover the period exactly: whole years as years,
    /// whole months as months, and a month the period covers in
    /// part as its days — or, when fewer days lie outside the period than
    /// inside, as the whole month with those outside days taken away (the
    /// sums are counts and totals, so they subtract). At most 32 day
    /// buckets, however long the period: two runs of at most 16, against
    /// 60 when every partial month was read as its days (a period of 2
    /// January to 21 November read 51 day buckets; PERFORMANCE.md).
    pub fn buckets(&self) -> Vec<BucketRange> {
        self.buckets_up_to(Grain::Year)
    }

    /// As `buckets`, with no bucket larger than `largest`: a monthly trend
    /// takes whole months as months (and a partial one as the month less
    /// its days outside, or as its days, which still add up to that
    /// month's point); a daily trend takes every day as a day.
    pub fn buckets_up_to(&self, largest: Grain) -> Vec<BucketRange> {
        let mut added: Vec<BucketRange> = Vec::new();
        let mut taken_away = Vec::new();
        let range = |grain: Grain, first: NaiveDate, last: NaiveDate, taken_away: bool| BucketRange {
            grain,
            first: grain.bucket(first),
            last: grain.bucket(last),
            taken_away,
        };
        // The ranges added run in time order without gaps, so a run of the
        // same grain as the one before extends it.
        let mut add = |grain: Grain, first: NaiveDate, last: NaiveDate| match added.last_mut() {
            Some(BucketRange { grain: g, last: l, .. }) if *g == grain => *l = grain.bucket(last),
            _ => added.push(range(grain, first, last, false)),
        };
        let next_day = |d: NaiveDate| d + chrono::Duration::days(1);
        let mut day = self.from;
        while day <= self.to {
            let year_end = NaiveDate::from_ymd_opt(day.year(), 12, 31).expect("31 December");
            let month = Period::month_of(day);
            if largest == Grain::Year && day.ordinal() == 1 && year_end <= self.to {
                add(Grain::Year, day, day);
                day = next_day(year_end);
            } else if largest >= Grain::Month && day == month.from && month.to <= self.to {
                add(Grain::Month, day, day);
                day = next_day(month.to);
            } else {
                let last = month.to.min(self.to);
                let inside = (last - day).num_days() + 1;
                let outside = month.days() - inside;
                // The month's own rows cost about a day's: worth it when
                // it saves more than one day.
                if largest >= Grain::Month && outside + 1 < inside {
                    add(Grain::Month, day, day);
                    if month.from < day {
                        taken_away.push(range(Grain::Day, month.from, day - chrono::Duration::days(1), true));
                    }
                    if last < month.to {
                        taken_away.push(range(Grain::Day, next_day(last), month.to, true));
                    }
                } else {
                    add(Grain::Day, day, last);
                }
                day = next_day(last);
            }
        }
        added.extend(taken_away);
        added
    }
}

/// A measure of PRODUCT.md §4, with its definition for the screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Measure {
    /// Code (URL anchor).
    pub code: &'static str,
    /// Chinese name.
    pub label: &'static str,
    /// How it is computed, in Chinese.
    pub formula: &'static str,
    /// What it counts, in Chinese.
    pub meaning: &'static str,
    /// Where the definition comes from.
    pub source: &'static str,
}

/// The measures, in the order dashboards show them.
pub const MEASURES: [Measure; 11] = [
    Measure {
        code: "reported",
        label: "上报问题",
        formula: "本期上报的问题数（含不予立案、合并、作废）",
        meaning: "期间按上报日期（北京时间）划分：本期发现的问题，无论现在处于什么状态。",
        source: "PRODUCT.md §4",
    },
    Measure {
        code: "valid_rate",
        label: "有效上报率",
        formula: "立案数 ÷ 上报数",
        meaning: "创文办受理立案的问题占上报问题的比例；不予立案、合并的重复问题不计为有效。",
        source: "PRODUCT.md §4；standards-zh.md §1.6 监督员有效上报率",
    },
    Measure {
        code: "rectification_rate",
        label: "整改率",
        formula: "已整改数 ÷ (应整改数 − 挂账数)",
        meaning: "应整改：已派遣到责任单位（未回退、未作废）的问题；已整改：核查通过结案销号的问题；挂账问题按计划整改，不计入分母。",
        source: "PRODUCT.md §4；standards-zh.md §1.6 结案率 = 结案数 ÷ (应结案数 − 缓办数)",
    },
    Measure {
        code: "on_time_rate",
        label: "按期整改率",
        formula: "按期整改数 ÷ (应整改数 − 挂账数)",
        meaning: "按期整改：已结案，且最后一次处置完毕的时间不晚于当时有效的期限（批准延期后按新期限）。",
        source: "PRODUCT.md §4；standards-zh.md §1.6 按期结案率",
    },
    Measure {
        code: "rework_rate",
        label: "返工率",
        formula: "返工次数 ÷ 处置次数",
        meaning: "核查不通过退回返工的次数，占单位报告处置完毕次数的比例。",
        source: "PRODUCT.md §4；standards-zh.md §1.6 返工率 = 返工数 ÷ 处置数",
    },
    Measure {
        code: "dispatch_accuracy",
        label: "准确派遣率",
        formula: "(派遣次数 − 回退次数) ÷ 派遣次数",
        meaning: "回退：单位申请回退且创文办同意，说明派错了单位。这是创文办派遣工作的指标；按单位分列时，派遣和回退记在案卷现在的责任单位名下。",
        source: "PRODUCT.md §4；standards-zh.md §1.6 准确派遣率",
    },
    Measure {
        code: "governance_rate",
        label: "治理率",
        formula: "已整改数 ÷ 立案数",
        meaning: "按来源或上报人统计：其发现并立案的问题中已整改销号的比例。",
        source: "PRODUCT.md §4",
    },
    Measure {
        code: "average_handling_hours",
        label: "平均处置时长",
        formula: "已整改问题的处置工作时之和 ÷ 已整改数",
        meaning: "从最后一次派遣到通过核查的那次处置完毕，按工作时（工作日 8:00–12:00、14:00–18:00，节假日除外）计算，单位：小时。",
        source: "PRODUCT.md §4；standards-zh.md §1.5 工作时",
    },
    Measure {
        code: "overdue",
        label: "超期未整改",
        formula: "处置时限已过、仍在单位手中未处置完毕的问题数",
        meaning: "现在的状态：单位签收前后、申请延期或挂账期间，时限已过即计入（超期监控每分钟检查）。",
        source: "PRODUCT.md §4；standards-zh.md §1.6 超期未处置数",
    },
    Measure {
        code: "deferred",
        label: "挂账",
        formula: "经批准挂账、按计划整改中的问题数",
        meaning: "长期问题经创文办同意列入挂账台账，有整改计划和计划完成日期。",
        source: "PRODUCT.md §4",
    },
    Measure {
        code: "open",
        label: "未结案",
        formula: "尚未结案、不予立案、合并或作废的问题数",
        meaning: "本期上报、流程尚未走完的问题。",
        source: "PRODUCT.md §4",
    },
];

/// The figures of a sum, as dashboards show them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    /// The sums.
    pub tally: Tally,
    /// 有效上报率.
    pub valid_rate: Option<f64>,
    /// 整改率.
    pub rectification_rate: Option<f64>,
    /// 按期整改率.
    pub on_time_rate: Option<f64>,
    /// 返工率.
    pub rework_rate: Option<f64>,
    /// 准确派遣率.
    pub dispatch_accuracy: Option<f64>,
    /// 治理率.
    pub governance_rate: Option<f64>,
    /// 平均处置时长 (working hours).
    pub average_handling_hours: Option<f64>,
}

/// `a ÷ b`, or none when nothing is to be divided by.
pub fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

impl Figures {
    /// The measures of a sum.
    pub fn of(t: Tally) -> Figures {
        let basis = t.due - t.deferred;
        Figures {
            tally: t,
            valid_rate: ratio(t.accepted, t.reported),
            rectification_rate: ratio(t.closed, basis),
            on_time_rate: ratio(t.closed_on_time, basis),
            rework_rate: ratio(t.reworked, t.handled),
            dispatch_accuracy: ratio(t.dispatched - t.returned, t.dispatched),
            governance_rate: ratio(t.closed, t.accepted),
            average_handling_hours: ratio(t.handling_minutes, t.closed).map(|m| m / 60.0),
        }
    }

    /// A measure's value by code.
    pub fn get(&self, code: &str) -> Option<f64> {
        match code {
            "reported" => Some(self.tally.reported as f64),
            "valid_rate" => self.valid_rate,
            "rectification_rate" => self.rectification_rate,
            "on_time_rate" => self.on_time_rate,
            "rework_rate" => self.rework_rate,
            "dispatch_accuracy" => self.dispatch_accuracy,
            "governance_rate" => self.governance_rate,
            "average_handling_hours" => self.average_handling_hours,
            "overdue" => Some(self.tally.overdue as f64),
            "deferred" => Some(self.tally.deferred as f64),
            "open" => Some(self.tally.open as f64),
            _ => None,
        }
    }
}

/// A percentage for the screen: `87.5%`, or `—` when undefined.
pub fn percent(rate: Option<f64>) -> String {
    match rate {
        Some(r) => format!("{:.1}%", r * 100.0),
        None => "—".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn facts(state: CaseState) -> CaseFacts<'static> {
        CaseFacts {
            state,
            accepted: true,
            dispatch_count: 1,
            return_count: 0,
            handle_count: 1,
            rework_count: 0,
            unit_id: Some(7),
            deadline: Some(Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap()),
            handled_at: Some(Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()),
            overdue: false,
            handling_minutes: Some(90),
            reported_at: Utc.with_ymd_and_hms(2026, 11, 26, 17, 0, 0).unwrap(),
            street_id: Some(3),
            grid_id: None,
            point_id: None,
            category_code: "0101",
            campaign: "environment",
            source: "supervisor",
            reporter_id: Some(11),
        }
    }

    #[test]
    fn a_closed_case_handled_in_time_counts_as_fixed_on_time_with_its_minutes() {
        let t = Tally::of(&facts(CaseState::Closed));
        assert_eq!((t.reported, t.accepted, t.due, t.closed, t.closed_on_time, t.open), (1, 1, 1, 1, 1, 0));
        assert_eq!(t.handling_minutes, 90);
        let late = CaseFacts {
            handled_at: Some(Utc.with_ymd_and_hms(2026, 11, 27, 11, 0, 0).unwrap()),
            ..facts(CaseState::Closed)
        };
        let t = Tally::of(&late);
        assert_eq!((t.closed, t.closed_on_time), (1, 0));
    }

    #[test]
    fn only_a_running_clock_counts_overdue_and_a_voided_case_is_not_due() {
        let running = CaseFacts { overdue: true, ..facts(CaseState::InProgress) };
        assert_eq!(Tally::of(&running).overdue, 1);
        assert_eq!(Tally::of(&CaseFacts { overdue: true, ..facts(CaseState::Handled) }).overdue, 0);
        let voided = Tally::of(&facts(CaseState::Voided));
        assert_eq!((voided.due, voided.voided, voided.open), (0, 1, 0));
        let open = Tally::of(&facts(CaseState::InProgress));
        assert_eq!((open.handling_minutes, open.closed), (0, 0), "minutes count only when closed");
    }

    #[test]
    fn the_reporting_day_is_the_beijing_day() {
        // 17:00 UTC on the 26th is 01:00 on the 27th in Beijing.
        let keys = contributions(&facts(CaseState::Reported));
        let day = keys.iter().find(|(k, _)| k.dim == Dim::All && k.grain == Grain::Day).unwrap();
        assert_eq!(day.0.bucket, "2026-11-27");
        assert!(keys.iter().all(|(k, _)| k.dim != Dim::Point), "no point, no point row");
        let unit = keys.iter().find(|(k, _)| k.dim == Dim::Unit).unwrap();
        assert_eq!(unit.0.value, "7");
    }

    #[test]
    fn a_step_moves_only_what_changed_and_a_redispatch_moves_the_unit() {
        let before = facts(CaseState::InProgress);
        let after = CaseFacts { state: CaseState::Handled, handle_count: 2, ..before.clone() };
        let moved = delta(Some(&before), Some(&after));
        assert_eq!(moved.len(), 3 * (Dim::ALL.len() - 2), "every row of the case, no point or grid");
        assert!(moved.iter().all(|(_, t)| *t == Tally { handled: 1, ..Tally::default() }));
        let other_unit = CaseFacts { unit_id: Some(8), ..before.clone() };
        let moved = delta(Some(&before), Some(&other_unit));
        assert_eq!(moved.len(), 6, "out of unit 7 and into unit 8, at three grains");
        assert!(delta(Some(&before), Some(&before)).is_empty());
    }

    fn show(ranges: &[BucketRange]) -> Vec<String> {
        ranges
            .iter()
            .map(|r| format!("{}{}:{}..{}", if r.taken_away { "-" } else { "" }, r.grain.code(), r.first, r.last))
            .collect()
    }

    #[test]
    fn a_period_is_covered_by_the_fewest_buckets() {
        let p = Period::new(d(2025, 11, 15), d(2027, 2, 3)).unwrap();
        // 15 November to 30 November: 16 days inside, 14 outside — the
        // month less its first 14 days. 1 to 3 February: the days.
        assert_eq!(
            show(&p.buckets()),
            [
                "m:2025-11..2025-12",
                "y:2026..2026",
                "m:2027-01..2027-01",
                "d:2027-02-01..2027-02-03",
                "-d:2025-11-01..2025-11-14"
            ]
        );
        assert_eq!(
            show(&p.buckets_up_to(Grain::Month)),
            ["m:2025-11..2027-01", "d:2027-02-01..2027-02-03", "-d:2025-11-01..2025-11-14"]
        );
        // The benchmark's odd period on 2026-12-07: 51 day buckets before, 10 now.
        let odd = Period::new(d(2026, 1, 2), d(2026, 11, 21)).unwrap();
        assert_eq!(
            show(&odd.buckets()),
            ["m:2026-01..2026-11", "-d:2026-01-01..2026-01-01", "-d:2026-11-22..2026-11-30"]
        );
        // A year, then a month less its last day; a year's months less 1 January.
        let after_year = Period::new(d(2025, 1, 1), d(2026, 1, 30)).unwrap();
        assert_eq!(show(&after_year.buckets()), ["y:2025..2025", "m:2026-01..2026-01", "-d:2026-01-31..2026-01-31"]);
        let nearly = Period::new(d(2025, 1, 2), d(2025, 12, 31)).unwrap();
        assert_eq!(show(&nearly.buckets()), ["m:2025-01..2025-12", "-d:2025-01-01..2025-01-01"]);
        // Inside one month, both ends taken away.
        let most = Period::new(d(2026, 3, 2), d(2026, 3, 30)).unwrap();
        assert_eq!(
            show(&most.buckets()),
            ["m:2026-03..2026-03", "-d:2026-03-01..2026-03-01", "-d:2026-03-31..2026-03-31"]
        );
        // Half a month or less is read as its days: 16 of 31 inside, 15 outside.
        let half = Period::new(d(2026, 3, 16), d(2026, 3, 31)).unwrap();
        assert_eq!(show(&half.buckets()), ["d:2026-03-16..2026-03-31"]);
        let month = Period::month_of(d(2026, 2, 10));
        assert_eq!((month.from, month.to), (d(2026, 2, 1), d(2026, 2, 28)));
        assert_eq!(month.buckets().len(), 1);
        let one = Period::new(d(2026, 11, 27), d(2026, 11, 27)).unwrap();
        assert_eq!(
            one.buckets(),
            [BucketRange {
                grain: Grain::Day,
                first: "2026-11-27".into(),
                last: "2026-11-27".into(),
                taken_away: false
            }]
        );
        assert!(Period::new(d(2026, 2, 2), d(2026, 2, 1)).is_none());
    }

    #[test]
    fn a_daily_trend_reads_every_day_as_a_day() {
        // A month's dashboard draws a point a day, not one for the month.
        let december = Period::month_of(d(2026, 12, 7));
        assert_eq!(show(&december.buckets_up_to(Grain::Day)), ["d:2026-12-01..2026-12-31"]);
        let quarter = Period::new(d(2026, 10, 1), d(2026, 12, 30)).unwrap();
        assert_eq!(show(&quarter.buckets_up_to(Grain::Day)), ["d:2026-10-01..2026-12-30"]);
    }

    #[test]
    fn every_day_of_a_period_counts_once_and_no_day_outside_counts() {
        let periods = [
            (d(2024, 2, 29), d(2026, 3, 1)),
            (d(2024, 1, 1), d(2024, 12, 31)),
            (d(2025, 3, 31), d(2025, 5, 1)),
            (d(2025, 3, 2), d(2025, 5, 29)),
            (d(2024, 2, 2), d(2024, 2, 28)),
            (d(2025, 12, 3), d(2026, 1, 29)),
            (d(2026, 1, 2), d(2026, 11, 21)),
            (d(2026, 7, 7), d(2026, 7, 9)),
            (d(2025, 1, 1), d(2026, 1, 30)),
            (d(2025, 1, 2), d(2026, 12, 30)),
        ];
        for (from, to) in periods {
            for largest in Grain::ALL {
                let ranges = Period::new(from, to).unwrap().buckets_up_to(largest);
                assert!(ranges.iter().all(|r| r.grain <= largest), "{from}..{to} by {largest:?}: {ranges:?}");
                let mut day = from - chrono::Duration::days(40);
                while day <= to + chrono::Duration::days(40) {
                    let counted: i32 = ranges
                        .iter()
                        .filter(|r| {
                            let b = r.grain.bucket(day);
                            b >= r.first && b <= r.last
                        })
                        .map(|r| if r.taken_away { -1 } else { 1 })
                        .sum();
                    assert_eq!(counted, i32::from(day >= from && day <= to), "{day} in {from}..{to} by {largest:?}");
                    day += chrono::Duration::days(1);
                }
                let days = ranges.iter().filter(|r| r.grain == Grain::Day).map(|r| {
                    let parse = |b: &str| NaiveDate::parse_from_str(b, "%Y-%m-%d").unwrap();
                    (parse(&r.last) - parse(&r.first)).num_days() + 1
                });
                if largest > Grain::Day {
                    assert!(days.sum::<i64>() <= 32, "{from}..{to} by {largest:?} reads at most 32 days");
                }
            }
        }
    }

    #[test]
    fn month_on_month_and_year_on_year_periods() {
        let nov = Period::month_of(d(2026, 11, 3));
        assert_eq!(nov.previous(), Period { from: d(2026, 10, 1), to: d(2026, 10, 31) });
        assert_eq!(nov.year_before(), Period { from: d(2025, 11, 1), to: d(2025, 11, 30) });
        let week = Period::new(d(2026, 11, 23), d(2026, 11, 29)).unwrap();
        assert_eq!(week.previous(), Period { from: d(2026, 11, 16), to: d(2026, 11, 22) });
        let leap = Period::new(d(2024, 2, 29), d(2024, 2, 29)).unwrap();
        assert_eq!(leap.year_before().from, d(2023, 2, 28));
        let february = Period::month_of(d(2025, 2, 10));
        assert_eq!(
            february.year_before(),
            Period { from: d(2024, 2, 1), to: d(2024, 2, 29) },
            "all of a leap February"
        );
    }

    #[test]
    fn rates_follow_the_definitions_and_are_undefined_without_a_basis() {
        let t = Tally {
            reported: 10,
            accepted: 8,
            due: 6,
            deferred: 1,
            closed: 4,
            closed_on_time: 3,
            handled: 5,
            reworked: 1,
            dispatched: 7,
            returned: 1,
            handling_minutes: 600,
            ..Tally::default()
        };
        let f = Figures::of(t);
        assert_eq!(f.valid_rate, Some(0.8));
        assert_eq!(f.rectification_rate, Some(0.8));
        assert_eq!(f.on_time_rate, Some(0.6));
        assert_eq!(f.rework_rate, Some(0.2));
        assert_eq!(f.dispatch_accuracy, Some(6.0 / 7.0));
        assert_eq!(f.governance_rate, Some(0.5));
        assert_eq!(f.average_handling_hours, Some(2.5));
        assert_eq!(Figures::of(Tally::default()).rectification_rate, None);
        assert_eq!(percent(None), "—");
        assert_eq!(percent(Some(0.875)), "87.5%");
        for m in MEASURES {
            assert!(f.get(m.code).is_some(), "{} has a value", m.code);
        }
    }
}
