//! One error type for the connector, classified by *outcome* (STYLE rule 14): a definite rejection by
//! Binance, an outcome we cannot know (the request may have executed), or a request never sent.

use std::time::Duration;

use crate::filters::FilterError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a failed call means for the state on the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Binance answered with an error: nothing happened.
    Rejected,
    /// The request may or may not have been executed (timeout, 5xx, `-1007`, disconnect, unreadable
    /// response after sending). For orders: keep it in flight and resolve it by client order id.
    Unknown,
    /// The request never left this process (local validation, local rate limit, connect failure).
    NotSent,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A structured Binance error (`{"code":…,"msg":…}`) that is a definite rejection.
    #[error("binance rejected the request: http {status}, code {code}: {msg}")]
    Api { status: u16, code: i64, msg: String },

    /// Sent, but the result is unknown; `code` is set when Binance said so itself (e.g. `-1007`).
    #[error("outcome unknown: {reason}")]
    Unknown { reason: String, code: Option<i64> },

    /// HTTP 429, or (`local`) the limiter refusing to send while a 429's `Retry-After` runs.
    #[error("rate limited, retry after {retry_after:?}")]
    RateLimited { retry_after: Duration, local: bool },

    /// HTTP 418, or (`local`) the limiter refusing to send until the ban is over.
    #[error("ip banned, retry after {retry_after:?}")]
    IpBanned { retry_after: Duration, local: bool },

    /// The local request budget is exhausted for longer than the caller is willing to wait.
    #[error("local request budget exhausted, next slot in {wait:?}")]
    BudgetExhausted { wait: Duration },

    /// The connection could not be established; the request was not sent.
    #[error("connection failed: {0}")]
    Connect(String),

    /// A response to a read could not be decoded.
    #[error("could not decode response: {0}")]
    Decode(String),

    /// Rejected locally by the symbol's exchange filters before sending.
    #[error(transparent)]
    Filter(#[from] FilterError),

    /// The caller asked for something the connector cannot send.
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// The endpoint needs credentials and none were configured.
    #[error("credentials required for {0}")]
    MissingCredentials(&'static str),

    #[error("websocket error: {0}")]
    WebSocket(String),

    #[error("configuration error: {0}")]
    Config(String),
}

impl Error {
    pub fn outcome(&self) -> Outcome {
        match self {
            Error::Api { .. } => Outcome::Rejected,
            // STYLE rule 14: a 429/418 answer counts as unknown for writes; a local stop never sent.
            Error::RateLimited { local, .. } | Error::IpBanned { local, .. } => {
                if *local {
                    Outcome::NotSent
                } else {
                    Outcome::Unknown
                }
            }
            Error::Unknown { .. } => Outcome::Unknown,
            Error::Decode(_) | Error::WebSocket(_) => Outcome::Unknown,
            Error::BudgetExhausted { .. }
            | Error::Connect(_)
            | Error::Filter(_)
            | Error::InvalidRequest(_)
            | Error::MissingCredentials(_)
            | Error::Config(_) => Outcome::NotSent,
        }
    }

    /// Whether trying again later can succeed (callers decide; the client itself retries only reads).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { code, .. } => {
                matches!(*code, -1003 | -1008 | -1015 | -1021 | -3007 | -3045)
            }
            Error::Unknown { .. }
            | Error::RateLimited { .. }
            | Error::IpBanned { .. }
            | Error::BudgetExhausted { .. }
            | Error::Connect(_)
            | Error::Decode(_)
            | Error::WebSocket(_) => true,
            Error::Filter(_)
            | Error::InvalidRequest(_)
            | Error::MissingCredentials(_)
            | Error::Config(_) => false,
        }
    }

    /// Binance's error code, when there is one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Error::Api { code, .. } => Some(*code),
            Error::Unknown { code, .. } => *code,
            _ => None,
        }
    }
}

/// Binance error codes whose meaning is "execution status unknown" even though they arrive as a
/// structured error: `-1000` UNKNOWN and `-1007` TIMEOUT ("Send status unknown; execution status unknown").
pub(crate) fn code_means_unknown(code: i64) -> bool {
    matches!(code, -1000 | -1006 | -1007)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_classification() {
        let rejected = Error::Api {
            status: 400,
            code: -2010,
            msg: "Account has insufficient balance for requested action.".into(),
        };
        assert_eq!(rejected.outcome(), Outcome::Rejected);
        assert!(!rejected.is_retryable());
        let timeout = Error::Unknown {
            reason: "timeout".into(),
            code: Some(-1007),
        };
        assert_eq!(timeout.outcome(), Outcome::Unknown);
        assert_eq!(timeout.code(), Some(-1007));
        assert_eq!(Error::Connect("refused".into()).outcome(), Outcome::NotSent);
        assert!(code_means_unknown(-1007));
        assert!(!code_means_unknown(-1021));
    }
}
