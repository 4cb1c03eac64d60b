//! The running node: opening the data directory, the secrets, the default source, one delivery
//! runtime per installed integration, and the two servers.

use crate::pipeline::Runtime;
use crate::settings::Settings;
use signal_forward::Engine;
use signal_spool::{Spool, SpoolConfig, Start};
use signal_store::{IntegrationRecord, SourceRecord, Store};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use tokio::sync::watch;

/// Locks, carrying on past a panic elsewhere.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Everything the handlers share.
pub struct Shared {
    /// The settings the node started with.
    pub settings: Settings,
    /// Integrations, sources, identity links.
    pub store: Store,
    /// Accepted events.
    pub spool: Spool,
    /// The HTTP client and delivery tasks.
    pub engine: Engine,
    /// The admin bearer token.
    pub admin_token: String,
    /// Sources, by pipeline key (cached from the store).
    pub sources: RwLock<Vec<SourceRecord>>,
    /// Running integrations, by id.
    pub runtimes: tokio::sync::Mutex<BTreeMap<String, Runtime>>,
    /// The most bytes of records one append can ever hold (the spool's cap, or its write queue's
    /// if smaller): a request over it is a 413, not a 503.
    pub spool_limit: u64,
    /// Message ids seen recently, per source, for deduplication.
    pub dedup: Mutex<crate::dedup::Dedup>,
    /// Per-source gateway rate limiters.
    pub limiters: Mutex<BTreeMap<String, Arc<governor::DefaultDirectRateLimiter>>>,
    /// Gateway counters by (source, what): `accepted`, `rejected`, `rejected_<CODE>`.
    pub gateway: Mutex<BTreeMap<(String, String), u64>>,
}

/// A started node: its addresses, and how to stop it.
pub struct Node {
    /// Where the ingestion API listens.
    pub ingest_addr: SocketAddr,
    /// Where the management API listens.
    pub admin_addr: SocketAddr,
    /// The shared state.
    pub shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

/// What the node generated on first start, to print once.
#[derive(Debug, Default)]
pub struct Generated {
    /// The admin token, when it was generated now.
    pub admin_token: Option<String>,
    /// The pipeline key, when it was generated now.
    pub pipeline_key: Option<String>,
}

pub(crate) fn random_token(n: usize) -> Result<String, String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

/// Now, as RFC 3339.
pub(crate) fn now_rfc3339() -> String {
    let mut s = String::new();
    signal_core::time::format_rfc3339(now_ms(), &mut s);
    s
}

/// Now, in milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Node {
    /// Opens the data directory, starts delivery for every installed integration, and binds
    /// both servers.
    ///
    /// # Errors
    ///
    /// The data directory, store or spool cannot be opened, or an address cannot be bound; the
    /// message names what.
    pub async fn start(settings: Settings) -> Result<(Node, Generated), String> {
        let dir = settings.data_dir.clone();
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("data directory {}: {e}", dir.display()))?;
        let store = Store::open(&dir.join("store.redb")).map_err(|e| e.to_string())?;
        let mut spool_config = SpoolConfig::new(dir.join("spool"));
        spool_config.max_bytes = settings.spool_max_bytes;
        spool_config.dead_letter_max_bytes = settings.dead_letter_max_bytes;
        let spool_limit = spool_config.max_bytes.min(spool_config.max_pending_bytes);
        let spool = Spool::open(spool_config).map_err(|e| e.to_string())?;
        let (admin_token, pipeline_key, pipeline_secret, generated) =
            load_secrets(&dir, &settings)?;
        let sources = default_source(
            &store,
            pipeline_key,
            pipeline_secret,
            settings.source_rate_limit,
        )?;
        let ingest = tokio::net::TcpListener::bind(settings.ingest_addr)
            .await
            .map_err(|e| format!("--ingest-addr {}: {e}", settings.ingest_addr))?;
        let admin = tokio::net::TcpListener::bind(settings.admin_addr)
            .await
            .map_err(|e| format!("--admin-addr {}: {e}", settings.admin_addr))?;
        let ingest_addr = ingest.local_addr().map_err(|e| e.to_string())?;
        let admin_addr = admin.local_addr().map_err(|e| e.to_string())?;
        let shared = Arc::new(Shared {
            settings,
            store,
            spool,
            spool_limit,
            engine: Engine::new(),
            admin_token,
            sources: RwLock::new(sources),
            runtimes: tokio::sync::Mutex::new(BTreeMap::new()),
            dedup: Mutex::new(crate::dedup::Dedup::new(1_000_000)),
            limiters: Mutex::new(BTreeMap::new()),
            gateway: Mutex::new(BTreeMap::new()),
        });
        for rec in shared.store.integrations().map_err(|e| e.to_string())? {
            if rec.enabled {
                shared.run(&rec, Start::Latest).await?;
            }
        }
        let (shutdown, rx) = watch::channel(false);
        let limits = shared.settings.conn_limits();
        let s1 = shared.clone();
        let ingest_task = tokio::spawn(crate::serve::serve(
            ingest,
            Arc::new(move |req, peer| crate::ingest::handle(s1.clone(), req, peer)),
            rx.clone(),
            limits,
        ));
        let s2 = shared.clone();
        let admin_task = tokio::spawn(crate::serve::serve(
            admin,
            Arc::new(move |req, peer| crate::admin::handle(s2.clone(), req, peer)),
            rx,
            limits,
        ));
        Ok((
            Node {
                ingest_addr,
                admin_addr,
                shared,
                shutdown,
                servers: vec![ingest_task, admin_task],
            },
            generated,
        ))
    }

    /// Stops accepting, lets requests under way finish, stops delivery (what is not delivered
    /// stays in the spool for the next start), closes the spool.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for s in self.servers {
            let _ = s.await;
        }
        let runtimes = std::mem::take(&mut *self.shared.runtimes.lock().await);
        for (_, rt) in runtimes {
            rt.stop().await;
        }
        self.shared.spool.clone().close();
    }
}

