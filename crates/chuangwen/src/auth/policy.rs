//! The one place that decides what a role may do. Every handler asks
//! [`allows`] (through `CurrentUser::require`) before it acts; scope — which
//! rows a user may see — is applied by the store queries a handler calls
//! with the user's district and unit.

use crate::domain::org::Role;

/// Something a user may want to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// See the district overview and the org tree.
    ViewDistrict,
    /// See grids, points and shop fronts.
    ViewPlaces,
    /// Import place registers.
    ImportPlaces,
    /// Export place registers.
    ExportPlaces,
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
        ImportPlaces => matches!(role, Admin | Office),
        ExportPlaces => matches!(role, Admin | Office | Inspector | Leader),
    }
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
    fn no_roles_allow_nothing_but_viewing() {
        assert!(!allows(&[], Action::ViewPlaces));
        assert!(!allows(&[], Action::ImportPlaces));
    }
}
