//! Settings: command-line flag, then environment variable, then `signal.toml`, then default
//! (interface.md section 1). A bad value is a [`SettingsError`] naming the setting; the binary
//! prints it on one line and exits 64.

use crate::vendors::BLUEPRINT_DIR;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the store, the spool and the generated secrets live.
    pub data_dir: PathBuf,
    /// The ingestion API's address.
    pub ingest_addr: SocketAddr,
    /// The management API's address.
    pub admin_addr: SocketAddr,
    /// The admin bearer token, if set; otherwise generated once and kept in the data dir.
    pub admin_token: Option<String>,
    /// The default source's pipeline key, if set.
    pub pipeline_key: Option<String>,
    /// The default source's HMAC secret, if set.
    pub pipeline_secret: Option<String>,
    /// Region base URL overrides, by variable (`SIGNAL_PENDO_BASE_URL_US` ->
    /// `http://127.0.0.1:9000`), for every vendor in the catalog (`vendors.rs`).
    pub base_urls: BTreeMap<String, String>,
    /// The directory of extra blueprint files (`SIGNAL_BLUEPRINT_DIR`), read at start.
    pub blueprint_dir: Option<PathBuf>,
    /// Log level (`error`, `warn`, `info`, `debug`, `trace`).
    pub log: String,
    /// First retry backoff.
    pub retry_base: Duration,
    /// Longest retry backoff.
    pub retry_cap: Duration,
    /// Attempts before dead-lettering.
    pub retry_max_attempts: u32,
    /// Requests per second per source at the gateway.
    pub source_rate_limit: u32,
    /// Probe interval of a paused integration.
    pub pause_probe: Duration,
    /// The spool's cap on the bytes of all its segments; over it, ingestion answers 503.
    pub spool_max_bytes: u64,
    /// Each integration's cap on the bytes of its dead letters; past it the oldest are dropped
    /// (counted and logged) so delivery never stalls behind a full dead-letter store.
    pub dead_letter_max_bytes: u64,
    /// Time a connection with no request under way has to send a request head.
    pub header_timeout: Duration,
    /// Time a request's whole body has to arrive.
    pub body_timeout: Duration,
    /// Connections open at once, per listener.
    pub max_connections: usize,
    /// Bytes of request bodies buffered at once, per listener; over it a request is answered
    /// 503 with Retry-After.
    pub max_buffered_body_bytes: usize,
    /// How delivery speaks HTTP to vendors: `SIGNAL_VENDOR_HTTP` (`auto`, `h1`, `h2c`),
    /// `SIGNAL_VENDOR_H2_CONNECTIONS`, `SIGNAL_VENDOR_H2_STREAMS`.
    pub vendor_http: signal_forward::VendorHttp,
    /// Threads of delivery's own runtime (vendor requests, their answers and outcomes), apart
    /// from ingestion's; 0 runs delivery on the node's runtime, sharing its threads.
    pub delivery_threads: usize,
    /// Where accepted events are kept: the local spool, or NATS JetStream shared by several
    /// nodes (`SIGNAL_LOG_BACKEND`, `SIGNAL_NATS_CREDS`, `SIGNAL_NATS_REPLICAS`,
    /// `SIGNAL_NATS_DUPLICATE_WINDOW_SECS`).
    pub log_backend: LogBackend,
    /// How long the audit log keeps a record, in days (`SIGNAL_AUDIT_RETENTION_DAYS`); 0 keeps
    /// every record.
    pub audit_retention_days: u64,
}

/// Where accepted events are kept (`SIGNAL_LOG_BACKEND`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogBackend {
    /// `local` (the default): the segment spool in the data directory.
    Local,
    /// `nats://host:port[,host:port...]`: JetStream's streams, shared by every node.
    Nats(signal_nats::NatsSettings),
}

impl LogBackend {
    /// How `serve` names it: `local spool (<dir>)` or `NATS JetStream (<servers>, ...)`.
    pub fn describe(&self, data_dir: &std::path::Path) -> String {
        match self {
            Self::Local => format!("local spool ({})", data_dir.join("spool").display()),
            Self::Nats(n) => format!(
                "NATS JetStream ({}; {} replica{}, duplicate window {} s)",
                n.servers.join(","),
                n.replicas,
                if n.replicas == 1 { "" } else { "s" },
                n.duplicate_window.as_secs()
            ),
        }
    }
}

