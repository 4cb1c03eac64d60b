//! Writing an object whose top-level keys follow the vendor's key rules.
//!
//! The fast path, taken when every input key is valid, copies keys through: input keys are unique
//! (the parser rejects duplicates), so nothing can collide. Once a key must be renamed, every
//! key written is remembered so that a renamed key that lands on a taken name is reported and
//! left out (the first one written is kept).

use super::Warning;
use crate::blueprint::KeyRules;
use crate::json::{write_str, write_val};
use crate::tape::{Obj, Val};
use std::ops::Range;

/// Writes `{...}` into `out`, one key at a time.
pub(super) struct KeyWriter<'a> {
    pub out: &'a mut Vec<u8>,
    pub warnings: &'a mut Vec<Warning>,
    pub taken: &'a mut Vec<String>,
    pub rules: &'a KeyRules,
    /// Where to record each field's key and value span, for metadata records.
    pub fields: Option<&'a mut Vec<(Range<u32>, Range<u32>)>>,
    /// Set when some input key needs a new name.
    slow: bool,
    count: usize,
}

/// A value to write: from the tape, or a string from elsewhere in the event.
#[derive(Clone, Copy)]
pub(super) enum Source<'t, 'de> {
    Tape(Val<'t, 'de>),
    Str(&'de str),
}

impl<'a> KeyWriter<'a> {
    /// Starts an object whose input keys are `input`'s (or none), and writes `{`.
    pub fn begin(
        out: &'a mut Vec<u8>,
        warnings: &'a mut Vec<Warning>,
        taken: &'a mut Vec<String>,
        rules: &'a KeyRules,
        fields: Option<&'a mut Vec<(Range<u32>, Range<u32>)>>,
        input: Option<Obj<'_, '_>>,
    ) -> Self {
        let slow = input.is_some_and(|o| o.iter().any(|(k, _)| !rules.is_valid(k)));
        taken.clear();
        out.push(b'{');
        Self {
            out,
            warnings,
            taken,
            rules,
            fields,
            slow,
            count: 0,
        }
    }

    /// Writes an input key under the rules (renamed with a warning if it must be).
    pub fn input(&mut self, key: &str, v: Source<'_, '_>) {
        if !self.slow {
            self.emit(key, v);
            return;
        }
        let new = if self.rules.is_valid(key) {
            key.to_owned()
        } else {
            self.rules.rename(key)
        };
        if self.is_taken(&new) {
            self.warnings.push(Warning::PropertyCollision {
                from: key.to_owned(),
                to: new,
            });
            return;
        }
        if new == key {
            self.emit(key, v);
            return;
        }
        let reserved = self.rules.is_reserved(key);
        self.emit(&new, v);
        self.warnings.push(Warning::PropertyRenamed {
            from: key.to_owned(),
            to: new,
            reserved,
        });
    }

    /// Writes a key the mapping adds (valid by construction), unless that name is taken.
    pub fn added(&mut self, key: &str, v: Source<'_, '_>) {
        if self.slow && self.is_taken(key) {
            return;
        }
        self.emit(key, v);
    }

    fn is_taken(&self, key: &str) -> bool {
        self.taken.iter().any(|t| t == key)
    }

    fn emit(&mut self, key: &str, v: Source<'_, '_>) {
        if self.count > 0 {
            self.out.push(b',');
        }
        self.count += 1;
        if self.slow {
            self.taken.push(key.to_owned());
        }
        let k0 = self.out.len() as u32;
        write_str(self.out, key);
        let k1 = self.out.len() as u32;
        self.out.push(b':');
        match v {
            Source::Tape(v) => write_val(self.out, v),
            Source::Str(s) => write_str(self.out, s),
        }
        if let Some(fields) = self.fields.as_deref_mut() {
            fields.push((k0..k1, k1 + 1..self.out.len() as u32));
        }
    }

    /// Writes `}`; returns how many keys were written.
    pub fn end(self) -> usize {
        self.out.push(b'}');
        self.count
    }
}
