//! Why an integration's delivery could not start.

use signal_core::ConfigErrors;
use signal_spool::SpoolError;
use std::fmt;

/// Why an integration's delivery could not start.
#[derive(Debug)]
pub enum PipelineStartError {
    /// Its blueprint is not in the catalog.
    NoBlueprint(String),
    /// Its variant is not in its blueprint.
    NoVariant(String),
    /// Its configuration breaks its blueprint's rules.
    Config(ConfigErrors),
    /// Its region has no base URL.
    UnknownRegion(String),
    /// Its blueprint's requests cannot be made concrete with its config.
    Targets(signal_core::request::ResolveError),
    /// The spool cannot give it a consumer.
    Spool(SpoolError),
    /// JetStream cannot give it its consumer (unreachable, or refused).
    Log(signal_nats::NatsError),
    /// Its reader thread cannot be started.
    Thread(std::io::Error),
}

impl fmt::Display for PipelineStartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoBlueprint(key) => write!(f, "no blueprint {key}"),
            Self::NoVariant(key) => write!(f, "no variant {key}"),
            Self::Config(e) => e.fmt(f),
            Self::UnknownRegion(region) => write!(f, "unknown region {region}"),
            Self::Targets(e) => e.fmt(f),
            Self::Spool(e) => e.fmt(f),
            Self::Log(e) => e.fmt(f),
            Self::Thread(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PipelineStartError {}
