//! The mapping rules of a blueprint: event rows, identity rules and key rules. Values inside them
//! (`from` sources, a row's `name` and `set`) are directives, compiled by `map::plan`.

use super::template::Tpl;
use serde::{Deserialize, Serialize};

/// One event row: the first whose `match` fits the event decides what it becomes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRow {
    /// Which events the row takes.
    #[serde(rename = "match")]
    pub matches: Match,
    /// Drop the event with this reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<String>,
    /// The requests (keys of `requests`) the event makes, one item each: a request's name, or
    /// `{"request": name, "set": {...}, "if_config": field}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub send: Vec<SendItem>,
    /// The vendor event name: a string or `{"@path": "event"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Tpl>,
    /// Deep-merged over each sent request's item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Tpl>,
    /// Deep-merged over one request's item (by request name), after `set`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_for: Option<Tpl>,
    /// `false` skips the row.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// One item a row sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SendItem {
    /// A request's name.
    Name(String),
    /// A request with its own `set` (deep-merged over the item after the row's `set` and
    /// `set_for`), sent only when the config field `if_config` is set.
    Item {
        /// The request's name.
        request: String,
        /// Deep-merged over this item, last.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        set: Option<Tpl>,
        /// A config field: the item is sent only when the integration sets it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_config: Option<String>,
    },
}

impl SendItem {
    /// The request's name.
    pub fn request(&self) -> &str {
        match self {
            SendItem::Name(r) | SendItem::Item { request: r, .. } => r,
        }
    }

    /// The item's own `set`.
    pub fn set(&self) -> Option<&Tpl> {
        match self {
            SendItem::Name(_) => None,
            SendItem::Item { set, .. } => set.as_ref(),
        }
    }

    /// The config field the item needs.
    pub fn if_config(&self) -> Option<&str> {
        match self {
            SendItem::Name(_) => None,
            SendItem::Item { if_config, .. } => if_config.as_deref(),
        }
    }
}

fn yes() -> bool {
    true
}

/// What a row matches. Every test given must hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// Event types (`track`, `page`, ...); empty: any.
    #[serde(default, rename = "type", skip_serializing_if = "OneOrMany::is_empty")]
    pub kind: OneOrMany,
    /// Exact event names (`event`); empty: any.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub event: OneOrMany,
    /// Event paths that must be present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub has: Vec<String>,
}

/// One string or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// A list.
    Many(Vec<String>),
}

impl Default for OneOrMany {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

impl OneOrMany {
    /// The strings.
    pub fn as_slice(&self) -> &[String] {
        match self {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(v) => v,
        }
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

/// How the user and the account are resolved.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityRules {
    /// The user.
    pub user: UserRule,
    /// The account, if the vendor has accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountRule>,
    /// The identify trait that links a user to an account (`accountId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_trait: Option<String>,
}

/// The user: the first present source, else the anonymous mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRule {
    /// Sources: `{"@path": ...}` or `{"@link": "user_for_anonymous"}`.
    pub from: Vec<Tpl>,
    /// What an event with no user becomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous: Option<AnonymousRule>,
}

/// What an event with no user becomes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnonymousRule {
    /// The anonymous id's path (`anonymousId`).
    pub from: String,
    /// The mode when `mode_field` is not set.
    pub mode: AnonymousMode,
    /// The config field that chooses the mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode_field: Option<String>,
    /// The prefix of `prefix` mode.
    #[serde(default)]
    pub prefix: String,
    /// The `mode_field`'s values, when they are not the engine's mode names:
    /// `{"identity": "as_is", "user_id_hash": "hash53"}`. Every value the field allows must
    /// be here (a load error otherwise).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub modes: std::collections::BTreeMap<String, AnonymousMode>,
    /// Modes whose anonymous id is not the user: `{"@identity": "user"}` is absent for it and
    /// `{"@identity": "anonymous"}` writes it (Heap's hashed `user_id` beside `identity`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apart: Vec<AnonymousMode>,
}

/// An anonymous mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnonymousMode {
    /// `prefix` + the anonymous id (Pendo's `_PENDO_T_`).
    Prefix,
    /// The anonymous id as it is.
    AsIs,
    /// The decimal of the first 53 bits of the anonymous id's SHA-256.
    Hash53,
    /// Dropped, reason `anonymous`.
    Drop,
}

impl AnonymousMode {
    /// Reads a mode's name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "prefix" => Self::Prefix,
            "as_is" => Self::AsIs,
            "hash53" => Self::Hash53,
            "drop" => Self::Drop,
            _ => return None,
        })
    }
}

/// The account: the first present source.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRule {
    /// Sources: `{"@path": ...}` or `{"@link": "account_for_user" | "group_for_user"}`.
    pub from: Vec<Tpl>,
    /// Warn `account_not_linked` when none is found.
    #[serde(default)]
    pub missing_warning: bool,
}

/// The vendor's rules for the keys of an object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRules {
    /// Longest key, if limited.
    #[serde(default)]
    pub max_key_chars: Option<usize>,
    /// Keys may not start with a digit.
    #[serde(default)]
    pub forbid_leading_digit: bool,
    /// Keys may not both start and end with `__`.
    #[serde(default)]
    pub forbid_dunder_wrap: bool,
    /// Names the vendor keeps for itself.
    #[serde(default)]
    pub reserved: Vec<String>,
    /// The new name of a reserved key: `{key}` stands for the old one.
    pub rename: String,
}
