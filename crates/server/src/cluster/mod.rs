//! A node among others on one JetStream (`SIGNAL_LOG_BACKEND=nats://...`): what they share
//! besides the events, in `signal-nats`' key-value buckets.
//!
//! - The management API's records: an install, a change or a removal is put in its bucket
//!   first (the API answers 503 and changes nothing when it cannot be), then made on this node;
//!   every node follows the buckets and makes the same change in its store, its deliveries and
//!   its gateway (`follow.rs`). The default source is each node's own (its pipeline key comes
//!   from the node's settings); sources made through the API are shared.
//! - Identity links: the gateway puts them in their bucket before it answers (`links.rs`);
//!   every node copies them into its store, and delivery waits until its copy has caught up
//!   with the bucket before it maps what it read ([`Cluster::links_caught_up`]), so an
//!   identify one node accepted links the visitor of an event another node delivers.
//! - Views (`views.rs`): live events from every node reach any node's viewers; recent live
//!   events and stats are the cluster's, with each node's part.
//! - The nodes alive, by heartbeat (`members.rs`): each integration's rate limit is shared
//!   out, each node sending its share (the limit divided by the nodes alive, rounded up).

mod follow;
mod links;
mod members;
mod views;

pub(crate) use follow::{FollowError, follow};
pub(crate) use members::keep_alive;
pub(crate) use views::{node_stats, serve as serve_views};

use signal_nats::{Bucket, Buckets, NatsError, NatsLog};
use signal_store::{IntegrationRecord, SourceRecord};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// How long delivery waits for the identity links to catch up before it maps without them.
const LINKS_WAIT: Duration = Duration::from_secs(5);

/// Live events waiting to be published for the other nodes' viewers; past it they are not.
const LIVE_OUT: usize = 4096;

/// The source that is each node's own, never shared.
const NODE_SOURCE: &str = "default";

/// Why a change could not be shared with the other nodes.
#[derive(Debug)]
pub enum ShareError {
    /// JetStream did not store it.
    Nats(NatsError),
    /// The record could not be written or read as JSON.
    Encode(serde_json::Error),
}

impl fmt::Display for ShareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nats(e) => e.fmt(f),
            Self::Encode(e) => write!(f, "the record as JSON: {e}"),
        }
    }
}

impl ShareError {
    /// Another node changed or removed the record since it was read.
    pub(crate) fn is_conflict(&self) -> bool {
        matches!(self, Self::Nats(e) if e.is_conflict())
    }
}

impl From<NatsError> for ShareError {
    fn from(e: NatsError) -> Self {
        Self::Nats(e)
    }
}

/// Record `id` of `bucket` and its revision, `None` when it has none.
async fn read<T: serde::de::DeserializeOwned>(
    bucket: &Bucket,
    id: &str,
) -> Result<Option<(T, u64)>, ShareError> {
    let Some((value, rev)) = bucket.entry(&signal_nats::key(id)).await? else {
        return Ok(None);
    };
    let rec = serde_json::from_slice(&value).map_err(ShareError::Encode)?;
    Ok(Some((rec, rev)))
}

/// `rec` as its bucket keeps it.
fn encoded(rec: &impl serde::Serialize) -> Result<bytes::Bytes, ShareError> {
    serde_json::to_vec(rec)
        .map(bytes::Bytes::from)
        .map_err(ShareError::Encode)
}

/// This node's part in the cluster.
pub(crate) struct Cluster {
    buckets: Buckets,
    node: String,
    /// Nodes alive (this one included), as last counted.
    nodes: AtomicUsize,
    /// (nodes alive, this node's place among them in node-id order), as last counted.
    place: std::sync::Mutex<(usize, usize)>,
    /// The links bucket's revision this node's store holds everything up to.
    links_applied: AtomicU64,
    links_moved: tokio::sync::Notify,
    /// Per shared key (`integrations/<key>`, `sources/<key>`), the last revision applied
    /// here or written by this node's API: a change at or below it is left alone.
    applied: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    /// The log's connection (core NATS for the views).
    log: NatsLog,
    /// This node's live events for the others' viewers, to the publisher (`views.rs`).
    live_out: tokio::sync::mpsc::Sender<LiveOut>,
    live_out_rx: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<LiveOut>>>,
}

/// A live event for the other nodes: (its integration, its JSON).
type LiveOut = (Arc<str>, String);

