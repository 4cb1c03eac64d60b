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
