//! Delivery's own threads: a tokio runtime apart from the node's, on which every
//! integration's delivery task, its vendor requests (hyper's connection tasks with them) and
//! its outcome task run, so that flat-out ingestion does not starve delivery.
//!
//! On one runtime, a vendor request waits for a worker behind every ingestion task queued
//! before each of its wake-ups (the request's, the connection's, the answer's, the
//! outcome's); delivery holds at most `concurrency` requests in flight, so that queueing time
//! bounds its rate. On its own threads, the kernel shares the cores between ingestion's
//! threads and delivery's (and each integration's reader thread, which parses and maps), so
//! delivery keeps its share however busy ingestion is. `SIGNAL_DELIVERY_THREADS` (default 1)
//! sets how many; 0 puts delivery back on the node's runtime, sharing its threads.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Delivery's runtime, or none (delivery then runs on the node's).
pub(crate) struct DeliveryThreads {
    runtime: Option<tokio::runtime::Runtime>,
}

impl DeliveryThreads {
    /// `threads` threads of their own, or none for 0.
    ///
    /// # Errors
    ///
    /// The runtime's threads cannot be made.
    pub(crate) fn new(threads: usize) -> std::io::Result<Self> {
        if threads == 0 {
            return Ok(Self { runtime: None });
        }
        let n = AtomicUsize::new(0);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name_fn(move || format!("deliver-{}", n.fetch_add(1, Ordering::Relaxed)))
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Makes tasks spawned while the guard lives go to delivery's runtime (none when delivery
    /// shares the node's).
    pub(crate) fn enter(&self) -> Option<tokio::runtime::EnterGuard<'_>> {
        self.runtime.as_ref().map(tokio::runtime::Runtime::enter)
    }
}

impl Drop for DeliveryThreads {
    /// Stops the runtime without waiting for its threads: dropped from async code (the node's
    /// stop), where blocking is not allowed. Every delivery task has been stopped by then.
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
