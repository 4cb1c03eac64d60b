//! Evaluating a directive: the first present source, then transforms, the value map and the
//! default.

use super::plan::{LinkKind, Part, Source, ValuePlan};
use super::privacy::Act;
use super::value::{Scratch, V, apply, push_text, sha256_hex};
use super::write::IdState;
use crate::event::Event;
use crate::identity::IdentityLookup;

pub(super) fn got_v<'v>(g: super::path::Got<'v, 'v>) -> V<'v> {
    use super::path::Got;
    match g {
        Got::Str(s) => V::Str(s),
        Got::Id(id) => V::Id(id),
        Got::Time(ms) => V::Time(ms),
        Got::Tape(t) => V::Tape(t),
    }
}

/// Evaluates a directive's value: the first present source, transforms, value map, default.
pub(super) fn eval<'v>(
    vp: &'v ValuePlan<'_>,
    ev: &Event<'v, 'v>,
    st: &'v IdState,
    sc: &mut Scratch,
    ids: &dyn IdentityLookup,
    now: i64,
) -> Option<V<'v>> {
    if vp.flags.one
        && let Some(src) = vp.sources.first()
    {
        return source(src, ev, st, sc, ids, now);
    }
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
    if !vp.reject.is_empty() {
        sc.next.clear();
        push_text(v, &sc.cur, &mut sc.next);
        if vp.reject.iter().any(|r| r.eq_ignore_ascii_case(&sc.next)) {
            return vp
                .default
                .as_deref()
                .and_then(|d| eval(d, ev, st, sc, ids, now));
        }
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
        Source::User => (!st.apart).then_some(V::Str(&st.visitor)),
        Source::Anonymous => st.apart.then_some(V::Str(&st.visitor)),
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
