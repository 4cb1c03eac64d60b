//! Where the node delivers during a load run: the Pendo sandbox in this process (`--sink
//! sandbox`, today's), or the null receiver in its own process (`--sink null`,
//! `crate::sink`), and how loadgen reads what either has received.

use crate::DemoError;
use crate::sink::{NullSink, SinkCounts};
use signal_sandbox::{Sim, Subscriptions};

/// Which vendor the node delivers to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sink {
    /// The Pendo sandbox, in this process: it checks and parses every body (today's figure).
    #[default]
    Sandbox,
    /// The null receiver, in its own process: it only counts (the node's own ceiling).
    Null,
}

impl std::str::FromStr for Sink {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sandbox" => Ok(Sink::Sandbox),
            "null" => Ok(Sink::Null),
            _ => Err(format!("--sink: `{s}` is not a sink: use null or sandbox")),
        }
    }
}

impl Sink {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Sink::Sandbox => "sandbox",
            Sink::Null => "null",
        }
    }
}

/// A started vendor.
pub(super) enum Vendor {
    Sandbox(Sim),
    Null(NullSink),
}

/// What a vendor has received: all requests, Pendo track requests (the null sink's count; the
/// sandbox's is the number of latency samples, one per accepted track item), and the end-to-end
/// latency samples since the last look (ms -> requests).
pub(super) struct Received {
    pub requests: u64,
    pub tracks: Option<u64>,
    /// Requests over HTTP/2 (the null sink only).
    pub http2: Option<u64>,
    pub latencies: Vec<(u64, u64)>,
}

impl Vendor {
    /// Starts the vendor `sink` names; the null sink runs as `program __null-sink`.
    pub(super) async fn start(sink: Sink, program: &std::path::Path) -> Result<Self, DemoError> {
        match sink {
            Sink::Sandbox => {
                let subs = Subscriptions::new();
                subs.add("loadgen-key", "us");
                let sim = Sim::start("us", subs).await.map_err(DemoError::Sandbox)?;
                sim.set_recording(false);
                sim.measure_latency("lg_sent_ms");
                Ok(Vendor::Sandbox(sim))
            }
            Sink::Null => Ok(Vendor::Null(
                NullSink::start(program).map_err(DemoError::Sink)?,
            )),
        }
    }

    pub(super) fn base_url(&self) -> String {
        match self {
            Vendor::Sandbox(sim) => sim.base_url(),
            Vendor::Null(sink) => sink.base_url(),
        }
    }

    /// What was pinned where (the null sink), for the output.
    pub(super) fn placement(&self) -> Option<&str> {
        match self {
            Vendor::Sandbox(_) => None,
            Vendor::Null(sink) => Some(&sink.placement),
        }
    }

    /// The null sink's CPU time so far, in µs (`None` for the sandbox, which runs in this
    /// process).
    pub(super) fn sink_cpu_us(&self) -> Option<u64> {
        match self {
            Vendor::Sandbox(_) => None,
            Vendor::Null(sink) => super::body::cpu_us_of(&sink.pid().to_string()),
        }
    }

    /// What it has received so far.
    pub(super) async fn received(&self) -> Result<Received, DemoError> {
        match self {
            Vendor::Sandbox(sim) => {
                let latencies: Vec<(u64, u64)> = sim
                    .take_latencies()
                    .into_iter()
                    .map(|ms| (u64::from(ms), 1))
                    .collect();
                Ok(Received {
                    requests: sim.stats().accepted,
                    tracks: None,
                    http2: None,
                    latencies,
                })
            }
            Vendor::Null(sink) => {
                let (
                    SinkCounts {
                        requests,
                        tracks,
                        http2,
                        ..
                    },
                    latencies,
                ) = sink.counts().await.map_err(DemoError::Sink)?;
                Ok(Received {
                    requests,
                    tracks: Some(tracks),
                    http2: Some(http2),
                    latencies,
                })
            }
        }
    }
}
