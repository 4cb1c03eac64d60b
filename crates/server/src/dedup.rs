//! Deduplication by `messageId` at the gateway: a retried request (an SDK that did not hear the
//! 200) must not deliver the same event twice. An id is remembered only once its append is
//! durable ([`Dedup::remember`] after the spool said so): a request answered 503 and sent again
//! is not a duplicate. Two concurrent requests with the same new id are both appended (neither
//! is durable when the other looks): at least once, never lost. Two generations of hashed ids, each turned over
//! after 12 hours or when it holds `cap` ids, so an id is remembered for 12 to 24 hours at a
//! bounded memory cost (about 16 bytes an id).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

const GENERATION: Duration = Duration::from_secs(12 * 3600);

/// Recently seen message ids.
pub struct Dedup {
    cap: usize,
    current: HashSet<u64>,
    previous: HashSet<u64>,
    since: Instant,
}

impl Dedup {
    /// At most `cap` ids a generation.
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            current: HashSet::new(),
            previous: HashSet::new(),
            since: Instant::now(),
        }
    }

    fn key(source: &str, message_id: &str) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (source, message_id).hash(&mut h);
        h.finish()
    }

    /// Whether `message_id` from `source` was made durable recently.
    pub fn contains(&self, source: &str, message_id: &str) -> bool {
        let key = Self::key(source, message_id);
        self.current.contains(&key) || self.previous.contains(&key)
    }

    /// Remembers `message_id` from `source`: call only once its event is durable.
    pub fn remember(&mut self, source: &str, message_id: &str) {
        let key = Self::key(source, message_id);
        if self.current.contains(&key) || self.previous.contains(&key) {
            return;
        }
        if self.current.len() >= self.cap || self.since.elapsed() >= GENERATION {
            // Reuse the older generation's table instead of freeing it and growing a new one
            // by doubling: memory stays flat once both generations have filled.
            std::mem::swap(&mut self.previous, &mut self.current);
            self.current.clear();
            self.since = Instant::now();
        }
        self.current.insert(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_seen_once_per_source_and_remembered_across_a_turnover() {
        let mut d = Dedup::new(3);
        assert!(!d.contains("s", "m1"), "looking does not remember");
        assert!(!d.contains("s", "m1"));
        d.remember("s", "m1");
        assert!(d.contains("s", "m1"));
        assert!(!d.contains("other", "m1"), "per source");
        d.remember("s", "m2");
        d.remember("s", "m3");
        d.remember("s", "m4"); // turns the generation over
        assert!(d.contains("s", "m1"), "still in the previous generation");
    }
}
