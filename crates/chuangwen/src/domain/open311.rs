//! Open311 GeoReport v2 as Chuangwen speaks it: how our states read as the
//! spec's `open`/`closed` and mySociety's extended statuses, the request
//! window, and the form fields of a request. Pure; the endpoint is
//! `crate::open311`.
//!
//! Sources: shared/reference/open311-and-peers.md §3 (GeoReport v2: the
//! 90-day default window, `status` open/closed, errors 400/403/404;
//! mySociety's extended statuses and `servicerequestupdates`).

use chrono::{DateTime, Duration, Utc};

use super::cases::CaseState;

/// The spec's two statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Still being dealt with.
    Open,
    /// Done with, fixed or not.
    Closed,
}

impl Status {
    /// The spec's word.
    pub fn code(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Closed => "closed",
        }
    }

    /// Parses the spec's word.
    pub fn parse(raw: &str) -> Option<Status> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "open" => Some(Status::Open),
            "closed" => Some(Status::Closed),
            _ => None,
        }
    }
}

/// How each of our states reads in Open311: the spec's status, mySociety's
/// extended status and the note shown as `status_notes`. The one table of the
/// mapping (docs/INTEGRATION.md prints it). A case is `closed` only once it is
/// verified and closed, rejected, merged or voided: a unit's "done" waits for
/// the inspector, so a fix is never reported before it is checked.
pub const STATUSES: [(CaseState, Status, &str, &str); 13] = [
    (CaseState::Reported, Status::Open, "FOR_TRIAGE", "已收到，待创文办受理"),
    (CaseState::Accepted, Status::Open, "INVESTIGATING", "已立案，待派遣"),
    (CaseState::Rejected, Status::Closed, "NO_FURTHER_ACTION", "不予立案"),
    (CaseState::Merged, Status::Closed, "DUPLICATE", "与已有问题重复，已合并"),
    (CaseState::Dispatched, Status::Open, "ACTION_SCHEDULED", "已派遣至责任单位"),
    (CaseState::ReturnRequested, Status::Open, "INVESTIGATING", "责任单位申请回退，待重新派遣"),
    (CaseState::InProgress, Status::Open, "IN_PROGRESS", "责任单位整改中"),
    (CaseState::ExtensionRequested, Status::Open, "IN_PROGRESS", "整改中（申请延期）"),
    (CaseState::DeferralRequested, Status::Open, "IN_PROGRESS", "整改中（申请挂账）"),
    (CaseState::Deferred, Status::Open, "ACTION_SCHEDULED", "已挂账，按计划整改"),
    (CaseState::Handled, Status::Open, "IN_PROGRESS", "已整改，待核查"),
    (CaseState::Closed, Status::Closed, "FIXED", "已核查结案"),
    (CaseState::Voided, Status::Closed, "CANCELLED", "已作废"),
];

/// A state's row of [`STATUSES`].
pub fn status_of(state: CaseState) -> (Status, &'static str, &'static str) {
    let (_, status, extended, note) =
        STATUSES.iter().find(|row| row.0 == state).expect("STATUSES lists every state (tested)");
    (*status, extended, note)
}

/// The state codes a status stands for.
pub fn states_of(status: Status) -> impl Iterator<Item = &'static str> {
    STATUSES.iter().filter(move |row| row.1 == status).map(|row| row.0.code())
}

/// The longest window `GET requests` reads, and its default.
pub const WINDOW_DAYS: i64 = 90;

/// The window of report times a `GET requests` reads: the last 90 days by
/// default; a given start or end sets the other 90 days away; a window
/// longer than 90 days or ending before it starts is refused.
pub fn window(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), &'static str> {
    let span = Duration::days(WINDOW_DAYS);
    let (from, to) = match (start, end) {
        // The end is open: a request reported this second is in.
        (None, None) => (now + Duration::seconds(1) - span, now + Duration::seconds(1)),
        (Some(s), None) => (s, (s + span).min(now + Duration::seconds(1))),
        (None, Some(e)) => (e - span, e),
        (Some(s), Some(e)) => (s, e),
    };
    if to < from {
        return Err("end_date 早于 start_date / end_date is before start_date");
    }
    if to - from > span {
        return Err("时间范围不能超过 90 天 / the window may not span more than 90 days");
    }
    Ok((from, to))
}

/// Parses a W3C / ISO-8601 datetime with its offset (`2026-11-01T00:00:00+08:00`, `…Z`).
/// A `+` a client forgot to encode arrives as a space: it is read as `+`.
pub fn parse_datetime(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    let fixed = match raw.rsplit_once(' ') {
        Some((head, offset)) if offset.len() == 5 && offset.as_bytes()[2] == b':' => format!("{head}+{offset}"),
        _ => raw.to_string(),
    };
    DateTime::parse_from_rfc3339(&fixed).ok().map(|d| d.with_timezone(&Utc))
}

/// Whether a case is shown to callers without a key: once the office has
/// accepted it (not while untriaged, nor when refused or voided).
pub fn is_public(state: CaseState) -> bool {
    !matches!(state, CaseState::Reported | CaseState::Rejected | CaseState::Voided)
}

