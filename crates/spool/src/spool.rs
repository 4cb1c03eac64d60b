//! The spool: opening (with recovery), appending with group commit, and the housekeeping that
//! persists cursors and deletes acknowledged segments.
//!
//! One writer thread owns the active segment file. Appends are requests on a channel; the writer
//! takes every request waiting, writes them all, syncs once (`fdatasync`), and only then answers
//! each. While it syncs, new requests gather for the next round: that is the group commit, and
//! under load one sync serves hundreds of appends.

use crate::config::SpoolConfig;
use crate::consumer::{Consumer, Start};
use crate::dead::DeadLetters;
use crate::disk::{self, DiskFile};
use crate::error::SpoolError;
use crate::ranges::Cursor;
use crate::record::{self, MAX_RECORD};
use crate::segment::{self, Recovery, Segment};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::collections::BTreeMap;
use std::fs;
use std::future::Future;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, oneshot};

/// Locks, carrying on past a panic elsewhere (the data behind these locks stays consistent:
/// every update is a single assignment or push).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A consumer as the spool tracks it.
pub(crate) struct ConsumerEntry {
    pub cursor: Arc<Mutex<Cursor>>,
    pub dead: Arc<DeadLetters>,
    pub in_use: Arc<AtomicBool>,
}

/// State shared by the writer, the consumers and the handles.
pub(crate) struct Shared {
    pub config: SpoolConfig,
    /// Every segment, oldest first; the last is the one being written.
    pub segments: Mutex<Vec<Segment>>,
    /// Wakes blocking readers when more is durable.
    pub durable_cv: Condvar,
    /// Wakes async readers when more is durable.
    pub notify: Notify,
    pub consumers: Mutex<BTreeMap<String, ConsumerEntry>>,
    pub pending_bytes: AtomicU64,
    pub total_bytes: AtomicU64,
    pub recovery: Recovery,
    /// The most recent round of appends failed with a disk error.
    pub failing: AtomicBool,
}

impl Shared {
    /// Blocks up to `timeout` until a record after `seq` is durable; returns whether one is.
    pub fn wait_durable_after(&self, seq: u64, timeout: Duration) -> bool {
        let segs = lock(&self.segments);
        let more = |segs: &Vec<Segment>| segs.last().is_some_and(|s| s.last > seq);
        if more(&segs) {
            return true;
        }
        let (segs, _) = self
            .durable_cv
            .wait_timeout_while(segs, timeout, |s| !more(s))
            .unwrap_or_else(PoisonError::into_inner);
        more(&segs)
    }

    /// The last durable sequence number.
    pub fn durable(&self) -> u64 {
        lock(&self.segments).last().map_or(0, |s| s.last)
    }

    fn cursor_dir(&self) -> PathBuf {
        self.config.dir.join("cursors")
    }

    pub fn dead_dir(&self, name: &str) -> PathBuf {
        self.config.dir.join("dead").join(name)
    }
}

struct Request {
    records: Vec<Vec<u8>>,
    bytes: u64,
    reply: oneshot::Sender<Result<Range<u64>, SpoolError>>,
}

/// What the writer thread is told.
enum Msg {
    Append(Request),
    /// Finish what came before, persist cursors, stop.
    Close,
}

/// A durable, append-only event log on local disk.
///
/// Cloning gives another handle to the same spool. See the crate docs for the guarantees.
#[derive(Clone)]
pub struct Spool {
    shared: Arc<Shared>,
    tx: Sender<Msg>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

/// Figures for metrics and the stats endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Segment files.
    pub segments: usize,
    /// Bytes of all segments.
    pub bytes: u64,
    /// The last durable sequence number.
    pub durable_seq: u64,
    /// Per consumer: name, committed sequence number, records not yet acknowledged.
    pub consumers: Vec<(String, u64, u64)>,
    /// What recovery found at open.
    pub recovery: Recovery,
}

