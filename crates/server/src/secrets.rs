//! The node's secrets: the secret files in the data directory (`admin-token`, `pipeline-key`,
//! `pipeline-secret`), how credentials are compared, and how a masked secret sent back through
//! the management API keeps the stored one.
//!
//! A secret file is read, or generated and written atomically (a temporary file, `fsync`,
//! `rename`, `fsync` of the directory), so a start interrupted by a full disk never leaves a
//! half-written secret behind. A file that is empty anyway (one written by an older version, or
//! truncated by hand) is regenerated with a log line: an empty secret would match an empty
//! credential. A file that exists but cannot be read is an error that names it and says what to
//! do: replacing it silently could lock out the clients that use it.

use serde_json::{Map, Value};
use signal_core::{Blueprint, mask_secret};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

/// A secret file that can be neither used nor replaced.
#[derive(Debug)]
pub enum SecretError {
    /// The file exists but cannot be read (a directory, no permission, not UTF-8).
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A new secret could not be saved.
    Unwritable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// No randomness to make a secret from.
    Random(NoRandomness),
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable { path, error } => write!(
                f,
                "{}: cannot read it ({error}); fix its permissions, or delete it to have a new one \
                 generated (clients using the old one then need the new one)",
                path.display()
            ),
            Self::Unwritable { path, error } => write!(
                f,
                "{}: cannot save a new secret ({error}); free space or fix the data directory's \
                 permissions, then start again",
                path.display()
            ),
            Self::Random(why) => write!(f, "cannot generate a secret: {why}"),
        }
    }
}

impl std::error::Error for SecretError {}

/// The system has no randomness to make a secret from.
#[derive(Debug, Clone, Copy)]
pub struct NoRandomness(pub getrandom::Error);

impl fmt::Display for NoRandomness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no randomness: {}", self.0)
    }
}

impl std::error::Error for NoRandomness {}

/// A new random token of `n` letters and digits (a key, a secret, an id).
///
/// # Errors
///
/// The system has no randomness.
pub fn random_token(n: usize) -> Result<String, NoRandomness> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(NoRandomness)?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

/// Where a secret came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A setting (environment variable).
    Given,
    /// The file in the data directory.
    File,
    /// Generated now: there was no file.
    Generated,
    /// Generated now in place of an empty file.
    Regenerated,
}

impl Origin {
    /// Whether the secret is new, so the user has to be shown it.
    pub fn is_new(self) -> bool {
        matches!(self, Self::Generated | Self::Regenerated)
    }
}

/// The value of a secret: the setting if given (and not blank), else the file `name` in `dir`,
/// else one made by `make` and saved there (mode 0600). An empty file is replaced by a new secret.
///
/// # Errors
///
/// The file cannot be read, or a new secret cannot be made or saved.
pub fn load(
    dir: &Path,
    name: &str,
    given: Option<&str>,
    make: impl Fn() -> Result<String, NoRandomness>,
) -> Result<(String, Origin), SecretError> {
    if let Some(v) = given.map(str::trim).filter(|v| !v.is_empty()) {
        return Ok((v.to_owned(), Origin::Given));
    }
    let path = dir.join(name);
    let origin = match std::fs::read_to_string(&path) {
        Ok(v) if !v.trim().is_empty() => return Ok((v.trim().to_owned(), Origin::File)),
        Ok(_) => Origin::Regenerated,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Origin::Generated,
        Err(error) => return Err(SecretError::Unreadable { path, error }),
    };
    let v = make().map_err(SecretError::Random)?;
    write_atomically(&path, v.as_bytes(), |f, b| f.write_all(b)).map_err(|error| {
        SecretError::Unwritable {
            path: path.clone(),
            error,
        }
    })?;
    if origin == Origin::Regenerated {
        tracing::warn!(
            file = %path.display(),
            "the secret file was empty (a start interrupted by a full disk?); a new secret was generated and saved"
        );
    }
    Ok((v, origin))
}

