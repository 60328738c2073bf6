//! The gateway's error type and its mapping onto gRPC status codes.

use fff_binance::{Error as BinanceError, Outcome};
use tonic::Status;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Start-up configuration that cannot work (URLs, credentials, key permissions).
    #[error("configuration: {0}")]
    Config(String),
    /// A call to the exchange failed.
    #[error(transparent)]
    Exchange(#[from] BinanceError),
    /// The gateway has no universe or account snapshot yet.
    #[error("gateway not ready: {0}")]
    NotReady(&'static str),
}

impl Error {
    pub fn config(message: impl Into<String>) -> Self {
        Self::Config(message.into())
    }
}

/// Maps a connector failure: a definite venue rejection is the caller's problem
/// (FAILED_PRECONDITION with the venue's code), everything else may work later (UNAVAILABLE).
pub fn exchange_status(err: &BinanceError) -> Status {
    match err {
        BinanceError::Api { code, msg, .. } => {
            Status::failed_precondition(format!("binance rejected the request: {code} {msg}"))
        }
        BinanceError::Filter(filter) => Status::invalid_argument(filter.to_string()),
        BinanceError::InvalidRequest(message) => Status::invalid_argument(message.clone()),
        other => match other.outcome() {
            Outcome::Unknown => Status::unavailable(format!("outcome unknown: {other}")),
            _ => Status::unavailable(other.to_string()),
        },
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match &err {
            Error::Exchange(e) => exchange_status(e),
            Error::NotReady(_) => Status::unavailable(err.to_string()),
            Error::Config(_) => Status::internal(err.to_string()),
        }
    }
}
