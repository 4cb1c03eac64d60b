//! Access tokens: HS256 JWTs (`jsonwebtoken`), 15 minutes, signed with a key generated once in
//! the data directory (`jwt-key`, mode 0600). The claims name the user and the sign-in session;
//! each request also finds both in the store, so a sign-out, a removed user or a changed role
//! takes effect at once rather than when the token expires.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// How long an access token lives, seconds.
pub(crate) const TTL_SECS: u64 = 15 * 60;
const ISSUER: &str = "signal-edge";

/// What an access token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// The user's id.
    pub(crate) sub: String,
    /// The sign-in session's id.
    pub(crate) sid: String,
    /// Issued at, seconds since the epoch.
    pub(crate) iat: u64,
    /// Expires at, seconds since the epoch.
    pub(crate) exp: u64,
    /// `signal-edge`.
    pub(crate) iss: String,
}

/// The signing and checking keys.
pub(crate) struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Keys {
    /// Keys from the secret in `jwt-key`.
    ///
    /// # Errors
    ///
    /// The secret is empty.
    pub(crate) fn new(secret: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 5;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
        })
    }

    /// A new access token for `user_id` in session `sid`, issued at `now_secs`.
    pub(crate) fn issue(&self, user_id: &str, sid: &str, now_secs: u64) -> Option<String> {
        let claims = Claims {
            sub: user_id.into(),
            sid: sid.into(),
            iat: now_secs,
            exp: now_secs + TTL_SECS,
            iss: ISSUER.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).ok()
    }

    /// The claims of `token` if this node signed it and it has not expired.
    pub(crate) fn check(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims)
    }
}

/// Whether `token` has a JWT's form (three base64url parts), so it is not looked up as an API
/// token.
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.matches('.').count() == 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    #[test]
    fn a_token_checks_with_its_key_only_and_not_after_it_expires() {
        let keys = Keys::new(b"0123456789abcdef0123456789abcdef").unwrap();
        let t = keys.issue("usr_1", "s1", now()).unwrap();
        assert!(looks_like_jwt(&t));
        let c = keys.check(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.sid.as_str()), ("usr_1", "s1"));
        assert_eq!(c.exp - c.iat, 900);
        let other = Keys::new(b"another key, another node's 32 b").unwrap();
        assert!(other.check(&t).is_none());
        let old = keys.issue("usr_1", "s1", now() - TTL_SECS - 10).unwrap();
        assert!(keys.check(&old).is_none());
        let mut forged = t.clone();
        forged.insert(t.find('.').unwrap() + 3, 'x');
        assert!(keys.check(&forged).is_none());
    }
}
