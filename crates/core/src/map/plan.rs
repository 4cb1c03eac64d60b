//! The write plan: a blueprint compiled once per installed integration. Paths are resolved to
//! accessors ([`Path`]), literals and config values pre-serialized, templates pre-split, key
//! rules and privacy rules looked up; the writer (`write.rs`) only interprets the result.
//!
//! [`check`] compiles a blueprint without a config, at load: every directive, transform, path,
//! request and key-rule name is checked there, with the JSON path of any mistake.

use super::DropReason;
use super::directive::{Cx, fault, invalid, reason};
use super::path::Path;
use super::privacy::{self, Priv};
use super::value::Transform;
use crate::blueprint::{
    AnonymousMode, Blueprint, BlueprintRule, EventRow, KeyRules, SendItem, Tpl,
};
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
    /// The vendor's name, for warnings.
    pub vendor: &'static str,
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
    /// `hold_by`: the first of these keys written.
    pub hold_by: Vec<&'b str>,
    /// `require_any`: (keys, reason).
    pub require_any: Option<(Vec<&'b str>, DropReason)>,
    /// What each member of the root object is to the batch (by member index; empty when the
    /// root is not an object): worked out here so that writing compares no keys.
    pub roles: Vec<Role>,
}

/// What a top-level member of an item is to its request's batch.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Role {
    /// `merge_into`: its members are the merged fields.
    pub fields: bool,
    /// `merge_by`: its value is the merge id.
    pub merge: bool,
    /// Its rank in `hold_by`.
    pub hold: Option<usize>,
    /// One of `require_any`'s keys.
    pub any: bool,
}

impl Role {
    /// Nothing to record for this member.
    pub fn is_none(self) -> bool {
        !self.fields && !self.merge && self.hold.is_none() && !self.any
    }
}

/// A node of an item: a literal, an object template, or a directive.
#[derive(Debug)]
pub(crate) enum Node<'b> {
    Lit(Box<[u8]>),
    Obj(Vec<Member<'b>>),
    Val(Box<ValuePlan<'b>>),
}

/// An object template's member: its key, its head ready to copy, and its node.
#[derive(Debug)]
pub(crate) struct Member<'b> {
    pub key: Box<str>,
    /// `,"key":`: written whole after another member, from the quote for the first.
    pub head: Box<[u8]>,
    pub node: Node<'b>,
}

/// A directive, compiled.
#[derive(Debug, Default)]
pub(crate) struct ValuePlan<'b> {
    pub sources: Vec<Source>,
    pub fns: Vec<Transform>,
    pub map: Option<ValueMap>,
    /// Texts read as absent (ASCII case ignored), after the transforms.
    pub reject: Vec<Box<str>>,
    pub default: Option<Box<ValuePlan<'b>>>,
    pub required: Option<DropReason>,
    pub obj: ObjOpts<'b>,
    /// `flatten`, `truncate_strings:N`.
    pub style: super::style::Style,
    pub max_bytes: Option<usize>,
    pub max_age_days: Option<i64>,
    /// Worked out once when compiled (`finish`).
    pub flags: Flags,
}

/// What a directive needs, worked out when it is compiled so that writing does not search.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Flags {
    /// It reads the resolved user (or a link keyed by it).
    pub user: bool,
    /// It reads the resolved account (or omits the key the account came from).
    pub account: bool,
    /// An object it reads is walked key by key (object rules, privacy below it, size limit).
    pub walk: bool,
    /// One `@path` and nothing else: read and written without evaluation.
    pub simple: bool,
    /// One source and no transform, value map, `@reject` or default: its value is the
    /// source's, read without the evaluation loop.
    pub one: bool,
}

