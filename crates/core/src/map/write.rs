//! The writer: interprets a compiled [`Plan`] for one event, writing each item's JSON into the
//! mapper's reused buffer. Identity is resolved when an item first needs it.

use super::keys::{KeyBufs, KeyWriter};
use super::plan::{
    Action, Fill, IdSource, ItemPlan, LinkKind, NamePlan, Node, ObjOpts, Part, Plan, Source,
    ValuePlan, kind_bit,
};
use super::privacy::{Act, Priv};
use super::value::{Scratch, V, apply, push_text, put, sha256_hex};
use super::{DropReason, Warning};
use crate::blueprint::AnonymousMode;
use crate::event::{Event, EventType, NumId};
use crate::identity::IdentityLookup;
use crate::json::{write_str, write_val};
use crate::tape::{Obj, Val};
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
    pub account: String,
    pub name: String,
    pub has_name: bool,
    user_done: Option<Result<(), DropReason>>,
    /// `Some(Some(i))`: the account came from source `i`; `Some(None)`: none was found.
    account_done: Option<Option<usize>>,
}

/// Every buffer the writer reuses.
#[derive(Debug, Default)]
pub(super) struct Bufs {
    pub out: Vec<u8>,
    pub warnings: Vec<Warning>,
    pub fields: Vec<(Range<u32>, Range<u32>)>,
    pub spans: Vec<Span>,
    pub ids: String,
    taken: Vec<Range<u32>>,
    keyname: String,
    sc: Scratch,
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

struct Writer<'a, 'p, 't, 'de> {
    plan: &'a Plan<'p>,
    b: &'a mut Bufs,
    ev: &'a Event<'t, 'de>,
    ids: &'a dyn IdentityLookup,
    now: i64,
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

    /// Writes a node; false when it is absent (nothing written).
    fn node(&mut self, n: &Node<'_>, fields: bool) -> Result<bool, DropReason> {
        match n {
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
        for m in members {
            let before = self.b.out.len();
            if count > 0 {
                self.b.out.push(b',');
            }
            self.b.out.extend_from_slice(&m.head);
            let vstart = self.b.out.len();
            let fields = top
                .as_ref()
                .is_some_and(|(it, _)| it.merge_into == Some(&*m.key));
            if self.node(&m.node, fields)? {
                count += 1;
                if let Some((it, cap)) = top.as_mut() {
                    if it.merge_by == Some(&*m.key) {
                        cap.merge = Some(capture(&self.b.out[vstart..], &mut self.b.ids));
                    }
                    if it.hold_by == Some(&*m.key) {
                        cap.hold = Some(capture(&self.b.out[vstart..], &mut self.b.ids));
                    }
                }
            } else {
                self.b.out.truncate(before);
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
    fn value(&mut self, vp: &ValuePlan<'_>, fields: bool) -> Result<bool, DropReason> {
        self.identity_for(vp)?;
        let start = self.b.out.len();
        let written = match self.object_source(vp, fields) {
            Some(obj) => self.copy_object(obj, vp, fields) > 0,
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
                            });
                        }
                        put(out, v, sc);
                        true
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
                self.b
                    .warnings
                    .push(Warning::PropertiesTooLarge { bytes, limit });
            }
        }
        Ok(true)
    }

    /// When the directive copies an object of the event under object rules: that object
    /// (`Some(None)`: absent, but there are keys to fill in). Object rules apply to objects
    /// read by `@path` with no transform.
    fn object_source(&self, vp: &ValuePlan<'_>, fields: bool) -> Option<Option<Obj<'t, 'de>>> {
        if !needs_walk(vp, fields) || !vp.fns.is_empty() || vp.map.is_some() {
            return None;
        }
        for src in &vp.sources {
            let Source::Path(p, _) = src else { return None };
            if let Some(g) = p.read(self.ev) {
                return match g {
                    super::path::Got::Tape(t) => t.as_obj().map(Some),
                    _ => None,
                };
            }
        }
        (!vp.obj.fills.is_empty()).then_some(None)
    }

    /// Resolves the identity a directive reads, once per event.
    fn identity_for(&mut self, vp: &ValuePlan<'_>) -> Result<(), DropReason> {
        let mut user = false;
        let mut account = !vp.obj.omit_used.is_empty();
        let mut d = Some(vp);
        while let Some(p) = d {
            for s in &p.sources {
                match s {
                    Source::User => user = true,
                    Source::Account => account = true,
                    Source::Link(LinkKind::AccountForUser | LinkKind::GroupForUser) => {
                        user = true;
                    }
                    _ => {}
                }
            }
            d = p.default.as_deref();
        }
        if user || account {
            let resolved = self.user();
            if user {
                resolved?;
            }
        }
        if account {
            self.account();
        }
        Ok(())
    }