/// A setting that cannot be used: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The setting, as the user wrote it (`--ingest-addr`, `SIGNAL_RETRY_BASE_MS`, ...).
    pub setting: String,
    /// What is wrong.
    pub why: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.why)
    }
}

impl std::error::Error for SettingsError {}

/// What the command line gave.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--data-dir`.
    pub data_dir: Option<String>,
    /// `--ingest-addr`.
    pub ingest_addr: Option<String>,
    /// `--admin-addr`.
    pub admin_addr: Option<String>,
    /// `--log`.
    pub log: Option<String>,
}

/// The spool's default cap: 10 GiB.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 10 << 30;

/// Each integration's default dead-letter cap: 256 MiB.
pub const DEFAULT_DEAD_LETTER_MAX_BYTES: u64 = 256 << 20;

/// How long the audit log keeps a record by default, in days (`SIGNAL_AUDIT_RETENTION_DAYS`).
pub const DEFAULT_AUDIT_RETENTION_DAYS: u64 = 90;

/// Delivery's own threads by default (`SIGNAL_DELIVERY_THREADS`).
pub const DEFAULT_DELIVERY_THREADS: u64 = 1;

/// The most threads delivery's runtime is given, whatever the setting says.
pub const MAX_DELIVERY_THREADS: usize = 64;

/// The default budget of request bodies buffered at once, per listener: 64 MiB.
pub const DEFAULT_MAX_BUFFERED_BODY_BYTES: usize = 64 << 20;

/// The smallest body budget accepted: what one request may hold at the worst (2 MiB: its body as
/// sent and inflated, 512 KiB each, and its records, at most 1 MiB).
const MIN_MAX_BUFFERED_BODY_BYTES: u64 = 2 << 20;

/// The smallest spool cap accepted: twice the largest event (32 KiB), so one always fits.
const MIN_SPOOL_MAX_BYTES: u64 = 64 << 10;

/// Why the text of a size setting (`SIGNAL_SPOOL_MAX_BYTES`, ...) is not a size it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeError {
    /// Not a whole number with an optional unit.
    NotASize(String),
    /// More bytes than fit in 64 bits.
    TooLarge(String),
    /// Under the setting's least (`min` bytes).
    TooSmall {
        /// The text as given.
        text: String,
        /// The least the setting takes, in bytes.
        min: u64,
    },
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotASize(text) => write!(
                f,
                "`{text}` is not a size (bytes, or a number with B, KiB, MiB, GiB, TiB, KB, MB, GB \
                 or TB, e.g. 512MiB)"
            ),
            Self::TooLarge(text) => write!(f, "`{text}` is too large"),
            Self::TooSmall { text, min } => {
                write!(f, "`{text}` is too small (at least {min} bytes)")
            }
        }
    }
}

impl std::error::Error for SizeError {}

/// A size in bytes: a whole number, optionally followed by a unit: `B`, `KiB`, `MiB`, `GiB`,
/// `TiB` (powers of 1024) or `KB`, `MB`, `GB`, `TB` (powers of 1000), in any case, with or
/// without a space. At least `min`.
fn parse_size(text: &str, min: u64) -> Result<u64, SizeError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => 0,
    };
    let bytes = digits
        .parse::<u64>()
        .ok()
        .filter(|_| multiplier > 0)
        .ok_or_else(|| SizeError::NotASize(text.to_owned()))?;
    let bytes = bytes
        .checked_mul(multiplier)
        .ok_or_else(|| SizeError::TooLarge(text.to_owned()))?;
    if bytes < min {
        return Err(SizeError::TooSmall {
            text: text.to_owned(),
            min,
        });
    }
    Ok(bytes)
}

/// Where a setting can come from, besides its flag: the environment and the config file.
struct Sources<'e, E: Fn(&str) -> Option<String>> {
    env: &'e E,
    file: toml::Table,
}

