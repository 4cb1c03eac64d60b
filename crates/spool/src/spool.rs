//! The spool's handle: opening (recovery is `recovery.rs`), appending (the writer thread that
//! does the writing, with group commit, is `writer.rs`), consumers and their cursor files.

use crate::config::SpoolConfig;
use crate::consumer::{Consumer, Start};
use crate::dead::DeadLetters;
use crate::disk;
use crate::error::SpoolError;
use crate::ranges::Cursor;
use crate::record::{self, MAX_RECORD};
use crate::recovery::{Recovered, recover};
use crate::segment::{Recovery, Segment};
use crate::writer::{Msg, Request, Writer};
use crossbeam_channel::Sender;
use std::collections::BTreeMap;
use std::fs;
use std::future::Future;
use std::ops::Range;
use std::path::PathBuf;
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
    /// [`SpoolStats::recovery`]. Nor is a full disk when a new segment is needed: the spool
    /// opens with [`is_failing`](Self::is_failing) true and starts the segment once there is room.
    pub fn open(mut config: SpoolConfig) -> Result<Self, SpoolError> {
        config.segment_bytes = config.effective_segment_bytes();
        let dir = config.dir.clone();
        for d in [dir.clone(), dir.join("cursors"), dir.join("dead")] {
            fs::create_dir_all(&d).map_err(|e| SpoolError::io("create directory", &d, e))?;
        }
        let Recovered {
            segments,
            report: recovery,
            file,
            uncut_before,
        } = recover(&dir, &config)?;
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
        let writer = Writer::new(shared.clone(), file, uncut_before);
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
            let dead = DeadLetters::open(
                &self.shared.dead_dir(name),
                self.shared.config.disk.clone(),
                self.shared.config.fsync,
                self.shared.config.dead_letter_max_bytes,
            )?;
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
        let dead = DeadLetters::open(
            &shared.dead_dir(&name),
            shared.config.disk.clone(),
            shared.config.fsync,
            shared.config.dead_letter_max_bytes,
        )?;
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
        disk::write_all_at(f.as_mut(), format!("{}\n", cursor.committed).as_bytes(), 0)?;
        if shared.config.fsync {
            f.sync_all()?;
        }
        disk.rename(&tmp, &path)
    };
    write().map_err(|e| SpoolError::io("write cursor", &path, e))?;
    cursor.dirty = false;
    Ok(())
}

/// Now, as seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Now, as milliseconds since the epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
