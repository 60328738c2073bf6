//! The crate's error type.

/// Errors returned by [`crate::Store`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{entity} {key} not found")]
    NotFound { entity: &'static str, key: String },
    /// The client_order_id is already recorded for an order with different parameters: a bug in
    /// id generation, never a retry.
    #[error("client_order_id {client_order_id} already belongs to a different order")]
    IdempotencyConflict { client_order_id: String },
    /// A position that is neither CLOSED nor FAILED already exists for the symbol.
    #[error("a live position already exists for {symbol}")]
    LivePositionExists { symbol: String },
    #[error("{entity} {key} cannot move from {from} to {to}")]
    InvalidTransition {
        entity: &'static str,
        key: String,
        from: String,
        to: String,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Name of the violated constraint or unique index, if `err` is a constraint violation.
pub(crate) fn violated_constraint(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}
