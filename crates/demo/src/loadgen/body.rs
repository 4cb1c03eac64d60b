//! What the load sends and how its results are summed: the batch templates (send-time
//! placeholders, fresh messageIds), the end-to-end latency histogram, percentiles, the
//! process's resident memory and CPU time.

const MARK: &[u8] = b"\"lg_sent_ms\":";
const PLACEHOLDER: &[u8] = b"0000000000000";

/// A batch body with the positions of its send-time placeholders.
pub(super) struct Template {
    pub(super) body: Vec<u8>,
    pub(super) stamps: Vec<usize>,
    /// Where each event's 24-character messageId starts: made unique on every send, or the
    /// gateway's deduplication would (rightly) swallow the repeats.
    pub(super) ids: Vec<usize>,
    pub(super) events: usize,
    pub(super) tracks: usize,
}

pub(super) fn templates(batch: usize, count: usize) -> Vec<Template> {
    let mut samples = signal_core::sample::Samples::new(7);
    samples.consent_withheld = 0.0;
    (0..count)
        .map(|_| {
            let mut body = b"{\"batch\":[".to_vec();
            let mut stamps = Vec::new();
            let mut ids = Vec::new();
            let mut tracks = 0;
            for i in 0..batch {
                if i > 0 {
                    body.push(b',');
                }
                let (kind, ev) = samples.next_event();
                let text = ev;
                let id_key = b"\"messageId\":\"";
                let start_of_event = body.len();
                let key = b"\"properties\":{";
                match text.windows(key.len()).position(|w| w == key) {
                    Some(at)
                        if matches!(
                            kind,
                            signal_core::EventType::Track | signal_core::EventType::Page
                        ) =>
                    {
                        tracks += 1;
                        body.extend_from_slice(&text[..at + key.len()]);
                        body.extend_from_slice(MARK);
                        stamps.push(body.len());
                        body.extend_from_slice(PLACEHOLDER);
                        body.push(b',');
                        body.extend_from_slice(&text[at + key.len()..]);
                    }
                    _ => body.extend_from_slice(&text),
                }
                if let Some(at) = body[start_of_event..]
                    .windows(id_key.len())
                    .position(|w| w == id_key)
                {
                    ids.push(start_of_event + at + id_key.len());
                }
            }
            body.extend_from_slice(b"]}");
            Template {
                body,
                stamps,
                ids,
                events: batch,
                tracks,
            }
        })
        .collect()
}

pub(super) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// End-to-end latencies, in 1 ms buckets up to 10 minutes: the sink's samples are folded in
/// every second, so a long run holds no growing list (the run measures the node's memory).
pub(super) struct Histogram(Vec<u64>);

impl Histogram {
    pub(super) fn new() -> Self {
        Self(vec![0; 600_001])
    }

    /// Adds `(ms, requests)` pairs (the null sink's buckets).
    pub(super) fn add_counts(&mut self, buckets: Vec<(u64, u64)>) {
        for (ms, n) in buckets {
            let i = usize::try_from(ms)
                .unwrap_or(usize::MAX)
                .min(self.0.len() - 1);
            self.0[i] += n;
        }
    }

    pub(super) fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    pub(super) fn percentile(&self, p: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return f64::NAN;
        }
        let target = ((total as f64) * p).ceil() as u64;
        let mut seen = 0;
        for (ms, n) in self.0.iter().enumerate() {
            seen += n;
            if seen >= target.max(1) {
                return ms as f64;
            }
        }
        (self.0.len() - 1) as f64
    }
}

pub(super) fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)] as f64
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times (`USER_HZ`: 100 on every Linux
/// architecture this runs on).
const TICKS_PER_S: u64 = 100;

/// This process's CPU time so far (user + system, every thread), in µs, from `/proc/self/stat`
/// (10 ms resolution); `None` where there is no such file.
pub(super) fn cpu_us() -> Option<u64> {
    cpu_us_of("self")
}

/// The CPU time of process `pid` (`self` for this one), as [`cpu_us`].
pub(super) fn cpu_us_of(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses: state is field 3,
    // utime field 14, stime field 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) * 1_000_000 / TICKS_PER_S)
}
