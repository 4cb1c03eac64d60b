//! One integration's outcomes per second over the last 15 minutes, behind the stats' `series`
//! and the integration page's charts: a fixed ring of [`WINDOW`] one-second slots, each with
//! its counts by outcome and a small latency histogram of the deliveries in that second.
//!
//! The ring is allocated once (about 250 KiB per integration) and never grows: counting an
//! outcome takes its lock, finds the slot of the current second (`second % WINDOW`), clears it
//! if it still holds an older second, and adds one. Nothing rolls the ring on a timer: a slot
//! whose second is not in the window asked for reads as zero. Latency percentiles per second
//! come from the histogram's buckets, exact below 8 ms and within 12.5% above (the bucket's
//! middle), so that the nodes of a JetStream cluster can add their histograms and the merged
//! percentiles are those of all the deliveries, not an average of averages.

use crate::sync::lock;
use serde_json::{Value, json};
use std::sync::Mutex;

/// Seconds in the window: 15 minutes.
pub const WINDOW: usize = 900;

/// The outcomes counted per second, in the order of a slot's counts (the names of `counts`).
pub const OUTCOMES: [&str; 5] = [
    "delivered",
    "dropped",
    "retrying",
    "failed",
    "dead_lettered",
];

/// The index of `delivered` in [`OUTCOMES`].
pub const DELIVERED: usize = 0;

/// Latency buckets per second: 0–7 ms one per millisecond, then four per power of two up to
/// 2^17 ms (about two minutes); the last also holds anything longer.
const BUCKETS: usize = 64;

/// The percentiles drawn per second.
const PERCENTILES: [(&str, f64); 3] = [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)];

/// The bucket of a latency of `ms`.
fn bucket(ms: u64) -> usize {
    if ms < 8 {
        return ms as usize;
    }
    // The power of two at or below `ms` (at least 3), then which quarter of it.
    let octave = 63 - ms.leading_zeros() as usize;
    let quarter = ((ms >> (octave - 2)) & 3) as usize;
    (8 + (octave - 3) * 4 + quarter).min(BUCKETS - 1)
}

/// The latency a bucket stands for: its own value below 8 ms, else its middle.
fn bucket_ms(i: usize) -> u64 {
    if i < 8 {
        return i as u64;
    }
    let octave = 3 + (i - 8) / 4;
    let quarter = ((i - 8) % 4) as u64;
    let width = 1u64 << (octave - 2);
    ((4 + quarter) << (octave - 2)) + width / 2
}

/// One second's counts.
#[derive(Clone, Copy)]
struct Slot {
    /// The second (since the epoch) these counts are of.
    second: u64,
    counts: [u32; OUTCOMES.len()],
    latency: [u32; BUCKETS],
}

const EMPTY: Slot = Slot {
    second: 0,
    counts: [0; OUTCOMES.len()],
    latency: [0; BUCKETS],
};

/// The ring of one integration's last [`WINDOW`] seconds.
pub struct Series {
    slots: Mutex<Box<[Slot]>>,
}

impl Default for Series {
    fn default() -> Self {
        Self {
            slots: Mutex::new(vec![EMPTY; WINDOW].into_boxed_slice()),
        }
    }
}

/// The index in [`OUTCOMES`] of `outcome`, if it is one counted per second.
pub fn outcome_index(outcome: &str) -> Option<usize> {
    OUTCOMES.iter().position(|o| *o == outcome)
}

impl Series {
    /// Counts one outcome (`OUTCOMES[outcome]`) at `second`, with its delivery latency if any.
    pub fn record(&self, second: u64, outcome: usize, latency_ms: Option<u64>) {
        let mut slots = lock(&self.slots);
        let Some(slot) = slots.get_mut((second % WINDOW as u64) as usize) else {
            return;
        };
        if slot.second != second {
            *slot = Slot { second, ..EMPTY };
        }
        if let Some(n) = slot.counts.get_mut(outcome) {
            *n = n.saturating_add(1);
        }
        if let Some(ms) = latency_ms
            && let Some(n) = slot.latency.get_mut(bucket(ms))
        {
            *n = n.saturating_add(1);
        }
    }