impl ValuePlan<'_> {
    /// Works out the flags; called once the directive is complete.
    pub fn finish(&mut self) {
        let mut user = false;
        let mut account = !self.obj.omit_used.is_empty();
        let mut d = Some(&*self);
        while let Some(p) = d {
            for s in &p.sources {
                match s {
                    Source::User | Source::Anonymous => user = true,
                    Source::Account => account = true,
                    Source::Link(LinkKind::AccountForUser | LinkKind::GroupForUser) => user = true,
                    _ => {}
                }
            }
            d = p.default.as_deref();
        }
        let private_below = self
            .sources
            .iter()
            .any(|s| matches!(s, Source::Path(_, pr) if !pr.below.is_empty()));
        let walk = self.required.is_some()
            || self.max_bytes.is_some()
            || !self.obj.is_plain()
            || !self.style.is_plain()
            || private_below;
        let one = self.sources.len() == 1
            && self.fns.is_empty()
            && self.map.is_none()
            && self.reject.is_empty()
            && self.default.is_none();
        let simple = !walk
            && one
            && matches!(&self.sources[0], Source::Path(_, pr) if pr.act.is_none())
            && self.max_age_days.is_none();
        self.flags = Flags {
            user,
            account,
            walk,
            simple,
            one,
        };
    }
}

/// Where a value comes from.
#[derive(Debug)]
pub(crate) enum Source {
    Path(Path, Priv),
    Lit(Box<[u8]>),
    Template(Vec<Part>),
    User,
    /// The anonymous form, for an `apart` mode.
    Anonymous,
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
    /// The mode is one of `apart`: the anonymous form is not the user.
    pub apart: bool,
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

/// Compiles `bp` for an integration with `config` (`None`: only checking the blueprint).
pub(crate) fn compile<'b>(
    bp: &'b Blueprint,
    config: Option<&Map<String, Value>>,
    privacy: privacy::Rules,
    event_mapping: HashMap<String, Option<String>>,
    require_consent: bool,
) -> Result<Plan<'b>, Fault> {
    let cx = Cx {
        bp,
        config,
        privacy,
        account: bp
            .identity_rules
            .account
            .as_ref()
            .map(|a| a.from.as_slice()),
    };
    let (user, account) = super::identity_plan::identity(&cx)?;
    for (name, spec) in &bp.requests {
        if !bp.responses.contains_key(&spec.response) {
            return Err(fault(
                &format!("requests.{name}.response"),
                BlueprintRule::UnknownResponse(spec.response.clone()),
            ));
        }
        let item = bp.item(name).unwrap_or(Tpl::Null);
        let keys = spec.require_any.iter().flat_map(|r| r.keys.iter());
        let holds = spec.batch.iter().flat_map(|b| b.hold_by.iter());
        let holds = holds.flat_map(|h| h.as_slice().iter());
        for (what, key) in keys
            .map(|k| ("require_any", k))
            .chain(holds.map(|k| ("batch.hold_by", k)))
        {
            if item.get(key).is_none() {
                return Err(fault(
                    &format!("requests.{name}.{what}"),
                    BlueprintRule::UnknownItemKey(key.clone()),
                ));
            }
        }
    }
    let mut rows = Vec::new();
    for (i, row) in bp.events.iter().enumerate() {
        let compiled = compile_row(&cx, &format!("events[{i}]"), row)?;
        if row.enabled {
            rows.push(compiled);
        }
    }
    Ok(Plan {
        rows,
        user,
        account,
        integrations_key: &bp.integrations_key,
        vendor: super::directive::leak(&bp.name),
        require_consent,
        event_mapping,
    })
}

