//! The write plan: a blueprint compiled once per installed integration. Paths are resolved to
//! accessors ([`Path`]), literals and config values pre-serialized, templates pre-split, key
//! rules and privacy rules looked up; the writer (`write.rs`) only interprets the result.
//!
//! [`check`] compiles a blueprint without a config, at load: every directive, transform, path,
//! request and key-rule name is checked there, with the JSON path of any mistake.

use super::DropReason;
use super::path::{self, Path};
use super::privacy::{self, Priv};
use super::value::Transform;
use crate::blueprint::{AnonymousMode, Blueprint, BlueprintRule, KeyRules, Tpl};
use crate::event::EventType;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// A mistake in a blueprint: where, and which rule.
pub(crate) type Fault = (String, BlueprintRule);

/// The compiled blueprint for one integration.
#[derive(Debug)]
pub(crate) struct Plan<'b> {
    pub rows: Vec<Row<'b>>,
    pub user: UserPlan,
    pub account: Option<AccountPlan>,
    pub integrations_key: &'b str,
    pub require_consent: bool,
    pub event_mapping: HashMap<String, Option<String>>,
}

/// An event row.
#[derive(Debug)]
pub(crate) struct Row<'b> {
    /// Bit per [`EventType`]; 0 matches any.
    pub kinds: u8,
    pub events: Vec<&'b str>,
    pub has: Vec<Path>,
    pub action: Action<'b>,
}

#[derive(Debug)]
pub(crate) enum Action<'b> {
    Drop(DropReason),
    Send {
        name: Option<Box<NamePlan<'b>>>,
        items: Vec<ItemPlan<'b>>,
    },
}

#[derive(Debug)]
pub(crate) enum NamePlan<'b> {
    Const(&'b str),
    Value(Box<ValuePlan<'b>>),
}

/// One item a row sends.
#[derive(Debug)]
pub(crate) struct ItemPlan<'b> {
    pub request: usize,
    pub root: Node<'b>,
    pub merge_by: Option<&'b str>,
    pub merge_into: Option<&'b str>,
    pub hold_by: Option<&'b str>,
}

/// A node of an item: a literal, an object template, or a directive.
#[derive(Debug)]
pub(crate) enum Node<'b> {
    Lit(Box<[u8]>),
    Obj(Vec<Member<'b>>),
    Val(Box<ValuePlan<'b>>),
}

/// An object template's member: its key, `"key":` ready to copy, and its node.
#[derive(Debug)]
pub(crate) struct Member<'b> {
    pub key: Box<str>,
    pub head: Box<[u8]>,
    pub node: Node<'b>,
}

/// A directive, compiled.
#[derive(Debug, Default)]
pub(crate) struct ValuePlan<'b> {
    pub sources: Vec<Source>,
    pub fns: Vec<Transform>,
    pub map: Option<ValueMap>,
    pub default: Option<Box<ValuePlan<'b>>>,
    pub required: Option<DropReason>,
    pub obj: ObjOpts<'b>,
    pub max_bytes: Option<usize>,
    pub max_age_days: Option<i64>,
}

/// Where a value comes from.
#[derive(Debug)]
pub(crate) enum Source {
    Path(Path, Priv),
    Lit(Box<[u8]>),
    Template(Vec<Part>),
    User,
    Account,
    Link(LinkKind),
    EventName,
    Now,
}

/// A piece of a template.
#[derive(Debug)]
pub(crate) enum Part {
    Text(Box<str>),
    Path(Path, Priv),
}

/// The identity store's links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkKind {
    UserForAnonymous,
    AccountForUser,
    GroupForUser,
}

/// A value map: text → JSON, `*` for the rest.
#[derive(Debug)]
pub(crate) struct ValueMap {
    pub pairs: Vec<(Box<str>, Box<[u8]>)>,
    pub star: Option<Box<[u8]>>,
}

/// What applies to an object copied from the event.
#[derive(Debug, Default)]
pub(crate) struct ObjOpts<'b> {
    pub keys: Option<&'b KeyRules>,
    pub omit: Vec<Box<str>>,
    /// (account source index, key): left out when the account came from that key.
    pub omit_used: Vec<(usize, Box<str>)>,
    pub moves: Vec<(Box<str>, Box<str>)>,
    pub fills: Vec<(Box<str>, Fill<'b>)>,
}

impl ObjOpts<'_> {
    pub fn is_plain(&self) -> bool {
        self.keys.is_none()
            && self.omit.is_empty()
            && self.omit_used.is_empty()
            && self.moves.is_empty()
            && self.fills.is_empty()
    }
}

/// A key added to an object when it lacks it.
#[derive(Debug)]
pub(crate) enum Fill<'b> {
    Sibling(Box<str>),
    Value(Box<ValuePlan<'b>>),
}

