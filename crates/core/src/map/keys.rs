//! Writing the keys of an object under the vendor's key rules.
//!
//! The fast path, taken when every input key is valid, copies keys through: input keys are unique
//! (the parser rejects duplicates), so nothing can collide. Once a key must be renamed, every
//! key written is remembered so that a renamed key that lands on a taken name is reported and
//! left out (the first one written is kept). The caller writes each value after its key.

use super::Warning;
use crate::blueprint::KeyRules;
use crate::json::write_str;
use crate::tape::Obj;
use std::ops::Range;

/// Writes `{...}` into `out`, one key at a time.
pub(super) struct KeyWriter<'r> {
    rules: Option<&'r KeyRules>,
    /// Set when some input key needs a new name.
    slow: bool,
    count: usize,
    /// Index in `taken` of the first key written that was renamed or added (`usize::MAX`:
    /// none yet).
    renamed: usize,
    /// Where the key being written starts and ends (for merge fields).
    key: Range<u32>,
    /// Flattening: keys with a `.` are remembered and checked, since a flattened key
    /// (`a.b` from `{"a": {"b": 1}}`) can land on an input key or another flattened one.
    dotted: bool,
}

/// The buffers a [`KeyWriter`] writes into.
pub(super) struct KeyBufs<'a> {
    pub out: &'a mut Vec<u8>,
    pub warnings: &'a mut Vec<Warning>,
    /// Where each key written so far sits in `out` (only while renaming: see the module doc).
    pub taken: &'a mut Vec<Range<u32>>,
    /// A reused buffer for new names.
    pub scratch: &'a mut String,
}

impl<'r> KeyWriter<'r> {
    /// Starts an object whose input keys are `input`'s (or none), and writes `{`.
    pub fn begin(
        b: &mut KeyBufs<'_>,
        rules: Option<&'r KeyRules>,
        input: Option<Obj<'_, '_>>,
    ) -> Self {
        let slow =
            rules.is_some_and(|r| input.is_some_and(|o| o.iter().any(|(k, _)| !r.is_valid(k))));
        b.taken.clear();
        b.out.push(b'{');
        Self {
            rules,
            slow,
            count: 0,
            renamed: usize::MAX,
            key: 0..0,
            dotted: false,
        }
    }

    /// Checks keys with a `.` against those written (flattening; see `dotted`).
    pub fn track_dotted(&mut self) {
        self.dotted = true;
    }

    /// True (with a warning) when flattening and `key` was written already. `added` checks it;
    /// the caller checks an input key (so the unflattened fast path pays nothing).
    #[inline]
    pub fn dotted_taken(&self, b: &mut KeyBufs<'_>, key: &str) -> bool {
        if self.dotted && key.contains('.') && self.is_taken(b, 0, key) {
            b.warnings.push(Warning::PropertyCollision {
                from: key.to_owned(),
                to: key.to_owned(),
            });
            return true;
        }
        false
    }

    /// Writes an input key under the rules (renamed with a warning if it must be); false when
    /// the key is left out (its value must not be written).
    #[inline]
    pub fn input(&mut self, b: &mut KeyBufs<'_>, key: &str) -> bool {
        match self.rules {
            None => {
                self.emit(b, key);
                true
            }
            // Every input key passed the rules in `begin`: letters, digits and `_`, nothing to
            // escape.
            Some(_) if !self.slow => {
                self.emit_raw(b, key);
                true
            }
            Some(rules) => self.input_renaming(b, rules, key),
        }
    }

    /// [`input`](Self::input) once some key of the object must be renamed.
    #[inline(never)]
    fn input_renaming(&mut self, b: &mut KeyBufs<'_>, rules: &KeyRules, key: &str) -> bool {
        if rules.is_valid(key) {
            // Input keys are unique among themselves: only a renamed or added key written
            // before this one can hold its name.
            if self.is_taken(b, self.renamed, key) {
                b.warnings.push(Warning::PropertyCollision {
                    from: key.to_owned(),
                    to: key.to_owned(),
                });
                return false;
            }
            self.emit_raw(b, key);
            return true;
        }
        rules.rename_into(key, b.scratch);
        if self.is_taken(b, 0, b.scratch) {
            b.warnings.push(Warning::PropertyCollision {
                from: key.to_owned(),
                to: b.scratch.clone(),
            });
            return false;
        }
        let new = b.scratch.clone();
        self.note_renamed(b);
        self.emit(b, &new);
        b.warnings.push(Warning::PropertyRenamed {
            from: key.to_owned(),
            to: new,
            reserved: rules.is_reserved(key),
        });
        true
    }

    /// Writes a key the mapping adds (valid by construction), unless that name is taken.
    pub fn added(&mut self, b: &mut KeyBufs<'_>, key: &str) -> bool {
        if self.dotted_taken(b, key) {
            return false;
        }
        if self.slow {
            if self.is_taken(b, 0, key) {
                return false;
            }
            self.note_renamed(b);
        }
        self.emit(b, key);
        true
    }

    /// Keys written while renaming are ASCII letters, digits and `_` (valid or renamed), so
    /// their bytes in `out` are the key itself, with no escapes. Only the keys written from
    /// the `from`-th on are looked at.
    fn is_taken(&self, b: &KeyBufs<'_>, from: usize, key: &str) -> bool {
        b.taken
            .get(from..)
            .unwrap_or_default()
            .iter()
            .any(|r| &b.out[r.start as usize..r.end as usize] == key.as_bytes())
    }

    /// The key about to be written is not an input key as it came: valid input keys from now
    /// on must be compared with it.
    fn note_renamed(&mut self, b: &KeyBufs<'_>) {
        self.renamed = self.renamed.min(b.taken.len());
    }

    fn emit(&mut self, b: &mut KeyBufs<'_>, key: &str) {
        if self.count > 0 {
            b.out.push(b',');
        }
        self.count += 1;
        let k0 = b.out.len() as u32;
        write_str(b.out, key);
        let k1 = b.out.len() as u32;
        if self.slow || (self.dotted && key.contains('.')) {
            b.taken.push(k0 + 1..k1 - 1);
        }
        b.out.push(b':');
        self.key = k0..k1;
    }

    /// [`emit`](Self::emit) for a key known to need no escapes (one that passed the rules).
    #[inline]
    fn emit_raw(&mut self, b: &mut KeyBufs<'_>, key: &str) {
        if self.count > 0 {
            b.out.push(b',');
        }
        self.count += 1;
        let k0 = b.out.len() as u32;
        b.out.push(b'"');
        b.out.extend_from_slice(key.as_bytes());
        b.out.push(b'"');
        let k1 = b.out.len() as u32;
        if self.slow || (self.dotted && key.contains('.')) {
            b.taken.push(k0 + 1..k1 - 1);
        }
        b.out.push(b':');
        self.key = k0..k1;
    }

    /// The span of the key just written.
    pub fn key_span(&self) -> Range<u32> {
        self.key.clone()
    }

    /// Writes `}`; returns how many keys were written.
    pub fn end(self, b: &mut KeyBufs<'_>) -> usize {
        b.out.push(b'}');
        self.count
    }
}
