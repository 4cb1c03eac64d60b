//! One integration's delivery settings.

use signal_core::Blueprint;
use signal_core::request::Target;
use signal_core::response::ResponseRule;
use std::collections::BTreeMap;
use std::time::Duration;

/// Retries: full-jitter exponential backoff (pendo.md section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first backoff's ceiling.
    pub base: Duration,
    /// The longest backoff.
    pub cap: Duration,
    /// Attempts before an event is dead-lettered.
    pub max_attempts: u32,
    /// Age after which a failing event is dead-lettered.
    pub max_age: Duration,
}

impl RetryPolicy {
    /// The blueprint's policy (base 4 s, cap 1 h, 5 attempts, 24 h).
    pub fn from_blueprint(bp: &Blueprint) -> Self {
        Self {
            base: Duration::from_millis(bp.delivery.retry_base_ms),
            cap: Duration::from_millis(bp.delivery.retry_cap_ms),
            max_attempts: bp.delivery.max_attempts,
            max_age: Duration::from_secs(bp.delivery.max_age_hours * 3600),
        }
    }
}

/// How one integration delivers.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    /// The integration's id (in outcomes and logs).
    pub integration_id: String,
    /// The vendor (its troubleshooting table names diagnoses).
    pub blueprint: &'static Blueprint,
    /// The request targets, resolved for this integration (`signal_core::request::resolve`);
    /// a [`crate::Job`]'s `request` indexes them.
    pub targets: Vec<Target>,
    /// The response policies by name (a target's `response`). A policy that is missing, or
    /// whose rules do not match an answer, falls back to the troubleshooting table's pausing
    /// statuses and then to `signal_core::response::default_decision`.
    pub responses: BTreeMap<String, Vec<ResponseRule>>,
    /// Requests per second to the vendor.
    pub rate_limit_per_second: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Request timeout.
    pub timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// How often a paused integration tries one held request.
    pub probe_interval: Duration,
    /// How many times one request may come back `partial` (some items dead-lettered or
    /// delayed, the rest sent again at once) before the rest goes through the retry policy.
    pub max_partial: u32,
}

impl ForwardConfig {
    /// The blueprint's defaults (its response policies, timeout and retries) for an
    /// integration sending to `targets` (`signal_core::request::resolve` of its requests).
    pub fn new(integration_id: &str, blueprint: &'static Blueprint, targets: Vec<Target>) -> Self {
        Self {
            integration_id: integration_id.to_owned(),
            blueprint,
            targets,
            responses: blueprint.responses.clone(),
            rate_limit_per_second: 100,
            concurrency: 32,
            timeout: Duration::from_millis(blueprint.delivery.timeout_ms),
            retry: RetryPolicy::from_blueprint(blueprint),
            probe_interval: Duration::from_secs(300),
            max_partial: 3,
        }
    }

    /// The index of the target named `name` (`track`), if there is one.
    pub fn target_index(&self, name: &str) -> Option<usize> {
        self.targets.iter().position(|t| t.name == name)
    }
}

/// Which HTTP the node speaks to vendors (`SIGNAL_VENDOR_HTTP`, signal.toml `vendor_http`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VendorProtocol {
    /// `auto`: HTTP/2 when an https vendor offers it through ALPN, else HTTP/1.1 keep-alive;
    /// HTTP/1.1 on plain http. One connection pool per host.
    #[default]
    Auto,
    /// `h1`: HTTP/1.1 keep-alive only, on http and https.
    Http1,
    /// `h2c`: HTTP/2 only: with prior knowledge over cleartext http (h2c), through ALPN over
    /// https; `connections` connections per host, at most `streams` requests in flight on each.
    /// A vendor that does not speak it gets no request (each attempt fails as a connection
    /// error, retried as one).
    H2c,
}

impl VendorProtocol {
    /// The setting's spelling (`auto`, `h1`, `h2c`).
    pub fn name(self) -> &'static str {
        match self {
            VendorProtocol::Auto => "auto",
            VendorProtocol::Http1 => "h1",
            VendorProtocol::H2c => "h2c",
        }
    }
}

impl std::str::FromStr for VendorProtocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "auto" => Ok(VendorProtocol::Auto),
            "h1" => Ok(VendorProtocol::Http1),
            "h2c" => Ok(VendorProtocol::H2c),
            other => Err(format!("`{other}` is not a protocol: use auto, h1 or h2c")),
        }
    }
}

/// How the node's one HTTP client talks to vendors: the protocol, and for HTTP/2 (`h2c`) how
/// many connections per host and how many requests in flight on each. Process-wide (one
/// client for every integration); an integration's own `concurrency` still bounds its requests
/// in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorHttp {
    /// The protocol.
    pub protocol: VendorProtocol,
    /// HTTP/2 connections per vendor host (`SIGNAL_VENDOR_H2_CONNECTIONS`), requests spread
    /// over them in turn; with `h2c` only.
    pub h2_connections: usize,
    /// Requests in flight at once on one HTTP/2 connection (`SIGNAL_VENDOR_H2_STREAMS`); more
    /// wait for a stream; with `h2c` only.
    pub h2_streams: usize,
}

impl VendorHttp {
    /// The most HTTP/2 connections per host the setting takes.
    pub const MAX_H2_CONNECTIONS: usize = 64;
    /// The most streams per connection the setting takes.
    pub const MAX_H2_STREAMS: usize = 1000;
}

impl Default for VendorHttp {
    /// `auto`; for `h2c`, 1 connection per host and 100 streams on it (the least that HTTP/2
    /// servers are advised to allow).
    fn default() -> Self {
        Self {
            protocol: VendorProtocol::Auto,
            h2_connections: 1,
            h2_streams: 100,
        }
    }
}
