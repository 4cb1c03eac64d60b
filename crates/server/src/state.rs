//! What each part of the node is handed, and nothing more. `app.rs` builds them once at start:
//!
//! - [`GatewayState`], the ingestion gateway's (`ingest.rs`): the sources as it sees them, their
//!   rate limiters, the message ids seen, the spool it appends to (and the most one append can
//!   hold), the store it writes identity links to, and its counters.
//! - [`PipelineState`], delivery's (`pipeline.rs`): the settings a delivery runtime is made from,
//!   the store (identity links), the spool it reads, the HTTP engine. The runtimes running over
//!   it are `pipeline::Deliveries`.
//! - The management API's, `admin::AdminState`, is made of these two and the admin token.
//!
//! This module is at the bottom: it imports none of the parts it serves.

use crate::cluster::Cluster;
use crate::dedup::Dedup;
use crate::delivery_threads::DeliveryThreads;
use crate::known_links::KnownLinks;
use crate::settings::Settings;
use crate::sync::{lock, read, write};
use governor::DefaultDirectRateLimiter;
use signal_forward::Engine;
use signal_spool::Spool;
use signal_store::{SourceRecord, Store};
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

/// How many message ids the gateway remembers per source and generation.
const DEDUP_CAPACITY: usize = 1_000_000;

/// How many identity links the gateway remembers as written (about 100 bytes each).
const KNOWN_LINKS: usize = 100_000;

/// The sources, as the gateway sees them: shared with the management API, which changes them,
/// and readable by a program that embeds the node ([`crate::Handles`]).
pub type SourcesView = Arc<RwLock<Vec<SourceRecord>>>;

/// The ingestion gateway's state.
pub(crate) struct GatewayState {
    /// Sources, by pipeline key (cached from the store; changed by the management API).
    sources: SourcesView,
    /// Per-source rate limiters, made at a source's first request.
    limiters: Mutex<BTreeMap<String, Arc<DefaultDirectRateLimiter>>>,
    /// Message ids seen recently, per source.
    dedup: Mutex<Dedup>,
    /// Where accepted events go.
    spool: Spool,
    /// The most bytes of records one append can ever hold (the spool's cap, or its write
    /// queue's if smaller): a request over it is a 413, not a 503.
    spool_limit: u64,
    /// Where identity links are written.
    store: Store,
    /// The links the store holds, so a repeated one is not written again.
    known_links: Arc<KnownLinks>,
    /// Counters by (source, what): `accepted`, `rejected`, `rejected_<CODE>`.
    counters: Mutex<BTreeMap<(String, String), u64>>,
    /// The JetStream log, when the node's log is JetStream: accepted events are appended
    /// there (the 200 after its acknowledgement), not to `spool`.
    nats: Option<signal_nats::NatsLog>,
    /// The other nodes on that log, when there is one: identity links go to their bucket.
    cluster: Option<Arc<Cluster>>,
}

impl GatewayState {
    /// The gateway over `sources`, appending to `spool` (at most `spool_limit` bytes at once)
    /// and writing identity links to `store`.
    pub(crate) fn new(store: Store, spool: Spool, spool_limit: u64, sources: SourcesView) -> Self {
        Self::with_dedup(store, spool, spool_limit, sources, DEDUP_CAPACITY)
    }

    /// [`GatewayState::new`], remembering `dedup_capacity` ids per source and generation.
    pub(crate) fn with_dedup(
        store: Store,
        spool: Spool,
        spool_limit: u64,
        sources: SourcesView,
        dedup_capacity: usize,
    ) -> Self {
        Self {
            sources,
            limiters: Mutex::new(BTreeMap::new()),
            dedup: Mutex::new(Dedup::new(dedup_capacity)),
            spool,
            spool_limit,
            store,
            known_links: Arc::new(KnownLinks::new(KNOWN_LINKS)),
            counters: Mutex::new(BTreeMap::new()),
            nats: None,
            cluster: None,
        }
    }