/// Writes `path` whole or not at all: `contents` go to a temporary file beside it (mode 0600)
/// through `write`, which is synced and renamed over `path`, and the directory synced. On any
/// error the temporary file is removed and `path` is as it was.
fn write_atomically(
    path: &Path,
    contents: &[u8],
    write: impl FnOnce(&mut std::fs::File, &[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    // Left by an earlier attempt that died between create and rename.
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        write(&mut f, contents)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Whether a credential a client sent is the stored one, in constant time. An empty credential
/// never matches, whatever is stored.
pub fn credential_matches(sent: &str, stored: &str) -> bool {
    !sent.is_empty()
        && !stored.is_empty()
        && sent.len() == stored.len()
        && bool::from(sent.as_bytes().ct_eq(stored.as_bytes()))
}

/// Whether `value` has the form the API shows a secret in: `****` and at most 4 more
/// characters (`mask_secret`'s output).
pub fn looks_masked(value: &str) -> bool {
    value
        .strip_prefix("****")
        .is_some_and(|tail| tail.chars().count() <= 4)
}

/// Judges the secret fields of `bp` in `incoming`, a configuration sent to be stored over
/// `stored` (`None` on install). A value that is exactly the mask of the stored secret (what
/// the API shows for it) is put back as the stored secret; any other value shaped like a mask
/// is refused, as `config.<field>`: it is a configuration copied from a read, or read before the
/// key was changed, and storing it would send the mask to the vendor as the key.
///
/// # Errors
///
/// The fields holding a mask that is not the stored secret's, with the rule.
pub fn resolve_masked_secrets(
    bp: &Blueprint,
    stored: Option<&Map<String, Value>>,
    incoming: &mut Map<String, Value>,
) -> Result<(), crate::http::FieldErrors> {
    let mut refused = crate::http::FieldErrors::new();
    for field in bp.config_fields.iter().filter(|f| f.secret) {
        let Some(Value::String(sent)) = incoming.get(&field.key) else {
            continue;
        };
        if !looks_masked(sent) {
            continue;
        }
        match stored.and_then(|s| s.get(&field.key)) {
            Some(Value::String(old)) if *sent == mask_secret(old) => {
                let old = old.clone();
                incoming.insert(field.key.clone(), Value::String(old));
            }
            _ => {
                refused.insert(
                    format!("config.{}", field.key),
                    "is the masked form of a key (`****` and its last characters), not the key \
                     itself, and not the mask of the key stored now: send the key, not its mask"
                        .to_owned(),
                );
            }
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token() -> Result<String, NoRandomness> {
        Ok("new-secret".to_owned())
    }

    #[test]
    fn a_missing_file_is_generated_and_saved_for_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let (v, origin) = load(dir.path(), "admin-token", None, token).expect("load");
        assert_eq!((v.as_str(), origin), ("new-secret", Origin::Generated));
        let path = dir.path().join("admin-token");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new-secret");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (v, origin) = load(dir.path(), "admin-token", None, || {
            Err(NoRandomness(getrandom::Error::UNSUPPORTED))
        })
        .expect("read back");
        assert_eq!((v.as_str(), origin), ("new-secret", Origin::File));
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn an_empty_or_blank_file_is_replaced_by_a_new_secret() {
        for empty in ["", "\n", "  \t\n"] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("pipeline-secret");
            std::fs::write(&path, empty).expect("write");
            let (v, origin) = load(dir.path(), "pipeline-secret", None, token).expect("load");
            assert_eq!(
                (v.as_str(), origin),
                ("new-secret", Origin::Regenerated),
                "{empty:?}"
            );
            assert!(origin.is_new());
            assert_eq!(std::fs::read_to_string(&path).expect("read"), "new-secret");
        }
    }

    #[test]
    fn an_unreadable_file_is_an_error_naming_it_and_what_to_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("admin-token");
        std::fs::create_dir(&path).expect("mkdir");
        let e = load(dir.path(), "admin-token", None, token).expect_err("a directory");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("{}: cannot read it", path.display())),
            "{text}"
        );
        assert!(
            text.contains("delete it to have a new one generated"),
            "{text}"
        );
        std::fs::remove_dir(&path).expect("rmdir");
        std::fs::write(&path, [0xff, 0xfe, b'x']).expect("write");
        assert!(
            matches!(
                load(dir.path(), "admin-token", None, token),
                Err(SecretError::Unreadable { .. })
            ),
            "not UTF-8: kept for the user to look at, not replaced"
        );
        assert_eq!(std::fs::read(&path).expect("read"), [0xff, 0xfe, b'x']);
    }

    #[test]
    fn a_given_setting_wins_unless_blank() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (v, origin) = load(dir.path(), "admin-token", Some(" set "), token).expect("given");
        assert_eq!((v.as_str(), origin), ("set", Origin::Given));
        assert!(!dir.path().join("admin-token").exists(), "nothing saved");
        let (v, origin) = load(dir.path(), "admin-token", Some("  "), token).expect("blank");
        assert_eq!((v.as_str(), origin), ("new-secret", Origin::Generated));
    }

    #[test]
    fn a_write_that_fails_halfway_leaves_no_file_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("admin-token");
        let e = write_atomically(&path, b"0123456789", |f, b| {
            f.write_all(&b[..4])?;
            Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
        })
        .expect_err("disk full");
        assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            0,
            "neither the secret nor a temporary file"
        );
        // The next start generates the secret as if for the first time.
        let (_, origin) = load(dir.path(), "admin-token", None, token).expect("load");
        assert_eq!(origin, Origin::Generated);
        // Over an existing file, a failed write keeps the old content.
        let e = write_atomically(&path, b"other", |_, _| {
            Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
        });
        assert!(e.is_err());
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new-secret");
    }

    #[test]
    fn an_empty_credential_never_matches() {
        assert!(credential_matches("k", "k"));
        assert!(!credential_matches("", ""), "empty sent, empty stored");
        assert!(!credential_matches("", "k"));
        assert!(!credential_matches("k", ""));
        assert!(!credential_matches("k", "kk"));
        assert!(!credential_matches("kx", "ky"));
    }

    #[test]
    fn the_stored_secrets_mask_keeps_it_and_any_other_mask_is_refused() {
        let bp = Blueprint::get("pendo").expect("embedded");
        let secrets: Vec<&str> = bp
            .config_fields
            .iter()
            .filter(|f| f.secret)
            .map(|f| f.key.as_str())
            .collect();
        assert_eq!(secrets, ["api_key", "integration_key"]);
        let stored =
            json!({"api_key": "abc", "integration_key": "int-key-0002", "data_region": "us"});
        let stored = stored.as_object().expect("object");
        let round_trip = |sent: Value| {
            let mut m = sent.as_object().expect("object").clone();
            resolve_masked_secrets(bp, Some(stored), &mut m).map(|()| Value::Object(m))
        };
        // As read: every secret field keeps its stored value (a short one shows as `****`).
        assert_eq!(
            round_trip(
                json!({"api_key": "****", "integration_key": "****0002", "data_region": "eu"})
            ),
            Ok(json!({"api_key": "abc", "integration_key": "int-key-0002", "data_region": "eu"}))
        );
        // The mask of a key no longer stored (a page read before the key changed) is refused,
        // naming the field.
        let refused = round_trip(json!({"integration_key": "****0001", "api_key": "****"}))
            .expect_err("a stale mask");
        assert_eq!(
            refused.keys().collect::<Vec<_>>(),
            ["config.integration_key"]
        );
        assert!(refused["config.integration_key"].contains("send the key, not its mask"));
        // A new key is new, even one that starts with stars but is longer than a mask.
        assert_eq!(
            round_trip(json!({"integration_key": "****new-key-0002"})),
            Ok(json!({"integration_key": "****new-key-0002"}))
        );
        // Not a secret field: a mask-like value is taken as sent (validation judges it).
        assert_eq!(
            round_trip(json!({"data_region": "****"})),
            Ok(json!({"data_region": "****"}))
        );
        // Nothing stored (an install): any mask is refused.
        for mask in ["****", "****0002", "****x"] {
            let mut m = json!({"integration_key": mask})
                .as_object()
                .expect("o")
                .clone();
            let refused = resolve_masked_secrets(bp, None, &mut m).expect_err(mask);
            assert!(refused.contains_key("config.integration_key"), "{mask}");
        }
    }
}