    fn user(&mut self) -> Result<(), DropReason> {
        if let Some(done) = self.b.st.user_done {
            return done;
        }
        let done = self.resolve_user();
        self.b.st.user_done = Some(done);
        done
    }

    fn resolve_user(&mut self) -> Result<(), DropReason> {
        let Bufs { st, sc, .. } = &mut *self.b;
        st.user.clear();
        st.visitor.clear();
        let anon = self.plan.user.anonymous.as_ref();
        for src in &self.plan.user.from {
            match src {
                IdSource::Path(p, pr) => {
                    if let Some(v) = p.read(self.ev).map(got_v)
                        && id_text(v, pr, &mut st.user, sc)
                    {
                        st.visitor.push_str(&st.user);
                        return Ok(());
                    }
                    st.user.clear();
                }
                IdSource::Link(_) => {
                    sc.next.clear();
                    if let Some(a) = anon
                        && let Some(v) = a.from.read(self.ev).map(got_v)
                    {
                        id_text(v, &a.privacy, &mut sc.next, &mut Scratch::default());
                    }
                    if self.ids.user_for_anonymous(&sc.next, &mut st.user) {
                        st.visitor.push_str(&st.user);
                        return Ok(());
                    }
                    st.user.clear();
                }
            }
        }
        let Some(a) = anon else {
            return Err(DropReason::Anonymous);
        };
        sc.next.clear();
        if let Some(v) = a.from.read(self.ev).map(got_v) {
            id_text(v, &a.privacy, &mut sc.next, &mut Scratch::default());
        }
        match a.mode {
            AnonymousMode::Drop => return Err(DropReason::Anonymous),
            AnonymousMode::Prefix => {
                st.visitor.push_str(&a.prefix);
                st.visitor.push_str(&sc.next);
            }
            AnonymousMode::AsIs => st.visitor.push_str(&sc.next),
            AnonymousMode::Hash53 => {
                let text = std::mem::take(&mut sc.next);
                sc.cur.clear();
                apply(&super::value::Transform::Hash53, V::Str(&text), sc);
                st.visitor.push_str(&sc.cur);
                sc.next = text;
            }
        }
        Ok(())
    }

    fn account(&mut self) {
        if self.b.st.account_done.is_some() {
            return;
        }
        let _ = self.user();
        let Some(plan) = &self.plan.account else {
            self.b.st.account_done = Some(None);
            return;
        };
        let Bufs { st, sc, .. } = &mut *self.b;
        st.account.clear();
        let mut found = None;
        for (i, src) in plan.from.iter().enumerate() {
            let hit = match src {
                IdSource::Path(p, pr) => p
                    .read(self.ev)
                    .map(got_v)
                    .is_some_and(|v| id_text(v, pr, &mut st.account, sc)),
                IdSource::Link(LinkKind::AccountForUser) => {
                    !st.user.is_empty() && self.ids.account_for_user(&st.user, &mut st.account)
                }
                IdSource::Link(LinkKind::GroupForUser) => {
                    !st.user.is_empty() && self.ids.group_for_user(&st.user, &mut st.account)
                }
                IdSource::Link(LinkKind::UserForAnonymous) => false,
            };
            if hit {
                found = Some(i);
                break;
            }
            st.account.clear();
        }
        if found.is_none() && plan.warn {
            self.b.warnings.push(Warning::AccountNotLinked);
        }
        self.b.st.account_done = Some(found);
    }

