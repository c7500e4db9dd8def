use std::error::Error as StdError;
use std::fmt::Write as _;
use std::sync::Arc;

use thiserror::Error;

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// The error a store failure came from (the database driver's, an I/O
/// error...), shared: one failed group commit is reported to each of its
/// callers.
pub type Source = Arc<dyn StdError + Send + Sync + 'static>;

/// What the constructors take: any error, or a message.
type BoxedSource = Box<dyn StdError + Send + Sync + 'static>;

/// Why a store operation failed.
///
/// The variant says what a caller can do about it ([`StoreError::is_retryable`]);
/// the [`Source`], where there is one, is kept for the logs and is part of
/// [`StoreError::report`], not of the one-line `Display`.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// The named record does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The write conflicts with what is stored (a job that already ended, a
    /// run whose lease another node holds); retrying the same write cannot
    /// help, reading the current state first may.
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
    /// Reading failed for a reason a retry will not fix (bad SQL, a value
    /// out of range...).
    #[error("cannot read {what}")]
    Read {
        /// What was being read.
        what: String,
        /// The backend's error.
        #[source]
        source: Source,
    },
    /// Writing failed for a reason a retry will not fix; nothing was written.
    #[error("cannot write {what}")]
    Write {
        /// What was being written.
        what: String,
        /// The backend's error.
        #[source]
        source: Source,
    },
    /// The storage cannot serve right now (the disk is full or failing, the
    /// database server is unreachable or restarting); retrying later may
    /// succeed. Nothing was written.
    #[error("storage unavailable: {what}")]
    Unavailable {
        /// What could not be done.
        what: String,
        /// The backend's error.
        #[source]
        source: Source,
    },
    /// The database is not one this build can use: another application's,
    /// or one whose schema a newer Stagecraft made.
    #[error("{0}")]
    Incompatible(String),
    /// The store is shut down.
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// A [`StoreError::Read`] of `what`.
    pub fn read(what: impl Into<String>, source: impl Into<BoxedSource>) -> Self {
        Self::Read {
            what: what.into(),
            source: Arc::from(source.into()),
        }
    }

    /// A [`StoreError::Write`] of `what`.
    pub fn write(what: impl Into<String>, source: impl Into<BoxedSource>) -> Self {
        Self::Write {
            what: what.into(),
            source: Arc::from(source.into()),
        }
    }

    /// A [`StoreError::Unavailable`]: `what` could not be done now.
    pub fn unavailable(what: impl Into<String>, source: impl Into<BoxedSource>) -> Self {
        Self::Unavailable {
            what: what.into(),
            source: Arc::from(source.into()),
        }
    }

    /// A [`StoreError::Corrupt`] about `what`.
    pub fn corrupt(what: impl Into<String>, reason: impl ToString) -> Self {
        Self::Corrupt {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    /// Whether the same operation, tried again later, may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// The same error, with `context` before what it says: a failed commit
    /// is reported to each of its callers.
    pub fn with_context(&self, context: &str) -> Self {
        let what = |what: &str| format!("{context}: {what}");
        match self {
            Self::Read { what: w, source } => Self::Read {
                what: what(w),
                source: source.clone(),
            },
            Self::Write { what: w, source } => Self::Write {
                what: what(w),
                source: source.clone(),
            },
            Self::Unavailable { what: w, source } => Self::Unavailable {
                what: what(w),
                source: source.clone(),
            },
            Self::Conflict(w) => Self::Conflict(what(w)),
            other => other.clone(),
        }
    }

    /// The error and its sources on one line (`cannot write run r-1: disk
    /// I/O error`), for messages that reach people.
    pub fn report(&self) -> String {
        report(self)
    }
}

/// `error` and each of its sources, joined by `": "`.
pub fn report(error: &(dyn StdError + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(line, ": {cause}");
        source = cause.source();
    }
    line
}
