//! Settings: command-line flag, then environment variable, then `signal.toml`, then default
//! (interface.md section 1). A bad value is a [`SettingsError`] naming the setting; the binary
//! prints it on one line and exits 64.

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
    /// Base URL overrides per region (`us` -> `http://127.0.0.1:9000`).
    pub pendo_base_urls: BTreeMap<String, String>,
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
    /// Time a connection with no request under way has to send a request head.
    pub header_timeout: Duration,
    /// Time a request's whole body has to arrive.
    pub body_timeout: Duration,
    /// Connections open at once, per listener.
    pub max_connections: usize,
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

const REGIONS: [&str; 5] = ["us", "eu", "us1", "jpn", "au"];

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
        let file = match &flags.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| SettingsError {
                    setting: "--config".into(),
                    why: format!("cannot read {}: {e}", path.display()),
                })?;
                text.parse::<toml::Table>().map_err(|e| SettingsError {
                    setting: "--config".into(),
                    why: format!("{} is not valid TOML: {}", path.display(), e.message()),
                })?
            }
            None => toml::Table::new(),
        };
        let pick = |flag: &Option<String>,
                    flag_name: &str,
                    var: &str,
                    key: &str|
         -> Option<(String, String)> {
            if let Some(v) = flag {
                return Some((v.clone(), flag_name.to_owned()));
            }
            if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                return Some((v, var.to_owned()));
            }
            file.get(key).map(|v| {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => format!("{other:?}"),
                };
                (text, format!("{key} in the config file"))
            })
        };
        let addr = |flag: &Option<String>, flag_name: &str, var: &str, key: &str, default: &str| {
            let (text, setting) =
                pick(flag, flag_name, var, key).unwrap_or((default.into(), flag_name.into()));
            text.parse::<SocketAddr>().map_err(|_| SettingsError {
                setting,
                why: format!(
                    "`{text}` is not an address (expected host:port, e.g. 127.0.0.1:8080)"
                ),
            })
        };
        let number = |var: &str, key: &str, default: u64| -> Result<u64, SettingsError> {
            match pick(&None, var, var, key) {
                None => Ok(default),
                Some((text, setting)) => text.trim().parse::<u64>().map_err(|_| SettingsError {
                    setting,
                    why: format!("`{text}` is not a whole number"),
                }),
            }
        };
        let data_dir = pick(&flags.data_dir, "--data-dir", "SIGNAL_DATA_DIR", "data_dir")
            .map_or_else(|| PathBuf::from("./signal-data"), |(v, _)| PathBuf::from(v));
        let log = pick(&flags.log, "--log", "SIGNAL_LOG", "log")
            .map_or_else(|| "info".into(), |(v, _)| v);
        if !["error", "warn", "info", "debug", "trace"].contains(&log.as_str()) {
            return Err(SettingsError {
                setting: "--log".into(),
                why: format!("`{log}` is not a level: use error, warn, info, debug or trace"),
            });
        }
        let mut pendo_base_urls = BTreeMap::new();
        for region in REGIONS {
            let var = format!("SIGNAL_PENDO_BASE_URL_{}", region.to_uppercase());
            if let Some(url) = env(&var).filter(|v| !v.is_empty()) {
                let ok = (url.starts_with("http://") || url.starts_with("https://"))
                    && url.parse::<hyper::Uri>().is_ok_and(|u| u.host().is_some());
                if !ok {
                    return Err(SettingsError {
                        setting: var,
                        why: format!("`{url}` is not an http(s) URL"),
                    });
                }
                pendo_base_urls.insert(region.to_owned(), url.trim_end_matches('/').to_owned());
            }
        }
        let rate = number("SIGNAL_SOURCE_RATE_LIMIT", "source_rate_limit", 1000)?;
        let attempts = number("SIGNAL_RETRY_MAX_ATTEMPTS", "retry_max_attempts", 5)?;
        Ok(Settings {
            ingest_addr: addr(
                &flags.ingest_addr,
                "--ingest-addr",
                "SIGNAL_INGEST_ADDR",
                "ingest_addr",
                "0.0.0.0:8080",
            )?,
            admin_addr: addr(
                &flags.admin_addr,
                "--admin-addr",
                "SIGNAL_ADMIN_ADDR",
                "admin_addr",
                "127.0.0.1:8084",
            )?,
            data_dir,
            admin_token: env("SIGNAL_ADMIN_TOKEN").filter(|v| !v.is_empty()),
            pipeline_key: env("SIGNAL_PIPELINE_KEY").filter(|v| !v.is_empty()),
            pipeline_secret: env("SIGNAL_PIPELINE_SECRET").filter(|v| !v.is_empty()),
            pendo_base_urls,
            log,
            retry_base: Duration::from_millis(number(
                "SIGNAL_RETRY_BASE_MS",
                "retry_base_ms",
                4000,
            )?),
            retry_cap: Duration::from_millis(number(
                "SIGNAL_RETRY_CAP_MS",
                "retry_cap_ms",
                3_600_000,
            )?),
            retry_max_attempts: u32::try_from(attempts.max(1)).unwrap_or(u32::MAX),
            source_rate_limit: u32::try_from(rate.max(1)).unwrap_or(u32::MAX),
            pause_probe: Duration::from_millis(number(
                "SIGNAL_PAUSE_PROBE_MS",
                "pause_probe_ms",
                300_000,
            )?),
            header_timeout: Duration::from_millis(
                number("SIGNAL_HEADER_TIMEOUT_MS", "header_timeout_ms", 10_000)?.max(1),
            ),
            body_timeout: Duration::from_millis(
                number("SIGNAL_BODY_TIMEOUT_MS", "body_timeout_ms", 30_000)?.max(1),
            ),
            max_connections: usize::try_from(
                number("SIGNAL_MAX_CONNECTIONS", "max_connections", 512)?.max(1),
            )
            .unwrap_or(usize::MAX),
        })
    }

    /// What bounds each listener's connections.
    pub(crate) fn conn_limits(&self) -> crate::serve::ConnLimits {
        crate::serve::ConnLimits {
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            max_connections: self.max_connections,
        }
    }

    /// The base URL of a region: the override, else the blueprint's.
    pub fn base_url(&self, bp: &signal_core::Blueprint, region: &str) -> Option<String> {
        signal_forward::region_base_url_from(bp, region, |var| {
            let region = var.strip_prefix("SIGNAL_PENDO_BASE_URL_")?.to_lowercase();
            self.pendo_base_urls.get(&region).cloned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_then_file_then_env_then_flag() {
        let s = Settings::resolve(&Flags::default(), env(&[])).expect("defaults");
        assert_eq!(s.ingest_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(s.admin_addr.to_string(), "127.0.0.1:8084");
        assert_eq!(s.data_dir, PathBuf::from("./signal-data"));
        assert_eq!(s.retry_base, Duration::from_secs(4));
        assert_eq!(s.source_rate_limit, 1000);
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("signal.toml");
        std::fs::write(
            &file,
            "ingest_addr = \"127.0.0.1:7000\"\nadmin_addr = \"127.0.0.1:7001\"\n",
        )
        .expect("write");
        let flags = Flags {
            config: Some(file),
            ..Flags::default()
        };
        let s = Settings::resolve(&flags, env(&[("SIGNAL_ADMIN_ADDR", "127.0.0.1:7002")]))
            .expect("file");
        assert_eq!(
            s.ingest_addr.to_string(),
            "127.0.0.1:7000",
            "file over default"
        );
        assert_eq!(s.admin_addr.to_string(), "127.0.0.1:7002", "env over file");
        let flags = Flags {
            admin_addr: Some("127.0.0.1:7003".into()),
            ..flags
        };
        let s = Settings::resolve(&flags, env(&[("SIGNAL_ADMIN_ADDR", "127.0.0.1:7002")]))
            .expect("flag");
        assert_eq!(s.admin_addr.to_string(), "127.0.0.1:7003", "flag over env");
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = |flags: Flags, pairs: &[(&str, &str)]| {
            Settings::resolve(&flags, env(pairs))
                .expect_err("bad")
                .to_string()
        };
        assert_eq!(
            bad(
                Flags {
                    ingest_addr: Some("nowhere".into()),
                    ..Flags::default()
                },
                &[]
            ),
            "--ingest-addr: `nowhere` is not an address (expected host:port, e.g. 127.0.0.1:8080)"
        );
        assert_eq!(
            bad(Flags::default(), &[("SIGNAL_PENDO_BASE_URL_EU", "ftp://x")]),
            "SIGNAL_PENDO_BASE_URL_EU: `ftp://x` is not an http(s) URL"
        );
        assert_eq!(
            bad(Flags::default(), &[("SIGNAL_RETRY_BASE_MS", "soon")]),
            "SIGNAL_RETRY_BASE_MS: `soon` is not a whole number"
        );
        assert!(
            bad(
                Flags {
                    config: Some("/nonexistent/signal.toml".into()),
                    ..Flags::default()
                },
                &[]
            )
            .starts_with("--config: cannot read")
        );
    }

    #[test]
    fn region_overrides_point_base_urls_elsewhere() {
        let s = Settings::resolve(
            &Flags::default(),
            env(&[("SIGNAL_PENDO_BASE_URL_EU", "http://127.0.0.1:9/")]),
        )
        .expect("ok");
        let bp = signal_core::Blueprint::get("pendo").expect("embedded");
        assert_eq!(s.base_url(bp, "eu").as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(
            s.base_url(bp, "us").as_deref(),
            Some("https://app.pendo.io")
        );
    }
}
