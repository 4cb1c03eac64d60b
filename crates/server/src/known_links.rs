//! The identity links the gateway has made durable, remembered so that a link the store
//! already holds is not written again. Identify and group calls repeat their links: a site
//! calls `identify` at every page load of a signed-in user, with the same
//! `anonymousId -> userId` and `userId -> accountId`; without this, each request carrying one
//! is a durable store transaction (a write and an `fdatasync`) before its answer.
//!
//! The store's links are written only by the gateway, through [`KnownLinks::write`], so what
//! this remembers is what the store holds:
//!
//! - a link is remembered only once its write is durable, and as the value it now holds for its
//!   key (a later link for the same key replaces it, as in the store);
//! - writes and the updates that follow them are made in one order (a lock held across both,
//!   taken only on blocking threads), so the memory never holds a value the store has since
//!   replaced;
//! - [`KnownLinks::unknown`] answers from memory under a short lock: a link it drops was the
//!   store's value at that moment (a concurrent request writing another value for the key is
//!   ordered after this one).
//!
//! At most `cap` links are remembered, each at most [`MAX_REMEMBERED_BYTES`] of key and value
//! (ids are client strings: an account id may be kilobytes, and remembering those would let a
//! client fill memory; a longer link is simply written every time, as before); past `cap`, the
//! memory is emptied and refilled (a link forgotten is only written once more). A write that
//! fails forgets its keys: a failed commit does not prove the store unchanged.

use crate::gateway::OwnedLink;
use crate::sync::lock;
use signal_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;

/// A link as (its table: 0 users, 1 accounts, 2 groups; its key; its value).
pub(crate) fn parts(link: &OwnedLink) -> (usize, &str, &str) {
    match link {
        OwnedLink::User(a, u) => (0, a, u),
        OwnedLink::Account(u, a) => (1, u, a),
        OwnedLink::Group(u, g) => (2, u, g),
    }
}

/// The most bytes of key and value a remembered link takes; a longer one is written every time.
pub(crate) const MAX_REMEMBERED_BYTES: usize = 256;

/// Per table, key -> value.
type Tables = [HashMap<Box<str>, Box<str>>; 3];

/// The links known to be in the store, by table and key.
pub(crate) struct KnownLinks {
    known: Mutex<Tables>,
    /// Held across a store write and the update that follows it.
    order: Mutex<()>,
    cap: usize,
}

