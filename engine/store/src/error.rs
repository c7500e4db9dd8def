use thiserror::Error;

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// The same kind of error, with `context` before its message: a failed
    /// commit is reported to each of its callers.
    pub fn with_context(&self, context: &str) -> Self {
        match self {
            Self::Unavailable(message) => Self::Unavailable(format!("{context}: {message}")),
            Self::Closed => Self::Closed,
            other => Self::Backend(format!("{context}: {other}")),
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The named record does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The write conflicts with what is stored.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored record cannot be decoded (corruption or an incompatible
    /// version of Stagecraft wrote it).
    #[error("corrupt record {what}: {reason}")]
    Corrupt {
        /// Which record.
        what: String,
        /// The decoder's message.
        reason: String,
    },
    /// The storage backend failed (database file, SQL...).
    #[error("storage failure: {0}")]
    Backend(String),
    /// The storage cannot take writes right now (the disk is full, or
    /// failing); retrying later may succeed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The store is shut down.
    #[error("the store is closed")]
    Closed,
}