    /// The window of seconds ending with `end` (the current second, its last point).
    pub fn window(&self, end: u64) -> Window {
        let mut w = Window::empty(end);
        let slots = lock(&self.slots);
        for i in 0..WINDOW {
            // The second of point `i` (none before the epoch's first window).
            let Some(t) = (end + 1 + i as u64).checked_sub(WINDOW as u64) else {
                continue;
            };
            match slots.get((t % WINDOW as u64) as usize) {
                Some(slot) if slot.second == t => w.add_second(i, &slot.counts, &slot.latency),
                _ => {}
            }
        }
        w
    }
}

/// A copy of the window: counts per outcome and second (oldest first), and the latency
/// histograms of the seconds with deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The last second, since the epoch.
    pub end: u64,
    counts: Vec<[u32; OUTCOMES.len()]>,
    latency: Vec<Option<[u32; BUCKETS]>>,
}

impl Window {
    /// No counts, ending with `end`.
    pub fn empty(end: u64) -> Self {
        Self {
            end,
            counts: vec![[0; OUTCOMES.len()]; WINDOW],
            latency: vec![None; WINDOW],
        }
    }

    /// Adds one second's counts and latencies at index `at` (0 is the oldest).
    fn add_second(&mut self, at: usize, counts: &[u32], latency: &[u32]) {
        if let Some(c) = self.counts.get_mut(at) {
            for (a, b) in c.iter_mut().zip(counts) {
                *a = a.saturating_add(*b);
            }
        }
        if latency.iter().any(|n| *n > 0)
            && let Some(l) = self.latency.get_mut(at)
        {
            let l = l.get_or_insert([0; BUCKETS]);
            for (a, b) in l.iter_mut().zip(latency) {
                *a = a.saturating_add(*b);
            }
        }
    }

    /// The index in this window of `second`, if it is in it.
    fn index_of(&self, second: u64) -> Option<usize> {
        let first = self.end.checked_sub(WINDOW as u64 - 1)?;
        (second >= first && second <= self.end).then(|| (second - first) as usize)
    }

    /// Adds `other` (another node's window) to this one, second by second: the seconds of
    /// `other` outside this window are left out (the nodes' clocks may differ a little).
    pub fn merge(&mut self, other: &Window) {
        let Some(first) = other.end.checked_sub(WINDOW as u64 - 1) else {
            return;
        };
        for i in 0..WINDOW {
            let Some(at) = self.index_of(first + i as u64) else {
                continue;
            };
            let counts = other.counts.get(i).copied().unwrap_or_default();
            match other.latency.get(i).copied().flatten() {
                Some(l) => self.add_second(at, &counts, &l),
                None => self.add_second(at, &counts, &[]),
            }
        }
    }

    /// The count of `outcome` per second, oldest first.
    pub fn of(&self, outcome: &str) -> Vec<u32> {
        let Some(k) = outcome_index(outcome) else {
            return vec![0; WINDOW];
        };
        self.counts
            .iter()
            .map(|c| c.get(k).copied().unwrap_or(0))
            .collect()
    }

    /// The percentile `p` (0..1) of each second's delivery latencies, in ms; `None` for a
    /// second without deliveries.
    pub fn percentile(&self, p: f64) -> Vec<Option<u64>> {
        self.latency
            .iter()
            .map(|l| l.as_ref().and_then(|l| percentile_of(l, p)))
            .collect()
    }

    /// The stats' `series` object.
    pub fn to_json(&self) -> Value {
        let end = crate::clock::rfc3339(self.end.saturating_mul(1000) as i64);
        let mut v = json!({"interval_s": 1, "points": WINDOW, "end": end});
        for o in OUTCOMES {
            v[o] = json!(self.of(o));
        }
        let mut latency = json!({});
        for (name, p) in PERCENTILES {
            latency[name] = json!(self.percentile(p));
        }
        v["latency_ms"] = latency;
        v
    }