impl KnownLinks {
    /// Remembering at most `cap` links.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            known: Mutex::new(Default::default()),
            order: Mutex::new(()),
            cap: cap.max(1),
        }
    }

    /// `links` less those the store already holds, and less repeats (the last link for a key
    /// kept, in place of the earlier: it is the one the store ends up with).
    pub(crate) fn unknown<'a>(
        &self,
        links: impl IntoIterator<Item = &'a OwnedLink>,
    ) -> Vec<OwnedLink> {
        let known = lock(&self.known);
        // Where each key's link sits in `out`, so a repeat is found without a scan (a batch of
        // 500 identify calls is 1,500 links, under the lock).
        let mut at: HashMap<(usize, &str), usize> = HashMap::new();
        let mut out: Vec<Option<&OwnedLink>> = Vec::new();
        for link in links {
            let (table, key, value) = parts(link);
            if let Some(i) = at.remove(&(table, key))
                && let Some(earlier) = out.get_mut(i)
            {
                *earlier = None;
            }
            if known[table].get(key).is_none_or(|v| **v != *value) {
                at.insert((table, key), out.len());
                out.push(Some(link));
            }
        }
        out.into_iter().flatten().cloned().collect()
    }

    /// Writes `links` to `store` durably and remembers them. Blocks (the store's write and its
    /// sync): call on a blocking thread.
    ///
    /// # Errors
    ///
    /// The store's; nothing is remembered then, and what was remembered for these keys is
    /// forgotten (the store may or may not hold the new values).
    pub(crate) fn write(&self, store: &Store, links: &[OwnedLink]) -> Result<(), StoreError> {
        self.write_with(links, |links| {
            let borrowed: Vec<_> = links.iter().map(OwnedLink::as_link).collect();
            store.record_links(&borrowed)
        })
    }

    /// [`KnownLinks::write`] through `write` (on JetStream, the shared links bucket: the store
    /// is what `write` makes durable, wherever it is).
    pub(crate) fn write_with<E>(
        &self,
        links: &[OwnedLink],
        write: impl FnOnce(&[OwnedLink]) -> Result<(), E>,
    ) -> Result<(), E> {
        let _order = lock(&self.order);
        if let Err(e) = write(links) {
            let mut known = lock(&self.known);
            for link in links {
                let (table, key, _) = parts(link);
                known[table].remove(key);
            }
            return Err(e);
        }
        let mut known = lock(&self.known);
        if known.iter().map(HashMap::len).sum::<usize>() + links.len() > self.cap {
            known.iter_mut().for_each(HashMap::clear);
        }
        for link in links {
            let (table, key, value) = parts(link);
            if key.len() + value.len() <= MAX_REMEMBERED_BYTES {
                known[table].insert(Box::from(key), Box::from(value));
            } else {
                // A long value replacing a short one: the short one is no longer the store's.
                known[table].remove(key);
            }
        }
        Ok(())
    }

    /// The store now holds `value` for `key` of `table` (another node's link): a different
    /// value remembered for it is forgotten, so the next request carrying it writes it again.
    pub(crate) fn learned(&self, table: usize, key: &str, value: &str) {
        let mut known = lock(&self.known);
        if let Some(t) = known.get_mut(table)
            && t.get(key).is_some_and(|v| **v != *value)
        {
            t.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(a: &str, u: &str) -> OwnedLink {
        OwnedLink::User(a.into(), u.into())
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&dir.path().join("store.redb")).expect("store");
        (dir, store)
    }

    #[test]
    fn a_link_written_is_not_written_again_but_a_changed_one_is() {
        let (_dir, store) = store();
        let known = KnownLinks::new(100);
        let links = vec![
            user("a1", "u1"),
            OwnedLink::Account("u1".into(), "acme".into()),
        ];
        assert_eq!(known.unknown(&links), links, "nothing known yet");
        known.write(&store, &links).expect("write");
        assert!(known.unknown(&links).is_empty(), "both in the store");
        assert_eq!(
            known.unknown(&[user("a1", "u2"), user("a2", "u1")]),
            vec![user("a1", "u2"), user("a2", "u1")],
            "a new value for a known key, and a new key"
        );
        let group = OwnedLink::Group("a1".into(), "u1".into());
        assert_eq!(
            known.unknown(std::slice::from_ref(&group)),
            vec![group],
            "a key is known per table"
        );
    }

    #[test]
    fn the_last_link_for_a_key_in_one_request_is_the_one_written() {
        let known = KnownLinks::new(100);
        assert_eq!(
            known.unknown(&[user("a1", "u1"), user("a2", "u9"), user("a1", "u2")]),
            vec![user("a2", "u9"), user("a1", "u2")]
        );
    }

    #[test]
    fn a_failed_write_is_not_remembered() {
        let (_dir, store) = store();
        let known = KnownLinks::new(100);
        store.faults().fail_writes(true);
        assert!(known.write(&store, &[user("a1", "u1")]).is_err());
        store.faults().fail_writes(false);
        assert_eq!(known.unknown(&[user("a1", "u1")]), vec![user("a1", "u1")]);
    }

    #[test]
    fn a_write_that_fails_forgets_the_values_it_may_have_replaced() {
        let (_dir, store) = store();
        let known = KnownLinks::new(100);
        known.write(&store, &[user("a1", "u1")]).expect("write");
        store.faults().fail_writes(true);
        assert!(known.write(&store, &[user("a1", "u2")]).is_err());
        store.faults().fail_writes(false);
        // The store may hold u2 now: u1 is written again rather than assumed.
        assert_eq!(known.unknown(&[user("a1", "u1")]), vec![user("a1", "u1")]);
    }

    #[test]
    fn a_long_link_is_written_every_time_not_remembered() {
        let (_dir, store) = store();
        let known = KnownLinks::new(100);
        let short = OwnedLink::Account("u1".into(), "acme".into());
        known
            .write(&store, std::slice::from_ref(&short))
            .expect("write");
        let long = OwnedLink::Account("u1".into(), "x".repeat(30_000));
        known
            .write(&store, std::slice::from_ref(&long))
            .expect("write");
        assert_eq!(known.unknown(std::slice::from_ref(&long)), vec![long]);
        // Nor does the short value it replaced count as the store's any more.
        assert_eq!(known.unknown(std::slice::from_ref(&short)), vec![short]);
        let kept: usize = lock(&known.known)
            .iter()
            .flat_map(HashMap::iter)
            .map(|(k, v)| k.len() + v.len())
            .sum();
        assert!(kept <= MAX_REMEMBERED_BYTES, "{kept} bytes remembered");
    }

    #[test]
    fn a_value_another_node_wrote_makes_this_one_write_its_own_again() {
        let (_dir, store) = store();
        let known = KnownLinks::new(100);
        known.write(&store, &[user("a1", "u1")]).expect("write");
        known.learned(0, "a1", "u1");
        assert!(
            known.unknown(&[user("a1", "u1")]).is_empty(),
            "the same value"
        );
        known.learned(0, "a1", "u2");
        assert_eq!(known.unknown(&[user("a1", "u1")]), vec![user("a1", "u1")]);
    }

    #[test]
    fn past_its_cap_it_forgets_and_writes_again() {
        let (_dir, store) = store();
        let known = KnownLinks::new(2);
        known
            .write(&store, &[user("a1", "u1"), user("a2", "u2")])
            .expect("write");
        known.write(&store, &[user("a3", "u3")]).expect("write");
        assert_eq!(
            known.unknown(&[user("a1", "u1"), user("a3", "u3")]),
            vec![user("a1", "u1")],
            "the older links forgotten, the newest kept"
        );
    }
}
