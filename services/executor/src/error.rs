//! The executor's error type and its mapping to gRPC status codes.

use fff_proto::FieldError;
use fff_store::StoreError;

use crate::exchange::ExchangeError;

#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error(transparent)]
    InvalidArgument(#[from] FieldError),
    #[error("{0}")]
    NotFound(String),
    /// Paused, halted by risk, refused by risk, or a live position already exists.
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("exchange: {0}")]
    Exchange(#[from] ExchangeError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("sizing: {0}")]
    Core(#[from] fff_core::Error),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = ExecutorError> = std::result::Result<T, E>;

impl ExecutorError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Exchange(ExchangeError::Unknown(_)) | Self::Store(StoreError::Database(_))
        )
    }
}

impl From<ExecutorError> for tonic::Status {
    fn from(err: ExecutorError) -> Self {
        match err {
            ExecutorError::InvalidArgument(field) => field.into(),
            ExecutorError::NotFound(m) => tonic::Status::not_found(m),
            ExecutorError::FailedPrecondition(m) => tonic::Status::failed_precondition(m),
            ExecutorError::Store(StoreError::LivePositionExists { symbol }) => {
                tonic::Status::failed_precondition(format!(
                    "a live position already exists for {symbol}"
                ))
            }
            ExecutorError::Exchange(ExchangeError::Rejected(m)) => {
                tonic::Status::failed_precondition(format!("exchange rejected: {m}"))
            }
            ExecutorError::Exchange(ExchangeError::Unknown(_)) => {
                tonic::Status::unavailable("exchange outcome unknown; retry")
            }
            ExecutorError::Core(e) => tonic::Status::failed_precondition(e.to_string()),
            // 500-class: no internals in the message
            ExecutorError::Store(_) | ExecutorError::Internal(_) => {
                tonic::Status::internal("internal error")
            }
        }
    }
}
