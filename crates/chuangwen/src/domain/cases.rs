//! The closed loop of a problem case (PRODUCT.md M3): states, the
//! transitions between them, who may take each, and what each requires.
//! Pure: the store records the outcome, with its event and audit entry, in
//! one transaction.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::{TimeLimit, WorkCalendar};
use super::org::Role;

/// Where a case stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// 待受理: reported, not yet looked at.
    Reported,
    /// 已立案: accepted, waiting to be dispatched.
    Accepted,
    /// 不予立案.
    Rejected,
    /// 已合并: a duplicate of another case.
    Merged,
    /// 已派遣（待签收）.
    Dispatched,
    /// 申请回退: the unit says it is not theirs.
    ReturnRequested,
    /// 处置中: acknowledged by the unit.
    InProgress,
    /// 申请延期.
    ExtensionRequested,
    /// 申请挂账.
    DeferralRequested,
    /// 已挂账: on the long-term ledger with a plan and a date.
    Deferred,
    /// 已处置（待核查）.
    Handled,
    /// 已结案（销号）.
    Closed,
    /// 已作废.
    Voided,
}

impl CaseState {
    /// Every state, in the order of the loop.
    pub const ALL: [CaseState; 13] = [
        CaseState::Reported,
        CaseState::Accepted,
        CaseState::Rejected,
        CaseState::Merged,
        CaseState::Dispatched,
        CaseState::ReturnRequested,
        CaseState::InProgress,
        CaseState::ExtensionRequested,
        CaseState::DeferralRequested,
        CaseState::Deferred,
        CaseState::Handled,
        CaseState::Closed,
        CaseState::Voided,
    ];

    /// Stored code.
    pub fn code(self) -> &'static str {
        match self {
            CaseState::Reported => "reported",
            CaseState::Accepted => "accepted",
            CaseState::Rejected => "rejected",
            CaseState::Merged => "merged",
            CaseState::Dispatched => "dispatched",
            CaseState::ReturnRequested => "return_requested",
            CaseState::InProgress => "in_progress",
            CaseState::ExtensionRequested => "extension_requested",
            CaseState::DeferralRequested => "deferral_requested",
            CaseState::Deferred => "deferred",
            CaseState::Handled => "handled",
            CaseState::Closed => "closed",
            CaseState::Voided => "voided",
        }
    }

    /// Chinese name.
    pub fn label(self) -> &'static str {
        match self {
            CaseState::Reported => "待受理",
            CaseState::Accepted => "待派遣",
            CaseState::Rejected => "不予立案",
            CaseState::Merged => "已合并",
            CaseState::Dispatched => "待签收",
            CaseState::ReturnRequested => "申请回退",
            CaseState::InProgress => "处置中",
            CaseState::ExtensionRequested => "申请延期",
            CaseState::DeferralRequested => "申请挂账",
            CaseState::Deferred => "已挂账",
            CaseState::Handled => "待核查",
            CaseState::Closed => "已结案",
            CaseState::Voided => "已作废",
        }
    }

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<CaseState> {
        CaseState::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Still open: the loop is not finished.
    pub fn is_open(self) -> bool {
        !matches!(self, CaseState::Rejected | CaseState::Merged | CaseState::Closed | CaseState::Voided)
    }

    /// The stored codes of the states where `holds` is true, e.g. for a SQL list.
    pub fn codes_where(holds: fn(CaseState) -> bool) -> impl Iterator<Item = &'static str> {
        CaseState::ALL.into_iter().filter(move |s| holds(*s)).map(CaseState::code)
    }

    /// The responsible unit's clock is running (dispatched, not yet handled).
    pub fn unit_clock_runs(self) -> bool {
        matches!(
            self,
            CaseState::Dispatched
                | CaseState::ReturnRequested
                | CaseState::InProgress
                | CaseState::ExtensionRequested
                | CaseState::DeferralRequested
        )
    }
}