/// One event row.
fn compile_row<'b>(cx: &Cx<'b, '_>, at: &str, row: &'b EventRow) -> Result<Row<'b>, Fault> {
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
        (Some(_), false) => return Err(invalid(at, "a row drops or sends, not both")),
        (None, true) => return Err(invalid(at, "a row drops (`drop`) or sends (`send`)")),
        (None, false) => {
            let name = match &row.name {
                None => None,
                Some(Tpl::Str(s)) => Some(Box::new(NamePlan::Const(s))),
                Some(t @ Tpl::Obj(m)) if t.is_directive() => Some(Box::new(NamePlan::Value(
                    Box::new(cx.value(&format!("{at}.name"), m, false)?),
                ))),
                Some(_) => return Err(invalid(&format!("{at}.name"), "a string or a directive")),
            };
            if let Some(set) = &row.set {
                cx.node(&format!("{at}.set"), set, true)?;
            }
            if let Some(set_for) = &row.set_for {
                let Tpl::Obj(m) = set_for else {
                    return Err(invalid(
                        &format!("{at}.set_for"),
                        "an object of request name → set",
                    ));
                };
                if let Some((req, _)) = m
                    .iter()
                    .find(|(r, _)| !row.send.iter().any(|s| s.request() == r))
                {
                    return Err(fault(
                        &format!("{at}.set_for"),
                        BlueprintRule::UnknownRequest(req.clone()),
                    ));
                }
            }
            let mut items = Vec::with_capacity(row.send.len());
            for (i, send) in row.send.iter().enumerate() {
                if let Some(field) = send.if_config()
                    && cx
                        .config_value(&format!("{at}.send[{i}].if_config"), field)?
                        .is_none()
                    && cx.config.is_some()
                {
                    continue;
                }
                items.push(compile_item(cx, at, row, i, send)?);
            }
            Action::Send { name, items }
        }
    };
    Ok(Row {
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
    })
}

/// One item a row sends: the request's item with the row's `set` and `set_for` merged over it.
fn compile_item<'b>(
    cx: &Cx<'b, '_>,
    at: &str,
    row: &EventRow,
    i: usize,
    send: &SendItem,
) -> Result<ItemPlan<'b>, Fault> {
    let req = send.request();
    let bp = cx.bp;
    let (Some(index), Some((_, spec))) = (
        bp.request_index(req),
        bp.requests.iter().find(|(k, _)| *k == req),
    ) else {
        return Err(fault(
            &format!("{at}.send[{i}]"),
            BlueprintRule::UnknownRequest(req.to_owned()),
        ));
    };
    let mut item = bp.item(req).unwrap_or(Tpl::Null);
    if let Some(set) = &row.set {
        item = item.merged(set);
    }
    if let Some(set) = row.set_for.as_ref().and_then(|s| s.get(req)) {
        cx.node(&format!("{at}.set_for.{req}"), set, true)?;
        item = item.merged(set);
    }
    if let Some(set) = send.set() {
        cx.node(&format!("{at}.send[{i}].set"), set, true)?;
        item = item.merged(set);
    }
    let root = cx.node(&format!("requests.{req}.item"), &item, false)?;
    let batch = spec.batch.as_ref();
    let mut plan = ItemPlan {
        request: index,
        root,
        merge_by: batch.and_then(|b| b.merge_by.as_deref()),
        merge_into: batch.and_then(|b| b.merge_into.as_deref()),
        hold_by: batch
            .and_then(|b| b.hold_by.as_ref())
            .map(|h| h.as_slice().iter().map(String::as_str).collect())
            .unwrap_or_default(),
        require_any: spec.require_any.as_ref().map(|r| {
            (
                r.keys.iter().map(String::as_str).collect(),
                super::directive::reason(&r.reason),
            )
        }),
        roles: Vec::new(),
    };
    if let Node::Obj(members) = &plan.root {
        plan.roles = members
            .iter()
            .map(|m| {
                let key = Some(&*m.key);
                Role {
                    fields: plan.merge_into == key,
                    merge: plan.merge_by == key,
                    hold: plan.hold_by.iter().position(|k| *k == &*m.key),
                    any: plan
                        .require_any
                        .as_ref()
                        .is_some_and(|(keys, _)| keys.contains(&&*m.key)),
                }
            })
            .collect();
    }
    Ok(plan)
}
