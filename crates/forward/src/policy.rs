//! What each answer means (the target's response rules, then the blueprint's troubleshooting
//! table, then the default), and how long to wait before retrying (pendo.md section 7).

use crate::config::RetryPolicy;
use signal_core::response::{self, Decision, ResponseRule};
use std::time::{Duration, Instant};

/// What an answer means: the target's response rules (first match wins); when none matches,
/// a 4xx (other than 408 and 429) the blueprint's troubleshooting table marks as pausing
/// pauses with that row's code; else `signal_core::response::default_decision`.
pub(crate) fn decide(
    bp: &signal_core::Blueprint,
    rules: &[ResponseRule],
    status: u16,
    body: &[u8],
    items: usize,
) -> Decision {
    if let Some(d) = response::decide_rule(rules, status, body, items) {
        return d;
    }
    if (400..500).contains(&status)
        && status != 408
        && status != 429
        && let Some(t) = bp.diagnose_status(status).filter(|t| t.pauses)
    {
        return Decision::Pause {
            code: t.code.clone(),
        };
    }
    response::default_decision(status)
}

/// Full-jitter exponential backoff: a uniform draw in `[0, min(cap, base * 2^(attempt-1))]`.
/// `unit` is a uniform draw in `[0, 1)`.
pub(crate) fn backoff(policy: &RetryPolicy, attempt: u32, unit: f64) -> Duration {
    let exp = policy
        .base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(30))
        .min(policy.cap);
    exp.mul_f64(unit.clamp(0.0, 1.0))
}

/// `Retry-After` in seconds (the HTTP-date form is rare from APIs and read as absent), capped
/// at `cap` (the retry policy's cap): a vendor asking for days, or for `u64::MAX` seconds,
/// holds an integration no longer than its own backoff ever would.
pub(crate) fn retry_after(value: Option<&str>, cap: Duration) -> Option<Duration> {
    value?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s).min(cap))
}

/// `now + d`, never panicking: a sum past what an `Instant` holds is a year from now instead.
pub(crate) fn after(now: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(365 * 86_400);
    now.checked_add(d.min(FAR)).unwrap_or(now)
}

/// The retry jitter's random stream.
pub(crate) type Jitter = signal_core::rand::SplitMix64;

#[cfg(test)]
mod tests {
    use super::*;
    use signal_core::Blueprint;

    fn bp() -> &'static Blueprint {
        Blueprint::get("pendo").expect("embedded")
    }

    #[test]
    fn answers_are_classified_as_pendo_md_section_7_says() {
        let retry = |throttled| Decision::Retry { throttled };
        let policies = &bp().responses;
        // With Pendo's rules, and with none (the troubleshooting table and the default): the same.
        for rules in [policies["pendo"].as_slice(), &[]] {
            let classify = |s: u16| decide(bp(), rules, s, b"", 1);
            assert_eq!(classify(200), Decision::Delivered { warnings: vec![] });
            assert_eq!(classify(202), Decision::Delivered { warnings: vec![] });
            for s in [408, 500, 502, 503, 504] {
                assert_eq!(classify(s), retry(false), "{s}");
            }
            assert_eq!(classify(429), retry(true));
            for s in [401, 403] {
                assert_eq!(
                    classify(s),
                    Decision::Pause {
                        code: "invalid_integration_key".into()
                    }
                );
            }
            assert_eq!(
                classify(404),
                Decision::Pause {
                    code: "wrong_data_region".into()
                }
            );
            for s in [400, 409, 413, 422] {
                assert_eq!(classify(s), Decision::DeadLetter { diagnosis: None }, "{s}");
            }
        }
    }

    #[test]
    fn backoff_is_full_jitter_under_an_exponential_cap() {
        let p = RetryPolicy {
            base: Duration::from_secs(4),
            cap: Duration::from_secs(3600),
            max_attempts: 5,
            max_age: Duration::from_secs(86_400),
        };
        assert_eq!(backoff(&p, 1, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(&p, 2, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(&p, 3, 0.5), Duration::from_secs(8));
        assert_eq!(backoff(&p, 20, 1.0), Duration::from_secs(3600));
        assert_eq!(backoff(&p, 1, 0.0), Duration::ZERO);
        let mut j = Jitter::new(1);
        let draws: Vec<f64> = (0..1000).map(|_| j.unit()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let mean = draws.iter().sum::<f64>() / 1000.0;
        assert!((0.45..0.55).contains(&mean), "{mean}");
    }

    #[test]
    fn retry_after_reads_seconds() {
        let hour = Duration::from_secs(3600);
        assert_eq!(retry_after(Some("2"), hour), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_after(Some(" 120 "), hour),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT"), hour),
            None
        );
        assert_eq!(retry_after(None, hour), None);
    }

    #[test]
    fn retry_after_is_capped_at_the_retry_policy_cap() {
        let hour = Duration::from_secs(3600);
        assert_eq!(retry_after(Some("172800"), hour), Some(hour));
        assert_eq!(retry_after(Some("18446744073709551615"), hour), Some(hour));
        let now = Instant::now();
        assert!(after(now, Duration::MAX) > now);
        assert_eq!(after(now, hour), now + hour);
    }
}
