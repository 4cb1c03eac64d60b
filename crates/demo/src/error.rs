//! Why the demo or the load harness stopped.

use signal_server::{SettingsError, StartError};

/// A demo or load run that could not go on.
#[derive(Debug)]
pub enum DemoError {
    /// The sandbox could not bind its port.
    Sandbox(std::io::Error),
    /// The demo's example site could not bind a port.
    Site(std::io::Error),
    /// The node's settings are not valid.
    Settings(SettingsError),
    /// The node did not start.
    Start(StartError),
    /// A request to the node's own APIs failed on the way (not an answer).
    Http(HttpError),
    /// The integration install was refused.
    Install {
        /// The management API's status.
        status: u16,
        /// Its body.
        body: String,
    },
    /// The node has no source to send events with.
    NoSource,
    /// More than one node asked for with the local spool (`--nodes` needs JetStream).
    Nodes(usize),
    /// The null sink could not start or be read.
    Sink(crate::sink::SinkError),
    /// A management API call of the load harness was refused.
    Admin {
        /// What was asked (`PATCH /v1/admin/integrations/{id}`).
        call: String,
        /// The management API's status.
        status: u16,
        /// Its body.
        body: String,
    },
    /// The JSON report could not be written.
    Report(std::io::Error),
}

/// How a request to the node failed on the way.
#[derive(Debug)]
pub enum HttpError {
    /// The request could not be made (a bad URL or header).
    Request(hyper::http::Error),
    /// It could not be sent, or no answer came.
    Send(hyper_util::client::legacy::Error),
    /// The answer's body could not be read.
    Body(hyper::Error),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Request(e) => write!(f, "the request could not be made: {e}"),
            HttpError::Send(e) => write!(f, "no answer: {e}"),
            HttpError::Body(e) => write!(f, "the answer could not be read: {e}"),
        }
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HttpError::Request(e) => Some(e),
            HttpError::Send(e) => Some(e),
            HttpError::Body(e) => Some(e),
        }
    }
}

impl From<HttpError> for DemoError {
    fn from(e: HttpError) -> Self {
        DemoError::Http(e)
    }
}

impl std::fmt::Display for DemoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DemoError::Sandbox(e) => write!(f, "sandbox: {e}"),
            DemoError::Site(e) => write!(f, "example site: {e}"),
            DemoError::Settings(e) => e.fmt(f),
            DemoError::Start(e) => e.fmt(f),
            DemoError::Http(e) => write!(f, "request to the node: {e}"),
            DemoError::Install { status, body } => write!(f, "install refused ({status}): {body}"),
            DemoError::NoSource => f.write_str("no source"),
            DemoError::Nodes(n) => write!(
                f,
                "--nodes {n}: nodes share events only on JetStream; set SIGNAL_LOG_BACKEND=nats://..."
            ),
            DemoError::Sink(e) => e.fmt(f),
            DemoError::Admin { call, status, body } => {
                write!(f, "{call} refused ({status}): {body}")
            }
            DemoError::Report(e) => write!(f, "writing the report: {e}"),
        }
    }
}

impl std::error::Error for DemoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DemoError::Sandbox(e) | DemoError::Site(e) | DemoError::Report(e) => Some(e),
            DemoError::Settings(e) => Some(e),
            DemoError::Start(e) => Some(e),
            DemoError::Http(e) => Some(e),
            DemoError::Sink(e) => Some(e),
            DemoError::Install { .. }
            | DemoError::NoSource
            | DemoError::Nodes(_)
            | DemoError::Admin { .. } => None,
        }
    }
}
