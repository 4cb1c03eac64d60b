//! One integration's delivery settings.

use signal_core::Blueprint;
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
    /// The vendor.
    pub blueprint: &'static Blueprint,
    /// The region's base URL, e.g. `https://app.pendo.io`.
    pub base_url: String,
    /// The credential the auth header carries.
    pub auth: String,
    /// Requests per second to the vendor.
    pub rate_limit_per_second: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Request timeout.
    pub timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// How long a partial metadata batch waits for more records.
    pub linger: Duration,
    /// Most records in one metadata request.
    pub max_batch: usize,
    /// How often a paused integration tries one held request.
    pub probe_interval: Duration,
}

impl ForwardConfig {
    /// The blueprint's defaults for an integration at `base_url` with credential `auth`.
    pub fn new(
        integration_id: &str,
        blueprint: &'static Blueprint,
        base_url: &str,
        auth: &str,
    ) -> Self {
        Self {
            integration_id: integration_id.to_owned(),
            blueprint,
            base_url: base_url.trim_end_matches('/').to_owned(),
            auth: auth.to_owned(),
            rate_limit_per_second: 100,
            concurrency: 32,
            timeout: Duration::from_millis(blueprint.delivery.timeout_ms),
            retry: RetryPolicy::from_blueprint(blueprint),
            linger: Duration::from_millis(crate::pendo_compat::linger_ms(blueprint)),
            max_batch: crate::pendo_compat::max_batch(blueprint),
            probe_interval: Duration::from_secs(300),
        }
    }
}

/// The base URL of `region`: the environment variable the blueprint names for it
/// (`SIGNAL_PENDO_BASE_URL_US`, ...) if set, else the vendor's own.
pub fn region_base_url(bp: &Blueprint, region: &str) -> Option<String> {
    region_base_url_from(bp, region, |name| std::env::var(name).ok())
}

/// [`region_base_url`] with the environment given as a lookup (tests, and the settings layer).
pub fn region_base_url_from(
    bp: &Blueprint,
    region: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let r = bp.regions.get(region)?;
    Some(
        env(&bp.base_url_env(region))
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| r.base_url.clone()),
    )
}
