//! People and their credentials, as stored: users (email, role, an argon2id PHC string, the
//! lockout counters), sign-in sessions (the hash of the current refresh token and of those it
//! replaced), named API tokens (the hash of the token) and one-time invitations (the hash).
//!
//! Nothing here is a secret in clear: the server hashes before it stores. Records are JSON in
//! their own tables, keyed by id; lookups by email scan the users (a node has few).

use crate::{Store, StoreError, err};
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

pub(crate) const PEOPLE: TableDefinition<&str, &[u8]> = TableDefinition::new("people");
pub(crate) const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
pub(crate) const API_TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_tokens");
pub(crate) const INVITATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("invitations");

/// A person who signs in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// `usr_` and random characters.
    pub id: String,
    /// Lower-cased.
    pub email: String,
    /// `owner`, `admin`, `editor`, `viewer`.
    pub role: String,
    /// The argon2id PHC string; empty while the user has an invitation and no password yet.
    pub password_hash: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// RFC 3339 of the last sign-in.
    pub last_login_at: Option<String>,
    /// Failed sign-ins in a row.
    pub failed_logins: u32,
    /// Locked until then (ms since the epoch).
    pub locked_until_ms: Option<i64>,
}

/// A sign-in: the refresh token's family. Each refresh replaces its token; the hashes of the
/// tokens it replaced are kept, so a spent one shown again is known as a reuse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Random; the first part of each of its refresh tokens.
    pub id: String,
    /// Whose.
    pub user_id: String,
    /// SHA-256 (hex) of the current refresh token's secret part.
    pub secret_hash: String,
    /// The hashes it replaced, newest last (bounded by the server).
    pub spent: Vec<String>,
    /// Ms since the epoch.
    pub created_ms: i64,
    /// Ms since the epoch: refreshing after this fails.
    pub expires_ms: i64,
}

/// A named API token with a role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiTokenRecord {
    /// Random; part of the token.
    pub id: String,
    /// Unique among tokens.
    pub name: String,
    /// Its role.
    pub role: String,
    /// SHA-256 (hex) of the token's secret part.
    pub secret_hash: String,
    /// The token's last 4 characters (shown masked).
    pub last4: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, updated at most once a minute.
    pub last_used_at: Option<String>,
}

/// A one-time invitation to set a password (and, for the first owner, the email).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitationRecord {
    /// Random; part of the token.
    pub id: String,
    /// SHA-256 (hex) of the token's secret part.
    pub secret_hash: String,
    /// The invited user, or `None` for the first owner (who names the email on accepting).
    pub user_id: Option<String>,
    /// The role the first owner gets.
    pub role: String,
    /// Ms since the epoch.
    pub expires_ms: i64,
}

impl Store {
    /// Saves a user (insert or replace).
    ///
    /// # Errors
    ///
    /// The write fails.
    pub fn put_user(&self, rec: &UserRecord) -> Result<(), StoreError> {
        self.put(PEOPLE, &rec.id, rec)
    }

    /// Changes the user `id` with `f` in one transaction (a sign-in's counters never undo a
    /// role changed meanwhile); the user as written and what `f` returned, `None` if there is
    /// no such user.
    ///
    /// # Errors
    ///
    /// The write fails: nothing changed.
    pub fn update_user<R>(
        &self,
        id: &str,
        f: impl FnOnce(&mut UserRecord) -> R,
    ) -> Result<Option<(UserRecord, R)>, StoreError> {
        self.update(PEOPLE, id, f)
    }

