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

/// The spool's default cap: 10 GiB.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 10 << 30;

/// Each integration's default dead-letter cap: 256 MiB.
pub const DEFAULT_DEAD_LETTER_MAX_BYTES: u64 = 256 << 20;

/// The default budget of request bodies buffered at once, per listener: 64 MiB.
pub const DEFAULT_MAX_BUFFERED_BODY_BYTES: usize = 64 << 20;

/// The smallest body budget accepted: what one request may hold at the worst (2 MiB: its body as
/// sent and inflated, 512 KiB each, and its records, at most 1 MiB).
const MIN_MAX_BUFFERED_BODY_BYTES: u64 = 2 << 20;

/// The smallest spool cap accepted: twice the largest event (32 KiB), so one always fits.
const MIN_SPOOL_MAX_BYTES: u64 = 64 << 10;

/// A size in bytes: a whole number, optionally followed by a unit: `B`, `KiB`, `MiB`, `GiB`,
/// `TiB` (powers of 1024) or `KB`, `MB`, `GB`, `TB` (powers of 1000), in any case, with or
/// without a space. At least `min`.
fn parse_size(text: &str, min: u64) -> Result<u64, String> {
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
        .ok_or_else(|| {
            format!(
                "`{text}` is not a size (bytes, or a number with B, KiB, MiB, GiB, TiB, KB, MB, GB \
                 or TB, e.g. 512MiB)"
            )
        })?;
    let bytes = bytes
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if bytes < min {
        return Err(format!("`{text}` is too small (at least {min} bytes)"));
    }
    Ok(bytes)
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
        // A secret from the environment, trimmed; empty or blank is unset (the data dir's file).
        let secret = |var: &str| {
            env(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
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
        let spool_max_bytes = match pick(
            &None,
            "SIGNAL_SPOOL_MAX_BYTES",
            "SIGNAL_SPOOL_MAX_BYTES",
            "spool_max_bytes",
        ) {
            None => DEFAULT_SPOOL_MAX_BYTES,
            Some((text, setting)) => parse_size(&text, MIN_SPOOL_MAX_BYTES)
                .map_err(|why| SettingsError { setting, why })?,
        };
        let dead_letter_max_bytes = match pick(
            &None,
            "SIGNAL_DEAD_LETTER_MAX_BYTES",
            "SIGNAL_DEAD_LETTER_MAX_BYTES",
            "dead_letter_max_bytes",
        ) {
            None => DEFAULT_DEAD_LETTER_MAX_BYTES,
            Some((text, setting)) => {
                parse_size(&text, 0).map_err(|why| SettingsError { setting, why })?
            }
        };
        let max_buffered_body_bytes = match pick(
            &None,
            "SIGNAL_MAX_BUFFERED_BODY_BYTES",
            "SIGNAL_MAX_BUFFERED_BODY_BYTES",
            "max_buffered_body_bytes",
        ) {
            None => DEFAULT_MAX_BUFFERED_BODY_BYTES,
            Some((text, setting)) => parse_size(&text, MIN_MAX_BUFFERED_BODY_BYTES)
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                .map_err(|why| SettingsError { setting, why })?,
        };
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
            admin_token: secret("SIGNAL_ADMIN_TOKEN"),
            pipeline_key: secret("SIGNAL_PIPELINE_KEY"),
            pipeline_secret: secret("SIGNAL_PIPELINE_SECRET"),
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
            spool_max_bytes,
            dead_letter_max_bytes,
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
            max_buffered_body_bytes,
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
    fn the_dead_letter_cap_takes_sizes_and_zero_keeps_none() {
        let cap = |pairs: &[(&str, &str)]| {
            Settings::resolve(&Flags::default(), env(pairs)).map(|s| s.dead_letter_max_bytes)
        };
        assert_eq!(cap(&[]), Ok(256 << 20), "256 MiB by default");
        assert_eq!(cap(&[("SIGNAL_DEAD_LETTER_MAX_BYTES", "0")]), Ok(0));
        assert_eq!(
            cap(&[("SIGNAL_DEAD_LETTER_MAX_BYTES", "1GiB")]),
            Ok(1 << 30)
        );
        let bad = cap(&[("SIGNAL_DEAD_LETTER_MAX_BYTES", "lots")]).expect_err("refused");
        assert_eq!(bad.setting, "SIGNAL_DEAD_LETTER_MAX_BYTES");
    }

    #[test]
    fn the_body_budget_takes_sizes_and_at_least_two_mib() {
        let cap = |pairs: &[(&str, &str)]| {
            Settings::resolve(&Flags::default(), env(pairs)).map(|s| s.max_buffered_body_bytes)
        };
        assert_eq!(cap(&[]), Ok(64 << 20), "64 MiB by default");
        assert_eq!(
            cap(&[("SIGNAL_MAX_BUFFERED_BODY_BYTES", "8MiB")]),
            Ok(8 << 20)
        );
        let bad = cap(&[("SIGNAL_MAX_BUFFERED_BODY_BYTES", "1000")]).expect_err("refused");
        assert_eq!(bad.setting, "SIGNAL_MAX_BUFFERED_BODY_BYTES");
        let bad = cap(&[("SIGNAL_MAX_BUFFERED_BODY_BYTES", "1MiB")]).expect_err("refused");
        assert_eq!(bad.setting, "SIGNAL_MAX_BUFFERED_BODY_BYTES");
    }

    #[test]
    fn the_spool_cap_takes_bytes_or_units_from_env_or_file() {
        let cap = |pairs: &[(&str, &str)]| {
            Settings::resolve(&Flags::default(), env(pairs)).map(|s| s.spool_max_bytes)
        };
        assert_eq!(cap(&[]), Ok(10 << 30), "10 GiB by default");
        for (text, bytes) in [
            ("1048576", 1 << 20),
            ("512MiB", 512 << 20),
            ("512 mib", 512 << 20),
            ("2GiB", 2 << 30),
            ("64KiB", 64 << 10),
            ("1TiB", 1 << 40),
            ("3GB", 3_000_000_000),
            ("100kb", 100_000),
            ("70000B", 70_000),
        ] {
            assert_eq!(
                cap(&[("SIGNAL_SPOOL_MAX_BYTES", text)]),
                Ok(bytes),
                "{text}"
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("signal.toml");
        std::fs::write(&file, "spool_max_bytes = 1048576\n").expect("write");
        let flags = Flags {
            config: Some(file.clone()),
            ..Flags::default()
        };
        let s = Settings::resolve(&flags, env(&[])).expect("file");
        assert_eq!(s.spool_max_bytes, 1 << 20);
        let s = Settings::resolve(&flags, env(&[("SIGNAL_SPOOL_MAX_BYTES", "2MiB")])).expect("env");
        assert_eq!(s.spool_max_bytes, 2 << 20, "env over file");
        std::fs::write(&file, "spool_max_bytes = \"big\"\n").expect("write");
        assert_eq!(
            Settings::resolve(&flags, env(&[])).err().map(|e| e.setting),
            Some("spool_max_bytes in the config file".to_owned())
        );
    }

    #[test]
    fn a_bad_spool_cap_is_named_with_what_is_accepted() {
        let why = |text: &str| {
            Settings::resolve(&Flags::default(), env(&[("SIGNAL_SPOOL_MAX_BYTES", text)]))
                .expect_err(text)
                .to_string()
        };
        assert_eq!(
            why("0"),
            "SIGNAL_SPOOL_MAX_BYTES: `0` is too small (at least 65536 bytes)"
        );
        assert_eq!(
            why("4KiB"),
            "SIGNAL_SPOOL_MAX_BYTES: `4KiB` is too small (at least 65536 bytes)"
        );
        for garbage in ["lots", "-5", "1.5GiB", "12 parsecs", "MiB", "0x100000"] {
            assert_eq!(
                why(garbage),
                format!(
                    "SIGNAL_SPOOL_MAX_BYTES: `{garbage}` is not a size (bytes, or a number with \
                     B, KiB, MiB, GiB, TiB, KB, MB, GB or TB, e.g. 512MiB)"
                )
            );
        }
        assert_eq!(
            why("99999999TiB"),
            "SIGNAL_SPOOL_MAX_BYTES: `99999999TiB` is too large"
        );
    }

    #[test]
    fn blank_secrets_from_the_environment_are_unset_and_others_trimmed() {
        let s = Settings::resolve(
            &Flags::default(),
            env(&[
                ("SIGNAL_ADMIN_TOKEN", "  "),
                ("SIGNAL_PIPELINE_KEY", ""),
                ("SIGNAL_PIPELINE_SECRET", " s3cret\n"),
            ]),
        )
        .expect("ok");
        assert_eq!(s.admin_token, None, "blank: the data directory's token");
        assert_eq!(s.pipeline_key, None);
        assert_eq!(s.pipeline_secret.as_deref(), Some("s3cret"));
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
