//! The running node: opening the data directory, the secrets, the default source, each part's
//! state (`state.rs`), one delivery runtime per installed integration, and the two servers.

use crate::admin::AdminState;
use crate::clock::now_rfc3339;
use crate::cluster::Cluster;
use crate::delivery_threads::DeliveryThreads;
use crate::pipeline::{Deliveries, PipelineStartError};
use crate::secrets::{NoRandomness, SecretError, random_token};
use crate::settings::Settings;
use crate::state::{GatewayState, PipelineState, SourcesView};
use signal_forward::Engine;
use signal_spool::{Spool, SpoolConfig, SpoolError, Start};
use signal_store::{SourceRecord, Store, StoreError};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// A started node: its addresses, and how to stop it.
pub struct Node {
    /// Where the ingestion API listens.
    pub ingest_addr: SocketAddr,
    /// Where the management API listens.
    pub admin_addr: SocketAddr,
    /// What a program embedding the node may reach of it.
    pub shared: Handles,
    deliveries: Arc<Deliveries>,
    spool: Spool,
    shutdown: watch::Sender<bool>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

/// What a program that embeds the node (the demo, the load harness, tests) may reach of it.
pub struct Handles {
    /// The admin bearer token.
    pub admin_token: String,
    /// Integrations, sources, identity links.
    pub store: Store,
    /// The sources as the gateway sees them (changed by the management API).
    pub sources: SourcesView,
}

/// What the node generated on first start, to print once.
#[derive(Debug, Default)]
pub struct Generated {
    /// The admin token, when it was generated now.
    pub admin_token: Option<String>,
    /// The pipeline key, when it was generated now.
    pub pipeline_key: Option<String>,
    /// While the node has no users: a one-time invitation (`inv_...`) that makes its first
    /// owner, to be opened at `http://<admin address>/#/invite/<token>`.
    pub owner_invitation: Option<String>,
}

/// Why the node could not start.
#[derive(Debug)]
pub enum StartError {
    /// The data directory cannot be made.
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The store cannot be opened, read or written.
    Store(StoreError),
    /// The spool cannot be opened.
    Spool(SpoolError),
    /// A secret file can be neither used nor replaced.
    Secret(SecretError),
    /// The access tokens' key cannot be used, or the first owner's invitation not made.
    Access(String),
    /// An address cannot be bound.
    Bind {
        /// The setting that names it (`--ingest-addr`, `--admin-addr`).
        setting: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// A bound listener has no local address.
    Address(std::io::Error),
    /// An installed integration's delivery cannot start.
    Delivery(PipelineStartError),
    /// The JetStream log (`SIGNAL_LOG_BACKEND=nats://...`) cannot be reached or set up.
    Log(signal_nats::NatsError),
    /// The records shared on JetStream could not be taken in.
    Shared(crate::cluster::FollowError),
    /// Delivery's own threads (`SIGNAL_DELIVERY_THREADS`) cannot be started.
    DeliveryThreads(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DataDir { path, error } => {
                write!(f, "data directory {}: {error}", path.display())
            }
            Self::Store(e) => e.fmt(f),
            Self::Spool(e) => e.fmt(f),
            Self::Secret(e) => e.fmt(f),
            Self::Access(e) => write!(f, "sign-in: {e}"),
            Self::Bind {
                setting,
                addr,
                error,
            } => write!(f, "{setting} {addr}: {error}"),
            Self::Address(e) => e.fmt(f),
            Self::Delivery(e) => e.fmt(f),
            Self::Log(e) => write!(f, "SIGNAL_LOG_BACKEND: {e}"),
            Self::Shared(e) => write!(f, "SIGNAL_LOG_BACKEND: {e}"),
            Self::DeliveryThreads(e) => write!(f, "SIGNAL_DELIVERY_THREADS: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl Node {
    /// Opens the data directory, starts delivery for every installed integration, and binds
    /// both servers.
    ///
    /// # Errors
    ///
    /// The data directory, store or spool cannot be opened, a secret file can be neither read
    /// nor written, an installed integration's delivery cannot start, or an address cannot be
    /// bound; the error names what.
    pub async fn start(settings: Settings) -> Result<(Node, Generated), StartError> {
        let dir = settings.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|error| StartError::DataDir {
            path: dir.clone(),
            error,
        })?;
        let store = Store::open(&dir.join("store.redb")).map_err(StartError::Store)?;
        let (spool, spool_limit) = open_spool(&dir, &settings)?;
        let nats = match &settings.log_backend {
            crate::settings::LogBackend::Local => None,
            crate::settings::LogBackend::Nats(n) => {
                // The events stream is capped as the spool would be.
                let mut n = n.clone();
                n.max_bytes = settings.spool_max_bytes;
                Some(
                    signal_nats::NatsLog::connect(n)
                        .await
                        .map_err(StartError::Log)?,
                )
            }
        };
        let cluster = match &nats {
            Some(log) => Some(Arc::new(
                Cluster::join(log, crate::cluster::new_node_id())
                    .await
                    .map_err(StartError::Log)?,
            )),
            None => None,
        };
        let (admin_token, pipeline_key, pipeline_secret, mut generated) =
            load_secrets(&dir, &settings).map_err(StartError::Secret)?;
        let sources: SourcesView = Arc::new(RwLock::new(default_source(
            &store,
            pipeline_key,
            pipeline_secret,
            settings.source_rate_limit,
        )?));
        let ingest = bind("--ingest-addr", settings.ingest_addr).await?;
        let admin = bind("--admin-addr", settings.admin_addr).await?;
        let ingest_addr = ingest.local_addr().map_err(StartError::Address)?;
        let admin_addr = admin.local_addr().map_err(StartError::Address)?;
        let limits = settings.conn_limits();
        let (data_dir, source_rate_limit) = (settings.data_dir.clone(), settings.source_rate_limit);
        let audit_retention_days = settings.audit_retention_days;
        if let Some(log) = nats.clone() {
            tokio::spawn(probe_while_failing(log));
        }
        let gateway = Arc::new(
            GatewayState::new(store.clone(), spool.clone(), spool_limit, sources.clone())
                .with_nats(nats.clone())
                .with_cluster(cluster.clone()),
        );
        let engine = Engine::with_http(settings.vendor_http);
        let threads =
            DeliveryThreads::new(settings.delivery_threads).map_err(StartError::DeliveryThreads)?;
        let deliveries = Arc::new(Deliveries::new(
            PipelineState::new(settings, store.clone(), spool.clone(), engine, threads)
                .with_nats(nats)
                .with_cluster(cluster.clone()),
        ));
        let mut following = None;
        if let Some(c) = &cluster {
            // The store made what the cluster shares; delivery starts from it below, and the
            // integrations' changes are followed after.
            following = Some(
                crate::cluster::follow(
                    c.clone(),
                    store.clone(),
                    gateway.clone(),
                    deliveries.clone(),
                )
                .await
                .map_err(StartError::Shared)?,
            );
            tokio::spawn(crate::cluster::keep_alive(c.clone(), deliveries.clone()));
            crate::cluster::serve_views(c.clone(), deliveries.clone())
                .await
                .map_err(StartError::Log)?;
        }
        for rec in store.integrations().map_err(StartError::Store)? {
            if rec.enabled {
                deliveries
                    .run(&rec, Start::Latest)
                    .await
                    .map_err(StartError::Delivery)?;
            }
        }
        if let Some(f) = following {
            f.start();
        }
        tokio::spawn(prune_audit_log(store.clone(), audit_retention_days));
        let (jwt_secret, _) = crate::secrets::load(&dir, "jwt-key", None, || random_token(64))
            .map_err(StartError::Secret)?;
        let access = crate::access::Access::new(admin_token.clone(), &jwt_secret, store.clone())
            .map_err(|e| StartError::Access(e.to_string()))?;
        generated.owner_invitation = access
            .first_owner_invitation(crate::clock::now_ms())
            .map_err(|e| StartError::Access(e.to_string()))?;
        let admin_state = Arc::new(AdminState::new(
            access,
            data_dir,
            source_rate_limit,
            gateway.clone(),
            deliveries.clone(),
        ));
        let (shutdown, rx) = watch::channel(false);
        let ingest_task = tokio::spawn(crate::serve::serve(
            ingest,
            Arc::new(move |req, peer| crate::ingest::handle(gateway.clone(), req, peer)),
            rx.clone(),
            limits,
        ));
        let admin_task = tokio::spawn(crate::serve::serve(
            admin,
            Arc::new(move |req, peer| crate::admin::handle(admin_state.clone(), req, peer)),
            rx,
            limits,
        ));
        let node = Node {
            ingest_addr,
            admin_addr,
            shared: Handles {
                admin_token,
                store,
                sources,
            },
            deliveries,
            spool,
            shutdown,
            servers: vec![ingest_task, admin_task],
        };
        Ok((node, generated))
    }

    /// Stops accepting, lets requests under way finish, stops delivery (what is not delivered
    /// stays in the spool for the next start), closes the spool.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for s in self.servers {
            let _ = s.await;
        }
        self.deliveries.stop_all().await;
        self.spool.close();
    }

