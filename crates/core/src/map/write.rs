//! The writer: interprets a compiled [`Plan`] for one event, writing each item's JSON into the
//! mapper's reused buffer. Identity is resolved when an item first needs it.

use super::eval::eval;
use super::path::Got;
use super::plan::{Action, ItemPlan, NamePlan, Node, Plan, Role, Source, ValuePlan, kind_bit};
use super::value::{Scratch, V, push_text, put};
use super::{DropReason, Warning};
use crate::event::{Event, EventType};
use crate::identity::IdentityLookup;
use crate::json::{write_str, write_val};
use crate::tape::Obj;
use std::ops::Range;

const DAY_MS: i64 = 86_400_000;

/// Where one item sits in the buffers.
#[derive(Debug, Clone)]
pub(super) struct Span {
    pub request: usize,
    pub body: Range<u32>,
    /// The merge id (in `Bufs::ids`) and the item's fields (in `Bufs::fields`).
    pub merge: Option<(Range<u32>, Range<u32>)>,
    /// The hold id (in `Bufs::ids`).
    pub hold: Option<Range<u32>>,
}

/// The resolved identity and event name of the event being mapped.
#[derive(Debug, Default)]
pub(super) struct IdState {
    /// The known user (empty for an anonymous one).
    pub user: String,
    /// The user as sent (the known user, or the anonymous form).
    pub visitor: String,
    /// The user is anonymous in an `apart` mode.
    pub apart: bool,
    pub account: String,
    pub name: String,
    pub has_name: bool,
    pub user_done: Option<Result<(), DropReason>>,
    /// `Some(Some(i))`: the account came from source `i`; `Some(None)`: none was found.
    pub account_done: Option<Option<usize>>,
}

/// Every buffer the writer reuses.
#[derive(Debug, Default)]
pub(super) struct Bufs {
    pub out: Vec<u8>,
    pub warnings: Vec<Warning>,
    pub fields: Vec<(Range<u32>, Range<u32>)>,
    pub spans: Vec<Span>,
    pub ids: String,
    pub taken: Vec<Range<u32>>,
    pub keyname: String,
    pub sc: Scratch,
    pub st: IdState,
}

/// Maps one event: fills `b` with the items, or says why nothing is sent.
pub(super) fn map_event(
    plan: &Plan<'_>,
    b: &mut Bufs,
    ev: &Event<'_, '_>,
    ids: &dyn IdentityLookup,
    now: i64,
) -> Result<(), DropReason> {
    b.out.clear();
    b.warnings.clear();
    b.fields.clear();
    b.spans.clear();
    b.ids.clear();
    b.st.user_done = None;
    b.st.account_done = None;
    b.st.has_name = false;
    let bit = kind_bit(ev.kind);
    let row = plan
        .rows
        .iter()
        .find(|r| {
            (r.kinds == 0 || r.kinds & bit != 0)
                && (r.events.is_empty() || ev.event.is_some_and(|e| r.events.contains(&e)))
                && r.has.iter().all(|p| p.read(ev).is_some())
        })
        .ok_or(DropReason::Rule("unmapped"))?;
    let (name, items) = match &row.action {
        Action::Drop(reason) => return Err(*reason),
        Action::Send { name, items } => (name, items),
    };
    if !enabled_by(ev.integrations, plan.integrations_key) {
        return Err(DropReason::IntegrationDisabled);
    }
    match ev.context.consent.analytics {
        Some(false) => return Err(DropReason::Consent),
        None if plan.require_consent => return Err(DropReason::Consent),
        _ => {}
    }
    let mut w = Writer {
        plan,
        b,
        ev,
        ids,
        now,
    };
    if let Some(name) = name {
        w.name(name)?;
    }
    for item in items {
        w.item(item)?;
    }
    Ok(())
}

/// Segment's `integrations` semantics: the vendor's own key wins (`false` switches it off; `true`
/// or an options object on); otherwise `"All": false` switches every vendor off.
fn enabled_by(integrations: Option<Obj<'_, '_>>, name: &str) -> bool {
    let Some(obj) = integrations else { return true };
    if let Some(v) = obj.get(name) {
        return v.as_bool() != Some(false);
    }
    obj.get("All").and_then(|v| v.as_bool()) != Some(false)
}

pub(super) struct Writer<'a, 'p, 't, 'de> {
    pub plan: &'a Plan<'p>,
    pub b: &'a mut Bufs,
    pub ev: &'a Event<'t, 'de>,
    pub ids: &'a dyn IdentityLookup,
    pub now: i64,
}

