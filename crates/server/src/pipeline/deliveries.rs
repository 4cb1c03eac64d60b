//! The delivery runtimes running, one per enabled integration, over delivery's state: started,
//! restarted, stopped, and read by the management API (live events, stats, dead letters).

use super::{PipelineStartError, Runtime};
use crate::state::PipelineState;
use signal_spool::Start;
use signal_store::IntegrationRecord;
use std::collections::BTreeMap;
use tokio::sync::{Mutex, MutexGuard};

/// The running integrations, by id.
pub(crate) struct Deliveries {
    state: PipelineState,
    running: Mutex<BTreeMap<String, Runtime>>,
}

impl Deliveries {
    /// None running yet.
    pub(crate) fn new(state: PipelineState) -> Self {
        Self {
            state,
            running: Mutex::new(BTreeMap::new()),
        }
    }

    /// What the runtimes are started from.
    pub(crate) fn state(&self) -> &PipelineState {
        &self.state
    }

    /// Starts (or restarts) delivery for an integration.
    pub(crate) async fn run(
        &self,
        rec: &IntegrationRecord,
        start: Start,
    ) -> Result<(), PipelineStartError> {
        let mut running = self.running.lock().await;
        if let Some(old) = running.remove(&rec.id) {
            old.stop().await;
        }
        let nats = match self.state.nats() {
            Some(log) => Some(
                log.consumer(&rec.id, start)
                    .await
                    .map_err(PipelineStartError::Log)?,
            ),
            None => None,
        };
        let rt = Runtime::start_on(&self.state, rec, start, nats, super::Limits::DEFAULT)?;
        running.insert(rec.id.clone(), rt);
        Ok(())
    }

    /// Stops delivery for an integration.
    pub(crate) async fn halt(&self, id: &str) {
        // Under the lock, as `run`: a restart waits for this stop.
        let mut running = self.running.lock().await;
        if let Some(old) = running.remove(id) {
            old.stop().await;
        }
    }

    /// The running integrations, locked.
    pub(crate) async fn running(&self) -> MutexGuard<'_, BTreeMap<String, Runtime>> {
        self.running.lock().await
    }

    /// Every running integration takes its share of its rate limit as it is now.
    pub(crate) async fn reshare(&self) {
        for rt in self.running.lock().await.values() {
            rt.reshare(&self.state);
        }
    }

    /// Whether `id` is being delivered.
    pub(crate) async fn is_running(&self, id: &str) -> bool {
        self.running.lock().await.contains_key(id)
    }

    /// Stops every one (what is not delivered stays in the spool).
    pub(crate) async fn stop_all(&self) {
        let running = std::mem::take(&mut *self.running.lock().await);
        for (_, rt) in running {
            rt.stop().await;
        }
    }
}