impl<E: Fn(&str) -> Option<String>> Sources<'_, E> {
    /// The flag, else the variable (unless empty), else the file's key: the text and where it
    /// came from (for errors).
    fn pick(
        &self,
        flag: &Option<String>,
        flag_name: &str,
        var: &str,
        key: &str,
    ) -> Option<(String, String)> {
        if let Some(v) = flag {
            return Some((v.clone(), flag_name.to_owned()));
        }
        if let Some(v) = (self.env)(var).filter(|v| !v.is_empty()) {
            return Some((v, var.to_owned()));
        }
        self.file.get(key).map(|v| {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => format!("{other:?}"),
            };
            (text, format!("{key} in the config file"))
        })
    }

    /// A listening address: `[flag, variable, key]`.
    fn addr(
        &self,
        flag: &Option<String>,
        [flag_name, var, key]: [&str; 3],
        default: &str,
    ) -> Result<SocketAddr, SettingsError> {
        let (text, setting) = self
            .pick(flag, flag_name, var, key)
            .unwrap_or((default.into(), flag_name.into()));
        text.parse::<SocketAddr>().map_err(|_| SettingsError {
            setting,
            why: format!("`{text}` is not an address (expected host:port, e.g. 127.0.0.1:8080)"),
        })
    }

    /// A whole number with no flag.
    fn number(&self, var: &str, key: &str, default: u64) -> Result<u64, SettingsError> {
        match self.pick(&None, var, var, key) {
            None => Ok(default),
            Some((text, setting)) => text.trim().parse::<u64>().map_err(|_| SettingsError {
                setting,
                why: format!("`{text}` is not a whole number"),
            }),
        }
    }

    /// A size in bytes with no flag ([`parse_size`]), at least `min`.
    fn size(&self, var: &str, key: &str, default: u64, min: u64) -> Result<u64, SettingsError> {
        match self.pick(&None, var, var, key) {
            None => Ok(default),
            Some((text, setting)) => parse_size(&text, min).map_err(|e| SettingsError {
                setting,
                why: e.to_string(),
            }),
        }
    }

    /// A whole number with no flag, from `min` to `max`.
    fn bounded(
        &self,
        [var, key]: [&str; 2],
        default: u64,
        (min, max): (u64, u64),
    ) -> Result<u64, SettingsError> {
        let n = self.number(var, key, default)?;
        if (min..=max).contains(&n) {
            return Ok(n);
        }
        let setting = self
            .pick(&None, var, var, key)
            .map_or_else(|| var.to_owned(), |(_, s)| s);
        Err(SettingsError {
            setting,
            why: format!("`{n}` is out of range: from {min} to {max}"),
        })
    }

    /// The vendor HTTP settings.
    fn vendor_http(&self) -> Result<signal_forward::VendorHttp, SettingsError> {
        use signal_forward::{VendorHttp, VendorProtocol};
        let default = VendorHttp::default();
        let protocol = match self.pick(
            &None,
            "SIGNAL_VENDOR_HTTP",
            "SIGNAL_VENDOR_HTTP",
            "vendor_http",
        ) {
            None => default.protocol,
            Some((text, setting)) => text
                .parse::<VendorProtocol>()
                .map_err(|why| SettingsError { setting, why })?,
        };
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Ok(VendorHttp {
            protocol,
            h2_connections: count(self.bounded(
                ["SIGNAL_VENDOR_H2_CONNECTIONS", "vendor_h2_connections"],
                default.h2_connections as u64,
                (1, VendorHttp::MAX_H2_CONNECTIONS as u64),
            )?),
            h2_streams: count(self.bounded(
                ["SIGNAL_VENDOR_H2_STREAMS", "vendor_h2_streams"],
                default.h2_streams as u64,
                (1, VendorHttp::MAX_H2_STREAMS as u64),
            )?),
        })
    }

    /// The event log's backend and, for NATS, its settings.
    fn log_backend(&self) -> Result<LogBackend, SettingsError> {
        let Some((text, setting)) = self.pick(
            &None,
            "SIGNAL_LOG_BACKEND",
            "SIGNAL_LOG_BACKEND",
            "log_backend",
        ) else {
            return Ok(LogBackend::Local);
        };
        if text.trim() == "local" {
            return Ok(LogBackend::Local);
        }
        let servers =
            signal_nats::NatsSettings::servers_of(text.trim()).map_err(|e| SettingsError {
                setting,
                why: e.to_string(),
            })?;
        let default = signal_nats::NatsSettings::default();
        Ok(LogBackend::Nats(signal_nats::NatsSettings {
            servers,
            creds: self
                .pick(
                    &None,
                    "SIGNAL_NATS_CREDS",
                    "SIGNAL_NATS_CREDS",
                    "nats_creds",
                )
                .map(|(v, _)| PathBuf::from(v)),
            replicas: usize::try_from(self.bounded(
                ["SIGNAL_NATS_REPLICAS", "nats_replicas"],
                default.replicas as u64,
                (1, 5),
            )?)
            .unwrap_or(1),
            ack_wait: Duration::from_secs(self.bounded(
                ["SIGNAL_NATS_ACK_WAIT_SECS", "nats_ack_wait_secs"],
                default.ack_wait.as_secs(),
                (1, 24 * 3600),
            )?),
            duplicate_window: Duration::from_secs(self.bounded(
                [
                    "SIGNAL_NATS_DUPLICATE_WINDOW_SECS",
                    "nats_duplicate_window_secs",
                ],
                default.duplicate_window.as_secs(),
                (1, 7 * 24 * 3600),
            )?),
            ..default
        }))
    }

    /// A secret from the environment, trimmed; empty or blank is unset (the data dir's file).
    fn secret(&self, var: &str) -> Option<String> {
        (self.env)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// The config file's table; an empty one without `--config`.
fn read_config_file(path: Option<&std::path::Path>) -> Result<toml::Table, SettingsError> {
    let Some(path) = path else {
        return Ok(toml::Table::new());
    };
    let text = std::fs::read_to_string(path).map_err(|e| SettingsError {
        setting: "--config".into(),
        why: format!("cannot read {}: {e}", path.display()),
    })?;
    text.parse::<toml::Table>().map_err(|e| SettingsError {
        setting: "--config".into(),
        why: format!("{} is not valid TOML: {}", path.display(), e.message()),
    })
}

impl Settings {
    /// Resolves every setting from `flags`, the environment (`env`) and the config file.
    ///
    /// # Errors
    ///
    /// The first setting that cannot be used.
    pub fn resolve(
        flags: &Flags,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let src = Sources {
            env: &env,
            file: read_config_file(flags.config.as_deref())?,
        };
        let data_dir = src
            .pick(&flags.data_dir, "--data-dir", "SIGNAL_DATA_DIR", "data_dir")
            .map_or_else(|| PathBuf::from("./signal-data"), |(v, _)| PathBuf::from(v));
        let log = src
            .pick(&flags.log, "--log", "SIGNAL_LOG", "log")
            .map_or_else(|| "info".into(), |(v, _)| v);
        if !["error", "warn", "info", "debug", "trace"].contains(&log.as_str()) {
            return Err(SettingsError {
                setting: "--log".into(),
                why: format!("`{log}` is not a level: use error, warn, info, debug or trace"),
            });
        }
        // The catalog first: the base-URL variables are those of every vendor in it.
        let blueprint_dir = src
            .pick(&None, BLUEPRINT_DIR, BLUEPRINT_DIR, "blueprint_dir")
            .map(|(v, _)| PathBuf::from(v));
        if let Some(dir) = &blueprint_dir {
            crate::vendors::install_dir(dir)?;
        }
        let ms = |var: &str, key: &str, default: u64| {
            src.number(var, key, default).map(Duration::from_millis)
        };
        let at_least_one = |n: u64| u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        Ok(Settings {
            ingest_addr: src.addr(
                &flags.ingest_addr,
                ["--ingest-addr", "SIGNAL_INGEST_ADDR", "ingest_addr"],
                "0.0.0.0:8080",
            )?,
            admin_addr: src.addr(
                &flags.admin_addr,
                ["--admin-addr", "SIGNAL_ADMIN_ADDR", "admin_addr"],
                "127.0.0.1:8084",
            )?,
            data_dir,
            admin_token: src.secret("SIGNAL_ADMIN_TOKEN"),
            pipeline_key: src.secret("SIGNAL_PIPELINE_KEY"),
            pipeline_secret: src.secret("SIGNAL_PIPELINE_SECRET"),
            base_urls: crate::vendors::base_urls(&env)?,
            blueprint_dir,
            log,
            retry_base: ms("SIGNAL_RETRY_BASE_MS", "retry_base_ms", 4000)?,
            retry_cap: ms("SIGNAL_RETRY_CAP_MS", "retry_cap_ms", 3_600_000)?,
            retry_max_attempts: at_least_one(src.number(
                "SIGNAL_RETRY_MAX_ATTEMPTS",
                "retry_max_attempts",
                5,
            )?),
            source_rate_limit: at_least_one(src.number(
                "SIGNAL_SOURCE_RATE_LIMIT",
                "source_rate_limit",
                1000,
            )?),
            pause_probe: ms("SIGNAL_PAUSE_PROBE_MS", "pause_probe_ms", 300_000)?,
            spool_max_bytes: src.size(
                "SIGNAL_SPOOL_MAX_BYTES",
                "spool_max_bytes",
                DEFAULT_SPOOL_MAX_BYTES,
                MIN_SPOOL_MAX_BYTES,
            )?,
            dead_letter_max_bytes: src.size(
                "SIGNAL_DEAD_LETTER_MAX_BYTES",
                "dead_letter_max_bytes",
                DEFAULT_DEAD_LETTER_MAX_BYTES,
                0,
            )?,
            header_timeout: ms("SIGNAL_HEADER_TIMEOUT_MS", "header_timeout_ms", 10_000)?
                .max(Duration::from_millis(1)),
            body_timeout: ms("SIGNAL_BODY_TIMEOUT_MS", "body_timeout_ms", 30_000)?
                .max(Duration::from_millis(1)),
            max_connections: usize::try_from(
                src.number("SIGNAL_MAX_CONNECTIONS", "max_connections", 512)?
                    .max(1),
            )
            .unwrap_or(usize::MAX),
            max_buffered_body_bytes: usize::try_from(src.size(
                "SIGNAL_MAX_BUFFERED_BODY_BYTES",
                "max_buffered_body_bytes",
                DEFAULT_MAX_BUFFERED_BODY_BYTES as u64,
                MIN_MAX_BUFFERED_BODY_BYTES,
            )?)
            .unwrap_or(usize::MAX),
            vendor_http: src.vendor_http()?,
            delivery_threads: usize::try_from(src.bounded(
                ["SIGNAL_DELIVERY_THREADS", "delivery_threads"],
                DEFAULT_DELIVERY_THREADS,
                (0, MAX_DELIVERY_THREADS as u64),
            )?)
            .unwrap_or(MAX_DELIVERY_THREADS),
            log_backend: src.log_backend()?,
            audit_retention_days: src.bounded(
                ["SIGNAL_AUDIT_RETENTION_DAYS", "audit_retention_days"],
                DEFAULT_AUDIT_RETENTION_DAYS,
                (0, 36_500),
            )?,
        })
    }

    /// What bounds each listener's connections.
    pub(crate) fn conn_limits(&self) -> crate::serve::ConnLimits {
        crate::serve::ConnLimits {
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            max_connections: self.max_connections,
            max_buffered_body_bytes: self.max_buffered_body_bytes,
        }
    }

    /// The base URL of a region: the override (`SIGNAL_<VENDOR>_BASE_URL_<REGION>`), else the
    /// blueprint's.
    pub fn base_url(&self, bp: &signal_core::Blueprint, region: &str) -> Option<String> {
        match self.base_urls.get(&bp.base_url_env(region)) {
            Some(url) => Some(url.clone()),
            None => bp.base_url(region).map(str::to_owned),
        }
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