impl<'t, 'de> Writer<'_, '_, 't, 'de> {
    /// The vendor event name: the config's override, else the row's.
    fn name(&mut self, name: &NamePlan<'_>) -> Result<(), DropReason> {
        let st = &mut self.b.st;
        st.name.clear();
        let key = match self.ev.kind {
            EventType::Track => self.ev.event.unwrap_or_default(),
            other => other.as_str(),
        };
        if !self.plan.event_mapping.is_empty()
            && let Some(target) = self.plan.event_mapping.get(key)
        {
            return match target {
                Some(t) => {
                    st.name.push_str(t);
                    st.has_name = true;
                    Ok(())
                }
                None => Err(DropReason::EventMapping),
            };
        }
        match name {
            NamePlan::Const(s) => st.name.push_str(s),
            NamePlan::Value(vp) => {
                let Bufs { st, sc, .. } = &mut *self.b;
                let v = eval(vp, self.ev, st, sc, self.ids, self.now);
                // `eval` works in `sc.next` (value maps, templates): clear it after, not before.
                sc.next.clear();
                if let Some(v) = v {
                    push_text(v, &sc.cur, &mut sc.next);
                }
                st.name.push_str(&sc.next);
            }
        }
        self.b.st.has_name = true;
        Ok(())
    }

    fn item(&mut self, item: &ItemPlan<'_>) -> Result<(), DropReason> {
        let start = self.b.out.len() as u32;
        let fields_start = self.b.fields.len() as u32;
        let mut cap = Capture::default();
        let written = match &item.root {
            Node::Obj(members) => self.object(members, Some((item, &mut cap)))?,
            other => self.node(other, false)?,
        };
        if !written {
            self.b.out.extend_from_slice(b"{}");
        }
        if let Some((_, reason)) = &item.require_any
            && !cap.any
        {
            return Err(*reason);
        }
        let merge = match (item.merge_by, cap.merge) {
            (Some(_), Some(id)) => Some((id, fields_start..self.b.fields.len() as u32)),
            _ => None,
        };
        self.b.spans.push(Span {
            request: item.request,
            body: start..self.b.out.len() as u32,
            merge,
            hold: cap.hold,
        });
        Ok(())
    }

    /// Writes a node; false when it is absent (nothing written). Small and inlined: a lone
    /// `@path` or a literal costs no call, a directive is evaluated out of line.
    #[inline]
    fn node(&mut self, n: &Node<'_>, fields: bool) -> Result<bool, DropReason> {
        match n {
            Node::Val(vp) if vp.flags.simple && !fields => Ok(self.simple(vp)),
            Node::Lit(raw) => {
                self.b.out.extend_from_slice(raw);
                Ok(true)
            }
            Node::Obj(members) => self.object(members, None),
            Node::Val(vp) => self.value(vp, fields),
        }
    }

