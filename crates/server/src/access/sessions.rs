//! Signing in and out: a password sign-in (five failures in a row lock the account for 15
//! minutes), a refresh that replaces its refresh token each time (one shown again after it was
//! replaced ends every session of that user: someone else has a copy), a sign-out, and
//! one-time invitations (the first owner's, printed on first start, and a new user's).

use super::{Access, INVITATION_TTL_MS, Role, jwt, new_id, opaque};
use signal_store::{InvitationRecord, SessionRecord, StoreError, UserRecord};

/// Failed sign-ins in a row that lock an account.
pub(crate) const LOCK_AFTER: u32 = 5;
/// How long the lock lasts, ms.
pub(crate) const LOCK_FOR_MS: i64 = 15 * 60 * 1000;
/// How long a sign-in may be refreshed, ms.
pub(crate) const SESSION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
/// Replaced refresh tokens remembered per session (to tell a reuse from a forgery).
const SPENT_KEPT: usize = 64;

/// What a refresh found its token to be.
enum Turn {
    /// The current one: replaced now.
    Rotated,
    /// One replaced before: a copy is in someone else's hands.
    Reused,
    /// The session is past its 7 days.
    Expired,
    /// Neither: a forgery or a typo.
    Unknown,
}

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
    Wrong {
        /// The user's id when the email is a user's (for the audit log only).
        user_id: Option<String>,
    },
    /// Locked until then (ms); `now` when this attempt locked it.
    Locked {
        /// Whose account.
        user_id: String,
        /// When the lock ends.
        until_ms: i64,
        /// Whether this failure locked it.
        now: bool,
    },
    /// Too many sign-ins at once: nothing was judged (503, try again).
    Busy,
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

use crate::clock::rfc3339;

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
        let Some(found) = self.store.user_by_email(email)? else {
            self.hasher
                .verify(password, None)
                .await
                .map_err(|_| LoginError::Busy)?;
            return Err(LoginError::Wrong { user_id: None });
        };
        let attempts = self.attempts_of(&found.id);
        let _one_at_a_time = attempts.lock().await;
        // Read again under the lock: the attempt before may have locked the account.
        let Some(user) = self.store.user(&found.id)? else {
            return Err(LoginError::Wrong { user_id: None });
        };
        if let Some(until_ms) = user.locked_until_ms.filter(|u| *u > now_ms) {
            return Err(LoginError::Locked {
                user_id: user.id,
                until_ms,
                now: false,
            });
        }
        let stored = Some(user.password_hash.as_str()).filter(|h| !h.is_empty());
        let right = self
            .hasher
            .verify(password, stored)
            .await
            .map_err(|_| LoginError::Busy)?;
        if !right {
            // Counted in one transaction, so a role or password changed meanwhile stays.
            let counted = self.store.update_user(&user.id, |u| {
                u.failed_logins += 1;
                let locks = u.failed_logins >= LOCK_AFTER;
                if locks {
                    u.failed_logins = 0;
                    u.locked_until_ms = Some(now_ms + LOCK_FOR_MS);
                }
                locks
            })?;
            return Err(match counted {
                Some((u, true)) => LoginError::Locked {
                    user_id: u.id,
                    until_ms: u.locked_until_ms.unwrap_or(now_ms),
                    now: true,
                },
                _ => LoginError::Wrong {
                    user_id: Some(user.id),
                },
            });
        }
        // Only if the password checked is still theirs: a reset made meanwhile wins.
        let checked = user.password_hash.clone();
        let signed_in = self.store.update_user(&user.id, |u| {
            let same = u.password_hash == checked;
            if same {
                u.failed_logins = 0;
                u.locked_until_ms = None;
                u.last_login_at = Some(rfc3339(now_ms));
            }
            same
        })?;
        let Some((user, true)) = signed_in else {
            return Err(LoginError::Wrong { user_id: None });
        };
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
        let secret = crate::secrets::random_token(40).map_err(|_| RefreshError::Internal)?;
        let next = format!("srt_{id}_{secret}");
        let (_, next_hash) = opaque::split(&next, "srt_").ok_or(RefreshError::Internal)?;
        // Judged and rotated in one transaction: of two refreshes with the same token, one
        // rotates and the other finds it spent, a reuse.
        let judged = self.store.update_session(&id, |s| {
            if s.expires_ms < now_ms {
                Turn::Expired
            } else if opaque::same(&hash, &s.secret_hash) {
                s.spent
                    .push(std::mem::replace(&mut s.secret_hash, next_hash));
                if s.spent.len() > SPENT_KEPT {
                    s.spent.remove(0);
                }
                Turn::Rotated
            } else if s.spent.iter().any(|old| opaque::same(&hash, old)) {
                Turn::Reused
            } else {
                Turn::Unknown
            }
        })?;
        let session = match judged {
            None | Some((_, Turn::Unknown)) => return Err(RefreshError::Invalid),
            Some((_, Turn::Expired)) => {
                self.store.delete_session(&id)?;
                return Err(RefreshError::Invalid);
            }
            Some((s, Turn::Reused)) => {
                self.store.end_sessions(Some(&s.user_id), now_ms)?;
                return Err(RefreshError::Reused { user_id: s.user_id });
            }
            Some((s, Turn::Rotated)) => s,
        };
        let user = self
            .store
            .user(&session.user_id)?
            .ok_or(RefreshError::Invalid)?;
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
        // Only the invitation printed last works; expired ones go too.
        self.store
            .remove_invitations(|i| i.user_id.is_none() || i.expires_ms < now_ms)?;
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
        if inv.user_id.is_none() {
            if email.is_empty() {
                return Err(AcceptError::EmailNeeded);
            }
            if self.store.user_by_email(email)?.is_some() {
                return Err(AcceptError::EmailTaken);
            }
        }
        let phc = self
            .hasher
            .hash(password.to_owned())
            .await
            .map_err(|_| AcceptError::Internal)?;
        if !self.store.delete_invitation(&id)? {
            return Err(AcceptError::Invalid);
        }
        let user = match &inv.user_id {
            // Only while they have no password: one set by an admin meanwhile wins.
            Some(uid) => match self.store.update_user(uid, |u| {
                let first = u.password_hash.is_empty();
                if first {
                    u.password_hash = phc;
                    u.updated_at = rfc3339(now_ms);
                    u.last_login_at = Some(rfc3339(now_ms));
                }
                first
            })? {
                Some((user, true)) => user,
                _ => return Err(AcceptError::Invalid),
            },
            None => self.first_owner(email, phc, &inv.role, now_ms)?,
        };
        self.open_session(user, now_ms).ok_or(AcceptError::Internal)
    }

    /// Makes the first owner, unless someone became a user meanwhile (then the invitation is
    /// spent for nothing: the node has its owner).
    fn first_owner(
        &self,
        email: &str,
        phc: String,
        role: &str,
        now_ms: i64,
    ) -> Result<UserRecord, AcceptError> {
        if !self.store.users()?.is_empty() {
            return Err(AcceptError::Invalid);
        }
        let now = rfc3339(now_ms);
        let user = UserRecord {
            id: new_id("usr_").map_err(|_| AcceptError::Internal)?,
            email: email.to_lowercase(),
            role: role.into(),
            password_hash: phc,
            created_at: now.clone(),
            updated_at: now.clone(),
            last_login_at: Some(now),
            failed_logins: 0,
            locked_until_ms: None,
        };
        self.store.put_user(&user)?;
        self.store.remove_invitations(|i| i.user_id.is_none())?;
        Ok(user)
    }
}