impl Cluster {
    /// Joins the cluster of `log`'s servers as `node` (the buckets made when missing).
    ///
    /// # Errors
    ///
    /// JetStream cannot be reached or refuses a bucket.
    pub(crate) async fn join(log: &NatsLog, node: String) -> Result<Self, NatsError> {
        let (live_out, rx) = tokio::sync::mpsc::channel(LIVE_OUT);
        Ok(Self {
            buckets: log.buckets().await?,
            log: log.clone(),
            live_out,
            live_out_rx: std::sync::Mutex::new(Some(rx)),
            node,
            nodes: AtomicUsize::new(1),
            place: std::sync::Mutex::new((1, 0)),
            links_applied: AtomicU64::new(0),
            links_moved: tokio::sync::Notify::new(),
            applied: std::sync::Mutex::default(),
        })
    }

    /// This node's id.
    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// Where a runtime's live events go for the other nodes' viewers.
    pub(crate) fn live_tap(&self, integration: &str) -> crate::live::Tap {
        crate::live::Tap::new(
            Arc::from(self.node.as_str()),
            Arc::from(integration),
            self.live_out.clone(),
        )
    }

    /// The publisher's end of the live events (once).
    fn take_live_out(&self) -> Option<tokio::sync::mpsc::Receiver<LiveOut>> {
        crate::sync::lock(&self.live_out_rx).take()
    }

    /// Nodes alive now, this one included.
    pub(crate) fn nodes(&self) -> usize {
        self.nodes.load(Ordering::Acquire).max(1)
    }

    /// This node's share of a cluster-wide rate: `rate` over the nodes alive, rounded down,
    /// one more for the first `rate % nodes` of them in node-id order, so the shares add up
    /// to `rate` exactly (a node's share is 0 when the rate is below the nodes alive).
    pub(crate) fn share(&self, rate: u32) -> u32 {
        let (n, index) = *crate::sync::lock(&self.place);
        share_of(rate, n, index)
    }

    /// Whether this node applied or wrote a revision of `name` above `revision`.
    fn applied_after(&self, name: &str, revision: u64) -> bool {
        crate::sync::lock(&self.applied)
            .get(name)
            .is_some_and(|r| *r > revision)
    }

    /// This node applied or wrote `revision` of `name`.
    fn note_applied(&self, name: &str, revision: u64) {
        let mut applied = crate::sync::lock(&self.applied);
        let r = applied.entry(name.to_owned()).or_default();
        *r = (*r).max(revision);
    }

    /// Writes `rec` as `id` in `bucket` (kind `kind`): put, or with `over` an update that
    /// holds only if the key is still at that revision; the revision written is remembered.
    async fn write(
        &self,
        kind: &str,
        bucket: &Bucket,
        id: &str,
        rec: &impl serde::Serialize,
        over: Option<u64>,
    ) -> Result<(), ShareError> {
        let key = signal_nats::key(id);
        let value = encoded(rec)?;
        let rev = match over {
            None => bucket.put(&key, value).await?,
            Some(revision) => bucket.update(&key, value, revision).await?,
        };
        self.note_applied(&format!("{kind}/{key}"), rev);
        Ok(())
    }

    /// Puts `rec` in the shared integrations.
    pub(crate) async fn put_integration(&self, rec: &IntegrationRecord) -> Result<(), ShareError> {
        let bucket = &self.buckets.integrations;
        self.write("integrations", bucket, &rec.id, rec, None).await
    }

    /// Integration `id` as the cluster holds it, with its revision (for
    /// [`Cluster::update_integration`]).
    pub(crate) async fn integration(
        &self,
        id: &str,
    ) -> Result<Option<(IntegrationRecord, u64)>, ShareError> {
        read(&self.buckets.integrations, id).await
    }

    /// Puts `rec` in the shared integrations if it is still at `revision` (what was read):
    /// [`ShareError::is_conflict`] when another node changed or removed it meanwhile.
    pub(crate) async fn update_integration(
        &self,
        rec: &IntegrationRecord,
        revision: u64,
    ) -> Result<(), ShareError> {
        let bucket = &self.buckets.integrations;
        self.write("integrations", bucket, &rec.id, rec, Some(revision))
            .await
    }