    /// The sources, read-locked.
    pub(crate) fn sources(&self) -> RwLockReadGuard<'_, Vec<SourceRecord>> {
        read(&self.sources)
    }

    /// A change the store has taken, put into the view (`None`: the source `id` is gone); its
    /// rate limiter is forgotten (a new limit applies from its next request). The view is
    /// changed in memory, not read back: a failed read must not leave a removed source accepted.
    pub(crate) fn source_changed(&self, id: &str, changed: Option<&SourceRecord>) {
        {
            let mut view = write(&self.sources);
            view.retain(|s| s.id != id);
            view.extend(changed.cloned());
        }
        lock(&self.limiters).remove(id);
    }

    /// `source`'s rate limiter, made at its first request.
    pub(crate) fn limiter(&self, source: &SourceRecord) -> Arc<DefaultDirectRateLimiter> {
        lock(&self.limiters)
            .entry(source.id.clone())
            .or_insert_with(|| {
                let rate =
                    NonZeroU32::new(source.rate_limit_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
                Arc::new(governor::RateLimiter::direct(governor::Quota::per_second(
                    rate,
                )))
            })
            .clone()
    }

    /// Adds `n` to the counter `what` of `source`.
    pub(crate) fn count(&self, source: &str, what: &str, n: u64) {
        *lock(&self.counters)
            .entry((source.to_owned(), what.to_owned()))
            .or_default() += n;
    }

    /// The counters now, by (source, what).
    pub(crate) fn counters(&self) -> BTreeMap<(String, String), u64> {
        lock(&self.counters).clone()
    }

    /// The message ids seen, locked.
    pub(crate) fn dedup(&self) -> MutexGuard<'_, Dedup> {
        lock(&self.dedup)
    }

    /// Accepted events go to `nats` (the node's log is JetStream).
    pub(crate) fn with_nats(mut self, nats: Option<signal_nats::NatsLog>) -> Self {
        self.nats = nats;
        self
    }

    /// The JetStream log, when the node's log is JetStream.
    pub(crate) fn nats(&self) -> Option<&signal_nats::NatsLog> {
        self.nats.as_ref()
    }

    /// Identity links go to the cluster's bucket (the node's log is JetStream).
    pub(crate) fn with_cluster(mut self, cluster: Option<Arc<Cluster>>) -> Self {
        self.cluster = cluster;
        self
    }

    /// The cluster, when the node's log is JetStream.
    pub(crate) fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// The spool accepted events are appended to.
    pub(crate) fn spool(&self) -> &Spool {
        &self.spool
    }

    /// The most bytes of records one append can hold.
    pub(crate) fn spool_limit(&self) -> u64 {
        self.spool_limit
    }

    /// The store identity links are written to.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The links the store is known to hold.
    pub(crate) fn known_links(&self) -> &Arc<KnownLinks> {
        &self.known_links
    }

    /// Puts `spool` in place of the one the gateway appends to (a test's disk recovering).
    #[cfg(test)]
    pub(crate) fn replace_spool(&mut self, spool: Spool) {
        self.spool = spool;
    }
}

/// What a delivery runtime is started from (and the test button's request).
pub(crate) struct PipelineState {
    /// The settings the node started with: base URLs, retry and pause timings. Read field by
    /// field where a `ForwardConfig` is built (`pipeline::forward_config`).
    pub(crate) settings: Settings,
    /// Where identity links are resolved.
    store: Store,
    /// Where events are read from.
    spool: Spool,
    /// The HTTP client and delivery tasks.
    engine: Engine,
    /// Where delivery's tasks run (`SIGNAL_DELIVERY_THREADS`).
    threads: Arc<DeliveryThreads>,
    /// The JetStream log, when the node's log is JetStream (`SIGNAL_LOG_BACKEND`): records
    /// are read from it instead of the spool.
    nats: Option<signal_nats::NatsLog>,
    /// The other nodes on that log: rate limits are shared out, identity links waited for.
    cluster: Option<Arc<Cluster>>,
}

impl PipelineState {
    /// Delivery's state.
    pub(crate) fn new(
        settings: Settings,
        store: Store,
        spool: Spool,
        engine: Engine,
        threads: DeliveryThreads,
    ) -> Self {
        Self {
            settings,
            store,
            spool,
            engine,
            threads: Arc::new(threads),
            nats: None,
            cluster: None,
        }
    }

    /// Delivery reads from `nats` (the node's log is JetStream).
    pub(crate) fn with_nats(mut self, nats: Option<signal_nats::NatsLog>) -> Self {
        self.nats = nats;
        self
    }

    /// The JetStream log, when the node's log is JetStream.
    pub(crate) fn nats(&self) -> Option<&signal_nats::NatsLog> {
        self.nats.as_ref()
    }

    /// Delivery shares rate limits and waits for identity links with `cluster`.
    pub(crate) fn with_cluster(mut self, cluster: Option<Arc<Cluster>>) -> Self {
        self.cluster = cluster;
        self
    }

    /// The cluster, when the node's log is JetStream.
    pub(crate) fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// This node's share of an integration's rate limit: all of it alone, its part of the
    /// cluster's otherwise.
    pub(crate) fn rate_share(&self, rate: u32) -> u32 {
        self.cluster.as_ref().map_or(rate, |c| c.share(rate))
    }

    /// Where delivery's tasks run.
    pub(crate) fn threads(&self) -> &DeliveryThreads {
        &self.threads
    }

    /// The store identity links are resolved from.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The spool events are read from.
    pub(crate) fn spool(&self) -> &Spool {
        &self.spool
    }

    /// The HTTP client and delivery tasks.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }
}
