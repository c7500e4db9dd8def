use thiserror::Error;

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

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
    /// The storage backend failed (I/O, database file, disk full...).
    #[error("storage failure: {0}")]
    Backend(String),
    /// The store is shut down.
    #[error("the store is closed")]
    Closed,
}
