//! Signing in and out: a password sign-in (five failures in a row lock the account for 15
//! minutes), a refresh that replaces its refresh token each time (one shown again after it was
//! replaced ends every session of that user: someone else has a copy), a sign-out, and
//! one-time invitations (the first owner's, printed on first start, and a new user's).

use super::{Access, INVITATION_TTL_MS, Role, jwt, new_id, opaque, password};
use signal_store::{InvitationRecord, SessionRecord, StoreError, UserRecord};

/// Failed sign-ins in a row that lock an account.
pub(crate) const LOCK_AFTER: u32 = 5;
/// How long the lock lasts, ms.
pub(crate) const LOCK_FOR_MS: i64 = 15 * 60 * 1000;
/// How long a sign-in may be refreshed, ms.
pub(crate) const SESSION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
/// Replaced refresh tokens remembered per session (to tell a reuse from a forgery).
const SPENT_KEPT: usize = 64;

/// A sign-in's tokens.
#[derive(Debug)]
pub(crate) struct Grant {
    /// The JWT.
    pub(crate) access_token: String,
    /// `srt_...`, for `/auth/refresh`.
    pub(crate) refresh_token: String,
    /// Seconds the access token lives.
    pub(crate) expires_in: u64,
    /// Who signed in.
    pub(crate) user: UserRecord,
}

/// Why a sign-in failed.
#[derive(Debug)]
pub(crate) enum LoginError {
    /// No such email, or the wrong password (the answer does not say which).
    Wrong,
    /// Locked until then (ms); `now` when this attempt locked it.
    Locked {
        /// When the lock ends.
        until_ms: i64,
        /// Whether this failure locked it.
        now: bool,
    },
    /// The store failed.
    Store(StoreError),
    /// No randomness or no signing.
    Internal,
}

/// Why a refresh failed (each is a 401, the reuse also ends the user's sessions).
#[derive(Debug)]
pub(crate) enum RefreshError {
    /// Unknown, expired or malformed.
    Invalid,
    /// A replaced token shown again: every session of the user ended.
    Reused {
        /// Whose.
        user_id: String,
    },
    /// The store failed.
    Store(StoreError),
    /// No randomness or no signing.
    Internal,
}

/// Why an invitation could not be accepted.
#[derive(Debug)]
pub(crate) enum AcceptError {
    /// Unknown, spent or expired (401).
    Invalid,
    /// The first owner's invitation needs an email and none was sent (422).
    EmailNeeded,
    /// The email sent with the first owner's invitation is taken (409).
    EmailTaken,
    /// The store failed.
    Store(StoreError),
    /// No randomness, hashing or signing.
    Internal,
}

impl std::fmt::Display for AcceptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid => f.write_str("the invitation is unknown, used or expired"),
            Self::EmailNeeded => f.write_str("the first owner's invitation needs an email"),
            Self::EmailTaken => f.write_str("a user with this email exists"),
            Self::Store(e) => write!(f, "the store failed: {e}"),
            Self::Internal => f.write_str("no randomness to make a token from"),
        }
    }
}

impl std::error::Error for AcceptError {}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}
impl From<StoreError> for RefreshError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}
impl From<StoreError> for AcceptError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

fn secs(ms: i64) -> u64 {
    u64::try_from(ms / 1000).unwrap_or(0)
}

fn rfc3339(ms: i64) -> String {
    let mut s = String::new();
    signal_core::time::format_rfc3339(ms, &mut s);
    s
}

