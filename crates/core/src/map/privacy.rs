//! Per-integration privacy rules (the config field of type `privacy`):
//! `{"hash": ["traits.email"], "remove": ["context.ip"]}`. They are folded into the write plan
//! when it is compiled: a removed path reads as absent, a hashed one is written as the lowercase
//! hex SHA-256 of its text, and rules under an object copied whole are honoured while copying.

use super::path::{self, Path};
use serde_json::Value;

/// What happens to one path's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Act {
    Remove,
    Hash,
}

/// The rules that touch one value: its own action, or actions on keys below it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Priv {
    pub act: Option<Act>,
    pub below: Vec<(Box<str>, Priv)>,
}

impl Priv {
    /// The rules for the key `k` of this object: every key of a hashed object is hashed.
    pub fn child(&self, k: &str) -> Option<&Priv> {
        if self.act == Some(Act::Hash) {
            return Some(&HASHED);
        }
        self.below
            .iter()
            .find_map(|(c, p)| (&**c == k).then_some(p))
    }

    fn add(&mut self, keys: &[Box<str>], act: Act) {
        match keys.split_first() {
            None => self.act = Some(act),
            Some((k, rest)) => {
                let i = match self.below.iter().position(|(c, _)| c == k) {
                    Some(i) => i,
                    None => {
                        self.below.push((k.clone(), Priv::default()));
                        self.below.len() - 1
                    }
                };
                self.below[i].1.add(rest, act);
            }
        }
    }
}

/// The rules of a key inside a hashed object.
static HASHED: Priv = Priv {
    act: Some(Act::Hash),
    below: Vec::new(),
};

/// Parsed privacy rules: each path compiled.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rules(Vec<(Path, Act)>);

impl Rules {
    /// Reads a `privacy` config value; errors are keyed `config.<field>.hash[0]`.
    pub fn parse(field: &str, v: &Value) -> Result<Self, (String, String)> {
        let mut rules = Vec::new();
        let Some(o) = v.as_object() else {
            return Err((format!("config.{field}"), "must be an object".into()));
        };
        for (k, list) in o {
            let act = match k.as_str() {
                "hash" => Act::Hash,
                "remove" => Act::Remove,
                _ => {
                    return Err((
                        format!("config.{field}.{k}"),
                        "is not a privacy rule (hash, remove)".into(),
                    ));
                }
            };
            let Some(list) = list.as_array() else {
                return Err((
                    format!("config.{field}.{k}"),
                    "must be a list of event paths".into(),
                ));
            };
            for (i, p) in list.iter().enumerate() {
                let at = format!("config.{field}.{k}[{i}]");
                let Some(text) = p.as_str() else {
                    return Err((at, "must be an event path".into()));
                };
                match path::compile(text) {
                    Some(p) => rules.push((p, act)),
                    None => {
                        return Err((
                            at,
                            format!(
                                "`{text}` is not an event path (userId, context.ip, traits.email, properties.<key>, ...)"
                            ),
                        ));
                    }
                }
            }
        }
        Ok(Rules(rules))
    }

    /// The rules that touch what `p` reads: its own (or an ancestor's) action, and those below.
    pub fn for_path(&self, p: &Path) -> Priv {
        let mut out = Priv::default();
        for (r, act) in &self.0 {
            if r.field != p.field {
                continue;
            }
            if p.keys.starts_with(&r.keys) {
                // The rule names this value or an object around it; remove wins over hash.
                if out.act != Some(Act::Remove) {
                    out.act = Some(*act);
                }
            } else if r.keys.starts_with(&p.keys) {
                out.add(&r.keys[p.keys.len()..], *act);
            }
        }
        out
    }
}
