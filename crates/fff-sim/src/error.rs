//! Errors: [`Error`] for the library API, [`ApiError`] for Binance-shaped rejections.

use serde::Serialize;

/// Library error (configuration, I/O, server).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid config: {0}")]
    Config(String),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("replay data error: {0}")]
    Replay(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A Binance error: HTTP status plus `{"code":..,"msg":..}` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub code: i64,
    pub msg: String,
}

impl ApiError {
    pub fn new(status: u16, code: i64, msg: impl Into<String>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
        }
    }
    pub fn bad(code: i64, msg: impl Into<String>) -> Self {
        Self::new(400, code, msg)
    }
    pub fn invalid_symbol() -> Self {
        Self::bad(-1121, "Invalid symbol.")
    }
    pub fn mandatory(name: &str) -> Self {
        Self::bad(
            -1102,
            format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
        )
    }
    pub fn illegal(name: &str) -> Self {
        Self::bad(
            -1100,
            format!("Illegal characters found in parameter '{name}'."),
        )
    }
    pub fn insufficient_balance() -> Self {
        Self::bad(
            -2010,
            "Account has insufficient balance for requested action.",
        )
    }
    pub fn margin_insufficient() -> Self {
        Self::bad(-2019, "Margin is insufficient.")
    }
    pub fn unknown_order_cancel() -> Self {
        Self::bad(-2011, "Unknown order sent.")
    }
    pub fn no_such_order() -> Self {
        Self::bad(-2013, "Order does not exist.")
    }
    pub fn filter(name: &str) -> Self {
        Self::bad(-1013, format!("Filter failure: {name}"))
    }
    pub fn inventory() -> Self {
        Self::bad(-3045, "The system does not have enough asset now.")
    }
    pub fn bad_signature() -> Self {
        Self::bad(-1022, "Signature for this request is not valid.")
    }
    pub fn bad_key() -> Self {
        Self::new(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.msg)
    }
}