    /// One user.
    ///
    /// # Errors
    ///
    /// The read fails.
    pub fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.get(PEOPLE, id)
    }

    /// Every user, by id.
    ///
    /// # Errors
    ///
    /// The read fails.
    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.list(PEOPLE)
    }

    /// The user with this email (compared lower-cased).
    ///
    /// # Errors
    ///
    /// The read fails.
    pub fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let email = email.to_lowercase();
        Ok(self.users()?.into_iter().find(|u| u.email == email))
    }

    /// Removes a user, its sessions and its invitations in one transaction; whether it existed.
    ///
    /// # Errors
    ///
    /// The write fails: nothing is removed.
    pub fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        self.check(true, "remove")?;
        let txn = self.db.begin_write().map_err(|e| err("begin")(&e))?;
        let existed;
        {
            let mut t = txn.open_table(PEOPLE).map_err(|e| err("open table")(&e))?;
            existed = t.remove(id).map_err(|e| err("remove")(&e))?.is_some();
            let mut s = txn
                .open_table(SESSIONS)
                .map_err(|e| err("open table")(&e))?;
            end_sessions_in(&mut s, |s| s.user_id == id)?;
        }
        txn.commit().map_err(|e| err("commit")(&e))?;
        self.remove_invitations(|i| i.user_id.as_deref() == Some(id))?;
        Ok(existed)
    }

    /// Saves a session (insert or replace).
    ///
    /// # Errors
    ///
    /// The write fails.
    pub fn put_session(&self, rec: &SessionRecord) -> Result<(), StoreError> {
        self.put(SESSIONS, &rec.id, rec)
    }

    /// Changes the session `id` with `f` in one transaction (two refreshes of one token cannot
    /// both see it current); `None` if there is no such session.
    ///
    /// # Errors
    ///
    /// The write fails: nothing changed.
    pub fn update_session<R>(
        &self,
        id: &str,
        f: impl FnOnce(&mut SessionRecord) -> R,
    ) -> Result<Option<(SessionRecord, R)>, StoreError> {
        self.update(SESSIONS, id, f)
    }

    /// One session.
    ///
    /// # Errors
    ///
    /// The read fails.
    pub fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.get(SESSIONS, id)
    }

    /// Ends one session; whether it existed.
    ///
    /// # Errors
    ///
    /// The write fails.
    pub fn delete_session(&self, id: &str) -> Result<bool, StoreError> {
        self.delete(SESSIONS, id)
    }

    /// Ends every session of a user, and any that expired before `now_ms`; how many ended.
    ///
    /// # Errors
    ///
    /// The write fails: none ended.
    pub fn end_sessions(&self, user_id: Option<&str>, now_ms: i64) -> Result<usize, StoreError> {
        self.check(true, "remove")?;
        let txn = self.db.begin_write().map_err(|e| err("begin")(&e))?;
        let ended = {
            let mut t = txn
                .open_table(SESSIONS)
                .map_err(|e| err("open table")(&e))?;
            end_sessions_in(&mut t, |s| {
                Some(s.user_id.as_str()) == user_id || s.expires_ms < now_ms
            })?
        };
        txn.commit().map_err(|e| err("commit")(&e))?;
        Ok(ended)
    }

    /// Changes the user `id` with `f` and ends every session of theirs, in one transaction:
    /// a new password or role never leaves a session made with the old one. `None` if there is
    /// no such user.
    ///
    /// # Errors
    ///
    /// The write fails: nothing changed, no session ended.
    pub fn update_user_signing_out<R>(
        &self,
        id: &str,
        f: impl FnOnce(&mut UserRecord) -> R,
    ) -> Result<Option<(UserRecord, R)>, StoreError> {
        self.check(true, "update")?;
        let txn = self.db.begin_write().map_err(|e| err("begin")(&e))?;
        let out = {
            let mut users = txn.open_table(PEOPLE).map_err(|e| err("open table")(&e))?;
            let found: Option<UserRecord> = match users.get(id).map_err(|e| err("get")(&e))? {
                Some(v) => Some(serde_json::from_slice(v.value()).map_err(|e| err("decode")(&e))?),
                None => None,
            };
            match found {
                None => None,
                Some(mut user) => {
                    let r = f(&mut user);
                    let bytes = serde_json::to_vec(&user).map_err(|e| err("encode")(&e))?;
                    users
                        .insert(id, bytes.as_slice())
                        .map_err(|e| err("insert")(&e))?;
                    let mut sessions = txn
                        .open_table(SESSIONS)
                        .map_err(|e| err("open table")(&e))?;
                    end_sessions_in(&mut sessions, |s| s.user_id == id)?;
                    Some((user, r))
                }
            }
        };
        txn.commit().map_err(|e| err("commit")(&e))?;
        Ok(out)
    }

    /// Removes the invitations `gone` picks (the first owner's when someone accepted one,
    /// expired ones); how many.
    ///
    /// # Errors
    ///
    /// The write fails: none removed.
    pub fn remove_invitations(
        &self,
        gone: impl Fn(&InvitationRecord) -> bool,
    ) -> Result<usize, StoreError> {
        self.check(true, "remove")?;
        let txn = self.db.begin_write().map_err(|e| err("begin")(&e))?;
        let removed = {
            let mut t = txn
                .open_table(INVITATIONS)
                .map_err(|e| err("open table")(&e))?;
            let mut ids = Vec::new();
            for row in t.iter().map_err(|e| err("list")(&e))? {
                let (k, v) = row.map_err(|e| err("list")(&e))?;
                let inv: InvitationRecord =
                    serde_json::from_slice(v.value()).map_err(|e| err("decode")(&e))?;
                if gone(&inv) {
                    ids.push(k.value().to_owned());
                }
            }
            for id in &ids {
                t.remove(id.as_str()).map_err(|e| err("remove")(&e))?;
            }
            ids.len()
        };
        txn.commit().map_err(|e| err("commit")(&e))?;
        Ok(removed)
    }

    /// Saves an API token (insert or replace).
    ///
    /// # Errors
    ///
    /// The write fails.
    pub fn put_api_token(&self, rec: &ApiTokenRecord) -> Result<(), StoreError> {
        self.put(API_TOKENS, &rec.id, rec)
    }

    /// Changes the API token `id` with `f` in one transaction; `None` (and nothing written) if
    /// it was revoked, so a late write never brings a revoked token back.
    ///
    /// # Errors
    ///
    /// The write fails: nothing changed.
    pub fn update_api_token<R>(
        &self,
        id: &str,
        f: impl FnOnce(&mut ApiTokenRecord) -> R,
    ) -> Result<Option<(ApiTokenRecord, R)>, StoreError> {
        self.update(API_TOKENS, id, f)
    }

    /// One API token.
    ///
    /// # Errors
    ///
    /// The read fails.
    pub fn api_token(&self, id: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        self.get(API_TOKENS, id)
    }

    /// Every API token, by id.
    ///
    /// # Errors
    ///
    /// The read fails.
    pub fn api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StoreError> {
        self.list(API_TOKENS)
    }

    /// Revokes an API token; whether it existed.
    ///
    /// # Errors
    ///
    /// The write fails.
    pub fn delete_api_token(&self, id: &str) -> Result<bool, StoreError> {
        self.delete(API_TOKENS, id)
    }

    /// Saves an invitation.
    ///
    /// # Errors
    ///
    /// The write fails.
    pub fn put_invitation(&self, rec: &InvitationRecord) -> Result<(), StoreError> {
        self.put(INVITATIONS, &rec.id, rec)
    }

    /// One invitation.
    ///
    /// # Errors
    ///
    /// The read fails.
    pub fn invitation(&self, id: &str) -> Result<Option<InvitationRecord>, StoreError> {
        self.get(INVITATIONS, id)
    }

    /// Spends an invitation; whether it was still there (a second acceptance finds none).
    ///
    /// # Errors
    ///
    /// The write fails.
    pub fn delete_invitation(&self, id: &str) -> Result<bool, StoreError> {
        self.delete(INVITATIONS, id)
    }
}