    /// Copies an object of the event under the directive's object rules; returns the keys
    /// written (none: nothing is left in `out`).
    fn copy_object(&mut self, obj: Option<Obj<'_, '_>>, vp: &ValuePlan<'_>, fields: bool) -> usize {
        let opts: &ObjOpts<'_> = &vp.obj;
        let pr = vp.sources.iter().find_map(|s| match s {
            Source::Path(_, pr) if !pr.below.is_empty() => Some(pr),
            _ => None,
        });
        let mark = self.b.out.len();
        let has = |k: &str| obj.is_some_and(|o| o.get(k).is_some());
        let account_from = self.b.st.account_done.flatten();
        let Bufs {
            out,
            warnings,
            taken,
            keyname,
            sc,
            st,
            fields: field_spans,
            ..
        } = &mut *self.b;
        let mut kb = KeyBufs {
            out,
            warnings,
            taken,
            scratch: keyname,
        };
        let mut w = KeyWriter::begin(&mut kb, opts.keys, obj);
        for (k, v) in obj.iter().flat_map(|o| o.iter()) {
            if opts.omit.iter().any(|o| &**o == k)
                || opts
                    .omit_used
                    .iter()
                    .any(|(i, key)| account_from == Some(*i) && &**key == k)
            {
                continue;
            }
            let child = pr.and_then(|p| p.child(k));
            if child.is_some_and(|c| c.act == Some(Act::Remove)) {
                continue;
            }
            let moved = opts
                .moves
                .iter()
                .find(|(to, from)| &**from == k && !has(to));
            let ok = match moved {
                Some((to, _)) => w.added(&mut kb, to),
                None => w.input(&mut kb, k),
            };
            if !ok {
                continue;
            }
            let vstart = kb.out.len() as u32;
            write_private(kb.out, v, child, &mut sc.next);
            if fields {
                field_spans.push((w.key_span(), vstart..kb.out.len() as u32));
            }
        }
        for (key, fill) in &opts.fills {
            if has(key) {
                continue;
            }
            match fill {
                Fill::Sibling(from) => {
                    if let Some(v) = obj.and_then(|o| o.get(from))
                        && w.added(&mut kb, key)
                    {
                        let vstart = kb.out.len() as u32;
                        write_val(kb.out, v);
                        if fields {
                            field_spans.push((w.key_span(), vstart..kb.out.len() as u32));
                        }
                    }
                }
                Fill::Value(fvp) => {
                    if let Some(v) = eval(fvp, self.ev, st, sc, self.ids, self.now)
                        && w.added(&mut kb, key)
                    {
                        let vstart = kb.out.len() as u32;
                        put(kb.out, v, sc);
                        if fields {
                            field_spans.push((w.key_span(), vstart..kb.out.len() as u32));
                        }
                    }
                }
            }
        }
        let n = w.end(&mut kb);
        if n == 0 {
            out.truncate(mark);
        }
        n
    }
}

/// Whether an object value must be walked key by key (rather than copied in one go).
fn needs_walk(vp: &ValuePlan<'_>, fields: bool) -> bool {
    fields
        || vp.required.is_some()
        || vp.max_bytes.is_some()
        || !vp.obj.is_plain()
        || vp
            .sources
            .iter()
            .any(|s| matches!(s, Source::Path(_, pr) if !pr.below.is_empty()))
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
}

fn got_v<'v>(g: super::path::Got<'v, 'v>) -> V<'v> {
    use super::path::Got;
    match g {
        Got::Str(s) => V::Str(s),
        Got::Id(id) => V::Id(id),
        Got::Time(ms) => V::Time(ms),
        Got::Tape(t) => V::Tape(t),
    }
}

/// An id's text: a non-empty string, or a number; hashed when privacy says so.
fn id_text(v: V<'_>, pr: &Priv, out: &mut String, sc: &mut Scratch) -> bool {
    let start = out.len();
    let ok = match v {
        V::Str(s) => {
            out.push_str(s);
            !s.is_empty()
        }
        V::Id(id) => {
            out.push_str(id.as_str());
            true
        }
        V::Tape(t) => {
            if let Some(s) = t.as_str() {
                out.push_str(s);
                !s.is_empty()
            } else if let Some(n) = t.as_static_number().and_then(NumId::new) {
                out.push_str(n.as_str());
                true
            } else {
                false
            }
        }
        _ => false,
    };
    if ok && pr.act == Some(Act::Hash) {
        sc.next.clear();
        sc.next.push_str(&out[start..]);
        out.truncate(start);
        sha256_hex(&sc.next, out);
    }
    ok
}

/// A time's epoch milliseconds, for the age warning.
fn time_ms(v: V<'_>) -> Option<i64> {
    match v {
        V::Time(ms) | V::Int(ms) => Some(ms),
        _ => None,
    }
}

/// Writes a tape value under privacy rules: hashed, or an object with keys removed or hashed.
fn write_private(out: &mut Vec<u8>, v: Val<'_, '_>, pr: Option<&Priv>, tmp: &mut String) {
    let Some(pr) = pr else {
        write_val(out, v);
        return;
    };
    if pr.act == Some(Act::Hash) {
        tmp.clear();
        push_text(V::Tape(v), "", tmp);
        let text = std::mem::take(tmp);
        let mut hex = String::with_capacity(64);
        sha256_hex(&text, &mut hex);
        *tmp = text;
        write_str(out, &hex);
        return;
    }
    let Some(o) = v.as_obj() else {
        write_val(out, v);
        return;
    };
    out.push(b'{');
    let mut first = true;
    for (k, child) in o.iter() {
        let cp = pr.child(k);
        if cp.is_some_and(|c| c.act == Some(Act::Remove)) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, k);
        out.push(b':');
        write_private(out, child, cp, tmp);
    }
    out.push(b'}');
}

