//! Errors of the sandbox's library API.

/// What can go wrong starting, driving or stopping a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The listening socket could not be bound.
    #[error("cannot bind 127.0.0.1:{port}: {source}")]
    Bind {
        /// Requested port (0 = ephemeral).
        port: u16,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is invalid (e.g. fault rates out of range).
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
    /// The server failed while running or shutting down.
    #[error("sandbox server error: {0}")]
    Server(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, SandboxError>;