impl Access {
    /// Signs `email` in with `password` at `now_ms`.
    ///
    /// # Errors
    ///
    /// Wrong credentials, a locked account, a failed store.
    pub(crate) async fn login(
        &self,
        email: &str,
        password: &str,
        now_ms: i64,
    ) -> Result<Grant, LoginError> {
        let Some(mut user) = self.store.user_by_email(email)? else {
            password::verify(password, None).await;
            return Err(LoginError::Wrong);
        };
        if let Some(until_ms) = user.locked_until_ms.filter(|u| *u > now_ms) {
            return Err(LoginError::Locked {
                until_ms,
                now: false,
            });
        }
        let stored = Some(user.password_hash.as_str()).filter(|h| !h.is_empty());
        if !password::verify(password, stored).await {
            user.failed_logins += 1;
            let locked = user.failed_logins >= LOCK_AFTER;
            if locked {
                user.failed_logins = 0;
                user.locked_until_ms = Some(now_ms + LOCK_FOR_MS);
            }
            self.store.put_user(&user)?;
            return Err(match user.locked_until_ms {
                Some(until_ms) if locked => LoginError::Locked {
                    until_ms,
                    now: true,
                },
                _ => LoginError::Wrong,
            });
        }
        user.failed_logins = 0;
        user.locked_until_ms = None;
        user.last_login_at = Some(rfc3339(now_ms));
        self.store.put_user(&user)?;
        self.open_session(user, now_ms).ok_or(LoginError::Internal)
    }

    /// A new session for `user` and its first tokens.
    fn open_session(&self, user: UserRecord, now_ms: i64) -> Option<Grant> {
        let minted = opaque::mint("srt_").ok()?;
        let session = SessionRecord {
            id: minted.id,
            user_id: user.id.clone(),
            secret_hash: minted.secret_hash,
            spent: Vec::new(),
            created_ms: now_ms,
            expires_ms: now_ms + SESSION_TTL_MS,
        };
        self.store.put_session(&session).ok()?;
        // Sign-ins that were never signed out leave their sessions until they expire.
        if let Err(e) = self.store.end_sessions(None, now_ms) {
            tracing::warn!(error = %e, "could not remove expired sign-in sessions");
        }
        Some(Grant {
            access_token: self.keys.issue(&user.id, &session.id, secs(now_ms))?,
            refresh_token: minted.token,
            expires_in: jwt::TTL_SECS,
            user,
        })
    }

    /// New tokens for the session `refresh_token` belongs to; that token is spent.
    ///
    /// # Errors
    ///
    /// An unknown, expired or reused token; a failed store.
    pub(crate) fn refresh(&self, refresh_token: &str, now_ms: i64) -> Result<Grant, RefreshError> {
        let (id, hash) = opaque::split(refresh_token, "srt_").ok_or(RefreshError::Invalid)?;
        let mut session = self.store.session(&id)?.ok_or(RefreshError::Invalid)?;
        if session.expires_ms < now_ms {
            self.store.delete_session(&id)?;
            return Err(RefreshError::Invalid);
        }
        if !opaque::same(&hash, &session.secret_hash) {
            if session.spent.iter().any(|s| opaque::same(&hash, s)) {
                self.store.end_sessions(Some(&session.user_id), now_ms)?;
                return Err(RefreshError::Reused {
                    user_id: session.user_id,
                });
            }
            return Err(RefreshError::Invalid);
        }
        let user = self
            .store
            .user(&session.user_id)?
            .ok_or(RefreshError::Invalid)?;
        let secret = crate::secrets::random_token(40).map_err(|_| RefreshError::Internal)?;
        let next = format!("srt_{}_{secret}", session.id);
        let (_, next_hash) = opaque::split(&next, "srt_").ok_or(RefreshError::Internal)?;
        session
            .spent
            .push(std::mem::replace(&mut session.secret_hash, next_hash));
        if session.spent.len() > SPENT_KEPT {
            session.spent.remove(0);
        }
        self.store.put_session(&session)?;
        Ok(Grant {
            access_token: self
                .keys
                .issue(&user.id, &session.id, secs(now_ms))
                .ok_or(RefreshError::Internal)?,
            refresh_token: next,
            expires_in: jwt::TTL_SECS,
            user,
        })
    }

    /// Ends the session of `refresh_token` (current or spent) or of session id `sid`; the user
    /// it belonged to, if any.
    ///
    /// # Errors
    ///
    /// The store failed.
    pub(crate) fn logout(
        &self,
        refresh_token: Option<&str>,
        sid: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let by_token = refresh_token.and_then(|t| opaque::split(t, "srt_"));
        let id = match (&by_token, sid) {
            (Some((id, _)), _) => id.as_str(),
            (None, Some(sid)) => sid,
            (None, None) => return Ok(None),
        };
        let Some(session) = self.store.session(id)? else {
            return Ok(None);
        };
        if let Some((_, hash)) = &by_token {
            let known = opaque::same(hash, &session.secret_hash)
                || session.spent.iter().any(|s| opaque::same(hash, s));
            if !known {
                return Ok(None);
            }
        }
        self.store.delete_session(id)?;
        Ok(Some(session.user_id))
    }

