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
    /// Where each key written so far sits in `out` (only while renaming: see the module doc).
    pub taken: &'a mut Vec<Range<u32>>,
    /// A reused buffer for new names.
    pub scratch: &'a mut String,
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
        taken: &'a mut Vec<Range<u32>>,
        scratch: &'a mut String,
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
            scratch,
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
        let valid = self.rules.is_valid(key);
        if valid {
            self.scratch.clear();
            self.scratch.push_str(key);
        } else {
            self.rules.rename_into(key, self.scratch);
        }
        if self.is_taken(self.scratch) {
            self.warnings.push(Warning::PropertyCollision {
                from: key.to_owned(),
                to: self.scratch.clone(),
            });
            return;
        }
        if valid {
            self.emit(key, v);
            return;
        }
        let new = self.scratch.clone();
        self.emit(&new, v);
        self.warnings.push(Warning::PropertyRenamed {
            from: key.to_owned(),
            to: new,
            reserved: self.rules.is_reserved(key),
        });
    }

    /// Writes a key the mapping adds (valid by construction), unless that name is taken.
    pub fn added(&mut self, key: &str, v: Source<'_, '_>) {
        if self.slow && self.is_taken(key) {
            return;
        }
        self.emit(key, v);
    }

    /// Keys written while renaming are ASCII letters, digits and `_` (valid or renamed), so
    /// their bytes in `out` are the key itself, with no escapes.
    fn is_taken(&self, key: &str) -> bool {
        self.taken
            .iter()
            .any(|r| &self.out[r.start as usize..r.end as usize] == key.as_bytes())
    }

    fn emit(&mut self, key: &str, v: Source<'_, '_>) {
        if self.count > 0 {
            self.out.push(b',');
        }
        self.count += 1;
        let k0 = self.out.len() as u32;
        write_str(self.out, key);
        let k1 = self.out.len() as u32;
        if self.slow {
            self.taken.push(k0 + 1..k1 - 1);
        }
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
