//! What the JetStream log is told: where the servers are and how the streams are kept.

use std::path::PathBuf;
use std::time::Duration;

/// The log's settings (`SIGNAL_LOG_BACKEND`, `SIGNAL_NATS_CREDS`, `SIGNAL_NATS_REPLICAS`,
/// `SIGNAL_NATS_DUPLICATE_WINDOW_SECS` in the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSettings {
    /// `nats://host:port` of each server the client may connect to.
    pub servers: Vec<String>,
    /// A credentials file (JWT and nkey seed), for a server that asks for one.
    pub creds: Option<PathBuf>,
    /// Copies of each stream kept by the cluster (1 on a single server; 3 in a cluster of 3).
    pub replicas: usize,
    /// How long the events stream remembers a message id: a record with an id it has seen in
    /// this window is acknowledged but not kept again. 24 h, the gateway's own window.
    pub duplicate_window: Duration,
    /// How long a record read and not acknowledged stays with the node that read it before
    /// JetStream hands it to another: longer than the longest delivery attempt.
    pub ack_wait: Duration,
    /// The most bytes the events stream keeps (`SIGNAL_SPOOL_MAX_BYTES`, 10 GiB): past it an
    /// append is refused until integrations catch up, never an event dropped.
    pub max_bytes: u64,
    /// The events stream's name (`SIGNAL_EVENTS`); its subjects are `<prefix>.events.<source>`
    /// and `<prefix>.replay.<integration>`.
    pub events_stream: String,
    /// The dead letters' stream name (`SIGNAL_DEAD`); subjects `<prefix>.dead.<integration>`.
    pub dead_stream: String,
    /// The subjects' first token (`signal`).
    pub prefix: String,
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            servers: vec!["nats://127.0.0.1:4222".into()],
            creds: None,
            replicas: 1,
            duplicate_window: Duration::from_secs(24 * 3600),
            ack_wait: Duration::from_secs(60),
            max_bytes: 10 << 30,
            events_stream: "SIGNAL_EVENTS".into(),
            dead_stream: "SIGNAL_DEAD".into(),
            prefix: "signal".into(),
        }
    }
}

/// A log backend setting that is not `local` nor a list of `nats://` servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError(String);

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

impl NatsSettings {
    /// The servers of `nats://host:port[,host:port...]` (each item may repeat `nats://`).
    ///
    /// # Errors
    ///
    /// Not a `nats://` URL, or an item without a host and port.
    pub fn servers_of(backend: &str) -> Result<Vec<String>, SettingsError> {
        let rest = backend.strip_prefix("nats://").ok_or_else(|| {
            SettingsError(format!(
                "log_backend: must be `local` or nats://host:port[,host:port...], got {backend:?}"
            ))
        })?;
        rest.split(',')
            .map(|item| {
                let hostport = item.trim().trim_start_matches("nats://");
                match hostport.rsplit_once(':') {
                    Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                        Ok(format!("nats://{hostport}"))
                    }
                    _ => Err(SettingsError(format!(
                        "log_backend: {item:?} is not host:port (in {backend:?})"
                    ))),
                }
            })
            .collect()
    }

    pub(crate) fn events_subject(&self, source: &str) -> String {
        format!("{}.events.{}", self.prefix, token(source))
    }

    pub(crate) fn replay_subject(&self, integration: &str) -> String {
        format!("{}.replay.{}", self.prefix, token(integration))
    }

    pub(crate) fn dead_subject(&self, integration: &str) -> String {
        format!("{}.dead.{}", self.prefix, token(integration))
    }

    /// The durable consumer's name of an integration.
    pub(crate) fn consumer_name(&self, integration: &str) -> String {
        format!("deliver_{}", token(integration))
    }
}

/// `id` as one subject token: characters a subject or a consumer name cannot hold (`.`, `*`,
/// `>`, whitespace, and anything outside ASCII letters, digits, `-` and `_`) as `~XX` hex.
pub(crate) fn token(id: &str) -> String {
    escaped(id, '~')
}

/// `id` with every byte outside ASCII letters, digits, `-` and `_` written as `<mark>XX` hex;
/// a lone `mark` for the empty id. Subject tokens use `~`, key-value keys `=` (a key cannot
/// hold `~`).
pub(crate) fn escaped(id: &str, mark: char) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push(mark);
            out.push_str(&format!("{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push(mark);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_list_names_each_server_and_a_bad_one_says_which() {
        assert_eq!(
            NatsSettings::servers_of("nats://127.0.0.1:4222,127.0.0.1:4223").unwrap(),
            ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]
        );
        let e = NatsSettings::servers_of("nats://127.0.0.1:4222,nohost").unwrap_err();
        assert!(e.to_string().contains("\"nohost\" is not host:port"), "{e}");
        assert!(NatsSettings::servers_of("kafka://x:1").is_err());
    }

    #[test]
    fn ids_become_single_subject_tokens() {
        assert_eq!(token("int_9fdd9c"), "int_9fdd9c");
        assert_eq!(token("a.b*c> d"), "a~2Eb~2Ac~3E~20d");
        assert_eq!(token(""), "~");
    }
}
