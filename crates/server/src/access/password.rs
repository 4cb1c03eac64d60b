//! Passwords as argon2id PHC strings (the `argon2` crate's defaults: OWASP's 19 MiB, two
//! passes, one lane), never kept or logged in clear.
//!
//! Hashing costs tens of milliseconds of a core by design, so it runs on the blocking pool and
//! at most [`AT_ONCE`] at a time: a flood of sign-ins waits its turn instead of taking every
//! core from delivery, and past [`QUEUE`] waiting one is refused at once ([`Busy`]). An unknown email is checked against a fixed hash all the same, so the
//! answer's time does not tell whether the account exists.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Semaphore, SemaphorePermit};

/// The shortest password accepted.
pub(crate) const MIN_LEN: usize = 12;
/// The longest (bytes): more only costs hashing time.
pub(crate) const MAX_LEN: usize = 1024;
/// Hashes worked out at once.
const AT_ONCE: usize = 2;
/// Hashes waiting their turn; past this a sign-in is refused at once (503) rather than queued
/// behind a flood.
const QUEUE: usize = 32;

/// A node's password hashing: at most [`AT_ONCE`] hashes worked out, [`QUEUE`] waiting.
pub(crate) struct Hasher {
    permits: Semaphore,
    waiting: AtomicUsize,
}

impl Default for Hasher {
    fn default() -> Self {
        Self {
            permits: Semaphore::new(AT_ONCE),
            waiting: AtomicUsize::new(0),
        }
    }
}

/// Too many hashes are waiting: try again in a second.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Busy;

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("too many sign-ins at once")
    }
}

impl std::error::Error for Busy {}

/// A password could not be hashed (no randomness for the salt).
#[derive(Debug)]
pub(crate) struct HashError(String);

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the password could not be hashed: {}", self.0)
    }
}

impl std::error::Error for HashError {}

/// What is wrong with `password` as a new password, if anything.
pub(crate) fn problem(password: &str) -> Option<String> {
    if password.chars().count() < MIN_LEN {
        Some(format!("must be at least {MIN_LEN} characters"))
    } else if password.len() > MAX_LEN {
        Some(format!("must be at most {MAX_LEN} bytes"))
    } else {
        None
    }
}

impl Hasher {
    /// A turn to work out a hash, or [`Busy`] when [`QUEUE`] are already waiting.
    async fn turn(&self) -> Result<SemaphorePermit<'_>, Busy> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= QUEUE {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let permit = self.permits.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit.map_err(|_| Busy)
    }

    /// The PHC string of `password`.
    ///
    /// # Errors
    ///
    /// No randomness for the salt, or the blocking pool is gone.
    pub(crate) async fn hash(&self, password: String) -> Result<String, HashError> {
        let _turn = self.turn().await.map_err(|e| HashError(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| HashError(e.to_string()))
        })
        .await
        .map_err(|e| HashError(e.to_string()))?
    }

    /// Whether `password` is the one `phc` was made from. `None` for `phc` checks a fixed hash and
    /// answers false, in the same time.
    ///
    /// # Errors
    ///
    /// [`Busy`]: too many are waiting; nothing was checked.
    pub(crate) async fn verify(&self, password: &str, phc: Option<&str>) -> Result<bool, Busy> {
        let _turn = self.turn().await?;
        let password = password.as_bytes()[..password.len().min(MAX_LEN)].to_vec();
        let phc = phc.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            let known = phc.is_some();
            let stored = phc.as_deref().unwrap_or_else(|| decoy());
            let Ok(parsed) = PasswordHash::new(stored) else {
                return false;
            };
            Argon2::default()
                .verify_password(&password, &parsed)
                .is_ok()
                && known
        })
        .await
        .map_err(|_| Busy)
    }
}

/// A hash no one's password matches, made once.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"no account has this password, it only spends the time")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_checks_its_own_password_only_and_never_holds_it_in_clear() {
        let hasher = Hasher::default();
        let phc = hasher.hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(
            hasher
                .verify("correct horse battery", Some(&phc))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("correct horse batterY", Some(&phc))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("correct horse battery", None).await.unwrap());
        assert!(!hasher.verify("x", Some("not a phc string")).await.unwrap());
    }

    #[test]
    fn short_and_huge_passwords_are_refused_with_the_rule() {
        assert!(problem("elevenchars").unwrap().contains("at least 12"));
        assert!(problem("twelve chars").is_none());
        assert!(problem(&"x".repeat(1025)).unwrap().contains("at most 1024"));
    }
}