    /// Source `id` as the cluster holds it, with its revision.
    pub(crate) async fn source(&self, id: &str) -> Result<Option<(SourceRecord, u64)>, ShareError> {
        read(&self.buckets.sources, id).await
    }

    /// Puts `rec` in the shared sources if it is still at `revision`.
    pub(crate) async fn update_source(
        &self,
        rec: &SourceRecord,
        revision: u64,
    ) -> Result<(), ShareError> {
        let bucket = &self.buckets.sources;
        self.write("sources", bucket, &rec.id, rec, Some(revision))
            .await
    }

    /// Removes integration `id` from the shared ones.
    pub(crate) async fn remove_integration(&self, id: &str) -> Result<(), ShareError> {
        Ok(self
            .buckets
            .integrations
            .delete(&signal_nats::key(id))
            .await?)
    }

    /// Puts `rec` in the shared sources (not the node's own default source).
    pub(crate) async fn put_source(&self, rec: &SourceRecord) -> Result<(), ShareError> {
        if rec.id == NODE_SOURCE {
            return Ok(());
        }
        let bucket = &self.buckets.sources;
        self.write("sources", bucket, &rec.id, rec, None).await
    }

    /// Removes source `id` from the shared ones.
    pub(crate) async fn remove_source(&self, id: &str) -> Result<(), ShareError> {
        if id == NODE_SOURCE {
            return Ok(());
        }
        Ok(self.buckets.sources.delete(&signal_nats::key(id)).await?)
    }

    /// Waits (at most 5 s) until this node's store holds every identity link the bucket held
    /// when this was called: call after reading events, before mapping them.
    pub(crate) async fn links_caught_up(&self) {
        let Ok(target) = self.buckets.links.last_revision().await else {
            return;
        };
        let wait = async {
            loop {
                let moved = self.links_moved.notified();
                if self.links_applied.load(Ordering::Acquire) >= target {
                    return;
                }
                moved.await;
            }
        };
        if tokio::time::timeout(LINKS_WAIT, wait).await.is_err() {
            tracing::warn!(
                target,
                applied = self.links_applied.load(Ordering::Acquire),
                "identity links from other nodes are behind; mapping without the latest"
            );
        }
    }

    /// The links bucket's revision this node's store holds everything up to.
    fn links_applied(&self) -> u64 {
        self.links_applied.load(Ordering::Acquire)
    }

    /// The store now holds every link up to `revision`.
    fn links_applied_to(&self, revision: u64) {
        self.links_applied.fetch_max(revision, Ordering::AcqRel);
        self.links_moved.notify_waiters();
    }

    fn buckets(&self) -> &Buckets {
        &self.buckets
    }

    /// `n` nodes alive, this one `index`th in node-id order; whether that changed.
    fn set_place(&self, n: usize, index: usize) -> bool {
        let n = n.max(1);
        self.nodes.store(n, Ordering::Release);
        let mut place = crate::sync::lock(&self.place);
        let changed = *place != (n, index);
        *place = (n, index);
        changed
    }
}

/// The share of `rate` the `index`th of `n` nodes sends.
fn share_of(rate: u32, n: usize, index: usize) -> u32 {
    let n = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    let index = u32::try_from(index).unwrap_or(u32::MAX);
    rate / n + u32::from(index < rate % n)
}

/// A new node id: `node_` and 8 hex digits of the system's randomness (a fixed one if there is
/// none: ids only tell heartbeats and counters apart).
pub(crate) fn new_node_id() -> String {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        b = std::process::id().to_be_bytes();
    }
    format!(
        "node_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::share_of;

    #[test]
    fn the_shares_of_a_rate_add_up_to_it_never_more() {
        for rate in [1, 2, 10, 99, 100, 101, 1000] {
            for n in 1..=7 {
                let total: u32 = (0..n).map(|i| share_of(rate, n, i)).sum();
                assert_eq!(total, rate, "{rate} over {n}");
                let (hi, lo) = (share_of(rate, n, 0), share_of(rate, n, n - 1));
                assert!(hi - lo <= 1, "{rate} over {n}: even to one");
            }
        }
        assert_eq!(share_of(10, 3, 0), 4);
        assert_eq!(share_of(10, 3, 2), 3);
        assert_eq!(
            share_of(1, 3, 1),
            0,
            "below the nodes alive: some send nothing"
        );
    }
}