/// Whether the note of a step goes out with an update: only what the
/// reporter is owed — why a report was refused, merged or voided, how it
/// was closed — and what the clients themselves said. Internal notes
/// (returns, extensions, rework) stay inside.
pub fn note_is_public(action: &str) -> bool {
    matches!(action, "reject" | "merge" | "void" | "verify_pass" | "external_update")
}

/// Free text with mobile numbers (11 digits from 1) and ID-card numbers
/// (18 characters) masked, as everywhere people may read them.
pub fn mask_personal(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut end = i;
        while end < chars.len() && (chars[end].is_ascii_digit() || (end - i == 17 && matches!(chars[end], 'X' | 'x'))) {
            end += 1;
        }
        let run: String = chars[i..end].iter().collect();
        match run.len() {
            11 if run.starts_with('1') => out.push_str(&crate::auth::crypto::mask_phone(&run)),
            18 => out.push_str(&crate::auth::crypto::mask_id_card(&run)),
            _ => out.push_str(&run),
        }
        i = end;
    }
    out
}

/// The attribute code of a form field `attribute[code]` or `attribute[code][]`.
pub fn attribute_code(field: &str) -> Option<&str> {
    let inner = field.strip_prefix("attribute[")?;
    let inner = inner.strip_suffix("[]").unwrap_or(inner);
    let code = inner.strip_suffix(']')?;
    (!code.is_empty() && !code.contains(['[', ']'])).then_some(code)
}

/// The longest description the spec allows.
pub const MAX_DESCRIPTION: usize = 4000;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn every_state_has_one_row_and_only_finished_cases_are_closed() {
        for state in CaseState::ALL {
            assert_eq!(STATUSES.iter().filter(|r| r.0 == state).count(), 1, "{state:?}");
            let (status, _, note) = status_of(state);
            assert!(!note.is_empty());
            let finished =
                matches!(state, CaseState::Closed | CaseState::Rejected | CaseState::Merged | CaseState::Voided);
            assert_eq!(status == Status::Closed, finished, "{state:?}");
        }
        // A unit's "done" is not a fix until the inspector has checked it.
        assert_eq!(status_of(CaseState::Handled).0, Status::Open);
        assert_eq!(status_of(CaseState::Closed).1, "FIXED");
        let closed: Vec<_> = states_of(Status::Closed).collect();
        assert_eq!(closed, ["rejected", "merged", "closed", "voided"]);
        assert_eq!(states_of(Status::Open).count() + closed.len(), CaseState::ALL.len());
    }

    #[test]
    fn the_window_defaults_to_ninety_days_and_refuses_more() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        let (from, to) = window(None, None, now).unwrap();
        assert_eq!((from, to), (now + Duration::seconds(1) - Duration::days(90), now + Duration::seconds(1)));
        let start = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
        assert_eq!(window(Some(start), None, now).unwrap(), (start, now + Duration::seconds(1)));
        let early = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(window(Some(early), None, now).unwrap().1, early + Duration::days(90));
        assert_eq!(window(None, Some(start), now).unwrap(), (start - Duration::days(90), start));
        assert!(window(Some(early), Some(now), now).is_err());
        assert!(window(Some(now), Some(start), now).is_err());
        assert!(window(Some(start), Some(start + Duration::days(90)), now).is_ok());
        assert!(window(Some(start), Some(start + Duration::days(90) + Duration::seconds(1)), now).is_err());
    }

    #[test]
    fn datetimes_need_their_offset() {
        assert_eq!(
            parse_datetime("2026-11-01T08:00:00+08:00"),
            Some(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap())
        );
        assert_eq!(parse_datetime("2026-11-01T00:00:00Z"), Some(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()));
        assert_eq!(
            parse_datetime("2026-11-01T08:00:00 08:00"),
            Some(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()),
            "an unencoded +"
        );
        assert_eq!(parse_datetime("2026-11-01"), None);
        assert_eq!(parse_datetime("yesterday"), None);
    }

    #[test]
    fn phone_and_id_numbers_are_masked_and_other_numbers_kept() {
        assert_eq!(mask_personal("张先生 13812345678 来电"), "张先生 138****5678 来电");
        assert_eq!(mask_personal("身份证120101199001011234"), "身份证1201**********1234");
        assert_eq!(mask_personal("11010119900101123X"), "1101**********123X");
        assert_eq!(mask_personal("3 号楼 2026 年 22345678901"), "3 号楼 2026 年 22345678901");
    }

    #[test]
    fn untriaged_refused_and_voided_cases_are_not_public() {
        let hidden: Vec<_> = CaseState::ALL.into_iter().filter(|s| !is_public(*s)).collect();
        assert_eq!(hidden, [CaseState::Reported, CaseState::Rejected, CaseState::Voided]);
        assert!(note_is_public("reject") && !note_is_public("approve_return") && !note_is_public("verify_fail"));
    }

    #[test]
    fn attribute_fields_name_their_code() {
        assert_eq!(attribute_code("attribute[condition]"), Some("condition"));
        assert_eq!(attribute_code("attribute[tags][]"), Some("tags"));
        assert_eq!(attribute_code("attribute[]"), None);
        assert_eq!(attribute_code("attribute[a][b]"), None);
        assert_eq!(attribute_code("description"), None);
    }
}