impl Shared {
    /// Adds to a gateway counter.
    pub(crate) fn gateway_count(&self, source: &str, what: &str, n: u64) {
        *lock(&self.gateway)
            .entry((source.to_owned(), what.to_owned()))
            .or_default() += n;
    }

    /// Starts (or restarts) delivery for an integration.
    pub(crate) async fn run(
        self: &Arc<Self>,
        rec: &IntegrationRecord,
        start: Start,
    ) -> Result<(), String> {
        let mut runtimes = self.runtimes.lock().await;
        if let Some(old) = runtimes.remove(&rec.id) {
            old.stop().await;
        }
        let rt = Runtime::start(self.clone(), rec, start)?;
        runtimes.insert(rec.id.clone(), rt);
        Ok(())
    }

    /// Stops delivery for an integration.
    pub(crate) async fn halt(&self, id: &str) {
        if let Some(old) = self.runtimes.lock().await.remove(id) {
            old.stop().await;
        }
    }
}

/// The admin token, the default source's pipeline key and secret: from the settings, else their
/// files in `dir`, else generated (and then shown once, in [`Generated`]).
fn load_secrets(
    dir: &std::path::Path,
    settings: &Settings,
) -> Result<(String, String, String, Generated), String> {
    let mut generated = Generated::default();
    let secret = |file: &str, given: Option<&String>, make: fn() -> Result<String, String>| {
        crate::secrets::load(dir, file, given.map(String::as_str), make).map_err(|e| e.to_string())
    };
    let (admin_token, origin) = secret("admin-token", settings.admin_token.as_ref(), || {
        random_token(32)
    })?;
    if origin.is_new() {
        generated.admin_token = Some(admin_token.clone());
    }
    let (pipeline_key, origin) = secret("pipeline-key", settings.pipeline_key.as_ref(), || {
        Ok(format!("dk_live_{}", random_token(32)?))
    })?;
    if origin.is_new() {
        generated.pipeline_key = Some(pipeline_key.clone());
    }
    let (pipeline_secret, _) =
        secret("pipeline-secret", settings.pipeline_secret.as_ref(), || {
            random_token(48)
        })?;
    Ok((admin_token, pipeline_key, pipeline_secret, generated))
}

/// Every source in the store, the default one made or brought up to date with the settings'
/// key and secret (the settings win over what the store remembers).
fn default_source(
    store: &Store,
    pipeline_key: String,
    pipeline_secret: String,
    rate_limit_per_second: u32,
) -> Result<Vec<SourceRecord>, String> {
    let mut sources = store.sources().map_err(|e| e.to_string())?;
    match sources.iter_mut().find(|s| s.id == "default") {
        Some(s) => {
            s.pipeline_key = pipeline_key;
            s.secret = pipeline_secret;
            store.put_source(s).map_err(|e| e.to_string())?;
        }
        None => {
            let s = SourceRecord {
                id: "default".into(),
                name: "Default".into(),
                pipeline_key,
                secret: pipeline_secret,
                allowed_origins: Vec::new(),
                rate_limit_per_second,
                created_at: now_rfc3339(),
            };
            store.put_source(&s).map_err(|e| e.to_string())?;
            sources.push(s);
        }
    }
    Ok(sources)
}