/// Something a person does to a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// 受理立案.
    Accept,
    /// 不予立案.
    Reject,
    /// 合并到另一案卷.
    Merge,
    /// 派遣（下发整改单）.
    Dispatch,
    /// 签收.
    Acknowledge,
    /// 申请回退.
    RequestReturn,
    /// 同意回退（回到待派遣，重新派遣）.
    ApproveReturn,
    /// 不同意回退.
    RefuseReturn,
    /// 申请延期.
    RequestExtension,
    /// 同意延期.
    GrantExtension,
    /// 不同意延期.
    RefuseExtension,
    /// 申请挂账.
    RequestDeferral,
    /// 同意挂账.
    ApproveDeferral,
    /// 不同意挂账.
    RefuseDeferral,
    /// 恢复处置（挂账到期或条件具备）.
    Resume,
    /// 处置完毕（上传整改后照片）.
    Handle,
    /// 核查通过（结案销号）.
    VerifyPass,
    /// 核查不通过（返工）.
    VerifyFail,
    /// 作废.
    Void,
}

/// What a case's history calls one of its events: a step's label, 上报 for
/// the report, 外部补充说明 for what an outside system said (Open311
/// `servicerequestupdates`, which never moves the case).
pub fn event_label(action: &str) -> &'static str {
    match action {
        "report" => "上报",
        "external_update" => "外部补充说明",
        other => Transition::from_code(other).map(Transition::label).unwrap_or("其他"),
    }
}

/// Who may take a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    /// The office (创文办); administrators stand in.
    Office,
    /// Staff or lead of the unit the case is dispatched to.
    AssignedUnit,
    /// The inspection team or the office.
    Verifier,
}

impl Transition {
    /// Every transition.
    pub const ALL: [Transition; 19] = [
        Transition::Accept,
        Transition::Reject,
        Transition::Merge,
        Transition::Dispatch,
        Transition::Acknowledge,
        Transition::RequestReturn,
        Transition::ApproveReturn,
        Transition::RefuseReturn,
        Transition::RequestExtension,
        Transition::GrantExtension,
        Transition::RefuseExtension,
        Transition::RequestDeferral,
        Transition::ApproveDeferral,
        Transition::RefuseDeferral,
        Transition::Resume,
        Transition::Handle,
        Transition::VerifyPass,
        Transition::VerifyFail,
        Transition::Void,
    ];

