//! Opaque tokens: `<prefix><id>_<secret>` (API tokens `sat_`, refresh tokens `srt_`,
//! invitations `inv_`). The id finds the record; only the SHA-256 of the secret is stored and
//! it is compared in constant time, so a stolen store file signs no one in.

use crate::secrets::{NoRandomness, credential_matches, random_token};
use sha2::{Digest, Sha256};

/// A new token: its id, the hash to store and the whole token (shown once).
pub(crate) struct Minted {
    /// Finds the record.
    pub(crate) id: String,
    /// SHA-256 of the secret, hex.
    pub(crate) secret_hash: String,
    /// What the client keeps.
    pub(crate) token: String,
}

/// A new token with `prefix`.
///
/// # Errors
///
/// The system has no randomness.
pub(crate) fn mint(prefix: &str) -> Result<Minted, NoRandomness> {
    let id = random_token(16)?;
    let secret = random_token(40)?;
    Ok(Minted {
        token: format!("{prefix}{id}_{secret}"),
        secret_hash: digest(&secret),
        id,
    })
}

/// The id and the secret's hash of `token` if it has `prefix` and the form.
pub(crate) fn split(token: &str, prefix: &str) -> Option<(String, String)> {
    let (id, secret) = token.strip_prefix(prefix)?.split_once('_')?;
    let ok =
        |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (ok(id) && ok(secret)).then(|| (id.to_owned(), digest(secret)))
}

/// Whether a hash from [`split`] is the stored one (constant time).
pub(crate) fn same(sent_hash: &str, stored_hash: &str) -> bool {
    credential_matches(sent_hash, stored_hash)
}

fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_splits_back_to_its_id_and_hash_and_a_changed_one_does_not_match() {
        let m = mint("sat_").unwrap();
        let (id, hash) = split(&m.token, "sat_").unwrap();
        assert_eq!(id, m.id);
        assert!(same(&hash, &m.secret_hash));
        assert!(!m.token.contains(&m.secret_hash));
        let mut other = m.token.clone();
        other.pop();
        other.push('!');
        assert!(split(&other, "sat_").is_none());
        other.pop();
        other.push(if m.token.ends_with('a') { 'b' } else { 'a' });
        let (_, wrong) = split(&other, "sat_").unwrap();
        assert!(!same(&wrong, &m.secret_hash));
        assert!(split(&m.token, "srt_").is_none());
        assert!(split("sat_abc", "sat_").is_none());
    }
}
