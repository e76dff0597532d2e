//! The working-time calendar and time-limit arithmetic (PRODUCT.md M3).
//!
//! Time limits are counted on one of four clocks (shared/reference/
//! standards-zh.md §1.5): 紧急 (continuous hours), 工作时 (working hours),
//! 工作日 (working days) and 自然日 (calendar days). The working clock runs in
//! the configured periods (08:00–12:00 and 14:00–18:00 by default) on working
//! days: Monday to Friday, less public holidays, plus the weekend make-up
//! working days (调休) of the State Council's notices. One working day is the
//! length of a working day's periods (8 working hours by default), the
//! convention of digital urban-management systems.
//!
//! Times are Beijing time (Asia/Shanghai, UTC+8; China has kept no daylight
//! saving since 1991), so a fixed offset is exact.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// Beijing time.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// How a time limit is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    /// 紧急: continuous hours, nights and holidays included.
    Urgent,
    /// 工作时: hours of the working periods of working days.
    WorkingHours,
    /// 工作日: working days, each as long as a working day's periods.
    WorkingDays,
    /// 自然日: calendar days of 24 hours.
    CalendarDays,
}

impl Clock {
    /// The Chinese name.
    pub fn label(self) -> &'static str {
        match self {
            Clock::Urgent => "紧急（连续计时）",
            Clock::WorkingHours => "工作时",
            Clock::WorkingDays => "工作日",
            Clock::CalendarDays => "自然日",
        }
    }
    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            Clock::Urgent => "urgent",
            Clock::WorkingHours => "working_hours",
            Clock::WorkingDays => "working_days",
            Clock::CalendarDays => "calendar_days",
        }
    }

    /// Parses a stored code; an unknown one counts as working days, the
    /// most common clock, rather than failing a page over one bad row.
    pub fn from_code(code: &str) -> Clock {
        [Clock::Urgent, Clock::WorkingHours, Clock::WorkingDays, Clock::CalendarDays]
            .into_iter()
            .find(|c| c.code() == code)
            .unwrap_or(Clock::WorkingDays)
    }

    /// The unit shown after a number: 小时 / 工作时 / 工作日 / 天.
    pub fn unit(self) -> &'static str {
        match self {
            Clock::Urgent => "小时",
            Clock::WorkingHours => "工作时",
            Clock::WorkingDays => "工作日",
            Clock::CalendarDays => "天",
        }
    }
}

/// A time limit: an amount on a clock (e.g. 4 working hours).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeLimit {
    /// How many units.
    pub amount: u32,
    /// Which clock.
    pub clock: Clock,
}

impl TimeLimit {
    /// A limit of `amount` on `clock`.
    pub fn new(amount: u32, clock: Clock) -> TimeLimit {
        TimeLimit { amount, clock }
    }
}

impl std::fmt::Display for TimeLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.amount, self.clock.unit())
    }
}

/// The calendar file shipped in `data/holidays.toml`, and the format a
/// district edits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayFile {
    /// Working periods, e.g. `["08:00-12:00", "14:00-18:00"]`; the default when empty.
    #[serde(default)]
    pub periods: Vec<String>,
    /// Ranges of days off.
    #[serde(default)]
    pub holiday: Vec<HolidayRange>,
    /// Weekend days that are working days.
    #[serde(default)]
    pub working_day: Vec<MakeUpDay>,
}

/// Days off from `from` to `to`, inclusive.
#[derive(Clone, Debug, Deserialize)]
pub struct HolidayRange {
    /// The holiday's name.
    pub name: String,
    /// First day off.
    pub from: NaiveDate,
    /// Last day off.
    pub to: NaiveDate,
}

/// A weekend day worked in exchange for a holiday (调休上班).
#[derive(Clone, Debug, Deserialize)]
pub struct MakeUpDay {
    /// Why.
    pub name: String,
    /// The day.
    pub date: NaiveDate,
}

/// Working days and hours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkCalendar {
    /// Working periods of a working day, minutes after midnight, sorted.
    periods: Vec<(u32, u32)>,
    /// Weekdays that are days off.
    holidays: BTreeSet<NaiveDate>,
    /// Weekend days that are working days.
    working_weekends: BTreeSet<NaiveDate>,
}

/// Longest stretch the arithmetic walks (a limit never spans ten years).
const MAX_DAYS: i64 = 3660;