    /// What a node sends the node asked for the stats on JetStream: the last second, the
    /// counts by outcome, and the histograms of the seconds with deliveries as
    /// `[index, [[bucket, count], ...]]`.
    pub fn to_wire(&self) -> Value {
        let mut counts = json!({});
        for o in OUTCOMES {
            counts[o] = json!(self.of(o));
        }
        let latency: Vec<Value> = self
            .latency
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let l = l.as_ref()?;
                let kept: Vec<[u32; 2]> = l
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(b, n)| [b as u32, *n])
                    .collect();
                Some(json!([i, kept]))
            })
            .collect();
        json!({"end_s": self.end, "counts": counts, "latency": latency})
    }

    /// Another node's window, from [`Window::to_wire`]'s JSON; `None` if it is not one (an
    /// older node's answer, say). Values out of range are left out.
    pub fn from_wire(v: &Value) -> Option<Self> {
        let mut w = Self::empty(v.get("end_s")?.as_u64()?);
        let counts = v.get("counts")?.as_object()?;
        for (k, o) in OUTCOMES.iter().enumerate() {
            let Some(list) = counts.get(*o).and_then(Value::as_array) else {
                continue;
            };
            for (c, n) in w.counts.iter_mut().zip(list) {
                if let Some(slot) = c.get_mut(k) {
                    *slot = n.as_u64().map_or(0, |n| n.min(u32::MAX as u64) as u32);
                }
            }
        }
        for second in v.get("latency")?.as_array()? {
            let Some(i) = second.get(0).and_then(Value::as_u64) else {
                continue;
            };
            let Some(buckets) = second.get(1).and_then(Value::as_array) else {
                continue;
            };
            let mut l = [0u32; BUCKETS];
            for pair in buckets {
                let b = pair.get(0).and_then(Value::as_u64);
                let n = pair.get(1).and_then(Value::as_u64);
                if let (Some(b), Some(n)) = (b, n)
                    && let Some(slot) = l.get_mut(b as usize)
                {
                    *slot = n.min(u32::MAX as u64) as u32;
                }
            }
            if let Some(at) = w.latency.get_mut(i as usize)
                && l.iter().any(|n| *n > 0)
            {
                *at = Some(l);
            }
        }
        Some(w)
    }
}

