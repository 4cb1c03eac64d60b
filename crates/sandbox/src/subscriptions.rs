//! Subscriptions: which key belongs to which region. Shared by the sandboxes of one test (one
//! per region); a key of another region gets the vendor's wrong-region answer, an unknown key its
//! auth failure.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The vendor's accounts: key → region.
#[derive(Debug, Default)]
pub struct Subscriptions {
    keys: Mutex<HashMap<String, String>>,
    forbid: AtomicBool,
}

/// What the sandbox makes of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    /// A key of this region.
    Ok,
    /// Unknown (or none): `unknown_key`, or `forbidden` after [`Subscriptions::answer_403`].
    Unknown,
    /// Unknown, answered `forbidden`.
    Forbidden,
    /// A key of another region: `wrong_region`.
    OtherRegion,
}

impl Subscriptions {
    /// No subscriptions yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A subscription in `region` whose key is `key`.
    pub fn add(&self, key: &str, region: &str) {
        crate::lock(&self.keys).insert(key.to_owned(), region.to_owned());
    }

    /// Revokes a key: it gets the auth failure (401, or 403) from now on.
    pub fn remove(&self, key: &str) {
        crate::lock(&self.keys).remove(key);
    }

    /// Answer unknown keys with the fixture's `forbidden` (403) instead of `unknown_key`.
    pub fn answer_403(&self, yes: bool) {
        self.forbid.store(yes, Ordering::Relaxed);
    }

    pub(crate) fn check(&self, key: Option<&str>, region: &str) -> KeyCheck {
        let known = key.and_then(|k| crate::lock(&self.keys).get(k).cloned());
        match known {
            None if self.forbid.load(Ordering::Relaxed) => KeyCheck::Forbidden,
            None => KeyCheck::Unknown,
            Some(r) if r != region => KeyCheck::OtherRegion,
            Some(_) => KeyCheck::Ok,
        }
    }
}
