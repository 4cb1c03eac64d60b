//! The four roles and what each may do (issue 15): a viewer reads everything (secrets masked)
//! and watches live events; an editor also installs, edits, disables, tests and replays; an
//! admin also removes integrations, purges dead letters and manages sources, users and API
//! tokens; an owner also manages admins and owners.
//!
//! Roles are ordered: each may do all that the ones below it may.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A person's or a token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything, secrets masked; watches live events.
    Viewer,
    /// Also installs, edits, enables and disables integrations, sends test events, replays.
    Editor,
    /// Also removes integrations, purges dead letters, manages sources, and editors, viewers
    /// and API tokens with those roles.
    Admin,
    /// Also manages admins and owners. The admin token is an owner-level token.
    Owner,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Editor, Role::Admin, Role::Owner];

    /// The role named `name` (`owner`, `admin`, `editor`, `viewer`).
    pub fn parse(name: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Its name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Whether a caller with this role may create, change or remove a user or token that has
    /// (or is given) `other`: admins manage editors and viewers, owners manage everyone.
    pub fn may_manage(self, other: Role) -> bool {
        match self {
            Role::Owner => true,
            Role::Admin => other <= Role::Editor,
            Role::Editor | Role::Viewer => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn roles_parse_by_name_and_are_ordered() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("Owner"), None);
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
        assert!(Role::Admin < Role::Owner);
    }

    #[test]
    fn admins_manage_editors_and_viewers_and_only_owners_manage_admins() {
        assert!(Role::Admin.may_manage(Role::Editor));
        assert!(Role::Admin.may_manage(Role::Viewer));
        assert!(!Role::Admin.may_manage(Role::Admin));
        assert!(!Role::Admin.may_manage(Role::Owner));
        assert!(Role::Owner.may_manage(Role::Owner));
        assert!(!Role::Editor.may_manage(Role::Viewer));
    }
}
