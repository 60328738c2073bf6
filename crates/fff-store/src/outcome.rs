//! Results of idempotent inserts and guarded updates.

/// Result of an idempotent insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inserted<T> {
    /// The stored row: the new one, or the one already there.
    pub row: T,
    /// False when the key already existed and nothing was written.
    pub created: bool,
}

/// Result of a guarded update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOutcome<T> {
    Applied(T),
    /// The update was stale or would have moved backwards/out of a terminal state; holds the
    /// unchanged current row.
    Ignored(T),
}

impl<T> UpdateOutcome<T> {
    pub fn row(&self) -> &T {
        match self {
            Self::Applied(row) | Self::Ignored(row) => row,
        }
    }

    pub fn into_row(self) -> T {
        match self {
            Self::Applied(row) | Self::Ignored(row) => row,
        }
    }

    pub fn is_applied(&self) -> bool {
        matches!(self, Self::Applied(_))
    }
}
