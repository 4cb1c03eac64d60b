//! Why the demo or the load harness stopped.

/// A demo or load run that could not go on.
#[derive(Debug)]
pub enum DemoError {
    /// The sandbox could not bind its port.
    Sandbox(std::io::Error),
    /// The node's settings or start failed (the node's own message).
    Node(String),
    /// A request to the node's own APIs failed on the way (not an answer).
    Http(String),
    /// The integration install was refused.
    Install {
        /// The management API's status.
        status: u16,
        /// Its body.
        body: String,
    },
    /// The node has no source to send events with.
    NoSource,
    /// The JSON report could not be written.
    Report(std::io::Error),
}

impl std::fmt::Display for DemoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DemoError::Sandbox(e) => write!(f, "sandbox: {e}"),
            DemoError::Node(e) => f.write_str(e),
            DemoError::Http(e) => write!(f, "request to the node: {e}"),
            DemoError::Install { status, body } => write!(f, "install refused ({status}): {body}"),
            DemoError::NoSource => f.write_str("no source"),
            DemoError::Report(e) => write!(f, "writing the report: {e}"),
        }
    }
}

impl std::error::Error for DemoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DemoError::Sandbox(e) | DemoError::Report(e) => Some(e),
            _ => None,
        }
    }
}