    /// A literal object template; members whose value is absent are left out, and so is an
    /// object left with none.
    fn object(
        &mut self,
        members: &[super::plan::Member<'_>],
        mut top: Option<(&ItemPlan<'_>, &mut Capture)>,
    ) -> Result<bool, DropReason> {
        let mark = self.b.out.len();
        self.b.out.push(b'{');
        let mut count = 0;
        for (i, m) in members.iter().enumerate() {
            let before = self.b.out.len();
            let head = if count > 0 { &m.head[..] } else { &m.head[1..] };
            self.b.out.extend_from_slice(head);
            let vstart = self.b.out.len();
            let role = match &top {
                Some((it, _)) => it.roles.get(i).copied().unwrap_or_default(),
                None => Role::default(),
            };
            let recorded = self.b.fields.len();
            if !self.node(&m.node, role.fields)? {
                self.b.out.truncate(before);
                continue;
            }
            count += 1;
            if role.is_none() {
                continue;
            }
            // An object copied from the event records its fields as it goes; one built from
            // a template or a transform (a literal object, `flatten`) is read back.
            if role.fields && self.b.fields.len() == recorded {
                members_of(&self.b.out, vstart, &mut self.b.fields);
            }
            if let Some((_, cap)) = top.as_mut() {
                if role.merge {
                    cap.merge = Some(capture(&self.b.out[vstart..], &mut self.b.ids));
                }
                if let Some(rank) = role.hold
                    && cap.hold_rank.is_none_or(|r| rank < r)
                {
                    cap.hold_rank = Some(rank);
                    cap.hold = Some(capture(&self.b.out[vstart..], &mut self.b.ids));
                }
                if role.any {
                    cap.any = true;
                }
            }
        }
        if count == 0 {
            self.b.out.truncate(mark);
            return Ok(false);
        }
        self.b.out.push(b'}');
        Ok(true)
    }

    /// A directive.
    #[inline(never)]
    fn value(&mut self, vp: &ValuePlan<'_>, fields: bool) -> Result<bool, DropReason> {
        self.identity_for(vp)?;
        let start = self.b.out.len();
        let written = match self.object_source(vp, fields) {
            Some((obj, src)) => self.copy_object(obj, src, vp, fields) > 0,
            None => {
                let Bufs {
                    st,
                    sc,
                    out,
                    warnings,
                    ..
                } = &mut *self.b;
                match eval(vp, self.ev, st, sc, self.ids, self.now) {
                    None => false,
                    Some(v) => {
                        if let Some(limit) = vp.max_age_days
                            && let Some(ms) = time_ms(v)
                            && self.now - ms > limit * DAY_MS
                        {
                            warnings.push(Warning::TimestampTooOld {
                                days: (self.now - ms) / DAY_MS,
                                limit,
                                vendor: self.plan.vendor,
                            });
                        }
                        if vp.style.is_plain() {
                            put(out, v, sc);
                            true
                        } else {
                            !vp.style.flatten && super::style::put_styled(out, v, &sc.cur, vp.style)
                        }
                    }
                }
            }
        };
        if !written {
            self.b.out.truncate(start);
            return match vp.required {
                Some(reason) => Err(reason),
                None => Ok(false),
            };
        }
        if let Some(limit) = vp.max_bytes {
            let bytes = self.b.out.len() - start;
            if bytes > limit {
                self.b.warnings.push(Warning::PropertiesTooLarge {
                    bytes,
                    limit,
                    vendor: self.plan.vendor,
                });
            }
        }
        Ok(true)
    }

    /// A lone `@path`: read and written as it is.
    #[inline]
    fn simple(&mut self, vp: &ValuePlan<'_>) -> bool {
        let Some(Source::Path(p, _)) = vp.sources.first() else {
            return false;
        };
        let out = &mut self.b.out;
        match p.read(self.ev) {
            None => false,
            Some(Got::Str(s)) => {
                write_str(out, s);
                true
            }
            Some(Got::Id(id)) => {
                write_str(out, id.as_str());
                true
            }
            Some(Got::Time(ms)) => {
                crate::json::write_i64(out, ms);
                true
            }
            Some(Got::Tape(t)) => {
                write_val(out, t);
                true
            }
        }
    }

    /// When the directive copies an object of the event under object rules: that object
    /// (`Some(None)`: absent, but there are keys to fill in). Object rules apply to objects
    /// read by `@path` with no transform.
    /// The object a directive copies key by key, with the index of the source it was read
    /// from (its privacy rules are the ones that apply); `(None, usize::MAX)` when no source is
    /// present but `@fill` keys are.
    fn object_source(
        &self,
        vp: &ValuePlan<'_>,
        fields: bool,
    ) -> Option<(Option<Obj<'t, 'de>>, usize)> {
        if !(fields || vp.flags.walk) || !vp.fns.is_empty() || vp.map.is_some() {
            return None;
        }
        for (i, src) in vp.sources.iter().enumerate() {
            let Source::Path(p, _) = src else { return None };
            if let Some(g) = p.read(self.ev) {
                return match g {
                    Got::Tape(t) => t.as_obj().map(|o| (Some(o), i)),
                    _ => None,
                };
            }
        }
        (!vp.obj.fills.is_empty()).then_some((None, usize::MAX))
    }
}

/// The members of the JSON object written at `out[start..]` (by this writer, so valid and
/// compact) as (key, value) spans of `out`, appended to `fields`.
fn members_of(out: &[u8], start: usize, fields: &mut Vec<(Range<u32>, Range<u32>)>) {
    if out.get(start) != Some(&b'{') {
        return;
    }
    let mut i = start + 1;
    while i < out.len() && out[i] == b'"' {
        let key_end = string_end(out, i);
        // key_end is just past the closing quote; a ':' follows.
        let value_start = key_end + 1;
        let value_end = value_end(out, value_start);
        fields.push((
            i as u32..key_end as u32,
            value_start as u32..value_end as u32,
        ));
        i = value_end + usize::from(out.get(value_end) == Some(&b','));
    }
}

/// Just past the string starting at `out[i]` (a `"`).
fn string_end(out: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < out.len() {
        match out[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    out.len()
}

/// Just past the value starting at `out[i]`: at the `,` or closing bracket that ends it.
fn value_end(out: &[u8], i: usize) -> usize {
    let mut depth = 0usize;
    let mut j = i;
    while j < out.len() {
        match out[j] {
            b'"' => {
                j = string_end(out, j);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth == 0 => return j,
            b'}' | b']' => depth -= 1,
            b',' if depth == 0 => return j,
            _ => {}
        }
        j += 1;
    }
    out.len()
}

/// What a merge or hold key was written as, unescaped, appended to `ids`; its span there.
fn capture(json: &[u8], ids: &mut String) -> Range<u32> {
    let start = ids.len() as u32;
    match json {
        [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => {
            ids.push_str(std::str::from_utf8(inner).unwrap_or_default());
        }
        [b'"', ..] => {
            if let Ok(s) = serde_json::from_slice::<String>(json) {
                ids.push_str(&s);
            }
        }
        other => ids.push_str(std::str::from_utf8(other).unwrap_or_default()),
    }
    start..ids.len() as u32
}

#[derive(Default)]
struct Capture {
    merge: Option<Range<u32>>,
    hold: Option<Range<u32>>,
    hold_rank: Option<usize>,
    /// A `require_any` key was written.
    any: bool,
}

/// A time's epoch milliseconds, for the age warning.
fn time_ms(v: V<'_>) -> Option<i64> {
    match v {
        V::Time(ms) | V::Int(ms) => Some(ms),
        _ => None,
    }
}