impl Spool {
    /// Opens (or creates) the spool in `config.dir`, recovering from whatever a crash left.
    ///
    /// # Errors
    ///
    /// The directory cannot be created or read, or a file cannot be opened. A torn tail or a
    /// corrupt segment is not an error: it is repaired or skipped, and reported in
    /// [`SpoolStats::recovery`].
    pub fn open(config: SpoolConfig) -> Result<Self, SpoolError> {
        let dir = config.dir.clone();
        for d in [dir.clone(), dir.join("cursors"), dir.join("dead")] {
            fs::create_dir_all(&d).map_err(|e| SpoolError::io("create directory", &d, e))?;
        }
        let (segments, recovery, active) = recover(&dir, &config)?;
        let total = segments.iter().map(|s| s.len).sum();
        let shared = Arc::new(Shared {
            config,
            segments: Mutex::new(segments),
            durable_cv: Condvar::new(),
            notify: Notify::new(),
            consumers: Mutex::new(BTreeMap::new()),
            pending_bytes: AtomicU64::new(0),
            total_bytes: AtomicU64::new(total),
            recovery,
            failing: AtomicBool::new(false),
        });
        load_consumers(&shared)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let writer = Writer {
            shared: shared.clone(),
            file: active,
            buf: Vec::with_capacity(1 << 20),
            last_housekeeping: std::time::Instant::now(),
        };
        let handle = std::thread::Builder::new()
            .name("spool-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| SpoolError::io("start writer thread", &dir, e))?;
        Ok(Self {
            shared,
            tx,
            writer: Arc::new(Mutex::new(Some(handle))),
        })
    }

    /// Appends `records`, in order, as one group; the result resolves once they are on disk,
    /// with their sequence numbers.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned [`Append`] does not withdraw the records: they are written anyway,
    /// and their durability is simply not reported.
    pub fn append(&self, records: Vec<Vec<u8>>) -> Append {
        if let Some(big) = records.iter().find(|r| r.len() > MAX_RECORD) {
            return Append::ready(Err(SpoolError::invalid(format!(
                "a record of {} bytes is over the limit of {MAX_RECORD}",
                big.len()
            ))));
        }
        let bytes: u64 = records
            .iter()
            .map(|r| (r.len() + record::HEADER) as u64)
            .sum();
        let limit = self.shared.config.max_pending_bytes;
        let before = self.shared.pending_bytes.fetch_add(bytes, Ordering::AcqRel);
        if before + bytes > limit && before > 0 {
            self.shared.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            return Append::ready(Err(SpoolError::full("the write queue", limit)));
        }
        let (reply, rx) = oneshot::channel();
        let request = Request {
            records,
            bytes,
            reply,
        };
        if self.tx.send(Msg::Append(request)).is_err() {
            self.shared.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            return Append::ready(Err(SpoolError::closed()));
        }
        Append(State::Waiting(rx))
    }

    /// The consumer `name` (an integration id: letters, digits, `-`, `_`), created at `start`
    /// the first time, else resumed after its last acknowledged record.
    ///
    /// # Errors
    ///
    /// A name that is not usable as a file name, a consumer already in use by another handle, or
    /// a disk error creating its files.
    pub fn consumer(&self, name: &str, start: Start) -> Result<Consumer, SpoolError> {
        if name.is_empty()
            || name.len() > 128
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(SpoolError::invalid(format!(
                "consumer name `{name}`: use letters, digits, - and _"
            )));
        }
        let mut consumers = lock(&self.shared.consumers);
        if !consumers.contains_key(name) {
            let committed = match start {
                Start::Earliest => lock(&self.shared.segments)
                    .first()
                    .map_or(0, |s| s.base - 1),
                Start::Latest => self.shared.durable(),
            };
            let dead = DeadLetters::open(&self.shared.dead_dir(name), self.shared.config.fsync)?;
            let mut cursor = Cursor::new(committed);
            cursor.dirty = true;
            persist_cursor(&self.shared, name, &mut cursor)?;
            consumers.insert(
                name.to_owned(),
                ConsumerEntry {
                    cursor: Arc::new(Mutex::new(cursor)),
                    dead: Arc::new(dead),
                    in_use: Arc::new(AtomicBool::new(false)),
                },
            );
        }
        let entry = consumers
            .get(name)
            .ok_or_else(|| SpoolError::invalid("consumer vanished"))?;
        if entry.in_use.swap(true, Ordering::AcqRel) {
            return Err(SpoolError::invalid(format!(
                "consumer `{name}` is already being read"
            )));
        }
        Ok(Consumer::new(
            self.shared.clone(),
            name.to_owned(),
            entry.cursor.clone(),
            entry.dead.clone(),
            entry.in_use.clone(),
        ))
    }

