//! A consumer's cursor: everything up to `committed` is acknowledged; acknowledgements above it
//! (delivery finishes out of order) wait as merged ranges until the gap below them closes.

use std::collections::BTreeMap;
use std::ops::Range;

/// Acknowledged sequence numbers of one consumer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// Every sequence number up to and including this one is acknowledged.
    pub committed: u64,
    /// Acknowledged ranges above `committed + 1`, by start, merged, end exclusive.
    above: BTreeMap<u64, u64>,
    /// Changed since last persisted.
    pub dirty: bool,
}

impl Cursor {
    pub fn new(committed: u64) -> Self {
        Self {
            committed,
            above: BTreeMap::new(),
            dirty: false,
        }
    }

    /// Acknowledges `r` (already acknowledged numbers are fine).
    pub fn ack(&mut self, r: Range<u64>) {
        let start = r.start.max(self.committed + 1);
        let mut end = r.end;
        if start >= end {
            return;
        }
        let mut start = start;
        // Merge with a range that starts before and reaches `start`.
        if let Some((&s, &e)) = self.above.range(..=start).next_back()
            && e >= start
        {
            start = s;
            end = end.max(e);
            self.above.remove(&s);
        }
        // Swallow the ranges that start inside the new one.
        while let Some((&s, &e)) = self.above.range(start..=end).next() {
            end = end.max(e);
            self.above.remove(&s);
        }
        self.above.insert(start, end);
        while let Some((&s, &e)) = self.above.first_key_value() {
            if s != self.committed + 1 {
                break;
            }
            self.committed = e - 1;
            self.above.remove(&s);
        }
        self.dirty = true;
    }

    /// Whether `seq` is acknowledged.
    #[cfg(test)]
    pub fn is_acked(&self, seq: u64) -> bool {
        seq <= self.committed
            || self
                .above
                .range(..=seq)
                .next_back()
                .is_some_and(|(_, &e)| seq < e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #[test]
        fn acks_in_any_order_commit_exactly_the_gapless_prefix(
            acks in prop::collection::vec((1u64..60, 1u64..5), 0..40)
        ) {
            let mut c = Cursor::new(0);
            let mut model = BTreeSet::new();
            for (start, len) in acks {
                c.ack(start..start + len);
                model.extend(start..start + len);
                let mut committed = 0;
                while model.contains(&(committed + 1)) {
                    committed += 1;
                }
                prop_assert_eq!(c.committed, committed);
                for s in 1..70 {
                    prop_assert_eq!(c.is_acked(s), model.contains(&s), "seq {}", s);
                }
            }
        }
    }
}
