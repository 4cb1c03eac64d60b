//! Why a blueprint does not load: the file, the JSON path inside it and the rule.

use std::fmt;

/// A blueprint that does not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlueprintError {
    /// The file (`pendo.json`).
    pub file: String,
    /// The JSON path inside it (`requests.track.item.timestamp.@as`).
    pub path: String,
    /// The rule broken.
    pub rule: BlueprintRule,
}

/// The rule a blueprint broke.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlueprintRule {
    /// Not JSON of the blueprint's shape (unknown key, wrong type, missing field): serde's words.
    Shape(String),
    /// A key starting with `@` that is not a directive or modifier.
    UnknownDirective(String),
    /// A transform outside the closed set.
    UnknownTransform(String),
    /// An event path the engine cannot read.
    UnknownPath(String),
    /// A link the identity store does not keep.
    UnknownLink(String),
    /// A request name not in `requests`.
    UnknownRequest(String),
    /// A key rule set not in `key_rules`.
    UnknownKeyRules(String),
    /// A config field not in `config_fields`.
    UnknownConfigField(String),
    /// A response policy not in `responses`.
    UnknownResponse(String),
    /// A key `require_any` or `hold_by` names that the request's item does not have.
    UnknownItemKey(String),
    /// A value of the anonymous mode's config field with no mode.
    UnknownAnonymousMode(String),
    /// A value of the wrong kind for where it is.
    Invalid(&'static str),
}

impl fmt::Display for BlueprintRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlueprintRule::Shape(s) => f.write_str(s),
            BlueprintRule::UnknownDirective(d) => write!(f, "unknown directive `{d}`"),
            BlueprintRule::UnknownTransform(t) => write!(
                f,
                "unknown transform `{t}` (one of epoch_ms, epoch_micros, epoch_s, iso8601, string, number, int, bool, lowercase, uppercase, trim, truncate:N, truncate_strings:N, min_chars:N, url_host, sha256_hex, prefix:S, hash53, flatten)"
            ),
            BlueprintRule::UnknownPath(p) => write!(f, "unknown event path `{p}`"),
            BlueprintRule::UnknownLink(l) => write!(
                f,
                "unknown link `{l}` (one of user_for_anonymous, account_for_user, group_for_user)"
            ),
            BlueprintRule::UnknownRequest(r) => write!(f, "no request `{r}` in requests"),
            BlueprintRule::UnknownKeyRules(k) => write!(f, "no key rules `{k}` in key_rules"),
            BlueprintRule::UnknownConfigField(c) => write!(f, "no config field `{c}`"),
            BlueprintRule::UnknownItemKey(k) => write!(f, "the item has no top-level key `{k}`"),
            BlueprintRule::UnknownAnonymousMode(v) => write!(
                f,
                "the mode field's value `{v}` names no mode (prefix, as_is, hash53, drop)"
            ),
            BlueprintRule::UnknownResponse(r) => write!(f, "no response policy `{r}` in responses"),
            BlueprintRule::Invalid(why) => f.write_str(why),
        }
    }
}

impl fmt::Display for BlueprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.path, self.rule)
    }
}

impl std::error::Error for BlueprintError {}