    /// Forgets a consumer (an integration removed): its cursor and dead letters are deleted, and
    /// it no longer holds segments back.
    ///
    /// # Errors
    ///
    /// The consumer is being read, or its files cannot be removed.
    pub fn remove_consumer(&self, name: &str) -> Result<(), SpoolError> {
        let mut consumers = lock(&self.shared.consumers);
        if let Some(entry) = consumers.get(name) {
            if entry.in_use.load(Ordering::Acquire) {
                return Err(SpoolError::invalid(format!(
                    "consumer `{name}` is being read"
                )));
            }
            consumers.remove(name);
        }
        let cursor = self.shared.cursor_dir().join(name);
        if cursor.exists() {
            fs::remove_file(&cursor).map_err(|e| SpoolError::io("remove cursor", &cursor, e))?;
        }
        let dead = self.shared.dead_dir(name);
        if dead.exists() {
            fs::remove_dir_all(&dead)
                .map_err(|e| SpoolError::io("remove dead letters", &dead, e))?;
        }
        Ok(())
    }

    /// Blocks up to `timeout` until a record after `seq` is durable; returns whether one is.
    /// For readers that must not hold their consumer while they wait.
    pub fn wait_durable_after(&self, seq: u64, timeout: Duration) -> bool {
        self.shared.wait_durable_after(seq, timeout)
    }

    /// Whether appends are failing: true while the most recent round of appends failed with a
    /// disk error (a full or failing disk), false again once one succeeds. For readiness checks.
    pub fn is_failing(&self) -> bool {
        self.shared.failing.load(Ordering::Acquire)
    }

    /// Current figures.
    pub fn stats(&self) -> SpoolStats {
        let (segments, durable_seq) = {
            let segs = lock(&self.shared.segments);
            (segs.len(), segs.last().map_or(0, |s| s.last))
        };
        let consumers = lock(&self.shared.consumers)
            .iter()
            .map(|(name, e)| {
                let committed = lock(&e.cursor).committed;
                (
                    name.clone(),
                    committed,
                    durable_seq.saturating_sub(committed),
                )
            })
            .collect();
        SpoolStats {
            segments,
            bytes: self.shared.total_bytes.load(Ordering::Acquire),
            durable_seq,
            consumers,
            recovery: self.shared.recovery.clone(),
        }
    }

    /// Stops accepting appends (from every handle), waits for the writer to finish what it
    /// has, persists cursors.
    pub fn close(self) {
        let Spool { tx, writer, .. } = self;
        let _ = tx.send(Msg::Close);
        drop(tx);
        if let Some(handle) = lock(&writer).take() {
            let _ = handle.join();
        }
    }
}

/// The result of an append: a future, or [`wait`](Append::wait) to block for it.
pub struct Append(State);

enum State {
    Ready(Option<Result<Range<u64>, SpoolError>>),
    Waiting(oneshot::Receiver<Result<Range<u64>, SpoolError>>),
}