    /// Stored and URL code.
    pub fn code(self) -> &'static str {
        match self {
            Transition::Accept => "accept",
            Transition::Reject => "reject",
            Transition::Merge => "merge",
            Transition::Dispatch => "dispatch",
            Transition::Acknowledge => "acknowledge",
            Transition::RequestReturn => "request_return",
            Transition::ApproveReturn => "approve_return",
            Transition::RefuseReturn => "refuse_return",
            Transition::RequestExtension => "request_extension",
            Transition::GrantExtension => "grant_extension",
            Transition::RefuseExtension => "refuse_extension",
            Transition::RequestDeferral => "request_deferral",
            Transition::ApproveDeferral => "approve_deferral",
            Transition::RefuseDeferral => "refuse_deferral",
            Transition::Resume => "resume",
            Transition::Handle => "handle",
            Transition::VerifyPass => "verify_pass",
            Transition::VerifyFail => "verify_fail",
            Transition::Void => "void",
        }
    }

    /// Chinese name.
    pub fn label(self) -> &'static str {
        match self {
            Transition::Accept => "受理立案",
            Transition::Reject => "不予立案",
            Transition::Merge => "合并",
            Transition::Dispatch => "派遣",
            Transition::Acknowledge => "签收",
            Transition::RequestReturn => "申请回退",
            Transition::ApproveReturn => "同意回退",
            Transition::RefuseReturn => "不同意回退",
            Transition::RequestExtension => "申请延期",
            Transition::GrantExtension => "同意延期",
            Transition::RefuseExtension => "不同意延期",
            Transition::RequestDeferral => "申请挂账",
            Transition::ApproveDeferral => "同意挂账",
            Transition::RefuseDeferral => "不同意挂账",
            Transition::Resume => "恢复处置",
            Transition::Handle => "处置完毕",
            Transition::VerifyPass => "核查通过",
            Transition::VerifyFail => "核查不通过",
            Transition::Void => "作废",
        }
    }

    /// Parses a code.
    pub fn from_code(code: &str) -> Option<Transition> {
        Transition::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The states it may start from, and the state it leads to.
    pub fn path(self) -> (&'static [CaseState], CaseState) {
        use CaseState::*;
        const OPEN: &[CaseState] = &[
            Reported,
            Accepted,
            Dispatched,
            ReturnRequested,
            InProgress,
            ExtensionRequested,
            DeferralRequested,
            Deferred,
            Handled,
        ];
        match self {
            Transition::Accept => (&[Reported], Accepted),
            Transition::Reject => (&[Reported], Rejected),
            Transition::Merge => (&[Reported], Merged),
            Transition::Dispatch => (&[Accepted], Dispatched),
            Transition::Acknowledge => (&[Dispatched], InProgress),
            Transition::RequestReturn => (&[Dispatched], ReturnRequested),
            Transition::ApproveReturn => (&[ReturnRequested], Accepted),
            Transition::RefuseReturn => (&[ReturnRequested], Dispatched),
            Transition::RequestExtension => (&[InProgress], ExtensionRequested),
            Transition::GrantExtension | Transition::RefuseExtension => (&[ExtensionRequested], InProgress),
            Transition::RequestDeferral => (&[InProgress], DeferralRequested),
            Transition::ApproveDeferral => (&[DeferralRequested], Deferred),
            Transition::RefuseDeferral => (&[DeferralRequested], InProgress),
            Transition::Resume => (&[Deferred], InProgress),
            Transition::Handle => (&[InProgress], Handled),
            Transition::VerifyPass => (&[Handled], Closed),
            Transition::VerifyFail => (&[Handled], InProgress),
            Transition::Void => (OPEN, Voided),
        }
    }

    fn who(self) -> Who {
        match self {
            Transition::Acknowledge
            | Transition::RequestReturn
            | Transition::RequestExtension
            | Transition::RequestDeferral
            | Transition::Handle => Who::AssignedUnit,
            Transition::VerifyPass | Transition::VerifyFail => Who::Verifier,
            _ => Who::Office,
        }
    }

    /// Whether someone with `roles` may take it (`in_assigned_unit`: the
    /// case is dispatched to the person's unit or below).
    pub fn may_take(self, roles: &[Role], in_assigned_unit: bool) -> bool {
        let has = |allowed: &[Role]| roles.iter().any(|r| allowed.contains(r));
        match self.who() {
            Who::Office => has(&[Role::Office, Role::Admin]),
            Who::AssignedUnit => in_assigned_unit && has(&[Role::Handler, Role::UnitLead]),
            Who::Verifier => has(&[Role::Inspector, Role::Office, Role::Admin]),
        }
    }

    /// Who may take it, in Chinese (for messages and the case page).
    pub fn who_label(self) -> &'static str {
        match self.who() {
            Who::Office => "创文办",
            Who::AssignedUnit => "承办单位",
            Who::Verifier => "督察组或创文办",
        }
    }
}

/// How a case's clock stands, as lists, inboxes and maps show it: only a
/// running clock is amber (past 80% of its limit) or red (overdue); a case
/// handled, deferred or finished shows no alert, whatever it went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alert {
    /// On time, or no clock running.
    None,
    /// 即将超期.
    Amber,
    /// 已超期.
    Red,
}

impl Alert {
    /// The alert of a case in `state` that has (or has not) passed 80% of its limit and its deadline.
    pub fn of(state: CaseState, past_amber: bool, overdue: bool) -> Alert {
        match (state.unit_clock_runs(), overdue, past_amber) {
            (true, true, _) => Alert::Red,
            (true, false, true) => Alert::Amber,
            _ => Alert::None,
        }
    }