/// The percentile `p` of a histogram (as `percentiles_of` picks it: the value at rank
/// ⌊n·p⌋ + 1), `None` when it is empty.
fn percentile_of(l: &[u32; BUCKETS], p: f64) -> Option<u64> {
    let n: u64 = l.iter().map(|n| u64::from(*n)).sum();
    if n == 0 {
        return None;
    }
    let rank = (((n as f64) * p) as u64 + 1).min(n);
    let mut seen = 0u64;
    for (i, c) in l.iter().enumerate() {
        seen += u64::from(*c);
        if seen >= rank {
            return Some(bucket_ms(i));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: usize = 0;

    #[test]
    fn buckets_are_exact_below_8_ms_and_within_an_eighth_above() {
        for ms in 0..8 {
            assert_eq!(bucket_ms(bucket(ms)), ms);
        }
        for ms in 8..200_000u64 {
            let got = bucket_ms(bucket(ms));
            if ms < 1 << 17 {
                let err = got.abs_diff(ms) as f64 / ms as f64;
                assert!(err <= 0.125, "{ms} ms reads {got}");
            }
        }
        // Increasing, and the last bucket holds what is longer.
        for i in 1..BUCKETS {
            assert!(bucket_ms(i) > bucket_ms(i - 1));
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn each_second_has_its_own_counts_oldest_first() {
        let s = Series::default();
        let t = 1_800_000_000;
        s.record(t, D, Some(3));
        s.record(t, D, Some(5));
        s.record(t, outcome_index("dropped").unwrap_or(9), None);
        s.record(t + 2, outcome_index("retrying").unwrap_or(9), None);
        s.record(t + 2, outcome_index("failed").unwrap_or(9), None);
        s.record(t + 2, outcome_index("dead_lettered").unwrap_or(9), None);
        let w = s.window(t + 2);
        let last = |o: &str| w.of(o)[WINDOW - 3..].to_vec();
        assert_eq!(last("delivered"), [2, 0, 0]);
        assert_eq!(last("dropped"), [1, 0, 0]);
        assert_eq!(last("retrying"), [0, 0, 1]);
        assert_eq!(last("failed"), [0, 0, 1]);
        assert_eq!(last("dead_lettered"), [0, 0, 1]);
        assert_eq!(w.of("delivered").iter().sum::<u32>(), 2);
        let p50 = w.percentile(0.5);
        assert_eq!(p50[WINDOW - 3..], [Some(5), None, None], "rank ⌊2·0.5⌋+1");
        assert_eq!(w.percentile(0.0)[WINDOW - 3], Some(3));
    }

    #[test]
    fn seconds_older_than_the_window_are_gone_and_their_slots_reused() {
        let s = Series::default();
        let t = 1_800_000_000u64;
        s.record(t, D, Some(1));
        // Still in the window 899 s later, as its first point.
        let w = s.window(t + WINDOW as u64 - 1);
        assert_eq!(w.of("delivered")[0], 1);
        assert_eq!(w.of("delivered").iter().sum::<u32>(), 1);
        // Out of it one second after, though the slot still holds it.
        let w = s.window(t + WINDOW as u64);
        assert_eq!(w.of("delivered").iter().sum::<u32>(), 0);
        assert!(w.percentile(0.5).iter().all(Option::is_none));
        // The same slot, a window later: cleared before counting the new second.
        s.record(t + WINDOW as u64, D, Some(100));
        let w = s.window(t + WINDOW as u64);
        assert_eq!(w.of("delivered")[WINDOW - 1], 1);
        assert_eq!(w.of("delivered").iter().sum::<u32>(), 1);
        assert_eq!(w.percentile(0.99)[WINDOW - 1], Some(bucket_ms(bucket(100))));
        // A window asked for earlier than a slot's second (the clock went back) leaves it out.
        assert_eq!(s.window(t).of("delivered").iter().sum::<u32>(), 0);
    }

    #[test]
    fn percentiles_per_second_are_those_of_its_deliveries() {
        let s = Series::default();
        let t = 1_800_000_000;
        // 100 deliveries: 1..=100 ms.
        for ms in 1..=100 {
            s.record(t, D, Some(ms));
        }
        let w = s.window(t);
        let near = |got: Option<u64>, want: u64| {
            let got = got.unwrap_or(0);
            assert!(
                got.abs_diff(want) as f64 <= want as f64 * 0.125,
                "{got} for {want}"
            );
        };
        near(w.percentile(0.5)[WINDOW - 1], 51);
        near(w.percentile(0.95)[WINDOW - 1], 96);
        near(w.percentile(0.99)[WINDOW - 1], 100);
        let v = w.to_json();
        assert_eq!(v["interval_s"], 1);
        assert_eq!(v["delivered"].as_array().map(Vec::len), Some(WINDOW));
        assert_eq!(v["latency_ms"]["p95"][WINDOW - 2], Value::Null);
        assert!(v["latency_ms"]["p99"][WINDOW - 1].is_u64());
        assert_eq!(v["end"], "2027-01-15T08:00:00.000Z");
    }

    #[test]
    fn nodes_windows_add_up_second_by_second_through_their_wire_form() {
        let t = 1_800_000_000;
        let (a, b) = (Series::default(), Series::default());
        for _ in 0..99 {
            a.record(t, D, Some(2));
        }
        b.record(t, D, Some(5000));
        b.record(t - 10, outcome_index("failed").unwrap_or(9), None);
        // b's clock is a second ahead: its seconds land where they belong.
        let mut merged = a.window(t);
        let wire = b.window(t + 1).to_wire();
        let theirs = Window::from_wire(&wire).expect("a window");
        assert_eq!(theirs, b.window(t + 1));
        merged.merge(&theirs);
        assert_eq!(merged.of("delivered")[WINDOW - 1], 100);
        assert_eq!(merged.of("failed")[WINDOW - 11], 1);
        assert_eq!(merged.percentile(0.5)[WINDOW - 1], Some(2));
        assert_eq!(
            merged.percentile(0.99)[WINDOW - 1],
            Some(bucket_ms(bucket(5000))),
            "the slow node's delivery is the 100th of 100"
        );
        assert_eq!(Window::from_wire(&json!({"end_s": "x"})), None);
        assert_eq!(Window::from_wire(&Value::Null), None);
    }
}
