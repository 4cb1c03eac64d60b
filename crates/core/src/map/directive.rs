//! Compiling one directive (`{"@path": ..., "@as": ...}`) and the pieces it is made of, with
//! the JSON path of any mistake.

use super::DropReason;
use super::path::{self, Path};
use super::plan::{
    Fault, Fill, IdSource, LinkKind, Member, Node, Part, Source, ValueMap, ValuePlan,
};
use super::privacy::{self, Priv};
use super::value::Transform;
use crate::blueprint::{Blueprint, BlueprintRule, Tpl};
use serde_json::{Map, Value};

const MODIFIERS: &[&str] = &[
    "@as",
    "@fn",
    "@map",
    "@reject",
    "@default",
    "@required",
    "@keys",
    "@omit",
    "@omit_used",
    "@move",
    "@fill",
    "@max_bytes",
    "@max_age_days",
];
use crate::blueprint::template::SOURCES;

/// The compiler's context: the blueprint, the integration's config (none when checking), and
/// its privacy rules.
pub(crate) struct Cx<'b, 'c> {
    pub bp: &'b Blueprint,
    pub config: Option<&'c Map<String, Value>>,
    pub privacy: privacy::Rules,
    pub account: Option<&'b [Tpl]>,
}

pub(super) fn fault(at: &str, rule: BlueprintRule) -> Fault {
    (at.to_owned(), rule)
}

pub(super) fn invalid(at: &str, why: &'static str) -> Fault {
    fault(at, BlueprintRule::Invalid(why))
}

/// A drop reason from its code: the built-in reasons keep their variant.
pub(crate) fn reason(code: &str) -> DropReason {
    use DropReason::*;
    [
        UnsupportedType,
        IntegrationDisabled,
        Consent,
        EventMapping,
        Anonymous,
        NoTraits,
    ]
    .into_iter()
    .find(|r| r.as_str() == code)
    .unwrap_or_else(|| DropReason::Rule(leak(code)))
}

/// Drop reasons and vendor names in warnings are `&'static str`: the blueprint's own text when it is `'static` (every
/// installed blueprint is), else a copy kept for the process (a handful of short codes).
pub(super) fn leak(code: &str) -> &'static str {
    use std::sync::Mutex;
    static CODES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut codes = match CODES.lock() {
        Ok(c) => c,
        Err(p) => p.into_inner(),
    };
    if let Some(c) = codes.iter().find(|c| **c == code) {
        return c;
    }
    let c: &'static str = Box::leak(code.to_owned().into_boxed_str());
    codes.push(c);
    c
}