    /// The class pages colour it with: `red`, `amber` or empty.
    pub fn css(self) -> &'static str {
        match self {
            Alert::None => "",
            Alert::Amber => "amber",
            Alert::Red => "red",
        }
    }
}

/// What a person supplies with a transition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TransitionInput {
    /// Free text; the reason where one is required.
    #[serde(default)]
    pub note: String,
    /// Dispatch: the main unit.
    #[serde(default)]
    pub unit_id: Option<i64>,
    /// Dispatch: co-units.
    #[serde(default)]
    pub co_unit_ids: Vec<i64>,
    /// Merge: the case this one duplicates.
    #[serde(default)]
    pub duplicate_of: Option<i64>,
    /// Extension: the new deadline asked for or granted.
    #[serde(default)]
    pub new_deadline: Option<DateTime<Utc>>,
    /// Deferral: the plan (整改计划).
    #[serde(default)]
    pub plan: String,
    /// Deferral: the date the plan aims at.
    #[serde(default)]
    pub target_date: Option<NaiveDate>,
    /// Files attached to this step (after-photos for `handle`).
    #[serde(default)]
    pub attachment_ids: Vec<i64>,
}

/// The case as the rules need to see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseFacts {
    /// Current state.
    pub state: CaseState,
    /// The limit of the case's filing condition.
    pub limit: TimeLimit,
    /// The current deadline, if the unit's clock has started.
    pub deadline: Option<DateTime<Utc>>,
    /// Times verification failed.
    pub rework_count: i64,
    /// The last dispatch.
    pub dispatched_at: Option<DateTime<Utc>>,
    /// The last handling.
    pub handled_at: Option<DateTime<Utc>>,
}

/// Who is acting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor<'a> {
    /// Roles held.
    pub roles: &'a [Role],
    /// True when the actor's unit subtree holds the unit the case is dispatched to.
    pub in_assigned_unit: bool,
}

/// What a transition changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The new state.
    pub state: CaseState,
    /// The new deadline (`None` keeps the old one, see `clear_deadline`).
    pub deadline: Option<DateTime<Utc>>,
    /// The deadline no longer applies (case back with the office, closed…).
    pub clear_deadline: bool,
    /// The rework count after.
    pub rework_count: i64,
    /// The main unit after dispatch.
    pub unit_id: Option<i64>,
    /// The unit no longer holds the case (returned).
    pub clear_unit: bool,
    /// A new clock starts now (dispatch, rework, resume); a granted
    /// extension moves the deadline of the clock already running.
    pub restart_clock: bool,
    /// The deferral date after: `Some(Some(date))` set, `Some(None)` cleared,
    /// `None` left as it was.
    pub deferred_until: Option<Option<NaiveDate>>,
    /// Closing: working minutes from the last dispatch to the handling that
    /// passed (the dashboards' 平均处置时长, domain::stats).
    pub handling_minutes: Option<i64>,
}

