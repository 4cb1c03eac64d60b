//! Copying an object of the event under a directive's object rules (key rules, omit, move,
//! fill, merge fields) and the integration's privacy rules.

use super::eval::eval;
use super::keys::{KeyBufs, KeyWriter};
use super::plan::{Fill, ObjOpts, Source, ValuePlan};
use super::privacy::{Act, Priv};
use super::style::{Flat, Style, put_styled, write_styled};
use super::value::Scratch;
use super::value::{V, push_text, put, sha256_hex};
use super::write::IdState;
use super::write::{Bufs, Writer};
use crate::event::Event;
use crate::identity::IdentityLookup;
use crate::json::{write_str, write_val};
use crate::tape::{Obj, Val};
use std::ops::Range;

impl Writer<'_, '_, '_, '_> {
    #[inline(never)]
    pub(super) fn copy_object(
        &mut self,
        obj: Option<Obj<'_, '_>>,
        src: usize,
        vp: &ValuePlan<'_>,
        fields: bool,
    ) -> usize {
        let opts: &ObjOpts<'_> = &vp.obj;
        // The rules of the source the object was read from, not of another one.
        let pr = match vp.sources.get(src) {
            Some(Source::Path(_, pr)) if !pr.below.is_empty() || pr.act == Some(Act::Hash) => {
                Some(pr)
            }
            _ => None,
        };
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
        if vp.style.flatten {
            w.track_dotted();
        }
        // What can apply to this object's keys, worked out once rather than per key.
        let omits =
            !opts.omit.is_empty() || opts.omit_used.iter().any(|(i, _)| account_from == Some(*i));
        let moves = !opts.moves.is_empty();
        let plain = pr.is_none() && vp.style.is_plain();
        // Which `@fill` keys the object has, noted while its keys go by (bit i: fill i).
        let note_fills = !opts.fills.is_empty() && opts.fills.len() <= 64;
        let mut present = 0u64;
        for (k, v) in obj.iter().flat_map(|o| o.iter()) {
            if note_fills {
                present |= fill_bits(&opts.fills, k);
            }
            if omits
                && (opts.omit.iter().any(|o| &**o == k)
                    || opts
                        .omit_used
                        .iter()
                        .any(|(i, key)| account_from == Some(*i) && &**key == k))
            {
                continue;
            }
            if plain && !moves {
                if !w.input(&mut kb, k) {
                    continue;
                }
                let vstart = kb.out.len() as u32;
                write_val(kb.out, v);
                if fields {
                    field_spans.push((w.key_span(), vstart..kb.out.len() as u32));
                }
                continue;
            }
            let child = pr.and_then(|p| p.child(k));
            if child.is_some_and(|c| c.act == Some(Act::Remove)) {
                continue;
            }
            let moved = opts.moves.iter().enumerate().find_map(|(i, m)| {
                let (to, from) = m;
                // The first present of a new key's old keys moves; a later one is left out.
                (&**from == k
                    && !has(to)
                    && !opts.moves[..i].iter().any(|(t, f)| t == to && has(f)))
                .then_some(m)
            });
            if moved.is_none() && opts.moves.iter().any(|(to, from)| &**from == k && !has(to)) {
                continue;
            }
            if vp.style.flatten && needs_flat(v) {
                let mut prefix = String::from(moved.map_or(k, |(to, _)| &**to));
                Flat {
                    w: &mut w,
                    kb: &mut kb,
                    fields: fields.then_some(&mut *field_spans),
                    style: vp.style,
                    tmp: &mut sc.next,
                }
                .member(&mut prefix, v, child);
                continue;
            }
            if vp.style.flatten && v.is_null() {
                continue;
            }
            let ok = match moved {
                Some((to, _)) => w.added(&mut kb, to),
                None => !(vp.style.flatten && w.dotted_taken(&mut kb, k)) && w.input(&mut kb, k),
            };
            if !ok {
                continue;
            }
            let vstart = kb.out.len() as u32;
            write_private(kb.out, v, child, &mut sc.next, vp.style);
            if fields {
                field_spans.push((w.key_span(), vstart..kb.out.len() as u32));
            }
        }
        let fill = Filler {
            ev: self.ev,
            st,
            sc,
            ids: self.ids,
            now: self.now,
            present: note_fills.then_some(present),
            pr,
        };
        fill.keys(
            &mut w,
            &mut kb,
            obj,
            opts,
            vp.style,
            fields.then_some(field_spans),
        );
        let n = w.end(&mut kb);
        if n == 0 {
            out.truncate(mark);
        }
        n
    }
}