impl<'b> Cx<'b, '_> {
    pub(super) fn path(&self, at: &str, text: &str) -> Result<(Path, Priv), Fault> {
        let p = path::compile(text)
            .ok_or_else(|| fault(at, BlueprintRule::UnknownPath(text.to_owned())))?;
        let pr = self.privacy.for_path(&p);
        Ok((p, pr))
    }

    pub(super) fn config_value(&self, at: &str, field: &str) -> Result<Option<&Value>, Fault> {
        if self.bp.field(field).is_none() {
            return Err(fault(
                at,
                BlueprintRule::UnknownConfigField(field.to_owned()),
            ));
        }
        Ok(self
            .config
            .and_then(|c| c.get(field))
            .filter(|v| !v.is_null()))
    }

    /// A secret config field (an api key) is for the auth, never for an item's data.
    fn not_secret(&self, at: &str, field: &str) -> Result<(), Fault> {
        if self.bp.field(field).is_some_and(|f| f.secret) {
            return Err(invalid(
                at,
                "a secret config field cannot go into an item (it would reach the vendor's event data)",
            ));
        }
        Ok(())
    }

    /// A key or transform name with `{config.<field>}` or `{config.<field>|<default>}` parts,
    /// filled in from the config; `None` when a part's field is unset and has no default.
    /// Checking a blueprint (no config), a part is its default, or the field's name.
    pub(super) fn with_config(&self, at: &str, text: &str) -> Result<Option<String>, Fault> {
        if !text.contains("{config.") {
            return Ok(Some(text.to_owned()));
        }
        let mut out = String::new();
        let mut rest = text;
        while let Some(open) = rest.find("{config.") {
            let Some(close) = rest[open..].find('}') else {
                return Err(invalid(at, "a `{config.` without its `}`"));
            };
            out.push_str(&rest[..open]);
            let inner = &rest[open + "{config.".len()..open + close];
            let (field, default) = match inner.split_once('|') {
                Some((f, d)) => (f, Some(d)),
                None => (inner, None),
            };
            self.not_secret(at, field)?;
            match (self.config_value(at, field)?, default) {
                (Some(Value::String(s)), _) => out.push_str(s),
                (Some(v), _) => out.push_str(&v.to_string()),
                (None, Some(d)) => out.push_str(d),
                (None, None) if self.config.is_none() => out.push_str(field),
                (None, None) => return Ok(None),
            }
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        Ok(Some(out))
    }

    /// Compiles an item (or a row's `set`, `partial`: directives may lack a source).
    pub fn node(&self, at: &str, t: &Tpl, partial: bool) -> Result<Node<'b>, Fault> {
        match t {
            Tpl::Obj(m) if t.is_directive() => Ok(Node::Val(Box::new(self.value(at, m, partial)?))),
            Tpl::Obj(m) => {
                let mut members = Vec::with_capacity(m.len());
                for (k, v) in m {
                    let Some(k) = self.with_config(&format!("{at}.{k}"), k)? else {
                        continue;
                    };
                    let mut head = vec![b','];
                    crate::json::write_str(&mut head, &k);
                    head.push(b':');
                    members.push(Member {
                        key: k.as_str().into(),
                        head: head.into(),
                        node: self.node(&format!("{at}.{k}"), v, partial)?,
                    });
                }
                Ok(Node::Obj(members))
            }
            Tpl::Arr(a) => {
                for (i, v) in a.iter().enumerate() {
                    if v.is_directive() {
                        return Err(invalid(
                            &format!("{at}[{i}]"),
                            "directives inside arrays are not supported",
                        ));
                    }
                }
                Ok(Node::Lit(lit(t)))
            }
            _ => Ok(Node::Lit(lit(t))),
        }
    }

    /// Compiles a directive object.
    pub fn value(
        &self,
        at: &str,
        m: &[(String, Tpl)],
        partial: bool,
    ) -> Result<ValuePlan<'b>, Fault> {
        let mut vp = ValuePlan::default();
        let mut source_seen = false;
        for (k, v) in m {
            let here = format!("{at}.{k}");
            if !k.starts_with('@') {
                return Err(invalid(
                    &here,
                    "a directive's keys all start with @ (wrap literal objects in @value)",
                ));
            }
            if SOURCES.contains(&k.as_str()) {
                if source_seen {
                    return Err(invalid(&here, "a directive has one source"));
                }
                source_seen = true;
                self.source(&here, k, v, &mut vp.sources)?;
                continue;
            }
            if !MODIFIERS.contains(&k.as_str()) {
                return Err(fault(at, BlueprintRule::UnknownDirective(k.clone())));
            }
            self.modifier(&here, k, v, &mut vp)?;
        }
        if !source_seen && !partial {
            return Err(invalid(
                at,
                "a directive needs a source (@path, @value, @config, @template, @identity, @link, @event_name, @now)",
            ));
        }
        if m.iter()
            .any(|(k, v)| k == "@omit_used" && *v == Tpl::Bool(true))
        {
            vp.obj.omit_used = self.used_keys(&vp.sources);
        }
        vp.finish();
        Ok(vp)
    }

    fn source(&self, at: &str, k: &str, v: &Tpl, out: &mut Vec<Source>) -> Result<(), Fault> {
        match k {
            "@path" => {
                let paths: Vec<&str> = match v {
                    Tpl::Str(s) => vec![s.as_str()],
                    Tpl::Arr(a) => a
                        .iter()
                        .map(|p| p.as_str().ok_or_else(|| invalid(at, "paths are strings")))
                        .collect::<Result<_, _>>()?,
                    _ => return Err(invalid(at, "a path or a list of paths")),
                };
                for p in paths {
                    let (p, pr) = self.path(at, p)?;
                    if pr.act != Some(privacy::Act::Remove) {
                        out.push(Source::Path(p, pr));
                    }
                }
            }
            "@value" => out.push(Source::Lit(lit(v))),
            "@config" => {
                let field = v
                    .as_str()
                    .ok_or_else(|| invalid(at, "a config field's key"))?;
                self.not_secret(at, field)?;
                if let Some(val) = self.config_value(at, field)? {
                    out.push(Source::Lit(lit(&Tpl::from(val))));
                }
            }
            "@template" => {
                let text = v.as_str().ok_or_else(|| invalid(at, "a template string"))?;
                let parts = self.template(at, text)?;
                // A removed path reads as absent, and a template with an absent part is absent.
                let removed = parts.iter().any(
                    |p| matches!(p, Part::Path(_, pr) if pr.act == Some(privacy::Act::Remove)),
                );
                if !removed {
                    out.push(Source::Template(parts));
                }
            }
            "@identity" => out.push(match v.as_str() {
                Some("user") => Source::User,
                Some("anonymous") => Source::Anonymous,
                Some("account") if self.bp.identity_rules.account.is_some() => Source::Account,
                Some("account") => return Err(invalid(at, "identity_rules has no account")),
                _ => return Err(invalid(at, "`user`, `anonymous` or `account`")),
            }),
            "@link" => out.push(Source::Link(link(at, v)?)),
            "@event_name" => out.push(Source::EventName),
            "@now" => out.push(Source::Now),
            _ => return Err(fault(at, BlueprintRule::UnknownDirective(k.to_owned()))),
        }
        Ok(())
    }

    fn template(&self, at: &str, text: &str) -> Result<Vec<Part>, Fault> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                return Err(invalid(at, "a `{` without its `}`"));
            };
            if open > 0 {
                parts.push(Part::Text(rest[..open].into()));
            }
            let name = &rest[open + 1..open + close];
            if let Some(field) = name.strip_prefix("config.") {
                self.not_secret(at, field)?;
                let v = self.config_value(at, field)?;
                let s = match v {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                parts.push(Part::Text(s.into()));
            } else {
                let (p, pr) = self.path(at, name)?;
                parts.push(Part::Path(p, pr));
            }
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.into()));
        }
        Ok(parts)
    }

    fn modifier(&self, at: &str, k: &str, v: &Tpl, vp: &mut ValuePlan<'b>) -> Result<(), Fault> {
        let strings = |v: &Tpl| strings(at, v);
        match k {
            "@as" | "@fn" => {
                for name in strings(v)? {
                    let Some(name) = self.with_config(at, &name)? else {
                        continue;
                    };
                    match Transform::from_name(&name)
                        .ok_or_else(|| fault(at, BlueprintRule::UnknownTransform(name)))?
                    {
                        Transform::Flatten => vp.style.flatten = true,
                        Transform::CutStrings(n) => vp.style.cut = Some(n),
                        t => vp.fns.push(t),
                    }
                    if !vp.style.is_plain() && !vp.fns.is_empty() {
                        return Err(invalid(
                            at,
                            "flatten and truncate_strings:N do not combine with other transforms",
                        ));
                    }
                }
            }
            "@map" => vp.map = Some(value_map(at, v)?),
            "@reject" => vp.reject = strings(v)?.into_iter().map(Box::from).collect(),
            "@default" => {
                vp.default = Some(Box::new(match v {
                    Tpl::Obj(m) if v.is_directive() => self.value(at, m, false)?,
                    _ => ValuePlan {
                        sources: vec![Source::Lit(lit(v))],
                        ..ValuePlan::default()
                    },
                }));
            }
            "@required" => {
                let code = v.as_str().ok_or_else(|| invalid(at, "a drop reason"))?;
                vp.required = Some(reason(code));
            }
            "@keys" => {
                let name = v.as_str().ok_or_else(|| invalid(at, "a key_rules name"))?;
                vp.obj.keys = Some(
                    self.bp
                        .key_rules
                        .get(name)
                        .ok_or_else(|| fault(at, BlueprintRule::UnknownKeyRules(name.into())))?,
                );
            }
            "@omit" => vp.obj.omit = strings(v)?.into_iter().map(Box::from).collect(),
            "@omit_used" => {
                if !matches!(v, Tpl::Bool(_)) {
                    return Err(invalid(at, "true or false"));
                }
            }
            "@move" => {
                let Tpl::Obj(m) = v else {
                    return Err(invalid(
                        at,
                        "an object of new key → old key (or old keys, the first present)",
                    ));
                };
                for (to, from) in m {
                    for from in strings(from)? {
                        vp.obj.moves.push((to.as_str().into(), from.into()));
                    }
                }
            }
            "@fill" => self.fills(at, v, vp)?,
            "@max_bytes" => {
                vp.max_bytes = Some(count(at, v)? as usize);
            }
            "@max_age_days" => {
                vp.max_age_days = Some(count(at, v)? as i64);
            }
            _ => return Err(fault(at, BlueprintRule::UnknownDirective(k.to_owned()))),
        }
        Ok(())
    }

    /// `@fill`: keys added when the object lacks them.
    fn fills(&self, at: &str, v: &Tpl, vp: &mut ValuePlan<'b>) -> Result<(), Fault> {
        let Tpl::Obj(m) = v else {
            return Err(invalid(at, "an object of key → sibling key or directive"));
        };
        for (key, from) in m {
            let Some(key) = self.with_config(&format!("{at}.{key}"), key)? else {
                continue;
            };
            let fill = match from {
                Tpl::Str(s) => Fill::Sibling(s.as_str().into()),
                Tpl::Obj(d) if from.is_directive() => {
                    Fill::Value(Box::new(self.value(&format!("{at}.{key}"), d, false)?))
                }
                _ => return Err(invalid(at, "a sibling key or a directive")),
            };
            vp.obj.fills.push((key.as_str().into(), fill));
        }
        Ok(())
    }

    /// For `@omit_used`: the account sources that are one key below this value's path.
    fn used_keys(&self, sources: &[Source]) -> Vec<(usize, Box<str>)> {
        let mut out = Vec::new();
        let Some(Source::Path(parent, _)) = sources.first() else {
            return out;
        };
        for (i, t) in self.account.unwrap_or_default().iter().enumerate() {
            if let Some(p) = t.get("@path").and_then(Tpl::as_str).and_then(path::compile)
                && let Some(k) = p.child_of(parent)
            {
                out.push((i, k.into()));
            }
        }
        out
    }

    /// Compiles an identity source list.
    pub fn id_sources(
        &self,
        at: &str,
        from: &[Tpl],
        links: &[LinkKind],
    ) -> Result<Vec<IdSource>, Fault> {
        let mut out = Vec::new();
        for (i, t) in from.iter().enumerate() {
            let here = format!("{at}[{i}]");
            if let Some(p) = t.get("@path") {
                let text = p.as_str().ok_or_else(|| invalid(&here, "a path"))?;
                let (p, pr) = self.path(&here, text)?;
                if pr.act != Some(privacy::Act::Remove) {
                    out.push(IdSource::Path(p, pr));
                }
            } else if let Some(l) = t.get("@link") {
                let kind = link(&here, l)?;
                if !links.contains(&kind) {
                    return Err(fault(
                        &here,
                        BlueprintRule::UnknownLink(format!("{kind:?}")),
                    ));
                }
                out.push(IdSource::Link(kind));
            } else {
                return Err(invalid(&here, "{\"@path\": ...} or {\"@link\": ...}"));
            }
        }
        Ok(out)
    }
}

