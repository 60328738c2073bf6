//! The crate error type.

/// What can go wrong outside the request path (request errors are `tonic::Status`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A scanner endpoint that is not a usable URI.
    #[error("invalid scanner endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The configured endpoint.
        endpoint: String,
        /// Why it was rejected.
        reason: String,
    },
    /// No endpoint to subscribe to.
    #[error("no scanner endpoints configured")]
    NoEndpoints,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
