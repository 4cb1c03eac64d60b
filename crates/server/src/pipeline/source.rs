//! Where one integration's delivery reads its records: the local spool's consumer, or its
//! durable consumer on NATS JetStream, shared by every node (`SIGNAL_LOG_BACKEND`).
//!
//! A JetStream record read is held here (its message, to acknowledge it) until the pipeline
//! acknowledges it: delivered, dropped, or kept as a dead letter. While held (waiting on a
//! retry, a pause, a full batch), it is marked in progress every third of `ack_wait`, so
//! JetStream does not hand it to another node meanwhile. Acknowledgements go out on delivery's
//! runtime without waiting (`signal_nats::Delivery::ack`).

use crate::cluster::Cluster;
use signal_nats::{Delivery, NatsConsumer};
use signal_spool::{Consumer, Receipt, Record, SpoolError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// How long a read waits for the first JetStream record before the reader looks again.
const NATS_WAIT: Duration = Duration::from_millis(100);

/// The records' source.
pub(super) enum Source {
    /// The local spool's consumer.
    Local(Consumer),
    /// The integration's consumer on JetStream.
    Nats(Arc<NatsSource>),
}

impl Source {
    /// Marks a record delivered (or dead-lettered, or dropped).
    pub(super) fn ack(&self, receipt: Receipt) -> Result<(), SpoolError> {
        match self {
            Self::Local(c) => c.ack(receipt),
            Self::Nats(n) => {
                n.ack(receipt.seq());
                Ok(())
            }
        }
    }

    /// The JetStream consumer, when that is the source.
    pub(super) fn nats(&self) -> Option<Arc<NatsSource>> {
        match self {
            Self::Nats(n) => Some(n.clone()),
            Self::Local(_) => None,
        }
    }

    /// Writes the local consumer's position (JetStream keeps its own).
    pub(super) fn flush(&self) {
        if let Self::Local(c) = self {
            let _ = c.flush();
        }
    }

    /// The last record acknowledged without a gap (0 on JetStream: the reader waits on it).
    pub(super) fn committed(&self) -> u64 {
        match self {
            Self::Local(c) => c.committed(),
            Self::Nats(_) => 0,
        }
    }
}

/// One integration's JetStream consumer on this node, and the records it holds.
pub(super) struct NatsSource {
    consumer: NatsConsumer,
    held: Mutex<HashMap<u64, Arc<Delivery>>>,
    runtime: Handle,
    /// How often the held records are marked in progress: a third of `ack_wait`.
    keep_alive: Duration,
    last_keep_alive: Mutex<Instant>,
    /// The other nodes: their identity links are waited for before records are mapped.
    cluster: Option<Arc<Cluster>>,
}

impl NatsSource {
    /// Over `consumer`; acknowledgements go out on `runtime`.
    pub(super) fn new(
        consumer: NatsConsumer,
        runtime: Handle,
        ack_wait: Duration,
        cluster: Option<Arc<Cluster>>,
    ) -> Self {
        Self {
            cluster,
            consumer,
            held: Mutex::new(HashMap::new()),
            runtime,
            keep_alive: ack_wait / 3,
            last_keep_alive: Mutex::new(Instant::now()),
        }
    }

    /// Up to `max` records, waiting up to 100 ms for the first. Call from a plain thread (it
    /// blocks on the runtime).
    ///
    /// # Errors
    ///
    /// JetStream unreachable (logged by the caller; the reader tries again).
    pub(super) fn read(&self, max: usize) -> Result<Vec<Record>, signal_nats::NatsError> {
        let got = self.runtime.block_on(self.consumer.read(max, NATS_WAIT))?;
        if let Some(cluster) = self.cluster.as_ref().filter(|_| !got.is_empty()) {
            // The links these records' events made on another node (stored there before
            // the events were appended) are in this node's store before they are mapped.
            self.runtime.block_on(cluster.links_caught_up());
        }
        let mut held = crate::sync::lock(&self.held);
        Ok(got
            .into_iter()
            // One JetStream handed out again while this node holds it (its ack wait passed
            // before a keep-alive reached it) is already in delivery here: not sent twice.
            .filter_map(|d| match held.entry(d.seq) {
                std::collections::hash_map::Entry::Occupied(_) => None,
                std::collections::hash_map::Entry::Vacant(place) => {
                    let record = Record {
                        seq: d.seq,
                        payload: d.payload.to_vec(),
                        // A replay is finished when it is acknowledged: nothing more to write.
                        replayed: false,
                    };
                    place.insert(Arc::new(d));
                    Some(record)
                }
            })
            .collect())
    }

    fn ack(&self, seq: u64) {
        if let Some(d) = crate::sync::lock(&self.held).remove(&seq) {
            self.runtime.spawn(async move {
                if let Err(e) = d.ack().await {
                    tracing::warn!(seq, error = %e, "acknowledgement not sent; JetStream hands the record out again after its ack wait");
                }
            });
        }
    }

    /// Hands every record still held back to JetStream (delivery here has stopped: a PATCH,
    /// a removal, the node stopping), so another node or the next runtime takes it at once,
    /// not after the ack wait. At most 5 s; what is not handed back by then goes out again
    /// after its ack wait all the same.
    pub(super) async fn hand_back_all(&self) {
        let held: Vec<Arc<Delivery>> = crate::sync::lock(&self.held)
            .drain()
            .map(|(_, d)| d)
            .collect();
        let back = async {
            for d in held {
                let _ = d.hand_back(None).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), back).await;
    }

    /// Marks every held record in progress, at most every third of `ack_wait`.
    pub(super) fn keep_alive(&self) {
        {
            let mut last = crate::sync::lock(&self.last_keep_alive);
            if last.elapsed() < self.keep_alive {
                return;
            }
            *last = Instant::now();
        }
        let held: Vec<Arc<Delivery>> = crate::sync::lock(&self.held).values().cloned().collect();
        if held.is_empty() {
            return;
        }
        self.runtime.spawn(async move {
            for d in held {
                let _ = d.in_progress().await;
            }
        });
    }
}

/// An integration's dead letters on JetStream, as the dead-letter task and the reader write
/// them (from plain or blocking-pool threads: it blocks on the runtime).
pub(super) struct NatsDeadLetters {
    log: signal_nats::NatsLog,
    integration: String,
    runtime: Handle,
}

impl NatsDeadLetters {
    pub(super) fn new(log: signal_nats::NatsLog, integration: &str, runtime: Handle) -> Self {
        Self {
            log,
            integration: integration.to_owned(),
            runtime,
        }
    }
}

impl super::dead_letter::DeadLetterStore for NatsDeadLetters {
    fn add(
        &self,
        id: u64,
        payload: &[u8],
        info: signal_spool::DeadLetterInfo,
    ) -> std::io::Result<()> {
        self.runtime
            .block_on(self.log.dead_letter(&self.integration, id, payload, &info))
            .map_err(std::io::Error::other)
    }

    /// A replay on JetStream is finished when its record is acknowledged.
    fn finish_replay(&self, _id: u64) -> std::io::Result<()> {
        Ok(())
    }
}