/// One string or a list of them.
fn strings(at: &str, v: &Tpl) -> Result<Vec<String>, Fault> {
    match v {
        Tpl::Str(s) => Ok(vec![s.clone()]),
        Tpl::Arr(a) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(at, "a list of strings"))
            })
            .collect(),
        _ => Err(invalid(at, "a string or a list of strings")),
    }
}

/// `@map`: text → JSON, `*` for the rest.
fn value_map(at: &str, v: &Tpl) -> Result<ValueMap, Fault> {
    let Tpl::Obj(m) = v else {
        return Err(invalid(at, "an object of text → value"));
    };
    let mut map = ValueMap {
        pairs: Vec::new(),
        star: None,
    };
    for (from, to) in m {
        if from == "*" {
            map.star = Some(lit(to));
        } else {
            map.pairs.push((from.as_str().into(), lit(to)));
        }
    }
    Ok(map)
}

fn link(at: &str, v: &Tpl) -> Result<LinkKind, Fault> {
    match v.as_str() {
        Some("user_for_anonymous") => Ok(LinkKind::UserForAnonymous),
        Some("account_for_user") => Ok(LinkKind::AccountForUser),
        Some("group_for_user") => Ok(LinkKind::GroupForUser),
        Some(other) => Err(fault(at, BlueprintRule::UnknownLink(other.to_owned()))),
        None => Err(invalid(at, "a link's name")),
    }
}

fn count(at: &str, v: &Tpl) -> Result<u64, Fault> {
    match v {
        Tpl::Num(n) => n.as_u64().ok_or_else(|| invalid(at, "a whole number")),
        _ => Err(invalid(at, "a whole number")),
    }
}

/// A literal's JSON.
pub(super) fn lit(t: &Tpl) -> Box<[u8]> {
    let mut out = Vec::new();
    t.write_json(&mut out);
    out.into()
}
