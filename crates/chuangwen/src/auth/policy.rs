//! The one place that decides what a role may do and which rows it sees.
//! Every handler asks [`allows`] (through `CurrentUser::require`) before it
//! acts, and passes [`Scope`] to the store, whose queries filter by it;
//! an object outside the scope answers as if it did not exist.

use crate::domain::org::Role;

/// Something a caller may want to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// See the district overview and the org tree.
    ViewDistrict,
    /// See grids, points and shop fronts (within scope).
    ViewPlaces,
    /// Import registers (units, grids, points, shop fronts).
    ImportPlaces,
    /// Export registers.
    ExportPlaces,
    /// Create, disable, reset and assign users.
    ManageUsers,
    /// Create and revoke API tokens.
    ManageTokens,
    /// Read the audit trail.
    ViewAudit,
    /// See personal information in clear (each time is audited).
    RevealPersonalData,
    /// Report a problem.
    ReportCase,
    /// See cases (within scope) and act on them (the case rules decide which steps).
    WorkCases,
    /// Raise a supervision order (督办) by hand.
    Supervise,
    /// Edit the dispatch rule table.
    ManageDispatchRules,
    /// Edit the category table and the working calendar.
    ManageSettings,
    /// See figures and reports: the district's, or one's own unit's.
    ViewStatistics,
    /// See the whole district's figures: rankings, the wall display.
    ViewDistrictStatistics,
    /// Make reports on demand, set ranking weights and bulletin thresholds.
    ManageReports,
    /// Add and stop webhooks; read their delivery log.
    ManageWebhooks,
    /// Take in spreadsheets of findings (third-party evaluation, 12345 hotline) and undo a batch.
    ImportCases,
    /// See the evaluation system, the rounds and their scores.
    ViewEvaluation,
    /// Load a system, plan rounds, enter scores, close rounds.
    ManageEvaluation,
    /// Answer checklists at the points of a round one is assigned.
    EvaluatePoints,
}

impl Action {
    /// Every action (the route walk and the tests iterate it).
    pub const ALL: [Action; 21] = [
        Action::ViewDistrict,
        Action::ViewPlaces,
        Action::ImportPlaces,
        Action::ExportPlaces,
        Action::ManageUsers,
        Action::ManageTokens,
        Action::ViewAudit,
        Action::RevealPersonalData,
        Action::ReportCase,
        Action::WorkCases,
        Action::Supervise,
        Action::ManageDispatchRules,
        Action::ManageSettings,
        Action::ViewStatistics,
        Action::ViewDistrictStatistics,
        Action::ManageReports,
        Action::ManageWebhooks,
        Action::ImportCases,
        Action::ViewEvaluation,
        Action::ManageEvaluation,
        Action::EvaluatePoints,
    ];
}

/// True when one of `roles` allows `action`.
pub fn allows(roles: &[Role], action: Action) -> bool {
    roles.iter().any(|role| role_allows(*role, action))
}

fn role_allows(role: Role, action: Action) -> bool {
    use Action::*;
    use Role::*;
    match action {
        ViewDistrict | ViewPlaces => true,
        // Report once: anyone who finds a problem reports it (PRODUCT.md §6);
        // the case rules (domain::cases) decide each step by role and unit.
        ReportCase | WorkCases | ViewStatistics => true,
        // 挂图作战: the leaders, the office and the inspectors see everyone's figures.
        ViewDistrictStatistics => role.is_district_wide(),
        ManageReports => matches!(role, Admin | Office),
        ManageWebhooks => matches!(role, Admin),
        // The office presses units; leaders instruct (PRODUCT.md M1).
        Supervise => matches!(role, Admin | Office | Leader),
        ManageDispatchRules => matches!(role, Admin | Office),
        // Categories and time limits bind every unit: the administrator's.
        ManageSettings => matches!(role, Admin),
        ImportPlaces => matches!(role, Admin | Office),
        // Findings from outside enter the loop through the office, which accepts them.
        ImportCases => matches!(role, Admin | Office),
        // 模拟测评: the office plans and scores; leaders and inspectors read the scores;
        // evaluators (and inspectors sent as such) answer at the points they are given.
        ViewEvaluation => role.is_district_wide() || matches!(role, Evaluator),
        ManageEvaluation => matches!(role, Admin | Office),
        EvaluatePoints => matches!(role, Admin | Office | Inspector | Evaluator),
        ExportPlaces => role.is_district_wide(),
        // 等保 2.0: accounts are the system administrator's business.
        ManageUsers | ManageTokens | ViewAudit => matches!(role, Admin),
        // Who must be able to call a person back: the administrator and the office.
        RevealPersonalData => matches!(role, Admin | Office),
    }
}

/// Which rows a caller sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The whole district (office, inspector, leader, admin).
    District,
    /// The subtree of the caller's unit: units whose path starts with this.
    Subtree(String),
}

impl Scope {
    /// The `LIKE` pattern of the subtree's unit paths, if limited.
    pub fn path_pattern(&self) -> Option<String> {
        match self {
            Scope::District => None,
            Scope::Subtree(path) => Some(format!("{path}%")),
        }
    }
}

/// The scope of a caller holding `roles` in the unit at `unit_path`.
pub fn scope_of(roles: &[Role], unit_path: &str) -> Scope {
    if roles.iter().any(|r| r.is_district_wide()) { Scope::District } else { Scope::Subtree(unit_path.to_string()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_office_and_admins_import_places() {
        for role in Role::ALL {
            assert_eq!(allows(&[role], Action::ImportPlaces), matches!(role, Role::Admin | Role::Office), "{role:?}");
        }
    }

    #[test]
    fn everyone_logged_in_sees_places_but_only_district_wide_roles_export_them() {
        for role in Role::ALL {
            assert!(allows(&[role], Action::ViewPlaces));
            assert_eq!(allows(&[role], Action::ExportPlaces), role.is_district_wide(), "{role:?}");
        }
    }

    #[test]
    fn only_admins_manage_accounts_tokens_and_read_the_trail() {
        for role in Role::ALL {
            for action in [Action::ManageUsers, Action::ManageTokens, Action::ViewAudit] {
                assert_eq!(allows(&[role], action), role == Role::Admin, "{role:?} {action:?}");
            }
        }
    }

    #[test]
    fn no_roles_allow_nothing() {
        for action in Action::ALL {
            assert!(!allows(&[], action), "{action:?}");
        }
    }

    #[test]
    fn district_wide_roles_see_the_district_and_others_their_subtree() {
        assert_eq!(scope_of(&[Role::Leader], "/1/5/"), Scope::District);
        assert_eq!(scope_of(&[Role::Handler], "/1/5/"), Scope::Subtree("/1/5/".into()));
        assert_eq!(scope_of(&[Role::Handler, Role::Inspector], "/1/5/"), Scope::District);
        assert_eq!(Scope::Subtree("/1/5/".into()).path_pattern().as_deref(), Some("/1/5/%"));
    }
}