    /// Whether the integration `id`'s delivery runs.
    #[cfg(test)]
    pub(crate) async fn is_delivering(&self, id: &str) -> bool {
        self.deliveries.running().await.contains_key(id)
    }
}

/// The spool in `dir`, and the most bytes of records one append can ever hold (its cap, or its
/// write queue's if smaller).
fn open_spool(dir: &Path, settings: &Settings) -> Result<(Spool, u64), StartError> {
    let mut spool_config = SpoolConfig::new(dir.join("spool"));
    spool_config.max_bytes = settings.spool_max_bytes;
    spool_config.dead_letter_max_bytes = settings.dead_letter_max_bytes;
    let spool_limit = spool_config.max_bytes.min(spool_config.max_pending_bytes);
    let spool = Spool::open(spool_config).map_err(StartError::Spool)?;
    Ok((spool, spool_limit))
}

/// Every hour (and at start), the audit log's records older than `days` removed (0: kept).
async fn prune_audit_log(store: Store, days: u64) {
    if days == 0 {
        return;
    }
    let keep_ms = i64::try_from(days.saturating_mul(86_400_000)).unwrap_or(i64::MAX);
    loop {
        let before = crate::clock::now_ms().saturating_sub(keep_ms);
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.prune_audit(before)).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(
                removed = n,
                "audit log records past their retention removed"
            ),
            Ok(Err(e)) => tracing::error!(error = %e, "the audit log could not be pruned"),
            _ => {}
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

/// While JetStream appends fail, asks every second whether the events stream answers, so
/// readiness comes back without traffic (as the spool's idle writer probes the disk). Ends
/// with the runtime.
async fn probe_while_failing(log: signal_nats::NatsLog) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if log.is_failing() {
            let _ = log.probe().await;
        }
    }
}

