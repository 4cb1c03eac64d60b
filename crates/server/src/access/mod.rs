//! Who may use the management API: people with roles and the tokens they sign in with
//! (issue 15). [`Access`] is the one entry point the API uses.
//!
//! - `role.rs`: the four roles, ordered, and who may manage whom.
//! - `caller.rs`: who a bearer credential is: the admin token, a user's access token, a named
//!   API token.
//! - `sessions.rs`: signing in (with the lockout), refreshing, signing out, invitations.
//! - `password.rs`: argon2id hashes, at most two worked out at once.
//! - `jwt.rs`: the 15-minute access tokens.
//! - `opaque.rs`: refresh tokens, API tokens and invitations, stored as hashes.
//!
//! Users, sessions and tokens are this node's own (its store); on JetStream, people sign in on
//! each node they use (ARCHITECTURE.md, "People and roles").
mod caller;
mod jwt;
mod opaque;
pub(crate) mod password;
pub(crate) mod role;
mod sessions;

pub(crate) use caller::{Caller, Kind};
pub(crate) use opaque::mint as opaque_mint;
pub(crate) use role::Role;
pub(crate) use sessions::{AcceptError, Grant, LoginError, RefreshError};

use signal_store::Store;
use std::collections::HashMap;
use std::sync::Arc;

/// How long an invitation may wait to be accepted.
pub(crate) const INVITATION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

/// The node's credentials: the admin token, the access tokens' key and the store of people.
pub(crate) struct Access {
    admin_token: String,
    keys: jwt::Keys,
    store: Store,
    /// One sign-in at a time per user, so parallel guesses are counted one by one (at most
    /// one entry per user the node has had).
    attempts: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    hasher: password::Hasher,
}

impl Access {
    /// Credentials over `store`, the admin token and the JWT key's secret.
    ///
    /// # Errors
    ///
    /// The secret is empty.
    pub(crate) fn new(
        admin_token: String,
        jwt_secret: &str,
        store: Store,
    ) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self {
            admin_token,
            keys: jwt::Keys::new(jwt_secret.as_bytes())?,
            store,
            attempts: std::sync::Mutex::default(),
            hasher: password::Hasher::default(),
        })
    }
}

impl Access {
    /// The node's password hashing (users and invitations hash new passwords through it).
    pub(crate) fn hasher(&self) -> &password::Hasher {
        &self.hasher
    }

    /// The lock a sign-in of `user_id` holds from its check of the lock to its count.
    fn attempts_of(&self, user_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        crate::sync::lock(&self.attempts)
            .entry(user_id.to_owned())
            .or_default()
            .clone()
    }
}

/// A new id for a record: `prefix` and 16 random letters and digits.
///
/// # Errors
///
/// The system has no randomness.
pub(crate) fn new_id(prefix: &str) -> Result<String, crate::secrets::NoRandomness> {
    Ok(format!("{prefix}{}", crate::secrets::random_token(16)?))
}
