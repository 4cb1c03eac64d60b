//! Who may use the management API: people with roles and the tokens they sign in with
//! (issue 15).
//!
//! - `role.rs`: the four roles, ordered, and who may manage whom.
pub(crate) mod role;

pub(crate) use role::Role;
