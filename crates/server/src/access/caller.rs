//! Who a request's bearer credential is, and with which role: the admin token (an owner-level
//! token for automation), a user's access token (its session still open, its role as stored
//! now), or a named API token. Anything else is nobody (401).

use super::{Access, Role, jwt, opaque};
use signal_store::StoreError;

/// What kind of credential a caller used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The admin token.
    AdminToken,
    /// A named API token.
    ApiToken {
        /// Its id.
        id: String,
    },
    /// A signed-in user.
    User {
        /// The user's id.
        id: String,
        /// The sign-in session.
        session: String,
    },
}

/// Who is calling.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// As the audit log names them: a user's email, `token:<name>`, `admin-token`.
    pub(crate) actor: String,
    /// What they may do.
    pub(crate) role: Role,
    /// With what.
    pub(crate) kind: Kind,
}

impl Access {
    /// Who `bearer` is, as of `now_ms`; `None` when it is nobody's.
    ///
    /// # Errors
    ///
    /// The store could not be read.
    pub(crate) fn caller(&self, bearer: &str, now_ms: i64) -> Result<Option<Caller>, StoreError> {
        if crate::secrets::credential_matches(bearer, &self.admin_token) {
            return Ok(Some(Caller {
                actor: "admin-token".into(),
                role: Role::Owner,
                kind: Kind::AdminToken,
            }));
        }
        if jwt::looks_like_jwt(bearer) {
            return self.user_caller(bearer, now_ms);
        }
        let Some((id, hash)) = opaque::split(bearer, "sat_") else {
            return Ok(None);
        };
        let Some(token) = self.store.api_token(&id)? else {
            return Ok(None);
        };
        if !opaque::same(&hash, &token.secret_hash) {
            return Ok(None);
        }
        let Some(role) = Role::parse(&token.role) else {
            return Ok(None);
        };
        // When it was last used, to the minute: at most one write a minute per token, and
        // none to a token revoked meanwhile.
        let now = crate::clock::now_rfc3339();
        let minute = |t: &str| t.get(..16).map(str::to_owned);
        if token.last_used_at.as_deref().and_then(minute) != minute(&now) {
            let noted = self
                .store
                .update_api_token(&id, |t| t.last_used_at = Some(now));
            if let Err(e) = noted {
                tracing::warn!(error = %e, "could not note when an API token was last used");
            }
        }
        Ok(Some(Caller {
            actor: format!("token:{}", token.name),
            role,
            kind: Kind::ApiToken { id },
        }))
    }

    /// Whether `caller` may still read, asked again by what outlives its request (a live
    /// event stream): the admin token always; an API token while it is not revoked; a user
    /// while their session is open and they exist. A store that cannot be read says no.
    pub(crate) fn keeps(&self, caller: &Caller) -> impl Fn() -> bool + Send + Sync + use<> {
        let store = self.store.clone();
        let kind = caller.kind.clone();
        move || match &kind {
            Kind::AdminToken => true,
            Kind::ApiToken { id } => matches!(store.api_token(id), Ok(Some(_))),
            Kind::User { id, session } => {
                matches!(store.session(session), Ok(Some(s)) if s.user_id == *id)
                    && matches!(store.user(id), Ok(Some(_)))
            }
        }
    }

    fn user_caller(&self, bearer: &str, now_ms: i64) -> Result<Option<Caller>, StoreError> {
        let Some(claims) = self.keys.check(bearer) else {
            return Ok(None);
        };
        let Some(session) = self.store.session(&claims.sid)? else {
            return Ok(None);
        };
        if session.user_id != claims.sub || session.expires_ms < now_ms {
            return Ok(None);
        }
        let Some(user) = self.store.user(&claims.sub)? else {
            return Ok(None);
        };
        let Some(role) = Role::parse(&user.role) else {
            return Ok(None);
        };
        Ok(Some(Caller {
            actor: user.email,
            role,
            kind: Kind::User {
                id: user.id,
                session: session.id,
            },
        }))
    }
}