    /// A one-time invitation: for `user_id` (a user made without a password), or for the first
    /// owner (`None`). The whole token and when it expires (ms).
    ///
    /// # Errors
    ///
    /// No randomness or a failed store.
    pub(crate) fn invite(
        &self,
        user_id: Option<&str>,
        role: Role,
        now_ms: i64,
    ) -> Result<(String, i64), AcceptError> {
        let minted = opaque::mint("inv_").map_err(|_| AcceptError::Internal)?;
        let expires_ms = now_ms + INVITATION_TTL_MS;
        self.store.put_invitation(&InvitationRecord {
            id: minted.id,
            secret_hash: minted.secret_hash,
            user_id: user_id.map(str::to_owned),
            role: role.as_str().into(),
            expires_ms,
        })?;
        Ok((minted.token, expires_ms))
    }

    /// The first start's invitation: while the node has no users, a new owner invitation
    /// (the whole token); `None` once someone has accepted one.
    ///
    /// # Errors
    ///
    /// No randomness or a failed store.
    pub(crate) fn first_owner_invitation(
        &self,
        now_ms: i64,
    ) -> Result<Option<String>, AcceptError> {
        if !self.store.users()?.is_empty() {
            return Ok(None);
        }
        self.invite(None, Role::Owner, now_ms)
            .map(|(token, _)| Some(token))
    }

    /// Accepts invitation `token`: sets the password (and, for the first owner, makes the user
    /// with `email`), spends the invitation and signs in.
    ///
    /// # Errors
    ///
    /// An unknown, spent or expired invitation; a taken email; a failed store or hash.
    pub(crate) async fn accept(
        &self,
        token: &str,
        email: &str,
        password: &str,
        now_ms: i64,
    ) -> Result<Grant, AcceptError> {
        let (id, hash) = opaque::split(token, "inv_").ok_or(AcceptError::Invalid)?;
        let inv = self.store.invitation(&id)?.ok_or(AcceptError::Invalid)?;
        if !opaque::same(&hash, &inv.secret_hash) || inv.expires_ms < now_ms {
            return Err(AcceptError::Invalid);
        }
        let phc = password::hash(password.to_owned())
            .await
            .map_err(|_| AcceptError::Internal)?;
        let mut user = match &inv.user_id {
            Some(uid) => self.store.user(uid)?.ok_or(AcceptError::Invalid)?,
            None => {
                if email.is_empty() {
                    return Err(AcceptError::EmailNeeded);
                }
                if self.store.user_by_email(email)?.is_some() {
                    return Err(AcceptError::EmailTaken);
                }
                let now = rfc3339(now_ms);
                UserRecord {
                    id: new_id("usr_").map_err(|_| AcceptError::Internal)?,
                    email: email.to_lowercase(),
                    role: inv.role.clone(),
                    password_hash: String::new(),
                    created_at: now.clone(),
                    updated_at: now,
                    last_login_at: None,
                    failed_logins: 0,
                    locked_until_ms: None,
                }
            }
        };
        if !self.store.delete_invitation(&id)? {
            return Err(AcceptError::Invalid);
        }
        user.password_hash = phc;
        user.updated_at = rfc3339(now_ms);
        user.last_login_at = Some(rfc3339(now_ms));
        self.store.put_user(&user)?;
        self.open_session(user, now_ms).ok_or(AcceptError::Internal)
    }

    /// The store of people (the users and tokens routes read and write it).
    pub(crate) fn store(&self) -> &signal_store::Store {
        &self.store
    }

    /// Ends every session of `user_id` (a new password or role, a removal).
    ///
    /// # Errors
    ///
    /// The store failed.
    pub(crate) fn end_sessions_of(&self, user_id: &str, now_ms: i64) -> Result<(), StoreError> {
        self.store.end_sessions(Some(user_id), now_ms).map(drop)
    }
}