impl Append {
    fn ready(r: Result<Range<u64>, SpoolError>) -> Self {
        Self(State::Ready(Some(r)))
    }

    /// Blocks until the records are durable (not for use inside an async task).
    ///
    /// # Errors
    ///
    /// As the future.
    pub fn wait(self) -> Result<Range<u64>, SpoolError> {
        match self.0 {
            State::Ready(r) => r.unwrap_or_else(|| Err(SpoolError::closed())),
            State::Waiting(rx) => rx
                .blocking_recv()
                .unwrap_or_else(|_| Err(SpoolError::closed())),
        }
    }
}

impl Future for Append {
    type Output = Result<Range<u64>, SpoolError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            State::Ready(r) => Poll::Ready(r.take().unwrap_or_else(|| Err(SpoolError::closed()))),
            State::Waiting(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or_else(|_| Err(SpoolError::closed()))),
        }
    }
}

// === recovery ===

/// The open file of the segment being written.
type ActiveFile = Box<dyn DiskFile>;

fn recover(
    dir: &Path,
    config: &SpoolConfig,
) -> Result<(Vec<Segment>, Recovery, ActiveFile), SpoolError> {
    let disk = config.disk.as_ref();
    let found = segment::list(dir)?;
    let mut report = Recovery::default();
    let mut segments = Vec::new();
    let mut last = 0u64;
    let count = found.len();
    for (i, (base, path)) in found.into_iter().enumerate() {
        let is_last = i + 1 == count;
        let mut records = 0u64;
        let (mut seg, problem) = segment::scan(&path, base, last, |_, _| records += 1)?;
        report.segments += 1;
        report.records += records;
        if let Some(why) = problem {
            let file_len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if is_last {
                // A crash mid-write: cut the torn tail so appends continue from good data.
                report.torn_bytes += file_len - seg.len;
                tracing::warn!(file = %path.display(), at = seg.len, cut = file_len - seg.len, why, "spool: cutting a torn tail");
                if seg.len == 0 {
                    disk.remove_file(&path)
                        .map_err(|e| SpoolError::io("remove segment", &path, e))?;
                    continue;
                }
                disk.open_append(&path)
                    .and_then(|mut f| f.set_len(seg.len).and_then(|()| f.sync_all()))
                    .map_err(|e| SpoolError::io("cut torn tail", &path, e))?;
            } else {
                let name = path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                tracing::error!(file = %path.display(), at = seg.len, why, "spool: corrupt segment, skipping the rest of it");
                report
                    .corrupt
                    .push(format!("{name}: {why} at byte {}", seg.len));
            }
        }
        if !is_last {
            seg.closed_at = Some(now_secs());
        }
        last = seg.last;
        segments.push(seg);
    }
    let reuse = segments.last().is_some_and(|s| {
        s.len < config.segment_bytes
            && report
                .corrupt
                .iter()
                .all(|c| !c.starts_with(&segment::name(s.base)))
    });
    let file = if reuse {
        let seg = segments
            .last()
            .ok_or_else(|| SpoolError::invalid("no segment"))?;
        disk.open_append(&seg.path)
            .map_err(|e| SpoolError::io("open segment", &seg.path, e))?
    } else {
        if let Some(s) = segments.last_mut() {
            s.closed_at = Some(now_secs());
        }
        let (seg, file) = segment::create(disk, dir, last + 1, config.fsync)?;
        segments.push(seg);
        file
    };
    Ok((segments, report, file))
}

