//! pendo.md section 7 as code: what each answer means, and how long to wait before retrying.

use crate::config::RetryPolicy;
use std::time::Duration;

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// 2xx.
    Delivered,
    /// 408, 429, 5xx, a connection error or a timeout: retry (after at least `not_before`).
    Retry {
        not_before: Option<Duration>,
        throttled: bool,
    },
    /// 401, 403, 404: pause the integration with this troubleshooting code; hold the event.
    Pause { code: String },
    /// Any other 4xx: dead-letter this event.
    DeadLetter,
}

/// Classifies an HTTP answer.
pub(crate) fn classify(
    bp: &signal_core::Blueprint,
    status: u16,
    retry_after: Option<Duration>,
) -> Action {
    match status {
        200..=299 => Action::Delivered,
        408 | 500..=599 => Action::Retry {
            not_before: retry_after,
            throttled: false,
        },
        429 => Action::Retry {
            not_before: retry_after,
            throttled: true,
        },
        _ => match bp.diagnose_status(status).filter(|t| t.pauses) {
            Some(t) => Action::Pause {
                code: t.code.clone(),
            },
            None => Action::DeadLetter,
        },
    }
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

/// `Retry-After` in seconds (the HTTP-date form is rare from APIs and read as absent).
pub(crate) fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A small, fast PRNG for jitter (splitmix64).
pub(crate) struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signal_core::Blueprint;

    fn bp() -> &'static Blueprint {
        Blueprint::get("pendo").expect("embedded")
    }

    #[test]
    fn answers_are_classified_as_pendo_md_section_7_says() {
        assert_eq!(classify(bp(), 200, None), Action::Delivered);
        assert_eq!(classify(bp(), 202, None), Action::Delivered);
        for s in [408, 500, 502, 503, 504] {
            assert!(
                matches!(
                    classify(bp(), s, None),
                    Action::Retry {
                        throttled: false,
                        ..
                    }
                ),
                "{s}"
            );
        }
        assert_eq!(
            classify(bp(), 429, Some(Duration::from_secs(2))),
            Action::Retry {
                not_before: Some(Duration::from_secs(2)),
                throttled: true
            }
        );
        for s in [401, 403] {
            assert_eq!(
                classify(bp(), s, None),
                Action::Pause {
                    code: "invalid_integration_key".into()
                }
            );
        }
        assert_eq!(
            classify(bp(), 404, None),
            Action::Pause {
                code: "wrong_data_region".into()
            }
        );
        for s in [400, 409, 413, 422] {
            assert_eq!(classify(bp(), s, None), Action::DeadLetter, "{s}");
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
        assert_eq!(retry_after(Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(Some(" 120 ")), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(None), None);
    }
}