impl WorkCalendar {
    /// A calendar from periods (`(start, end)` in minutes after midnight) and
    /// the holiday file.
    pub fn new(periods: Vec<(u32, u32)>, file: &HolidayFile) -> Result<WorkCalendar, String> {
        let mut periods = periods;
        periods.sort();
        if periods.is_empty() {
            return Err("至少需要一个工作时段".into());
        }
        for (i, &(a, b)) in periods.iter().enumerate() {
            if a >= b || b > 24 * 60 {
                return Err(format!("工作时段 {} 无效", format_minutes(a, b)));
            }
            if i > 0 && periods[i - 1].1 > a {
                return Err("工作时段不能重叠".into());
            }
        }
        let mut holidays = BTreeSet::new();
        for range in &file.holiday {
            if range.to < range.from {
                return Err(format!("假期“{}”的结束日早于开始日", range.name));
            }
            let mut day = range.from;
            while day <= range.to {
                holidays.insert(day);
                day = day.succ_opt().expect("dates far from the end of time");
            }
        }
        let working_weekends = file.working_day.iter().map(|d| d.date).collect();
        Ok(WorkCalendar { periods, holidays, working_weekends })
    }

    /// The default calendar: 08:00–12:00 and 14:00–18:00, with the shipped holidays.
    pub fn standard() -> WorkCalendar {
        static STANDARD: std::sync::OnceLock<WorkCalendar> = std::sync::OnceLock::new();
        STANDARD.get_or_init(|| WorkCalendar::parse(SHIPPED).expect("data/holidays.toml is checked by a test")).clone()
    }

    /// Parses a calendar file (periods and holidays); every problem is named.
    pub fn parse(text: &str) -> Result<WorkCalendar, String> {
        let file: HolidayFile = toml::from_str(text).map_err(|e| format!("日历格式有误：{}", e.message()))?;
        let periods = if file.periods.is_empty() {
            vec![(8 * 60, 12 * 60), (14 * 60, 18 * 60)]
        } else {
            file.periods.iter().map(|p| parse_period(p)).collect::<Result<Vec<_>, _>>()?
        };
        WorkCalendar::new(periods, &file)
    }

    /// True on a working day.
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if self.working_weekends.contains(&day) {
            return true;
        }
        if self.holidays.contains(&day) {
            return false;
        }
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// Working minutes in one working day (480 by default).
    pub fn minutes_per_day(&self) -> i64 {
        self.periods.iter().map(|(a, b)| (b - a) as i64).sum()
    }

    /// A limit in minutes of its own clock.
    pub fn limit_minutes(&self, limit: TimeLimit) -> i64 {
        let n = limit.amount as i64;
        match limit.clock {
            Clock::Urgent | Clock::WorkingHours => n * 60,
            Clock::WorkingDays => n * self.minutes_per_day(),
            Clock::CalendarDays => n * 24 * 60,
        }
    }

    /// The working periods of a day as instants (empty on a day off).
    fn periods_of(&self, day: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let working = self.is_working_day(day);
        self.periods.iter().filter(move |_| working).map(move |&(a, b)| (at_minute(day, a), at_minute(day, b)))
    }

    /// Deadline = start + limit, on the limit's clock. On a working clock a
    /// start outside the working periods counts from the next period.
    pub fn deadline(&self, start: DateTime<Utc>, limit: TimeLimit) -> DateTime<Utc> {
        match limit.clock {
            Clock::Urgent | Clock::CalendarDays => start + Duration::minutes(self.limit_minutes(limit)),
            Clock::WorkingHours | Clock::WorkingDays => {
                let mut left = self.limit_minutes(limit);
                let mut day = start.with_timezone(&beijing()).date_naive();
                for _ in 0..MAX_DAYS {
                    for (a, b) in self.periods_of(day) {
                        let from = a.max(start);
                        if from >= b {
                            continue;
                        }
                        let available = (b - from).num_minutes();
                        if left <= available {
                            return from + Duration::minutes(left);
                        }
                        left -= available;
                    }
                    day = day.succ_opt().expect("dates far from the end of time");
                }
                start + Duration::days(MAX_DAYS)
            }
        }
    }

    /// Time elapsed between two instants on a clock, in minutes of that
    /// clock (working minutes on the working clocks); zero if `end <= start`.
    pub fn elapsed_minutes(&self, start: DateTime<Utc>, end: DateTime<Utc>, clock: Clock) -> i64 {
        if end <= start {
            return 0;
        }
        match clock {
            Clock::Urgent | Clock::CalendarDays => (end - start).num_minutes(),
            Clock::WorkingHours | Clock::WorkingDays => {
                let mut total = 0;
                let mut day = start.with_timezone(&beijing()).date_naive();
                let last = end.with_timezone(&beijing()).date_naive();
                let mut walked = 0;
                while day <= last && walked < MAX_DAYS {
                    for (a, b) in self.periods_of(day) {
                        let (from, to) = (a.max(start), b.min(end));
                        if to > from {
                            total += (to - from).num_minutes();
                        }
                    }
                    day = day.succ_opt().expect("dates far from the end of time");
                    walked += 1;
                }
                total
            }
        }
    }