/// Evaluates a directive's value: the first present source, transforms, value map, default.
fn eval<'v>(
    vp: &'v ValuePlan<'_>,
    ev: &Event<'v, 'v>,
    st: &'v IdState,
    sc: &mut Scratch,
    ids: &dyn IdentityLookup,
    now: i64,
) -> Option<V<'v>> {
    let mut got = None;
    for src in &vp.sources {
        got = source(src, ev, st, sc, ids, now);
        if got.is_some() {
            break;
        }
    }
    let Some(mut v) = got else {
        return vp
            .default
            .as_deref()
            .and_then(|d| eval(d, ev, st, sc, ids, now));
    };
    for f in &vp.fns {
        v = match apply(f, v, sc) {
            Some(v) => v,
            None => {
                return vp
                    .default
                    .as_deref()
                    .and_then(|d| eval(d, ev, st, sc, ids, now));
            }
        };
    }
    if let Some(map) = &vp.map {
        sc.next.clear();
        push_text(v, &sc.cur, &mut sc.next);
        let hit = map
            .pairs
            .iter()
            .find_map(|(k, to)| (**k == *sc.next).then_some(to))
            .or(map.star.as_ref());
        v = match hit {
            Some(raw) => V::Lit(raw),
            None => {
                return vp
                    .default
                    .as_deref()
                    .and_then(|d| eval(d, ev, st, sc, ids, now));
            }
        };
    }
    Some(v)
}

fn source<'v>(
    src: &'v Source,
    ev: &Event<'v, 'v>,
    st: &'v IdState,
    sc: &mut Scratch,
    ids: &dyn IdentityLookup,
    now: i64,
) -> Option<V<'v>> {
    match src {
        Source::Path(p, pr) => {
            let v = got_v(p.read(ev)?);
            if pr.act == Some(Act::Hash) {
                sc.next.clear();
                push_text(v, &sc.cur, &mut sc.next);
                sc.cur.clear();
                sha256_hex(&sc.next, &mut sc.cur);
                return Some(V::Text);
            }
            Some(v)
        }
        Source::Lit(raw) => Some(V::Lit(raw)),
        Source::Template(parts) => {
            sc.next.clear();
            for part in parts {
                match part {
                    Part::Text(t) => sc.next.push_str(t),
                    Part::Path(p, pr) => {
                        let v = got_v(p.read(ev)?);
                        if pr.act == Some(Act::Hash) {
                            let mut text = String::new();
                            push_text(v, "", &mut text);
                            sha256_hex(&text, &mut sc.next);
                        } else {
                            push_text(v, "", &mut sc.next);
                        }
                    }
                }
            }
            std::mem::swap(&mut sc.cur, &mut sc.next);
            Some(V::Text)
        }
        Source::User => Some(V::Str(&st.visitor)),
        Source::Account => st
            .account_done
            .flatten()
            .map(|_| V::Str(st.account.as_str())),
        Source::Link(kind) => {
            let found = match kind {
                LinkKind::UserForAnonymous => {
                    let anon = ev.anonymous_id.as_ref().map(|a| a.as_str()).unwrap_or("");
                    ids.user_for_anonymous(anon, &mut sc.cur)
                }
                LinkKind::AccountForUser => {
                    !st.user.is_empty() && ids.account_for_user(&st.user, &mut sc.cur)
                }
                LinkKind::GroupForUser => {
                    !st.user.is_empty() && ids.group_for_user(&st.user, &mut sc.cur)
                }
            };
            found.then_some(V::Text)
        }
        Source::EventName => st.has_name.then_some(V::Str(st.name.as_str())),
        Source::Now => Some(V::Time(now)),
    }
}