/// The user rule.
#[derive(Debug, Default)]
pub(crate) struct UserPlan {
    pub from: Vec<IdSource>,
    pub anonymous: Option<AnonPlan>,
}

#[derive(Debug)]
pub(crate) struct AnonPlan {
    pub from: Path,
    pub privacy: Priv,
    pub mode: AnonymousMode,
    pub prefix: Box<str>,
}

/// The account rule.
#[derive(Debug)]
pub(crate) struct AccountPlan {
    pub from: Vec<IdSource>,
    pub warn: bool,
}

/// An identity source.
#[derive(Debug)]
pub(crate) enum IdSource {
    Path(Path, Priv),
    Link(LinkKind),
}

/// The type bit of an event type.
pub(crate) fn kind_bit(t: EventType) -> u8 {
    1 << (EventType::ALL.iter().position(|k| *k == t).unwrap_or(0) as u8)
}

const MODIFIERS: &[&str] = &[
    "@as",
    "@fn",
    "@map",
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
const SOURCES: &[&str] = &[
    "@path",
    "@value",
    "@config",
    "@template",
    "@identity",
    "@link",
    "@event_name",
    "@now",
];

/// The compiler's context: the blueprint, the integration's config (none when checking), and
/// its privacy rules.
pub(crate) struct Cx<'b, 'c> {
    pub bp: &'b Blueprint,
    pub config: Option<&'c Map<String, Value>>,
    pub privacy: privacy::Rules,
    pub account: Option<&'b [Tpl]>,
}

fn fault(at: &str, rule: BlueprintRule) -> Fault {
    (at.to_owned(), rule)
}

fn invalid(at: &str, why: &'static str) -> Fault {
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

/// Drop reasons are `&'static str`: the blueprint's own text when it is `'static` (every
/// installed blueprint is), else a copy kept for the process (a handful of short codes).
fn leak(code: &str) -> &'static str {
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
    fn path(&self, at: &str, text: &str) -> Result<(Path, Priv), Fault> {
        let p = path::compile(text)
            .ok_or_else(|| fault(at, BlueprintRule::UnknownPath(text.to_owned())))?;
        let pr = self.privacy.for_path(&p);
        Ok((p, pr))
    }

    fn config_value(&self, at: &str, field: &str) -> Result<Option<&Value>, Fault> {
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

    /// Compiles an item (or a row's `set`, `partial`: directives may lack a source).
    pub fn node(&self, at: &str, t: &Tpl, partial: bool) -> Result<Node<'b>, Fault> {
        match t {
            Tpl::Obj(m) if t.is_directive() => Ok(Node::Val(Box::new(self.value(at, m, partial)?))),
            Tpl::Obj(m) => {
                let mut members = Vec::with_capacity(m.len());
                for (k, v) in m {
                    let mut head = Vec::new();
                    crate::json::write_str(&mut head, k);
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
                if let Some(val) = self.config_value(at, field)? {
                    out.push(Source::Lit(lit(&Tpl::from(val))));
                }
            }
            "@template" => {
                let text = v.as_str().ok_or_else(|| invalid(at, "a template string"))?;
                out.push(Source::Template(self.template(at, text)?));
            }
            "@identity" => out.push(match v.as_str() {
                Some("user") => Source::User,
                Some("account") if self.bp.identity_rules.account.is_some() => Source::Account,
                Some("account") => return Err(invalid(at, "identity_rules has no account")),
                _ => return Err(invalid(at, "`user` or `account`")),
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
        let strings = |v: &Tpl| -> Result<Vec<String>, Fault> {
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
        };
        match k {
            "@as" | "@fn" => {
                for name in strings(v)? {
                    vp.fns.push(
                        Transform::from_name(&name)
                            .ok_or_else(|| fault(at, BlueprintRule::UnknownTransform(name)))?,
                    );
                }
            }
            "@map" => {
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
                vp.map = Some(map);
            }
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
                    return Err(invalid(at, "an object of new key → old key"));
                };
                for (to, from) in m {
                    let from = from
                        .as_str()
                        .ok_or_else(|| invalid(at, "old keys are strings"))?;
                    vp.obj.moves.push((to.as_str().into(), from.into()));
                }
            }
            "@fill" => {
                let Tpl::Obj(m) = v else {
                    return Err(invalid(at, "an object of key → sibling key or directive"));
                };
                for (key, from) in m {
                    let fill = match from {
                        Tpl::Str(s) => Fill::Sibling(s.as_str().into()),
                        Tpl::Obj(d) if from.is_directive() => {
                            Fill::Value(Box::new(self.value(&format!("{at}.{key}"), d, false)?))
                        }
                        _ => return Err(invalid(at, "a sibling key or a directive")),
                    };
                    vp.obj.fills.push((key.as_str().into(), fill));
                }
            }
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
fn lit(t: &Tpl) -> Box<[u8]> {
    let mut out = Vec::new();
    t.write_json(&mut out);
    out.into()
}

/// Compiles `bp` for an integration with `config` (`None`: only checking the blueprint).
pub(crate) fn compile<'b>(
    bp: &'b Blueprint,
    config: Option<&Map<String, Value>>,
    privacy: privacy::Rules,
    event_mapping: HashMap<String, Option<String>>,
    require_consent: bool,
) -> Result<Plan<'b>, Fault> {
    let rules = &bp.identity_rules;
    let cx = Cx {
        bp,
        config,
        privacy,
        account: rules.account.as_ref().map(|a| a.from.as_slice()),
    };
    let user = UserPlan {
        from: cx.id_sources(
            "identity_rules.user.from",
            &rules.user.from,
            &[LinkKind::UserForAnonymous],
        )?,
        anonymous: match &rules.user.anonymous {
            None => None,
            Some(a) => {
                let at = "identity_rules.user.anonymous";
                let (from, privacy) = cx.path(&format!("{at}.from"), &a.from)?;
                let mut mode = a.mode;
                if let Some(f) = &a.mode_field
                    && let Some(v) = cx.config_value(&format!("{at}.mode_field"), f)?
                    && let Some(m) = v.as_str().and_then(AnonymousMode::from_name)
                {
                    mode = m;
                }
                Some(AnonPlan {
                    from,
                    privacy,
                    mode,
                    prefix: a.prefix.as_str().into(),
                })
            }
        },
    };
    let account = match &rules.account {
        None => None,
        Some(a) => Some(AccountPlan {
            from: cx.id_sources(
                "identity_rules.account.from",
                &a.from,
                &[LinkKind::AccountForUser, LinkKind::GroupForUser],
            )?,
            warn: a.missing_warning,
        }),
    };
    for (name, spec) in &bp.requests {
        if !bp.responses.contains_key(&spec.response) {
            return Err(fault(
                &format!("requests.{name}.response"),
                BlueprintRule::UnknownResponse(spec.response.clone()),
            ));
        }
    }
    let mut rows = Vec::new();
    for (i, row) in bp.events.iter().enumerate() {
        let at = format!("events[{i}]");
        let mut kinds = 0u8;
        for k in row.matches.kind.as_slice() {
            let t = EventType::from_name(k).ok_or_else(|| {
                invalid(
                    &format!("{at}.match.type"),
                    "an event type (track, page, identify, group, screen, alias)",
                )
            })?;
            kinds |= kind_bit(t);
        }
        let has = row
            .matches
            .has
            .iter()
            .map(|p| cx.path(&format!("{at}.match.has"), p).map(|(p, _)| p))
            .collect::<Result<_, _>>()?;
        let action = match (&row.drop, row.send.is_empty()) {
            (Some(code), true) => Action::Drop(reason(code)),
            (Some(_), false) => return Err(invalid(&at, "a row drops or sends, not both")),
            (None, true) => return Err(invalid(&at, "a row drops (`drop`) or sends (`send`)")),
            (None, false) => {
                let name = match &row.name {
                    None => None,
                    Some(Tpl::Str(s)) => Some(Box::new(NamePlan::Const(s))),
                    Some(t @ Tpl::Obj(m)) if t.is_directive() => Some(Box::new(NamePlan::Value(
                        Box::new(cx.value(&format!("{at}.name"), m, false)?),
                    ))),
                    Some(_) => {
                        return Err(invalid(&format!("{at}.name"), "a string or a directive"));
                    }
                };
                if let Some(set) = &row.set {
                    cx.node(&format!("{at}.set"), set, true)?;
                }
                let mut items = Vec::new();
                for req in &row.send {
                    let Some(index) = bp.request_index(req) else {
                        return Err(fault(
                            &format!("{at}.send"),
                            BlueprintRule::UnknownRequest(req.clone()),
                        ));
                    };
                    let spec = &bp.requests[req];
                    let item = bp.item(req).unwrap_or(Tpl::Null);
                    let item = match &row.set {
                        Some(set) => item.merged(set),
                        None => item,
                    };
                    let root = cx.node(&format!("requests.{req}.item"), &item, false)?;
                    let batch = spec.batch.as_ref();
                    items.push(ItemPlan {
                        request: index,
                        root,
                        merge_by: batch.and_then(|b| b.merge_by.as_deref()),
                        merge_into: batch.and_then(|b| b.merge_into.as_deref()),
                        hold_by: batch.and_then(|b| b.hold_by.as_deref()),
                    });
                }
                Action::Send { name, items }
            }
        };
        if !row.enabled {
            continue;
        }
        rows.push(Row {
            kinds,
            events: row
                .matches
                .event
                .as_slice()
                .iter()
                .map(String::as_str)
                .collect(),
            has,
            action,
        });
    }
    Ok(Plan {
        rows,
        user,
        account,
        integrations_key: &bp.integrations_key,
        require_consent,
        event_mapping,
    })
}