/// Why a transition is refused (messages for people).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// Not from this state.
    #[error("案卷当前状态为“{}”，不能{}", .from.label(), .transition.label())]
    IllegalFrom {
        /// Current state.
        from: CaseState,
        /// Attempted transition.
        transition: Transition,
    },
    /// The actor may not take it.
    #[error("只有{}可以{}", .transition.who_label(), .transition.label())]
    NotAllowed {
        /// Attempted transition.
        transition: Transition,
    },
    /// A required field is missing or wrong.
    #[error("{message}")]
    Missing {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn missing(field: &'static str, message: &str) -> TransitionError {
    TransitionError::Missing { field, message: message.to_string() }
}

/// Applies a transition to a case, or says why it cannot be applied.
pub fn apply(
    facts: &CaseFacts,
    transition: Transition,
    input: &TransitionInput,
    actor: &Actor<'_>,
    now: DateTime<Utc>,
    calendar: &WorkCalendar,
) -> Result<Outcome, TransitionError> {
    let allowed = transition.may_take(actor.roles, actor.in_assigned_unit);
    // Who may act is decided before the state is looked at, so the answer to
    // an unauthorised caller never depends on where the case stands.
    if !allowed {
        return Err(TransitionError::NotAllowed { transition });
    }
    let (from, to) = transition.path();
    if !from.contains(&facts.state) {
        return Err(TransitionError::IllegalFrom { from: facts.state, transition });
    }
    let note = input.note.trim();
    let mut outcome = Outcome {
        state: to,
        deadline: None,
        clear_deadline: false,
        rework_count: facts.rework_count,
        unit_id: None,
        clear_unit: false,
        restart_clock: false,
        deferred_until: None,
        handling_minutes: None,
    };
    match transition {
        Transition::Reject
        | Transition::Void
        | Transition::RequestReturn
        | Transition::VerifyFail
        | Transition::RefuseReturn
        | Transition::RefuseExtension
        | Transition::RefuseDeferral
        | Transition::RequestExtension
            if note.is_empty() =>
        {
            return Err(missing("note", &format!("{}须填写原因", transition.label())));
        }
        Transition::Merge if input.duplicate_of.is_none() => {
            return Err(missing("duplicate_of", "合并须指明重复的案卷"));
        }
        Transition::Dispatch => {
            let unit = input.unit_id.ok_or_else(|| missing("unit_id", "派遣须选择责任单位"))?;
            if input.co_unit_ids.contains(&unit) {
                return Err(missing("co_unit_ids", "协办单位不能与主办单位相同"));
            }
            outcome.unit_id = Some(unit);
            // The unit's clock starts at dispatch (standards-zh.md §1.5: stage clocks).
            outcome.deadline = Some(calendar.deadline(now, facts.limit));
            outcome.restart_clock = true;
        }
        Transition::RequestExtension => match (input.new_deadline, facts.deadline) {
            (Some(asked), Some(current)) if asked > current => {}
            (Some(_), _) => return Err(missing("new_deadline", "申请的新期限须晚于现有期限")),
            (None, _) => return Err(missing("new_deadline", "申请延期须填写新的期限")),
        },
        Transition::GrantExtension => match (input.new_deadline, facts.deadline) {
            (Some(granted), Some(current)) if granted > current => outcome.deadline = Some(granted),
            (Some(_), _) => return Err(missing("new_deadline", "批准的新期限须晚于现有期限")),
            (None, _) => return Err(missing("new_deadline", "同意延期须填写新的期限")),
        },
        Transition::RequestDeferral => {
            if input.plan.trim().is_empty() {
                return Err(missing("plan", "申请挂账须填写整改计划"));
            }
            match input.target_date {
                Some(date) if date > now.with_timezone(&super::calendar::beijing()).date_naive() => {
                    outcome.deferred_until = Some(Some(date));
                }
                Some(_) => return Err(missing("target_date", "计划完成日期须晚于今天")),
                None => return Err(missing("target_date", "申请挂账须填写计划完成日期")),
            }
        }
        // Approved as asked, or with the office's own date.
        Transition::ApproveDeferral => outcome.deferred_until = input.target_date.map(Some),
        Transition::Handle if input.attachment_ids.is_empty() => {
            return Err(missing("attachment_ids", "处置完毕须上传整改后的照片"));
        }
        Transition::VerifyFail => {
            // 返工: the unit gets a fresh limit from now, and the rework counts.
            outcome.rework_count += 1;
            outcome.deadline = Some(calendar.deadline(now, facts.limit));
            outcome.restart_clock = true;
        }
        Transition::VerifyPass => {
            if let (Some(dispatched), Some(handled)) = (facts.dispatched_at, facts.handled_at) {
                let minutes = calendar.elapsed_minutes(dispatched, handled, super::calendar::Clock::WorkingHours);
                outcome.handling_minutes = Some(minutes);
            }
        }
        Transition::ApproveReturn => {
            outcome.clear_deadline = true;
            outcome.clear_unit = true;
        }
        Transition::Resume => {
            outcome.deadline = Some(calendar.deadline(now, facts.limit));
            outcome.restart_clock = true;
            outcome.deferred_until = Some(None);
        }
        // The rest change the state alone.
        _ => {}
    }
    Ok(outcome)
}

/// Sources of reports (PRODUCT.md M3).
pub const SOURCES: &[(&str, &str)] = &[
    ("inspection", "督察组"),
    ("supervisor", "监督员"),
    ("third_party", "第三方测评"),
    ("eval_round", "模拟测评"),
    ("citizen", "市民随手拍"),
    ("hotline", "12345 热线"),
    ("leader", "领导批示"),
    ("media", "媒体曝光"),
    ("open311", "Open311 接入"),
    ("office", "创文办"),
    ("volunteer", "志愿者"),
];

/// The Chinese name of a source, e.g. `hotline` → 12345 热线.
pub fn source_label(code: &str) -> Option<&'static str> {
    SOURCES.iter().find(|(c, _)| *c == code).map(|(_, label)| *label)
}

