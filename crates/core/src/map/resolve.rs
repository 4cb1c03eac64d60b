//! Identity, resolved once per event when an item first needs it: the user (a source, a link,
//! else the anonymous mode) and the account (the first present source).

use super::eval::got_v;
use super::plan::{IdSource, LinkKind, ValuePlan};
use super::privacy::{Act, Priv};
use super::value::{Scratch, V, apply, sha256_hex};
use super::write::{Bufs, Writer};
use super::{DropReason, Warning};
use crate::blueprint::AnonymousMode;
use crate::event::NumId;

impl Writer<'_, '_, '_, '_> {
    /// Resolves the identity a directive reads, once per event.
    pub(super) fn identity_for(&mut self, vp: &ValuePlan<'_>) -> Result<(), DropReason> {
        let (user, account) = (vp.flags.user, vp.flags.account);
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
        st.apart = false;
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
        st.apart = a.apart;
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
