//! Fault injection: latency and jitter, stalls, a share of 500/503 answers, 429 with
//! `Retry-After`, connections closed before or after a request is handled. Drawn per request
//! from a seeded generator, changed at any time with [`Sim::set_faults`](crate::Sim::set_faults).

use std::time::Duration;

/// Faults to inject, each drawn per request. The default is none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    /// Added to every answer.
    pub latency: Duration,
    /// A random extra of up to this much.
    pub jitter: Duration,
    /// Share of requests answered 500 or 503 (half each).
    pub error_rate: f64,
    /// The next this-many requests are answered 429 with `Retry-After`.
    pub throttle_next: u32,
    /// The `Retry-After` of a 429, in seconds.
    pub retry_after_secs: u64,
    /// Share of requests whose connection is closed before they are handled (not recorded).
    pub reset_before_rate: f64,
    /// Share of requests handled and recorded whose connection is then closed without an
    /// answer: the client never learns it succeeded.
    pub reset_after_rate: f64,
    /// Share of requests that stall for [`stall`](Self::stall) before being answered.
    pub stall_rate: f64,
    /// How long a stalled request waits.
    pub stall: Duration,
}

/// A seeded generator (splitmix64): reproducible fault draws without a dependency.
#[derive(Debug)]
pub(crate) struct Dice(u64);

impl Dice {
    pub(crate) fn new(seed: u64) -> Dice {
        Dice(seed)
    }

    /// A draw in `[0, 1)`.
    pub(crate) fn roll(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What the plan decided for one request, before it is handled.
#[derive(Debug, PartialEq)]
pub(crate) enum Before {
    /// Close the connection now.
    Reset,
    /// Wait this long (latency, jitter, a stall: `stalled`), then go on.
    Wait { delay: Duration, stalled: bool },
}

/// Draws the before-handling faults of `plan`.
pub(crate) fn before(plan: &FaultPlan, dice: &mut Dice) -> Before {
    if plan.reset_before_rate > 0.0 && dice.roll() < plan.reset_before_rate {
        return Before::Reset;
    }
    let mut delay = plan.latency;
    if !plan.jitter.is_zero() {
        delay += plan.jitter.mul_f64(dice.roll());
    }
    let stalled = plan.stall_rate > 0.0 && dice.roll() < plan.stall_rate;
    if stalled {
        delay += plan.stall;
    }
    Before::Wait { delay, stalled }
}

/// An injected answer after the wait: 429 (taken from `throttle_next`) or 500/503.
#[derive(Debug, PartialEq)]
pub(crate) enum Injected {
    /// 429 with this `Retry-After`.
    Throttle(u64),
    /// 500 or 503.
    Error(u16),
}

/// Draws the injected answer, if any; counts `throttle_next` down.
pub(crate) fn injected(plan: &mut FaultPlan, dice: &mut Dice) -> Option<Injected> {
    if plan.throttle_next > 0 {
        plan.throttle_next -= 1;
        return Some(Injected::Throttle(plan.retry_after_secs));
    }
    if plan.error_rate > 0.0 {
        let roll = dice.roll();
        if roll < plan.error_rate {
            return Some(Injected::Error(if roll < plan.error_rate / 2.0 {
                500
            } else {
                503
            }));
        }
    }
    None
}

/// Whether to close the connection after handling.
pub(crate) fn reset_after(plan: &FaultPlan, dice: &mut Dice) -> bool {
    plan.reset_after_rate > 0.0 && dice.roll() < plan.reset_after_rate
}