/// Removes the sessions of `t` that `gone` picks, within the caller's transaction; how many.
fn end_sessions_in(
    t: &mut redb::Table<'_, &'static str, &'static [u8]>,
    gone: impl Fn(&SessionRecord) -> bool,
) -> Result<usize, StoreError> {
    let mut ids = Vec::new();
    for row in t.iter().map_err(|e| err("list")(&e))? {
        let (k, v) = row.map_err(|e| err("list")(&e))?;
        let s: SessionRecord = serde_json::from_slice(v.value()).map_err(|e| err("decode")(&e))?;
        if gone(&s) {
            ids.push(k.value().to_owned());
        }
    }
    for id in &ids {
        t.remove(id.as_str()).map_err(|e| err("remove")(&e))?;
    }
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, email: &str) -> UserRecord {
        UserRecord {
            id: id.into(),
            email: email.into(),
            role: "viewer".into(),
            password_hash: "$argon2id$x".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            last_login_at: None,
            failed_logins: 0,
            locked_until_ms: None,
        }
    }

    fn session(id: &str, user_id: &str, expires_ms: i64) -> SessionRecord {
        SessionRecord {
            id: id.into(),
            user_id: user_id.into(),
            secret_hash: "h".into(),
            spent: vec![],
            created_ms: 0,
            expires_ms,
        }
    }

    #[test]
    fn users_survive_a_reopen_and_are_found_by_email_whatever_its_case() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        {
            let store = Store::open(&path).unwrap();
            store.put_user(&user("usr_1", "ann@example.com")).unwrap();
        }
        let store = Store::open(&path).unwrap();
        let found = store.user_by_email("Ann@Example.COM").unwrap().unwrap();
        assert_eq!(found.id, "usr_1");
        assert!(store.user_by_email("bob@example.com").unwrap().is_none());
    }

    #[test]
    fn removing_a_user_ends_its_sessions_and_invitations_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.redb")).unwrap();
        store.put_user(&user("usr_1", "a@x.io")).unwrap();
        store.put_user(&user("usr_2", "b@x.io")).unwrap();
        store
            .put_session(&session("s1", "usr_1", i64::MAX))
            .unwrap();
        store
            .put_session(&session("s2", "usr_2", i64::MAX))
            .unwrap();
        store
            .put_invitation(&InvitationRecord {
                id: "i1".into(),
                secret_hash: "h".into(),
                user_id: Some("usr_1".into()),
                role: "viewer".into(),
                expires_ms: i64::MAX,
            })
            .unwrap();
        assert!(store.delete_user("usr_1").unwrap());
        assert!(store.session("s1").unwrap().is_none());
        assert!(store.invitation("i1").unwrap().is_none());
        assert!(store.session("s2").unwrap().is_some());
        assert!(!store.delete_user("usr_1").unwrap());
    }

    #[test]
    fn ending_sessions_takes_a_users_and_the_expired_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.redb")).unwrap();
        store.put_session(&session("s1", "usr_1", 5_000)).unwrap();
        store.put_session(&session("s2", "usr_1", 50_000)).unwrap();
        store.put_session(&session("s3", "usr_2", 1_000)).unwrap();
        store.put_session(&session("s4", "usr_2", 50_000)).unwrap();
        assert_eq!(store.end_sessions(Some("usr_1"), 2_000).unwrap(), 3);
        assert!(store.session("s4").unwrap().is_some());
        assert_eq!(store.end_sessions(None, 2_000).unwrap(), 0);
    }
}
