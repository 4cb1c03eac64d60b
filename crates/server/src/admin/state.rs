//! What the management API is handed: who may call it (the admin token, users, API tokens), the store and the spool, the gateway's
//! state (its sources, limiters and counters, which the API changes and shows) and the running
//! deliveries (started, stopped and read by it). Made of `crate::state`'s parts by `app.rs`.

use crate::access::Access;
use crate::pipeline::{Deliveries, PipelineStartError, Runtime};
use crate::state::{GatewayState, PipelineState};
use signal_forward::Engine;
use signal_spool::{Spool, Start};
use signal_store::{IntegrationRecord, Store};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::MutexGuard;

/// The management API's state.
pub(crate) struct AdminState {
    access: Access,
    data_dir: PathBuf,
    source_rate_limit: u32,
    store: Store,
    spool: Spool,
    gateway: Arc<GatewayState>,
    deliveries: Arc<Deliveries>,
}

impl AdminState {
    /// The API with `access`, over the node's data directory (readiness), giving new
    /// sources `source_rate_limit` events a second.
    pub(crate) fn new(
        access: Access,
        data_dir: PathBuf,
        source_rate_limit: u32,
        gateway: Arc<GatewayState>,
        deliveries: Arc<Deliveries>,
    ) -> Self {
        let store = deliveries.state().store().clone();
        let spool = deliveries.state().spool().clone();
        Self {
            access,
            data_dir,
            source_rate_limit,
            store,
            spool,
            gateway,
            deliveries,
        }
    }

    /// Who may call: the admin token, users, API tokens.
    pub(crate) fn access(&self) -> &Access {
        &self.access
    }

    /// The data directory (its `spool/` must be writable for the node to be ready).
    pub(crate) fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// A new source's rate limit, events a second.
    pub(crate) fn source_rate_limit(&self) -> u32 {
        self.source_rate_limit
    }

    /// Integrations and sources.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// Accepted events.
    pub(crate) fn spool(&self) -> &Spool {
        &self.spool
    }

    /// The gateway: its view of the sources, its limiters and counters.
    pub(crate) fn gateway(&self) -> &GatewayState {
        &self.gateway
    }

    /// What delivery runtimes (and the test button's request) are made from.
    pub(crate) fn pipeline(&self) -> &PipelineState {
        self.deliveries.state()
    }

    /// The HTTP client the test button sends with.
    pub(crate) fn engine(&self) -> &Engine {
        self.deliveries.state().engine()
    }

    /// Starts (or restarts) delivery for an integration.
    pub(crate) async fn run(
        &self,
        rec: &IntegrationRecord,
        start: Start,
    ) -> Result<(), PipelineStartError> {
        self.deliveries.run(rec, start).await
    }

    /// Stops delivery for an integration.
    pub(crate) async fn halt(&self, id: &str) {
        self.deliveries.halt(id).await;
    }

    /// The other nodes on the same JetStream, when the log is JetStream: changes are shared
    /// with them before they are made here.
    pub(crate) fn cluster(&self) -> Option<&crate::cluster::Cluster> {
        self.deliveries.state().cluster().map(|c| &**c)
    }

    /// The running integrations, locked.
    pub(crate) async fn runtimes(&self) -> MutexGuard<'_, BTreeMap<String, Runtime>> {
        self.deliveries.running().await
    }
}