/// A listener on `addr`, which the setting `setting` names.
async fn bind(
    setting: &'static str,
    addr: SocketAddr,
) -> Result<tokio::net::TcpListener, StartError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| StartError::Bind {
            setting,
            addr,
            error,
        })
}

/// The admin token, the default source's pipeline key and secret: from the settings, else their
/// files in `dir`, else generated (and then shown once, in [`Generated`]).
fn load_secrets(
    dir: &Path,
    settings: &Settings,
) -> Result<(String, String, String, Generated), SecretError> {
    let mut generated = Generated::default();
    let secret =
        |file: &str, given: Option<&String>, make: fn() -> Result<String, NoRandomness>| {
            crate::secrets::load(dir, file, given.map(String::as_str), make)
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
) -> Result<Vec<SourceRecord>, StartError> {
    let mut sources = store.sources().map_err(StartError::Store)?;
    match sources.iter_mut().find(|s| s.id == "default") {
        Some(s) => {
            s.pipeline_key = pipeline_key;
            s.secret = pipeline_secret;
            store.put_source(s).map_err(StartError::Store)?;
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
            store.put_source(&s).map_err(StartError::Store)?;
            sources.push(s);
        }
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Flags;

    fn settings(dir: &Path, admin_addr: &str) -> Settings {
        let flags = Flags {
            data_dir: Some(dir.display().to_string()),
            ingest_addr: Some("127.0.0.1:0".into()),
            admin_addr: Some(admin_addr.into()),
            ..Flags::default()
        };
        Settings::resolve(&flags, |_| None).expect("settings")
    }

    /// The binary prints the error on one line and exits 64: it must say which setting to fix.
    #[tokio::test]
    async fn an_address_in_use_names_its_setting_and_the_address() {
        let dir = tempfile::tempdir().expect("dir");
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = taken.local_addr().expect("addr").to_string();
        let Err(e) = Node::start(settings(dir.path(), &addr)).await else {
            panic!("started on an address in use");
        };
        assert!(
            matches!(
                e,
                StartError::Bind {
                    setting: "--admin-addr",
                    ..
                }
            ),
            "{e:?}"
        );
        let message = e.to_string();
        assert!(
            message.starts_with(&format!("--admin-addr {addr}: ")),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_data_directory_that_is_a_file_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("data");
        std::fs::write(&file, "not a directory").expect("write");
        let Err(e) = Node::start(settings(&file, "127.0.0.1:0")).await else {
            panic!("started in a file");
        };
        assert!(matches!(e, StartError::DataDir { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with(&format!("data directory {}: ", file.display())),
            "{e}"
        );
    }
}