    /// A clock started at `start` and due at `deadline` is amber (即将超期)
    /// once 80% of its time is used at `now`, counted on `clock`; the time
    /// is start to deadline, so a granted extension counts.
    pub fn past_amber(&self, start: DateTime<Utc>, deadline: DateTime<Utc>, now: DateTime<Utc>, clock: Clock) -> bool {
        let total = self.elapsed_minutes(start, deadline, clock).max(1);
        self.elapsed_minutes(start, now, clock) * 10 >= total * 8
    }
}

/// The calendar shipped with the binary, as text (a district's starting point).
pub const SHIPPED: &str = include_str!("../../data/holidays.toml");

fn parse_period(text: &str) -> Result<(u32, u32), String> {
    let minute = |hm: &str| -> Option<u32> {
        let (h, m) = hm.trim().split_once(':')?;
        let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
        (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
    };
    let (a, b) = text.split_once('-').ok_or_else(|| format!("工作时段“{text}”应写成 08:00-12:00"))?;
    match (minute(a), minute(b)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(format!("工作时段“{text}”应写成 08:00-12:00")),
    }
}

fn at_minute(day: NaiveDate, minute: u32) -> DateTime<Utc> {
    let naive = if minute >= 24 * 60 {
        day.succ_opt().expect("dates far from the end of time").and_time(NaiveTime::MIN)
    } else {
        day.and_hms_opt(minute / 60, minute % 60, 0).expect("a minute of the day")
    };
    beijing().from_local_datetime(&naive).single().expect("a fixed offset is never ambiguous").with_timezone(&Utc)
}

fn format_minutes(a: u32, b: u32) -> String {
    format!("{:02}:{:02}–{:02}:{:02}", a / 60, a % 60, b / 60, b % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A Beijing wall-clock time.
    fn bj(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        beijing().with_ymd_and_hms(y, m, d, h, min, 0).unwrap().with_timezone(&Utc)
    }

    fn cal() -> WorkCalendar {
        WorkCalendar::standard()
    }

    #[test]
    fn the_2026_notice_is_in_the_calendar() {
        let c = cal();
        // 春节: Feb 15–23 off; Feb 14 (Sat) and Feb 28 (Sat) worked.
        assert!(!c.is_working_day(NaiveDate::from_ymd_opt(2026, 2, 16).unwrap()), "Monday in Spring Festival");
        assert!(c.is_working_day(NaiveDate::from_ymd_opt(2026, 2, 14).unwrap()), "make-up Saturday");
        assert!(c.is_working_day(NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()), "make-up Saturday");
        assert!(!c.is_working_day(NaiveDate::from_ymd_opt(2026, 2, 21).unwrap()), "ordinary Saturday in the holiday");
        // 国庆: Oct 1–7 off, Sep 20 (Sun) and Oct 10 (Sat) worked.
        assert!(c.is_working_day(NaiveDate::from_ymd_opt(2026, 9, 20).unwrap()));
        assert!(c.is_working_day(NaiveDate::from_ymd_opt(2026, 10, 10).unwrap()));
        assert!(!c.is_working_day(NaiveDate::from_ymd_opt(2026, 10, 5).unwrap()));
        // 元旦 2026: Jan 1–3 off (Thu–Sat), Jan 4 (Sun) worked.
        assert!(!c.is_working_day(NaiveDate::from_ymd_opt(2026, 1, 2).unwrap()));
        assert!(c.is_working_day(NaiveDate::from_ymd_opt(2026, 1, 4).unwrap()));
        // An ordinary week.
        assert!(c.is_working_day(NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()), "a Friday");
        assert!(!c.is_working_day(NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()), "a Saturday");
    }

    // Examples of a published time-limit table (济源市, standards-zh.md §1.5):
    // 暴露垃圾 1 working day, 道路不洁 2 working hours (another city's value),
    // 违法搭建 15 working days.

    #[test]
    fn exposed_rubbish_reported_on_the_eve_of_national_day_is_due_after_the_holiday() {
        // Wednesday 30 Sep 2026, 16:00; Oct 1–7 off; Thursday 8 Oct is a working day.
        let due = cal().deadline(bj(2026, 9, 30, 16, 0), TimeLimit::new(1, Clock::WorkingDays));
        // 2 h left on Sep 30, then 6 h of Oct 8: 08:00–12:00 and 14:00–16:00.
        assert_eq!(due, bj(2026, 10, 8, 16, 0));
    }

    #[test]
    fn dirty_road_reported_before_lunch_on_a_make_up_saturday_is_due_that_afternoon() {
        // Saturday 10 Oct 2026 is a make-up working day. 11:00 + 2 working hours:
        // 1 h to 12:00, lunch, 1 h from 14:00.
        let due = cal().deadline(bj(2026, 10, 10, 11, 0), TimeLimit::new(2, Clock::WorkingHours));
        assert_eq!(due, bj(2026, 10, 10, 15, 0));
    }

    #[test]
    fn illegal_building_over_spring_festival_takes_fifteen_working_days() {
        // Monday 9 Feb 2026, 09:00. Working days: Feb 9–13, Saturday Feb 14
        // (调休), the holiday Feb 15–23, Feb 24–27, Saturday Feb 28 (调休),
        // Mar 2–5: fifteen days of 480 minutes counted from 09:00 end at
        // 09:00 on Friday 6 March.
        let due = cal().deadline(bj(2026, 2, 9, 9, 0), TimeLimit::new(15, Clock::WorkingDays));
        assert_eq!(due, bj(2026, 3, 6, 9, 0));
        let worked = cal().elapsed_minutes(bj(2026, 2, 9, 9, 0), due, Clock::WorkingDays);
        assert_eq!(worked, 15 * 480);
    }

    #[test]
    fn a_report_at_night_starts_its_clock_at_eight_the_next_working_morning() {
        // Friday 27 Nov 2026, 22:00 + 4 working hours → Monday 30 Nov, 12:00.
        assert_eq!(
            cal().deadline(bj(2026, 11, 27, 22, 0), TimeLimit::new(4, Clock::WorkingHours)),
            bj(2026, 11, 30, 12, 0)
        );
    }

    #[test]
    fn urgent_and_calendar_clocks_ignore_nights_and_holidays() {
        let start = bj(2026, 9, 30, 23, 0);
        assert_eq!(cal().deadline(start, TimeLimit::new(2, Clock::Urgent)), bj(2026, 10, 1, 1, 0));
        assert_eq!(cal().deadline(start, TimeLimit::new(3, Clock::CalendarDays)), bj(2026, 10, 3, 23, 0));
        assert_eq!(cal().elapsed_minutes(start, bj(2026, 10, 1, 1, 0), Clock::Urgent), 120);
    }

    #[test]
    fn working_time_elapsed_skips_lunch_nights_weekends_and_holidays() {
        let c = cal();
        assert_eq!(c.elapsed_minutes(bj(2026, 11, 27, 11, 0), bj(2026, 11, 27, 15, 0), Clock::WorkingHours), 120);
        assert_eq!(c.elapsed_minutes(bj(2026, 11, 27, 17, 0), bj(2026, 11, 30, 9, 0), Clock::WorkingHours), 120);
        assert_eq!(c.elapsed_minutes(bj(2026, 9, 30, 17, 0), bj(2026, 10, 8, 9, 0), Clock::WorkingHours), 120);
        assert_eq!(c.elapsed_minutes(bj(2026, 11, 27, 15, 0), bj(2026, 11, 27, 11, 0), Clock::WorkingHours), 0);
    }

    #[test]
    fn a_deadline_that_ends_with_a_period_ends_at_its_close_not_the_next_opening() {
        assert_eq!(
            cal().deadline(bj(2026, 11, 27, 8, 0), TimeLimit::new(4, Clock::WorkingHours)),
            bj(2026, 11, 27, 12, 0)
        );
    }

    #[test]
    fn a_clock_turns_amber_at_eighty_percent_of_its_time_extensions_included() {
        let c = cal();
        // Friday 08:00, ten working hours: due Monday 10:00; 8 hours are used by Friday's end.
        let start = bj(2026, 11, 27, 8, 0);
        let due = c.deadline(start, TimeLimit::new(10, Clock::WorkingHours));
        assert_eq!(due, bj(2026, 11, 30, 10, 0));
        assert!(!c.past_amber(start, due, bj(2026, 11, 27, 12, 0), Clock::WorkingHours), "40%");
        assert!(!c.past_amber(start, due, bj(2026, 11, 27, 16, 59), Clock::WorkingHours), "just under 80%");
        assert!(c.past_amber(start, due, bj(2026, 11, 30, 8, 0), Clock::WorkingHours), "80% over the weekend");
        // Extended to Tuesday 10:00 (18 working hours): Monday 08:00 is 44%, no longer amber.
        let extended = bj(2026, 12, 1, 10, 0);
        assert!(!c.past_amber(start, extended, bj(2026, 11, 30, 8, 0), Clock::WorkingHours));
    }

    #[test]
    fn clock_codes_round_trip_and_match_the_data_files() {
        for clock in [Clock::Urgent, Clock::WorkingHours, Clock::WorkingDays, Clock::CalendarDays] {
            assert_eq!(Clock::from_code(clock.code()), clock);
            assert_eq!(serde_json::to_value(clock).unwrap(), clock.code(), "serde and the stored code agree");
        }
    }

    #[test]
    fn a_district_can_set_its_own_working_periods() {
        let c = WorkCalendar::parse("periods = [\"08:30-12:00\", \"13:30-17:30\"]").unwrap();
        assert_eq!(c.minutes_per_day(), 210 + 240);
        assert!(WorkCalendar::parse("periods = [\"8-12\"]").unwrap_err().contains("08:00-12:00"));
        assert!(WorkCalendar::parse("holidays = []").unwrap_err().contains("格式有误"));
    }

    #[test]
    fn bad_periods_and_ranges_are_refused() {
        let file = HolidayFile::default();
        assert!(WorkCalendar::new(vec![], &file).is_err());
        assert!(WorkCalendar::new(vec![(600, 500)], &file).is_err());
        assert!(WorkCalendar::new(vec![(480, 720), (700, 1000)], &file).is_err());
        let reversed = HolidayFile {
            periods: vec![],
            holiday: vec![HolidayRange {
                name: "x".into(),
                from: NaiveDate::from_ymd_opt(2026, 2, 2).unwrap(),
                to: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
            }],
            working_day: vec![],
        };
        assert!(WorkCalendar::new(vec![(480, 720)], &reversed).unwrap_err().contains("早于"));
    }

    fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
        // Any minute from 2025-01-01 to 2026-12-31, Beijing time.
        (0i64..(730 * 24 * 60)).prop_map(|m| bj(2025, 1, 1, 0, 0) + Duration::minutes(m))
    }

    fn any_limit() -> impl Strategy<Value = TimeLimit> {
        (
            1u32..40,
            prop_oneof![
                Just(Clock::Urgent),
                Just(Clock::WorkingHours),
                Just(Clock::WorkingDays),
                Just(Clock::CalendarDays)
            ],
        )
            .prop_map(|(amount, clock)| TimeLimit::new(amount, clock))
    }

    proptest! {
        #[test]
        fn the_time_elapsed_until_a_deadline_is_exactly_the_limit(start in any_instant(), limit in any_limit()) {
            let c = cal();
            let due = c.deadline(start, limit);
            prop_assert!(due >= start);
            prop_assert_eq!(c.elapsed_minutes(start, due, limit.clock), c.limit_minutes(limit));
        }

        #[test]
        fn a_working_deadline_falls_inside_a_working_period(start in any_instant(), amount in 1u32..40) {
            let c = cal();
            let due = c.deadline(start, TimeLimit::new(amount, Clock::WorkingHours));
            let local = due.with_timezone(&beijing());
            let minute = local.hour_minute();
            prop_assert!(c.is_working_day(local.date_naive()));
            prop_assert!(c.periods.iter().any(|&(a, b)| minute > a && minute <= b), "{local}");
        }

        #[test]
        fn elapsed_time_adds_up_over_any_split(start in any_instant(), a in 0i64..20000, b in 0i64..20000) {
            let c = cal();
            let mid = start + Duration::minutes(a);
            let end = mid + Duration::minutes(b);
            for clock in [Clock::Urgent, Clock::WorkingHours] {
                prop_assert_eq!(
                    c.elapsed_minutes(start, mid, clock) + c.elapsed_minutes(mid, end, clock),
                    c.elapsed_minutes(start, end, clock)
                );
            }
        }

        #[test]
        fn a_later_start_never_gives_an_earlier_deadline(start in any_instant(), later in 0i64..5000, limit in any_limit()) {
            let c = cal();
            prop_assert!(c.deadline(start + Duration::minutes(later), limit) >= c.deadline(start, limit));
        }
    }

    trait HourMinute {
        fn hour_minute(&self) -> u32;
    }
    impl HourMinute for DateTime<FixedOffset> {
        fn hour_minute(&self) -> u32 {
            use chrono::Timelike;
            self.hour() * 60 + self.minute()
        }
    }
}