/// The bits of the `@fill` keys equal to `k`.
#[inline]
fn fill_bits(fills: &[(Box<str>, Fill<'_>)], k: &str) -> u64 {
    fills.iter().enumerate().fold(
        0,
        |acc, (i, (key, _))| if **key == *k { acc | 1 << i } else { acc },
    )
}

/// True for a value `flatten` spreads over several keys: an object, or an array holding
/// objects or arrays.
fn needs_flat(v: Val<'_, '_>) -> bool {
    v.as_obj().is_some()
        || v.as_arr().is_some_and(|a| {
            a.iter()
                .any(|c| c.as_obj().is_some() || c.as_arr().is_some())
        })
}

/// What `@fill` values are read with.
struct Filler<'a, 't, 'de> {
    ev: &'a Event<'t, 'de>,
    st: &'a IdState,
    sc: &'a mut Scratch,
    ids: &'a dyn IdentityLookup,
    now: i64,
    /// Which fill keys the object has (bit i: fill i), when the copy noted them; else they
    /// are looked up.
    present: Option<u64>,
    /// The privacy rules below the copied object: a sibling filled from keeps its own.
    pr: Option<&'a Priv>,
}

impl Filler<'_, '_, '_> {
    /// Writes the `@fill` keys the object lacks, after its own.
    fn keys(
        self,
        w: &mut KeyWriter<'_>,
        kb: &mut KeyBufs<'_>,
        obj: Option<Obj<'_, '_>>,
        opts: &ObjOpts<'_>,
        style: Style,
        mut fields: Option<&mut Vec<(Range<u32>, Range<u32>)>>,
    ) {
        let has = |i: usize, k: &str| match self.present {
            Some(bits) => bits >> i & 1 != 0,
            None => obj.is_some_and(|o| o.get(k).is_some()),
        };
        for (i, (key, fill)) in opts.fills.iter().enumerate() {
            if has(i, key) {
                continue;
            }
            let vstart;
            match fill {
                Fill::Sibling(from) => {
                    let Some(v) = obj
                        .and_then(|o| o.get(from))
                        .filter(|v| !(style.flatten && v.is_null()))
                    else {
                        continue;
                    };
                    let cp = self.pr.and_then(|p| p.child(from));
                    if cp.is_some_and(|c| c.act == Some(Act::Remove)) {
                        continue;
                    }
                    if style.flatten && needs_flat(v) {
                        let mut prefix = String::from(&**key);
                        let mut tmp = String::new();
                        Flat {
                            w,
                            kb,
                            fields: fields.as_deref_mut(),
                            style,
                            tmp: &mut tmp,
                        }
                        .member(&mut prefix, v, cp);
                        continue;
                    }
                    if !w.added(kb, key) {
                        continue;
                    }
                    vstart = kb.out.len() as u32;
                    write_private(kb.out, v, cp, &mut self.sc.next, style);
                }
                Fill::Value(fvp) => {
                    let Some(v) = eval(fvp, self.ev, self.st, self.sc, self.ids, self.now) else {
                        continue;
                    };
                    if !w.added(kb, key) {
                        continue;
                    }
                    vstart = kb.out.len() as u32;
                    if style.is_plain() {
                        put(kb.out, v, self.sc);
                    } else {
                        put_styled(kb.out, v, &self.sc.cur, style);
                    }
                }
            }
            if let Some(f) = fields.as_deref_mut() {
                f.push((w.key_span(), vstart..kb.out.len() as u32));
            }
        }
    }
}

/// Writes a tape value under privacy rules: hashed, or an object with keys removed or hashed.
fn write_private(
    out: &mut Vec<u8>,
    v: Val<'_, '_>,
    pr: Option<&Priv>,
    tmp: &mut String,
    style: Style,
) {
    let Some(pr) = pr else {
        write_styled(out, v, style);
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
        write_styled(out, v, style);
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
        write_private(out, child, cp, tmp, style);
    }
    out.push(b'}');
}
