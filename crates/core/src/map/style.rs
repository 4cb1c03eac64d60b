//! How an object or value read from the event is written when a directive carries `flatten`
//! or `truncate_strings:N`: nested keys joined with `.` (heap.md 3.4: booleans as
//! `"true"`/`"false"`, nulls left out, arrays of scalars kept, arrays of objects flattened
//! with index keys), and every string cut to N characters, however deep. Both apply while the
//! object is copied, after its object rules (`@omit`, `@move`, `@fill`), with no second pass.

use super::keys::{KeyBufs, KeyWriter};
use super::privacy::{Act, Priv};
use super::value::{V, push_text, sha256_hex};
use crate::json::{write_str, write_val};
use crate::tape::Val;
use std::fmt::Write as _;
use std::ops::Range;

/// The writing style of one directive.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Style {
    /// `flatten`.
    pub flatten: bool,
    /// `truncate_strings:N`.
    pub cut: Option<usize>,
}

impl Style {
    /// Nothing to do: values are written as they are.
    pub fn is_plain(self) -> bool {
        !self.flatten && self.cut.is_none()
    }
}

/// Appends `s` as a JSON string, cut to `cut` characters.
pub(super) fn write_cut_str(out: &mut Vec<u8>, s: &str, cut: Option<usize>) {
    match cut.and_then(|n| s.char_indices().nth(n)) {
        Some((end, _)) => write_str(out, &s[..end]),
        None => write_str(out, s),
    }
}

/// Appends a tape value with every string cut (and, flattening, booleans as text).
pub(super) fn write_styled(out: &mut Vec<u8>, v: Val<'_, '_>, style: Style) {
    if style.is_plain() {
        write_val(out, v);
    } else if let Some(s) = v.as_str() {
        write_cut_str(out, s, style.cut);
    } else if let (true, Some(b)) = (style.flatten, v.as_bool()) {
        out.extend_from_slice(if b { b"\"true\"" } else { b"\"false\"" });
    } else if let Some(o) = v.as_obj() {
        out.push(b'{');
        for (i, (k, c)) in o.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, k);
            out.push(b':');
            write_styled(out, c, style);
        }
        out.push(b'}');
    } else if let Some(a) = v.as_arr() {
        out.push(b'[');
        for (i, c) in a.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_styled(out, c, style);
        }
        out.push(b']');
    } else {
        write_val(out, v);
    }
}

/// Appends a value the writer evaluated, strings cut; false when flattening a value that
/// cannot be flattened (not an object).
pub(super) fn put_styled(out: &mut Vec<u8>, v: V<'_>, cur: &str, style: Style) -> bool {
    match v {
        V::Str(s) => write_cut_str(out, s, style.cut),
        V::Text => write_cut_str(out, cur, style.cut),
        V::Id(id) => write_cut_str(out, id.as_str(), style.cut),
        V::Tape(t) => write_styled(out, t, style),
        V::Bool(b) if style.flatten => {
            out.extend_from_slice(if b { b"\"true\"" } else { b"\"false\"" })
        }
        other => super::value::put(out, other, &super::value::Scratch::default()),
    }
    true
}

/// Where flattened members go: the object's key writer and, for merged objects, the spans
/// of each member.
pub(super) struct Flat<'a, 'w, 'k> {
    pub w: &'a mut KeyWriter<'w>,
    pub kb: &'a mut KeyBufs<'k>,
    pub fields: Option<&'a mut Vec<(Range<u32>, Range<u32>)>>,
    pub style: Style,
    pub tmp: &'a mut String,
}

impl Flat<'_, '_, '_> {
    /// Writes `v` under the key `prefix`: one member for a scalar or an array of scalars,
    /// one per leaf (`prefix.key`, `prefix.0.key`) for objects and arrays holding objects.
    pub fn member(&mut self, prefix: &mut String, v: Val<'_, '_>, pr: Option<&Priv>) {
        if v.is_null() || pr.is_some_and(|p| p.act == Some(Act::Remove)) {
            return;
        }
        let len = prefix.len();
        if pr.is_none_or(|p| p.act != Some(Act::Hash)) {
            if let Some(o) = v.as_obj() {
                for (k, c) in o.iter() {
                    prefix.push('.');
                    prefix.push_str(k);
                    self.member(prefix, c, pr.and_then(|p| p.child(k)));
                    prefix.truncate(len);
                }
                return;
            }
            if let Some(a) = v.as_arr()
                && a.iter()
                    .any(|c| c.as_obj().is_some() || c.as_arr().is_some())
            {
                for (i, c) in a.iter().enumerate() {
                    let _ = write!(prefix, ".{i}");
                    self.member(prefix, c, None);
                    prefix.truncate(len);
                }
                return;
            }
        }
        if !self.w.added(self.kb, prefix) {
            return;
        }
        let vstart = self.kb.out.len() as u32;
        if pr.is_some_and(|p| p.act == Some(Act::Hash)) {
            self.tmp.clear();
            push_text(V::Tape(v), "", self.tmp);
            let mut hex = String::with_capacity(64);
            sha256_hex(self.tmp, &mut hex);
            write_str(self.kb.out, &hex);
        } else {
            write_styled(self.kb.out, v, self.style);
        }
        if let Some(f) = self.fields.as_deref_mut() {
            f.push((self.w.key_span(), vstart..self.kb.out.len() as u32));
        }
    }
}