#[cfg(test)]
mod tests {
    #[test]
    fn void_starts_from_exactly_the_open_states() {
        let (from, _) = Transition::Void.path();
        let open: Vec<CaseState> = CaseState::ALL.into_iter().filter(|s| s.is_open()).collect();
        assert_eq!(from, open.as_slice());
    }

    #[test]
    fn only_a_running_clock_shows_an_alert() {
        for state in CaseState::ALL {
            let red = Alert::of(state, true, true);
            assert_eq!(red == Alert::Red, state.unit_clock_runs(), "{state:?}");
            assert_eq!(Alert::of(state, true, false) == Alert::Amber, state.unit_clock_runs(), "{state:?}");
            assert_eq!(Alert::of(state, false, false), Alert::None, "{state:?}");
        }
    }

    use super::*;

    #[test]
    fn every_event_of_a_history_has_its_label() {
        assert_eq!(event_label("report"), "上报");
        assert_eq!(event_label("external_update"), "外部补充说明");
        for t in Transition::ALL {
            assert_eq!(event_label(t.code()), t.label());
        }
        assert_eq!(event_label("something_new"), "其他");
    }
    use crate::domain::calendar::Clock;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        crate::domain::calendar::beijing().with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap().with_timezone(&Utc)
    }

    fn facts(state: CaseState) -> CaseFacts {
        CaseFacts {
            state,
            limit: TimeLimit::new(1, Clock::WorkingDays),
            deadline: Some(now() + chrono::Duration::hours(4)),
            rework_count: 0,
            dispatched_at: None,
            handled_at: None,
        }
    }

    /// The input that satisfies every transition's requirements.
    fn full_input() -> TransitionInput {
        TransitionInput {
            note: "原因".into(),
            unit_id: Some(7),
            co_unit_ids: vec![8],
            duplicate_of: Some(1),
            new_deadline: Some(now() + chrono::Duration::days(5)),
            plan: "分两期改造".into(),
            target_date: NaiveDate::from_ymd_opt(2027, 3, 1),
            attachment_ids: vec![1],
        }
    }

    fn everyone() -> Vec<Role> {
        Role::ALL.to_vec()
    }

    #[test]
    fn dispatch_rework_and_resume_start_a_clock_an_extension_moves_it_and_deferral_dates_follow() {
        let calendar = WorkCalendar::standard();
        let roles = everyone();
        let actor = Actor { roles: &roles, in_assigned_unit: true };
        let run = |state, transition, input: &TransitionInput| {
            apply(&facts(state), transition, input, &actor, now(), &calendar).unwrap()
        };
        let input = full_input();
        for (state, transition) in [
            (CaseState::Accepted, Transition::Dispatch),
            (CaseState::Handled, Transition::VerifyFail),
            (CaseState::Deferred, Transition::Resume),
        ] {
            assert!(run(state, transition, &input).restart_clock, "{transition:?}");
        }
        let granted = run(CaseState::ExtensionRequested, Transition::GrantExtension, &input);
        assert!(!granted.restart_clock && granted.deadline == input.new_deadline);
        let asked = run(CaseState::InProgress, Transition::RequestDeferral, &input);
        assert_eq!(asked.deferred_until, Some(input.target_date));
        let as_asked = TransitionInput { target_date: None, ..full_input() };
        assert_eq!(run(CaseState::DeferralRequested, Transition::ApproveDeferral, &as_asked).deferred_until, None);
        let own_date = run(CaseState::DeferralRequested, Transition::ApproveDeferral, &input);
        assert_eq!(own_date.deferred_until, Some(input.target_date));
        assert_eq!(run(CaseState::Deferred, Transition::Resume, &input).deferred_until, Some(None));
        assert_eq!(run(CaseState::InProgress, Transition::Handle, &input).deferred_until, None, "left as it was");
    }

    #[test]
    fn every_transition_is_refused_from_every_state_it_does_not_start_from() {
        let calendar = WorkCalendar::standard();
        let roles = everyone();
        let actor = Actor { roles: &roles, in_assigned_unit: true };
        for transition in Transition::ALL {
            for state in CaseState::ALL {
                let result = apply(&facts(state), transition, &full_input(), &actor, now(), &calendar);
                let (from, to) = transition.path();
                if from.contains(&state) {
                    assert_eq!(result.map(|o| o.state), Ok(to), "{transition:?} from {state:?}");
                } else {
                    let err = result.unwrap_err();
                    assert_eq!(err, TransitionError::IllegalFrom { from: state, transition });
                    assert!(err.to_string().contains(state.label()));
                }
            }
        }
    }

    #[test]
    fn closed_rejected_merged_and_voided_cases_accept_no_transition() {
        for state in [CaseState::Closed, CaseState::Rejected, CaseState::Merged, CaseState::Voided] {
            assert!(!state.is_open());
            assert!(Transition::ALL.iter().all(|t| !t.path().0.contains(&state)), "{state:?}");
        }
    }

    #[test]
    fn each_transition_names_who_may_take_it() {
        let calendar = WorkCalendar::standard();
        for transition in Transition::ALL {
            let from = transition.path().0[0];
            for role in Role::ALL {
                for in_unit in [false, true] {
                    let roles = [role];
                    let actor = Actor { roles: &roles, in_assigned_unit: in_unit };
                    let ok = apply(&facts(from), transition, &full_input(), &actor, now(), &calendar).is_ok();
                    let expected = match transition.who() {
                        Who::Office => matches!(role, Role::Office | Role::Admin),
                        Who::AssignedUnit => in_unit && matches!(role, Role::Handler | Role::UnitLead),
                        Who::Verifier => matches!(role, Role::Inspector | Role::Office | Role::Admin),
                    };
                    assert_eq!(ok, expected, "{transition:?} by {role:?} (in unit: {in_unit})");
                }
            }
        }
    }

    #[test]
    fn a_handler_of_another_unit_cannot_acknowledge() {
        let roles = [Role::Handler];
        let err = apply(
            &facts(CaseState::Dispatched),
            Transition::Acknowledge,
            &full_input(),
            &Actor { roles: &roles, in_assigned_unit: false },
            now(),
            &WorkCalendar::standard(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "只有承办单位可以签收");
    }

    #[test]
    fn the_required_fields_are_named_when_missing() {
        let calendar = WorkCalendar::standard();
        let roles = everyone();
        let actor = Actor { roles: &roles, in_assigned_unit: true };
        let cases = [
            (Transition::Reject, "note"),
            (Transition::Void, "note"),
            (Transition::RequestReturn, "note"),
            (Transition::VerifyFail, "note"),
            (Transition::Merge, "duplicate_of"),
            (Transition::Dispatch, "unit_id"),
            (Transition::RequestExtension, "note"),
            (Transition::GrantExtension, "new_deadline"),
            (Transition::RequestDeferral, "plan"),
            (Transition::Handle, "attachment_ids"),
        ];
        for (transition, field) in cases {
            let from = transition.path().0[0];
            let err =
                apply(&facts(from), transition, &TransitionInput::default(), &actor, now(), &calendar).unwrap_err();
            assert!(matches!(err, TransitionError::Missing { field: f, .. } if f == field), "{transition:?}: {err:?}");
        }
        // A deferral needs a date in the future; an extension a later deadline.
        let past = TransitionInput { target_date: NaiveDate::from_ymd_opt(2026, 1, 1), ..full_input() };
        let err = apply(&facts(CaseState::InProgress), Transition::RequestDeferral, &past, &actor, now(), &calendar);
        assert!(err.unwrap_err().to_string().contains("晚于今天"));
        let earlier = TransitionInput { new_deadline: Some(now()), ..full_input() };
        let err =
            apply(&facts(CaseState::InProgress), Transition::RequestExtension, &earlier, &actor, now(), &calendar);
        assert!(err.unwrap_err().to_string().contains("晚于现有期限"));
    }

    #[test]
    fn dispatch_starts_the_clock_and_rework_restarts_it_and_counts() {
        let calendar = WorkCalendar::standard();
        let roles = everyone();
        let actor = Actor { roles: &roles, in_assigned_unit: true };
        let out =
            apply(&facts(CaseState::Accepted), Transition::Dispatch, &full_input(), &actor, now(), &calendar).unwrap();
        assert_eq!(out.unit_id, Some(7));
        // Friday 09:00 + 1 working day = Monday 09:00.
        assert_eq!(out.deadline, Some(now() + chrono::Duration::days(3)));
        let handled = CaseFacts { rework_count: 1, ..facts(CaseState::Handled) };
        let out = apply(&handled, Transition::VerifyFail, &full_input(), &actor, now(), &calendar).unwrap();
        assert_eq!((out.state, out.rework_count), (CaseState::InProgress, 2));
        assert!(out.deadline.is_some());
        let out = apply(
            &facts(CaseState::ReturnRequested),
            Transition::ApproveReturn,
            &full_input(),
            &actor,
            now(),
            &calendar,
        )
        .unwrap();
        assert!(out.clear_unit && out.clear_deadline);
    }

    #[test]
    fn codes_and_labels_round_trip() {
        for state in CaseState::ALL {
            assert_eq!(CaseState::from_code(state.code()), Some(state));
        }
        for transition in Transition::ALL {
            assert_eq!(Transition::from_code(transition.code()), Some(transition));
        }
    }

    #[test]
    fn closing_counts_the_working_minutes_from_the_last_dispatch_to_the_handling() {
        let calendar = WorkCalendar::standard();
        let roles = [Role::Inspector];
        let actor = Actor { roles: &roles, in_assigned_unit: false };
        // Friday 27 November 2026: dispatched 09:00, handled 15:30 — 3 h in the
        // morning and 1½ h after the lunch break.
        let at = |h: u32, m: u32| {
            crate::domain::calendar::beijing().with_ymd_and_hms(2026, 11, 27, h, m, 0).unwrap().with_timezone(&Utc)
        };
        let handled =
            CaseFacts { dispatched_at: Some(at(9, 0)), handled_at: Some(at(15, 30)), ..facts(CaseState::Handled) };
        let outcome = apply(&handled, Transition::VerifyPass, &full_input(), &actor, at(16, 0), &calendar).unwrap();
        assert_eq!(outcome.handling_minutes, Some(270));
        let failed = apply(&handled, Transition::VerifyFail, &full_input(), &actor, at(16, 0), &calendar).unwrap();
        assert_eq!(failed.handling_minutes, None, "only a closing counts");
    }
}
