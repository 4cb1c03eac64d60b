//! `signal-store`: the embedded store in the data directory (`<data-dir>/store.redb`).
//!
//! It keeps what the management API configures (integrations, sources) and the identity links
//! identify and group calls make (anonymousId -> userId, userId -> accountId, userId -> latest
//! groupId), so they survive restarts. redb: a pure-Rust, ACID, single-file embedded database
//! with durable commits, nothing to install or run beside the binary; ARCHITECTURE.md says why.
//!
//! The audit log (`audit.rs`) is kept here too: who changed what through the management API;
//! and the people who may use it (`people.rs`): users, sign-in sessions, API tokens,
//! invitations, with every secret hashed before it is stored.
//!
//! Records are stored as JSON (they are small, and read far less often than events flow).
//! Identity links are written in one durable transaction per request, before the gateway
//! acknowledges it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod audit;
mod people;

pub use audit::{AuditFilter, AuditRecord};
pub use people::{ApiTokenRecord, InvitationRecord, SessionRecord, UserRecord};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use signal_core::{IdentityLookup, Link};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
#[cfg(feature = "fault-injection")]
use std::sync::atomic::{AtomicBool, Ordering};

const INTEGRATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("integrations");
const SOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("sources");
const USERS: TableDefinition<&str, &str> = TableDefinition::new("anonymous_to_user");
const ACCOUNTS: TableDefinition<&str, &str> = TableDefinition::new("user_to_account");
const GROUPS: TableDefinition<&str, &str> = TableDefinition::new("user_to_group");
/// Positions kept with the data they describe (`links_revision`: how far into the cluster's
/// shared links bucket the link tables are).
const POSITIONS: TableDefinition<&str, u64> = TableDefinition::new("positions");
const LINKS_REVISION: &str = "links_revision";

/// An installed integration, as stored (secrets whole; the API masks them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationRecord {
    /// Stable id.
    pub id: String,
    /// Unique display name.
    pub name: String,
    /// Blueprint key (`pendo`).
    pub blueprint: String,
    /// Blueprint version at install.
    pub blueprint_version: String,
    /// Variant key.
    pub variant: String,
    /// The validated config, defaults filled in.
    pub config: serde_json::Map<String, serde_json::Value>,
    /// `server_side`.
    pub delivery_mode: String,
    /// Whether events are delivered.
    pub enabled: bool,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 last update time.
    pub updated_at: String,
}

/// A source: where events come from, with its credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The pipeline key (Bearer, or Basic user).
    pub pipeline_key: String,
    /// The HMAC secret.
    pub secret: String,
    /// Origins allowed for browsers (empty: the request's own origin is echoed).
    pub allowed_origins: Vec<String>,
    /// Requests per second at the gateway.
    pub rate_limit_per_second: u32,
    /// RFC 3339 creation time.
    pub created_at: String,
}

/// A store error: the operation and what went wrong.
#[derive(Debug)]
pub struct StoreError(String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    /// An operation that ended before it answered (its thread stopped).
    pub fn interrupted(op: &str) -> Self {
        Self(format!("{op}: interrupted"))
    }
}

fn err(op: &str) -> impl Fn(&dyn fmt::Display) -> StoreError + '_ {
    move |e| StoreError(format!("{op}: {e}"))
}

/// Failures to inject, for tests of what the node answers when its store fails (a broken or
/// full disk under `store.redb`). Off unless a test turns them on; every store operation then
/// fails before it touches the database, as a failed read or write would. Only built with the
/// `fault-injection` feature, which only tests turn on: the node's binary has no such switch.
#[cfg(feature = "fault-injection")]
#[derive(Debug, Default)]
pub struct Faults {
    reads: AtomicBool,
    writes: AtomicBool,
}

#[cfg(feature = "fault-injection")]
impl Faults {
    /// Makes every read (`integration`, `integrations`, `sources`) fail, or not.
    pub fn fail_reads(&self, on: bool) {
        self.reads.store(on, Ordering::Release);
    }

    /// Makes every write (put, delete, identity links) fail, or not.
    pub fn fail_writes(&self, on: bool) {
        self.writes.store(on, Ordering::Release);
    }

    fn check(&self, write: bool, op: &str) -> Result<(), StoreError> {
        let on = if write { &self.writes } else { &self.reads };
        if on.load(Ordering::Acquire) {
            return Err(StoreError(format!("{op}: injected failure")));
        }
        Ok(())
    }
}

/// The store. Cloning shares it.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    #[cfg(feature = "fault-injection")]
    faults: Arc<Faults>,
}

