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

use signal_nats::{Buckets, NatsError, NatsLog};
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
    /// The record could not be written as JSON.
    Encode(serde_json::Error),
}

impl fmt::Display for ShareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nats(e) => e.fmt(f),
            Self::Encode(e) => write!(f, "encoding the record: {e}"),
        }
    }
}

impl From<NatsError> for ShareError {
    fn from(e: NatsError) -> Self {
        Self::Nats(e)
    }
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
    /// The links bucket's revision this node's store holds everything up to.
    links_applied: AtomicU64,
    links_moved: tokio::sync::Notify,
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
            links_applied: AtomicU64::new(0),
            links_moved: tokio::sync::Notify::new(),
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

    /// This node's share of a cluster-wide rate: `rate` over the nodes alive, rounded up.
    pub(crate) fn share(&self, rate: u32) -> u32 {
        let n = u32::try_from(self.nodes()).unwrap_or(u32::MAX);
        rate.div_ceil(n).max(1)
    }

    /// Puts `rec` in the shared integrations.
    pub(crate) async fn put_integration(&self, rec: &IntegrationRecord) -> Result<(), ShareError> {
        let key = signal_nats::key(&rec.id);
        self.buckets.integrations.put(&key, encoded(rec)?).await?;
        Ok(())
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
        let key = signal_nats::key(&rec.id);
        self.buckets.sources.put(&key, encoded(rec)?).await?;
        Ok(())
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

    /// The store now holds every link up to `revision`.
    fn links_applied_to(&self, revision: u64) {
        self.links_applied.fetch_max(revision, Ordering::AcqRel);
        self.links_moved.notify_waiters();
    }

    fn buckets(&self) -> &Buckets {
        &self.buckets
    }

    fn set_nodes(&self, n: usize) -> bool {
        self.nodes.swap(n.max(1), Ordering::AcqRel) != n.max(1)
    }
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
