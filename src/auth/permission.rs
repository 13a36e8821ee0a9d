//! What each role may do: the one role → permission table of the CaptureCast API.

use crate::model::Role;

/// The permission a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Permission {
    /// No credentials needed.
    None,
    /// Any valid user.
    AnyUser,
    View,
    ManageSchedule,
    ManageMedia,
    Admin,
}

impl Permission {
    /// The short name used in API.md and in the OpenAPI document (`x-permission`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Permission::None => "none",
            Permission::AnyUser => "any",
            Permission::View => "view",
            Permission::ManageSchedule => "sched",
            Permission::ManageMedia => "media",
            Permission::Admin => "admin",
        }
    }

    /// Whether a user holding `roles` has this permission.
    pub(crate) fn granted_to(self, roles: &[Role]) -> bool {
        match self {
            Permission::None | Permission::AnyUser => true,
            _ => roles.iter().any(|role| role_grants(*role, self)),
        }
    }
}

/// The table. Administrator: everything; Scheduler: view + schedule; Content manager:
/// view + media; Status viewer and Presenter: view.
fn role_grants(role: Role, permission: Permission) -> bool {
    use Permission as P;
    match role {
        Role::Administrator => true,
        Role::Scheduler => matches!(permission, P::View | P::ManageSchedule),
        Role::ContentManager => matches!(permission, P::View | P::ManageMedia),
        Role::StatusViewer | Role::Presenter => matches!(permission, P::View),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_matches_the_captureast_roles() {
        let expect = |role: Role, granted: &[Permission]| {
            for p in [
                Permission::View,
                Permission::ManageSchedule,
                Permission::ManageMedia,
                Permission::Admin,
            ] {
                assert_eq!(
                    p.granted_to(&[role]),
                    granted.contains(&p),
                    "{role:?} {p:?}"
                );
            }
        };
        use Permission as P;
        expect(
            Role::Administrator,
            &[P::View, P::ManageSchedule, P::ManageMedia, P::Admin],
        );
        expect(Role::Scheduler, &[P::View, P::ManageSchedule]);
        expect(Role::ContentManager, &[P::View, P::ManageMedia]);
        expect(Role::StatusViewer, &[P::View]);
        expect(Role::Presenter, &[P::View]);
    }

    #[test]
    fn roles_add_up() {
        let roles = [Role::Scheduler, Role::ContentManager];
        assert!(Permission::ManageSchedule.granted_to(&roles));
        assert!(Permission::ManageMedia.granted_to(&roles));
        assert!(!Permission::Admin.granted_to(&roles));
        assert!(!Permission::View.granted_to(&[]));
    }
}