impl Store {
    /// Opens (or creates) the store file.
    ///
    /// # Errors
    ///
    /// The file cannot be created or opened, or is not a store.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(|e| err("open")(&e))?;
        let store = Self {
            db: Arc::new(db),
            #[cfg(feature = "fault-injection")]
            faults: Arc::default(),
        };
        // Create the tables so readers never meet a missing one.
        let txn = store.db.begin_write().map_err(|e| err("begin")(&e))?;
        {
            txn.open_table(INTEGRATIONS)
                .map_err(|e| err("create table")(&e))?;
            txn.open_table(SOURCES)
                .map_err(|e| err("create table")(&e))?;
            txn.open_table(USERS).map_err(|e| err("create table")(&e))?;
            txn.open_table(ACCOUNTS)
                .map_err(|e| err("create table")(&e))?;
            txn.open_table(GROUPS)
                .map_err(|e| err("create table")(&e))?;
            for table in [
                people::PEOPLE,
                people::SESSIONS,
                people::API_TOKENS,
                people::INVITATIONS,
            ] {
                txn.open_table(table).map_err(|e| err("create table")(&e))?;
            }
        }
        txn.commit().map_err(|e| err("commit")(&e))?;
        Ok(store)
    }

    /// The failures tests can inject into this store (and its clones).
    #[cfg(feature = "fault-injection")]
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Fails when a test injected a failure of this kind of operation; always Ok without the
    /// `fault-injection` feature.
    #[allow(clippy::unused_self, clippy::unnecessary_wraps)]
    fn check(&self, write: bool, op: &str) -> Result<(), StoreError> {
        #[cfg(feature = "fault-injection")]
        self.faults.check(write, op)?;
        let _ = (write, op);
        Ok(())
    }

    fn put<T: Serialize>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        id: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        self.check(true, "insert")?;
        let bytes = serde_json::to_vec(value).map_err(|e| err("encode")(&e))?;
        let txn = self.db.begin_write().map_err(|e| err("begin")(&e))?;
        {
            let mut t = txn.open_table(table).map_err(|e| err("open table")(&e))?;
            t.insert(id, bytes.as_slice())
                .map_err(|e| err("insert")(&e))?;
        }
        txn.commit().map_err(|e| err("commit")(&e))
    }

    fn get<T: for<'a> Deserialize<'a>>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        self.check(false, "get")?;
        let txn = self.db.begin_read().map_err(|e| err("begin")(&e))?;
        let t = txn.open_table(table).map_err(|e| err("open table")(&e))?;
        let Some(v) = t.get(id).map_err(|e| err("get")(&e))? else {
            return Ok(None);
        };
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|e| err("decode")(&e))
    }

    fn list<T: for<'a> Deserialize<'a>>(
        &self,
        table: TableDefinition<&str, &[u8]>,
    ) -> Result<Vec<T>, StoreError> {
        self.check(false, "list")?;
        let txn = self.db.begin_read().map_err(|e| err("begin")(&e))?;
        let t = txn.open_table(table).map_err(|e| err("open table")(&e))?;
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| err("list")(&e))? {
            let (_, v) = row.map_err(|e| err("list")(&e))?;
            out.push(serde_json::from_slice(v.value()).map_err(|e| err("decode")(&e))?);
        }
        Ok(out)
    }

    /// Reads the record `id`, lets `f` change it and writes it back, all in one write
    /// transaction, so no other write comes between the read and the write. `None` (and
    /// nothing written) when there is no such record.
    fn update<T, R>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        id: &str,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<Option<(T, R)>, StoreError>
    where
        T: Serialize + for<'a> Deserialize<'a>,
    {
        self.check(true, "update")?;
        let txn = self.db.begin_write().map_err(|e| err("begin")(&e))?;
        let out = {
            let mut t = txn.open_table(table).map_err(|e| err("open table")(&e))?;
            let found: Option<T> = match t.get(id).map_err(|e| err("get")(&e))? {
                Some(v) => Some(serde_json::from_slice(v.value()).map_err(|e| err("decode")(&e))?),
                None => None,
            };
            match found {
                None => None,
                Some(mut rec) => {
                    let r = f(&mut rec);
                    let bytes = serde_json::to_vec(&rec).map_err(|e| err("encode")(&e))?;
                    t.insert(id, bytes.as_slice())
                        .map_err(|e| err("insert")(&e))?;
                    Some((rec, r))
                }
            }
        };
        txn.commit().map_err(|e| err("commit")(&e))?;
        Ok(out)
    }

    fn delete(&self, table: TableDefinition<&str, &[u8]>, id: &str) -> Result<bool, StoreError> {
        self.check(true, "remove")?;
        let txn = self.db.begin_write().map_err(|e| err("begin")(&e))?;
        let existed = {
            let mut t = txn.open_table(table).map_err(|e| err("open table")(&e))?;
            t.remove(id).map_err(|e| err("remove")(&e))?.is_some()
        };
        txn.commit().map_err(|e| err("commit")(&e))?;
        Ok(existed)
    }

    /// Saves an integration (insert or replace).
    ///
    /// # Errors
    ///
    /// The write fails.
    pub fn put_integration(&self, rec: &IntegrationRecord) -> Result<(), StoreError> {
        self.put(INTEGRATIONS, &rec.id, rec)
    }

    /// One integration.
    ///
    /// # Errors
    ///
    /// The read fails.
    pub fn integration(&self, id: &str) -> Result<Option<IntegrationRecord>, StoreError> {
        self.get(INTEGRATIONS, id)
    }

    /// Every integration, by id.
    ///
    /// # Errors
    ///
    /// The read fails.
    pub fn integrations(&self) -> Result<Vec<IntegrationRecord>, StoreError> {
        self.list(INTEGRATIONS)
    }

    /// Removes an integration; whether it existed.
    ///
    /// # Errors
    ///
    /// The write fails.
    pub fn delete_integration(&self, id: &str) -> Result<bool, StoreError> {
        self.delete(INTEGRATIONS, id)
    }

    /// Saves a source.
    ///
    /// # Errors
    ///
    /// The write fails.
    pub fn put_source(&self, rec: &SourceRecord) -> Result<(), StoreError> {
        self.put(SOURCES, &rec.id, rec)
    }

    /// Every source, by id.
    ///
    /// # Errors
    ///
    /// The read fails.
    pub fn sources(&self) -> Result<Vec<SourceRecord>, StoreError> {
        self.list(SOURCES)
    }

    /// Removes a source; whether it existed.
    ///
    /// # Errors
    ///
    /// The write fails.
    pub fn delete_source(&self, id: &str) -> Result<bool, StoreError> {
        self.delete(SOURCES, id)
    }

    /// Records identity links durably, in one transaction.
    ///
    /// # Errors
    ///
    /// The write fails (the gateway then answers 503: nothing is acknowledged).
    pub fn record_links(&self, links: &[Link<'_>]) -> Result<(), StoreError> {
        self.record_links_at(links, None)
    }

    /// [`Store::record_links`], and in the same transaction that the store now holds the
    /// cluster's links up to `revision` of their bucket ([`Store::links_revision`]).
    ///
    /// # Errors
    ///
    /// The write fails: neither the links nor the revision are stored.
    pub fn record_links_at(
        &self,
        links: &[Link<'_>],
        revision: Option<u64>,
    ) -> Result<(), StoreError> {
        if links.is_empty() && revision.is_none() {
            return Ok(());
        }
        self.check(true, "insert link")?;
        let mut txn = self.db.begin_write().map_err(|e| err("begin")(&e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| err("durability")(&e))?;
        {
            let mut users = txn.open_table(USERS).map_err(|e| err("open table")(&e))?;
            let mut accounts = txn
                .open_table(ACCOUNTS)
                .map_err(|e| err("open table")(&e))?;
            let mut groups = txn.open_table(GROUPS).map_err(|e| err("open table")(&e))?;
            for link in links {
                let r = match *link {
                    Link::AnonymousToUser {
                        anonymous_id,
                        user_id,
                    } => users.insert(anonymous_id, user_id).map(drop),
                    Link::UserToAccount {
                        user_id,
                        account_id,
                    } => accounts.insert(user_id, account_id).map(drop),
                    Link::UserToGroup { user_id, group_id } => {
                        groups.insert(user_id, group_id).map(drop)
                    }
                };
                r.map_err(|e| err("insert link")(&e))?;
            }
            if let Some(rev) = revision {
                let mut positions = txn
                    .open_table(POSITIONS)
                    .map_err(|e| err("open table")(&e))?;
                positions
                    .insert(LINKS_REVISION, rev)
                    .map_err(|e| err("insert position")(&e))?;
            }
        }
        txn.commit().map_err(|e| err("commit")(&e))
    }

    /// How far into the cluster's links bucket the store's links are (0: not at all).
    ///
    /// # Errors
    ///
    /// The read fails.
    pub fn links_revision(&self) -> Result<u64, StoreError> {
        self.check(false, "links revision")?;
        let txn = self.db.begin_read().map_err(|e| err("begin")(&e))?;
        let t = match txn.open_table(POSITIONS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(err("open table")(&e)),
        };
        Ok(t.get(LINKS_REVISION)
            .map_err(|e| err("read position")(&e))?
            .map_or(0, |v| v.value()))
    }

    fn lookup(&self, table: TableDefinition<&str, &str>, key: &str, out: &mut String) -> bool {
        out.clear();
        let Ok(txn) = self.db.begin_read() else {
            return false;
        };
        let Ok(t) = txn.open_table(table) else {
            return false;
        };
        copied(t.get(key), out)
    }
}

/// The identity links as of one moment: one read transaction for many lookups. Delivery takes
/// one per spool read, after the read: the gateway writes an event's links before it spools the
/// event, so every link the events read carry, or that came before them, is seen (on one node:
/// each node's store holds the links its own gateway wrote). Held, it keeps redb from reusing
/// the pages later commits free: take one for a batch, not for minutes. (A lookup on
/// [`Store`] itself opens a transaction and a table each time: about a fifth of the reader
/// thread's time when every event looked its links up that way.)
pub struct Links {
    /// anonymousId -> userId, userId -> accountId, userId -> groupId; `None` when the snapshot
    /// could not be taken (every lookup then finds nothing, as a failed lookup on the store).
    tables: Option<[redb::ReadOnlyTable<&'static str, &'static str>; 3]>,
}

impl Links {
    fn find(&self, table: usize, key: &str, out: &mut String) -> bool {
        out.clear();
        let Some(t) = self.tables.as_ref().and_then(|t| t.get(table)) else {
            return false;
        };
        copied(t.get(key), out)
    }
}

/// Whether a lookup found a value, then copied into `out`.
fn copied(
    found: Result<Option<redb::AccessGuard<'_, &'static str>>, redb::StorageError>,
    out: &mut String,
) -> bool {
    match found {
        Ok(Some(v)) => {
            out.push_str(v.value());
            true
        }
        _ => false,
    }
}

impl IdentityLookup for Links {
    fn user_for_anonymous(&self, anonymous_id: &str, out: &mut String) -> bool {
        self.find(0, anonymous_id, out)
    }
    fn account_for_user(&self, user_id: &str, out: &mut String) -> bool {
        self.find(1, user_id, out)
    }
    fn group_for_user(&self, user_id: &str, out: &mut String) -> bool {
        self.find(2, user_id, out)
    }
}

impl Store {
    /// The identity links as they are now, for many lookups ([`Links`]).
    pub fn links(&self) -> Links {
        let tables = match self.db.begin_read() {
            Ok(txn) => {
                let open = |t| txn.open_table(t);
                match (open(USERS), open(ACCOUNTS), open(GROUPS)) {
                    (Ok(u), Ok(a), Ok(g)) => Some([u, a, g]),
                    // No table yet: nothing linked yet (a store that never had a link).
                    (Err(redb::TableError::TableDoesNotExist(_)), _, _)
                    | (_, Err(redb::TableError::TableDoesNotExist(_)), _)
                    | (_, _, Err(redb::TableError::TableDoesNotExist(_))) => None,
                    (u, a, g) => {
                        let e = [u.err(), a.err(), g.err()].into_iter().flatten().next();
                        tracing::error!(error = ?e, "identity links unreadable: this batch is mapped without them");
                        None
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "identity links unreadable: this batch is mapped without them");
                None
            }
        };
        Links { tables }
    }
}

impl IdentityLookup for Store {
    fn user_for_anonymous(&self, anonymous_id: &str, out: &mut String) -> bool {
        self.lookup(USERS, anonymous_id, out)
    }
    fn account_for_user(&self, user_id: &str, out: &mut String) -> bool {
        self.lookup(ACCOUNTS, user_id, out)
    }
    fn group_for_user(&self, user_id: &str, out: &mut String) -> bool {
        self.lookup(GROUPS, user_id, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integration(id: &str) -> IntegrationRecord {
        IntegrationRecord {
            id: id.into(),
            name: format!("Pendo {id}"),
            blueprint: "pendo".into(),
            blueprint_version: "0.1.0".into(),
            variant: "b2b_saas".into(),
            config: serde_json::json!({"api_key": "secret", "integration_key": "k", "data_region": "us"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            delivery_mode: "server_side".into(),
            enabled: true,
            created_at: "2026-11-26T08:00:00Z".into(),
            updated_at: "2026-11-26T08:00:00Z".into(),
        }
    }

    #[test]
    fn integrations_sources_and_links_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.redb");
        {
            let s = Store::open(&path).expect("open");
            s.put_integration(&integration("a")).expect("put");
            s.put_integration(&integration("b")).expect("put");
            assert!(s.delete_integration("b").expect("delete"));
            assert!(!s.delete_integration("zzz").expect("delete"));
            s.put_source(&SourceRecord {
                id: "default".into(),
                name: "Default".into(),
                pipeline_key: "dk_live_x".into(),
                secret: "s".into(),
                allowed_origins: vec![],
                rate_limit_per_second: 1000,
                created_at: "2026-11-26T08:00:00Z".into(),
            })
            .expect("source");
            s.record_links(&[
                Link::AnonymousToUser {
                    anonymous_id: "a-1",
                    user_id: "u-1",
                },
                Link::UserToAccount {
                    user_id: "u-1",
                    account_id: "acme",
                },
                Link::UserToGroup {
                    user_id: "u-1",
                    group_id: "g-1",
                },
            ])
            .expect("links");
        }
        let s = Store::open(&path).expect("reopen");
        assert_eq!(s.integrations().expect("list"), vec![integration("a")]);
        assert_eq!(s.integration("a").expect("get"), Some(integration("a")));
        assert_eq!(s.sources().expect("sources")[0].pipeline_key, "dk_live_x");
        let mut out = String::new();
        assert!(s.user_for_anonymous("a-1", &mut out) && out == "u-1");
        assert!(s.account_for_user("u-1", &mut out) && out == "acme");
        assert!(s.group_for_user("u-1", &mut out) && out == "g-1");
        assert!(!s.user_for_anonymous("nobody", &mut out) && out.is_empty());
    }

    #[test]
    fn a_links_snapshot_answers_as_the_store_did_when_it_was_taken() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&dir.path().join("store.redb")).expect("open");
        let link = |a, u| Link::AnonymousToUser {
            anonymous_id: a,
            user_id: u,
        };
        s.record_links(&[
            link("a-1", "u-1"),
            Link::UserToAccount {
                user_id: "u-1",
                account_id: "acme",
            },
        ])
        .expect("links");
        let links = s.links();
        s.record_links(&[link("a-2", "u-2")]).expect("a later link");
        let mut out = String::new();
        assert!(links.user_for_anonymous("a-1", &mut out) && out == "u-1");
        assert!(links.account_for_user("u-1", &mut out) && out == "acme");
        assert!(!links.group_for_user("u-1", &mut out) && out.is_empty());
        assert!(
            !links.user_for_anonymous("a-2", &mut out),
            "a link written after the snapshot is not in it"
        );
        assert!(s.links().user_for_anonymous("a-2", &mut out) && out == "u-2");
    }

    #[cfg(feature = "fault-injection")]
    #[test]
    fn injected_failures_fail_reads_and_writes_until_turned_off() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&dir.path().join("store.redb")).expect("open");
        s.put_integration(&integration("a")).expect("put");
        let clone = s.clone();
        clone.faults().fail_reads(true);
        assert!(s.integration("a").is_err(), "shared by clones");
        assert!(s.integrations().is_err() && s.sources().is_err());
        s.put_integration(&integration("b"))
            .expect("writes still work");
        s.faults().fail_reads(false);
        s.faults().fail_writes(true);
        assert!(s.put_integration(&integration("c")).is_err());
        let e = s.delete_integration("a").expect_err("a failed delete");
        assert!(e.to_string().starts_with("store: remove"), "{e}");
        s.faults().fail_writes(false);
        let ids: Vec<String> = s
            .integrations()
            .expect("list")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["a", "b"], "nothing a failed write touched changed");
    }

    #[test]
    fn the_links_revision_is_kept_with_the_links_it_describes_and_survives_a_reopen() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.redb");
        {
            let store = Store::open(&path).expect("open");
            assert_eq!(store.links_revision().expect("read"), 0, "none yet");
            let link = Link::AnonymousToUser {
                anonymous_id: "a1",
                user_id: "u1",
            };
            store.record_links_at(&[link], Some(41)).expect("write");
            store.faults().fail_writes(true);
            let later = Link::AnonymousToUser {
                anonymous_id: "a2",
                user_id: "u2",
            };
            assert!(store.record_links_at(&[later], Some(42)).is_err());
            store.faults().fail_writes(false);
        }
        let store = Store::open(&path).expect("reopen");
        assert_eq!(
            store.links_revision().expect("read"),
            41,
            "the failed write left it"
        );
        let mut out = String::new();
        assert!(store.user_for_anonymous("a1", &mut out));
        assert!(!store.user_for_anonymous("a2", &mut out));
    }
}
