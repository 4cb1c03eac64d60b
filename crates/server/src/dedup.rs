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
//!
//! An id is kept as its [`Key`]: a SipHash under keys drawn at random when the table is made,
//! so nobody can choose ids that pile into one bucket; the tables use that hash as it is
//! ([`PassThrough`]) rather than hash it again.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::time::{Duration, Instant};

/// The most full generations the whole table holds, all sources together: with `cap` ids a
/// generation, at most `TOTAL_GENERATIONS * cap` ids.
const TOTAL_GENERATIONS: usize = 4;

const GENERATION: Duration = Duration::from_secs(12 * 3600);

/// A message id as the table keeps it (see the module's docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key(u64);

/// A hasher for [`Key`]s, already keyed hashes: their value is the hash.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A set of [`Key`]s.
type Keys = HashSet<Key, BuildHasherDefault<PassThrough>>;

/// One source's two generations of hashed ids.
struct Generations {
    current: Keys,
    previous: Keys,
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
            self.current = Keys::default();
        }
        self.since = Instant::now();
        forgotten
    }
}

/// Recently seen message ids, per source.
pub struct Dedup {
    cap: usize,
    /// The random keys ids are hashed under.
    hasher: RandomState,
    sources: HashMap<String, Generations>,
    total: usize,
}

impl Dedup {
    /// At most `cap` ids a generation per source (so a source remembers between `cap` and
    /// `2 * cap` of its latest ids), and at most `TOTAL_GENERATIONS * cap` ids in all.
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            hasher: RandomState::new(),
            sources: HashMap::new(),
            total: 0,
        }
    }

    /// `message_id`'s key in this table.
    fn key(&self, message_id: &str) -> Key {
        Key(self.hasher.hash_one(message_id))
    }

    /// Whether `message_id` from `source` was made durable recently.
    #[cfg(test)]
    pub fn contains(&self, source: &str, message_id: &str) -> bool {
        self.fresh(source, [Some(message_id)]) == [false]
    }

    /// For each of a request's events (its messageId, if it has one), in order, whether it is
    /// to be stored: false for an id made durable recently, or repeating one earlier in `ids`.
    pub fn fresh<'a>(
        &self,
        source: &str,
        ids: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Vec<bool> {
        let g = self.sources.get(source);
        let mut here = Keys::default();
        ids.into_iter()
            .map(|id| {
                id.is_none_or(|id| {
                    let key = self.key(id);
                    !g.is_some_and(|g| g.current.contains(&key) || g.previous.contains(&key))
                        && here.insert(key)
                })
            })
            .collect()
    }

    /// How many ids are remembered, all sources together.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.total
    }

    /// Remembers `message_id` from `source`: call only once its event is durable. A source
    /// past its cap forgets its own oldest generation; past the node-wide cap, the source that
    /// holds the most ids does (so one source's flood never pushes out another's ids).
    #[cfg(test)]
    pub fn remember(&mut self, source: &str, message_id: &str) {
        self.remember_all(source, [message_id]);
    }

    /// [`remember`](Self::remember) of each of `ids`, for one request's events (ids that
    /// [`fresh`](Self::fresh) let through: not in the previous generation, so only the current
    /// one is looked at; two requests racing with one new id may leave it in both, counted
    /// twice until one goes).
    pub fn remember_all<'a>(&mut self, source: &str, ids: impl IntoIterator<Item = &'a str>) {
        let cap = self.cap;
        if !self.sources.contains_key(source) {
            self.sources.insert(
                source.to_owned(),
                Generations {
                    current: Keys::default(),
                    previous: Keys::default(),
                    since: Instant::now(),
                },
            );
        }
        let keys: Vec<Key> = ids.into_iter().map(|id| self.key(id)).collect();
        for key in keys {
            let Some(g) = self.sources.get_mut(source) else {
                return;
            };
            if g.current.len() >= cap || g.since.elapsed() >= GENERATION {
                self.total -= g.turn_over(true);
            }
            if !g.current.insert(key) {
                continue;
            }
            self.total += 1;
            while self.total > TOTAL_GENERATIONS * cap {
                let Some(largest) = self.sources.values_mut().max_by_key(|g| g.len()) else {
                    break;
                };
                self.total -= largest.turn_over(false);
            }
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
