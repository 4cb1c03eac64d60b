//! Deduplication by `messageId` at the gateway: a retried request (an SDK that did not hear the
//! 200) must not deliver the same event twice. An id is remembered only once its append is
//! durable ([`Dedup::remember`] after the spool said so): a request answered 503 and sent again
//! is not a duplicate. Two concurrent requests with the same new id are both appended (neither
//! is durable when the other looks): at least once, never lost.
//!
//! Each source has its own two generations of hashed ids, each turned over after 12 hours or
//! when it holds `cap` ids (1,000,000 in the node), so an id is remembered for 12 to 24 hours,
//! or for the source's last 1 to 2 million ids if it sends more. One source's ids never push
//! out another's: a source with a public write key that floods new ids only turns over its own
//! generations. The whole table holds at most `TOTAL_GENERATIONS` (4) generations' worth of ids
//! (4 million, about 64 MiB at about 16 bytes an id); past that, the source holding the most
//! ids forgets its older generation first.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

/// The most full generations the whole table holds, all sources together: with `cap` ids a
/// generation, at most `TOTAL_GENERATIONS * cap` ids.
const TOTAL_GENERATIONS: usize = 4;

const GENERATION: Duration = Duration::from_secs(12 * 3600);

/// One source's two generations of hashed ids.
struct Generations {
    current: HashSet<u64>,
    previous: HashSet<u64>,
    since: Instant,
}

impl Generations {
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    /// Starts a new generation, forgetting the previous one; how many ids that forgot. With
    /// `reuse`, the forgotten table's memory is kept for the new generation (a source turning
    /// over at its own cap stays flat); without, it is freed (the node-wide cap).
    fn turn_over(&mut self, reuse: bool) -> usize {
        let forgotten = self.previous.len();
        std::mem::swap(&mut self.previous, &mut self.current);
        if reuse {
            self.current.clear();
        } else {
            self.current = HashSet::new();
        }
        self.since = Instant::now();
        forgotten
    }
}

/// Recently seen message ids, per source.
pub struct Dedup {
    cap: usize,
    sources: HashMap<String, Generations>,
    total: usize,
}

impl Dedup {
    /// At most `cap` ids a generation per source (so a source remembers between `cap` and
    /// `2 * cap` of its latest ids), and at most `TOTAL_GENERATIONS * cap` ids in all.
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            sources: HashMap::new(),
            total: 0,
        }
    }

    fn key(message_id: &str) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        message_id.hash(&mut h);
        h.finish()
    }

    /// Whether `message_id` from `source` was made durable recently.
    pub fn contains(&self, source: &str, message_id: &str) -> bool {
        let key = Self::key(message_id);
        self.sources
            .get(source)
            .is_some_and(|g| g.current.contains(&key) || g.previous.contains(&key))
    }

    /// How many ids are remembered, all sources together.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.total
    }

    /// Remembers `message_id` from `source`: call only once its event is durable. A source
    /// past its cap forgets its own oldest generation; past the node-wide cap, the source that
    /// holds the most ids does (so one source's flood never pushes out another's ids).
    pub fn remember(&mut self, source: &str, message_id: &str) {
        let key = Self::key(message_id);
        let cap = self.cap;
        let g = self
            .sources
            .entry(source.to_owned())
            .or_insert_with(|| Generations {
                current: HashSet::new(),
                previous: HashSet::new(),
                since: Instant::now(),
            });
        if g.current.contains(&key) || g.previous.contains(&key) {
            return;
        }
        if g.current.len() >= cap || g.since.elapsed() >= GENERATION {
            self.total -= g.turn_over(true);
        }
        g.current.insert(key);
        self.total += 1;
        while self.total > TOTAL_GENERATIONS * cap {
            let Some(largest) = self.sources.values_mut().max_by_key(|g| g.len()) else {
                break;
            };
            self.total -= largest.turn_over(false);
        }
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

    /// A source whose write key is public (a browser's) can send any number of new ids: they
    /// push out only its own, never what another source's retries still need.
    #[test]
    fn one_source_flooding_new_ids_does_not_push_out_another_sources_ids() {
        let mut d = Dedup::new(3);
        d.remember("shop", "order-1");
        for i in 0..1000 {
            d.remember("public", &format!("junk-{i}"));
        }
        assert!(
            d.contains("shop", "order-1"),
            "the other source's id is still known"
        );
        assert!(
            d.contains("public", "junk-999"),
            "the flooding source's latest are known"
        );
        assert!(d.len() <= 2 * 3 + 2, "{} ids for two sources", d.len());
    }

    /// However many sources there are, the table holds at most `TOTAL_GENERATIONS` full
    /// generations; the source holding the most ids gives some up first.
    #[test]
    fn the_whole_table_stays_bounded_whatever_the_number_of_sources() {
        let mut d = Dedup::new(10);
        for s in 0..50 {
            for i in 0..25 {
                d.remember(&format!("s{s}"), &format!("m{i}"));
            }
            assert!(d.len() <= TOTAL_GENERATIONS * 10, "{} ids", d.len());
        }
        assert!(
            d.contains("s49", "m24"),
            "the newest source's latest id is known"
        );
    }
}
