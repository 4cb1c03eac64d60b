//! An ordered JSON value for the parts of a blueprint that are written out (an item's keys go
//! out in the order the file gives them; `serde_json::Value` sorts them).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::fmt;

/// The keys that make a directive's source.
pub(crate) const SOURCES: &[&str] = &[
    "@path",
    "@value",
    "@config",
    "@template",
    "@identity",
    "@link",
    "@event_name",
    "@now",
];

/// A JSON value with object keys in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Tpl {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(serde_json::Number),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Tpl>),
    /// An object, keys in order.
    Obj(Vec<(String, Tpl)>),
}

impl Tpl {
    /// The value under `key`, for an object.
    pub fn get(&self, key: &str) -> Option<&Tpl> {
        match self {
            Tpl::Obj(m) => m.iter().find_map(|(k, v)| (k == key).then_some(v)),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Tpl::Str(s) => Some(s),
            _ => None,
        }
    }

    /// True for an object with a key starting with `@` (a directive).
    pub fn is_directive(&self) -> bool {
        matches!(self, Tpl::Obj(m) if m.iter().any(|(k, _)| k.starts_with('@')))
    }

    /// Compact JSON text.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Tpl::Null => out.extend_from_slice(b"null"),
            Tpl::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Tpl::Num(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Tpl::Str(s) => crate::json::write_str(out, s),
            Tpl::Arr(a) => {
                out.push(b'[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write_json(out);
                }
                out.push(b']');
            }
            Tpl::Obj(m) => {
                out.push(b'{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    crate::json::write_str(out, k);
                    out.push(b':');
                    v.write_json(out);
                }
                out.push(b'}');
            }
        }
    }

    /// Deep merge of `over` onto this value (a directive's source in `over` replaces this one's): objects key by key, anything else replaced.
    pub fn merged(&self, over: &Tpl) -> Tpl {
        match (self, over) {
            (Tpl::Obj(base), Tpl::Obj(top)) => {
                let mut out = base.clone();
                // A directive with its own source replaces the base's source (its modifiers
                // still add to the base's).
                if top.iter().any(|(k, _)| SOURCES.contains(&k.as_str())) {
                    out.retain(|(k, _)| !SOURCES.contains(&k.as_str()));
                }
                for (k, v) in top {
                    match out.iter_mut().find(|(bk, _)| bk == k) {
                        Some((_, bv)) => *bv = bv.merged(v),
                        None => out.push((k.clone(), v.clone())),
                    }
                }
                Tpl::Obj(out)
            }
            (_, v) => v.clone(),
        }
    }
}

impl From<&serde_json::Value> for Tpl {
    fn from(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Tpl::Null,
            serde_json::Value::Bool(b) => Tpl::Bool(*b),
            serde_json::Value::Number(n) => Tpl::Num(n.clone()),
            serde_json::Value::String(s) => Tpl::Str(s.clone()),
            serde_json::Value::Array(a) => Tpl::Arr(a.iter().map(Tpl::from).collect()),
            serde_json::Value::Object(m) => {
                Tpl::Obj(m.iter().map(|(k, v)| (k.clone(), Tpl::from(v))).collect())
            }
        }
    }
}

impl Serialize for Tpl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Tpl::Null => s.serialize_unit(),
            Tpl::Bool(b) => s.serialize_bool(*b),
            Tpl::Num(n) => n.serialize(s),
            Tpl::Str(v) => s.serialize_str(v),
            Tpl::Arr(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Tpl::Obj(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Tpl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TplVisitor)
    }
}

struct TplVisitor;

impl<'de> Visitor<'de> for TplVisitor {
    type Value = Tpl;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Tpl, E> {
        Ok(Tpl::Null)
    }
    fn visit_none<E>(self) -> Result<Tpl, E> {
        Ok(Tpl::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Tpl, E> {
        Ok(Tpl::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Tpl, E> {
        Ok(Tpl::Num(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Tpl, E> {
        Ok(Tpl::Num(n.into()))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Tpl, E> {
        serde_json::Number::from_f64(n)
            .map(Tpl::Num)
            .ok_or_else(|| E::custom("not a finite number"))
    }
    fn visit_str<E>(self, s: &str) -> Result<Tpl, E> {
        Ok(Tpl::Str(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Tpl, E> {
        Ok(Tpl::Str(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tpl, A::Error> {
        let mut v = Vec::new();
        while let Some(e) = seq.next_element()? {
            v.push(e);
        }
        Ok(Tpl::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tpl, A::Error> {
        let mut m: Vec<(String, Tpl)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Tpl>()? {
            if m.iter().any(|(old, _)| *old == k) {
                return Err(de::Error::custom(format!("duplicate key `{k}`")));
            }
            m.push((k, v));
        }
        Ok(Tpl::Obj(m))
    }
}