fn load_consumers(shared: &Shared) -> Result<(), SpoolError> {
    let dir = shared.cursor_dir();
    let entries = fs::read_dir(&dir).map_err(|e| SpoolError::io("read directory", &dir, e))?;
    let mut consumers = lock(&shared.consumers);
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if name.ends_with(".tmp") {
            let _ = shared.config.disk.remove_file(&path);
            continue;
        }
        let text =
            fs::read_to_string(&path).map_err(|e| SpoolError::io("read cursor", &path, e))?;
        let committed = text.trim().parse::<u64>().map_err(|_| {
            SpoolError::invalid(format!(
                "cursor {} holds `{}`, not a number",
                path.display(),
                text.trim()
            ))
        })?;
        let dead = DeadLetters::open(&shared.dead_dir(&name), shared.config.fsync)?;
        consumers.insert(
            name,
            ConsumerEntry {
                cursor: Arc::new(Mutex::new(Cursor::new(committed))),
                dead: Arc::new(dead),
                in_use: Arc::new(AtomicBool::new(false)),
            },
        );
    }
    Ok(())
}

/// Writes a cursor's committed position (write to a temporary file, rename over).
pub(crate) fn persist_cursor(
    shared: &Shared,
    name: &str,
    cursor: &mut Cursor,
) -> Result<(), SpoolError> {
    if !cursor.dirty {
        return Ok(());
    }
    let path = shared.cursor_dir().join(name);
    let tmp = shared.cursor_dir().join(format!("{name}.tmp"));
    let disk = shared.config.disk.as_ref();
    let write = || -> std::io::Result<()> {
        let mut f = disk.create(&tmp)?;
        disk::write_all(f.as_mut(), format!("{}\n", cursor.committed).as_bytes())?;
        if shared.config.fsync {
            f.sync_all()?;
        }
        disk.rename(&tmp, &path)
    };
    write().map_err(|e| SpoolError::io("write cursor", &path, e))?;
    cursor.dirty = false;
    Ok(())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// === the writer ===

struct Writer {
    shared: Arc<Shared>,
    file: Box<dyn DiskFile>,
    buf: Vec<u8>,
    last_housekeeping: std::time::Instant,
}

const HOUSEKEEPING: Duration = Duration::from_millis(100);

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut closing = false;
        while !closing {
            let first = match rx.recv_timeout(HOUSEKEEPING) {
                Ok(Msg::Append(r)) => r,
                Ok(Msg::Close) => break,
                Err(RecvTimeoutError::Timeout) => {
                    self.housekeeping();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut batch = vec![first];
            while batch.len() < 8192 {
                match rx.try_recv() {
                    Ok(Msg::Append(r)) => batch.push(r),
                    Ok(Msg::Close) => {
                        closing = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.write_batch(batch);
            if self.last_housekeeping.elapsed() >= HOUSEKEEPING {
                self.housekeeping();
            }
        }
        self.housekeeping();
    }

    fn write_batch(&mut self, batch: Vec<Request>) {
        let shared = self.shared.clone();
        let pending: u64 = batch.iter().map(|r| r.bytes).sum();
        if let Err(e) = self.maybe_roll() {
            tracing::error!(error = %e, "spool: cannot start a new segment");
            shared.failing.store(true, Ordering::Release);
            shared.pending_bytes.fetch_sub(pending, Ordering::AcqRel);
            for r in batch {
                let _ = r.reply.send(Err(SpoolError::io(
                    "start segment",
                    &shared.config.dir,
                    std::io::Error::other(e.to_string()),
                )));
            }
            return;
        }
        let (mut next, prev_len, path) = {
            let segs = lock(&shared.segments);
            let active = segs.last();
            (
                active.map_or(1, |s| s.last + 1),
                active.map_or(0, |s| s.len),
                active.map(|s| s.path.clone()).unwrap_or_default(),
            )
        };
        self.buf.clear();
        let total = shared.total_bytes.load(Ordering::Acquire);
        let cap = shared.config.max_bytes;
        let mut accepted = Vec::with_capacity(batch.len());
        let mut refused = Vec::new();
        for r in batch {
            if total + self.buf.len() as u64 + r.bytes > cap {
                refused.push(r);
                continue;
            }
            let first = next;
            for rec in &r.records {
                record::encode(&mut self.buf, next, rec);
                next += 1;
            }
            accepted.push((r.reply, first..next));
        }
        for r in refused {
            let _ = r.reply.send(Err(SpoolError::full("the spool", cap)));
        }
        let written = self.buf.len() as u64;
        let result = disk::write_all(self.file.as_mut(), &self.buf).and_then(|()| {
            if shared.config.fsync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        shared.pending_bytes.fetch_sub(pending, Ordering::AcqRel);
        match result {
            Ok(()) => {
                {
                    let mut segs = lock(&shared.segments);
                    if let Some(active) = segs.last_mut() {
                        active.len += written;
                        active.last = next - 1;
                    }
                }
                shared.total_bytes.fetch_add(written, Ordering::AcqRel);
                shared.failing.store(false, Ordering::Release);
                shared.durable_cv.notify_all();
                shared.notify.notify_waiters();
                for (reply, range) in accepted {
                    let _ = reply.send(Ok(range));
                }
            }
            Err(e) => {
                // Put the file back as it was, so the next group starts on good data.
                tracing::error!(file = %path.display(), error = %e, "spool: write failed");
                let _ = self.file.set_len(prev_len);
                shared.failing.store(true, Ordering::Release);
                for (reply, _) in accepted {
                    let _ = reply.send(Err(SpoolError::io(
                        "write",
                        &path,
                        std::io::Error::new(e.kind(), e.to_string()),
                    )));
                }
            }
        }
    }

    /// Starts a new segment when the active one is full.
    fn maybe_roll(&mut self) -> Result<(), SpoolError> {
        let (full, next) = {
            let segs = lock(&self.shared.segments);
            let active = segs.last();
            (
                active.is_some_and(|s| s.len >= self.shared.config.segment_bytes),
                active.map_or(1, |s| s.last + 1),
            )
        };
        if !full {
            return Ok(());
        }
        let config = &self.shared.config;
        let (seg, file) = segment::create(config.disk.as_ref(), &config.dir, next, config.fsync)?;
        let mut segs = lock(&self.shared.segments);
        if let Some(active) = segs.last_mut() {
            active.closed_at = Some(now_secs());
        }
        self.shared.total_bytes.fetch_add(seg.len, Ordering::AcqRel);
        segs.push(seg);
        self.file = file;
        Ok(())
    }

    /// Persists changed cursors and deletes segments every consumer is done with.
    fn housekeeping(&mut self) {
        self.last_housekeeping = std::time::Instant::now();
        let shared = &self.shared;
        let mut min_committed = u64::MAX;
        {
            let consumers = lock(&shared.consumers);
            for (name, entry) in consumers.iter() {
                let mut cursor = lock(&entry.cursor);
                min_committed = min_committed.min(cursor.committed);
                if let Err(e) = persist_cursor(shared, name, &mut cursor) {
                    tracing::error!(consumer = %name, error = %e, "spool: cannot persist cursor");
                }
            }
        }
        let config = &shared.config;
        let now = now_secs();
        let mut segs = lock(&shared.segments);
        let closed = segs.len().saturating_sub(1);
        let mut acked_bytes: u64 = segs[..closed]
            .iter()
            .filter(|s| s.last <= min_committed)
            .map(|s| s.len)
            .sum();
        let mut remove = 0;
        for s in &segs[..closed] {
            if s.last > min_committed {
                break;
            }
            let old = s
                .closed_at
                .is_some_and(|t| now.saturating_sub(t) >= config.retain_acked_for.as_secs());
            if !(old || acked_bytes > config.retain_acked_bytes) {
                break;
            }
            if let Err(e) = config.disk.remove_file(&s.path) {
                tracing::error!(file = %s.path.display(), error = %e, "spool: cannot delete segment");
                break;
            }
            acked_bytes -= s.len;
            shared.total_bytes.fetch_sub(s.len, Ordering::AcqRel);
            remove += 1;
        }
        segs.drain(..remove);
    }
}
