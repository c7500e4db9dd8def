//! SQLite's side of the shared encoding: its error mapping, and a run's
//! state read from a column.

use rusqlite::ErrorCode;
use rusqlite::types::{FromSql, FromSqlResult, ValueRef};
use stagecraft_store::StoreError;
use stagecraft_store::encoding::state::StoredState;

pub(crate) use stagecraft_store::encoding::{
    EncodedCommit, EncodedRun, corrupt, from_json, from_name, live_stage, name_of, nanos,
    principal, timestamp, unfinished_statuses, version,
};

/// Maps a SQLite error: a column holding the wrong type is a corrupt record,
/// a full or failing disk makes the store unavailable, anything else is a
/// failed write (reads turn it into a failed read, see `Readers::read`).
pub(crate) fn db(error: rusqlite::Error) -> StoreError {
    match error {
        rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => corrupt("stored row", error),
        error if error.sqlite_error_code() == Some(ErrorCode::DiskFull) => {
            StoreError::unavailable("the disk is full", error)
        }
        error if error.sqlite_error_code() == Some(ErrorCode::SystemIoFailure) => {
            StoreError::unavailable("the disk failed", error)
        }
        error
            if matches!(
                error.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            ) =>
        {
            StoreError::unavailable("the database is locked", error)
        }
        error if error.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
            StoreError::Incompatible(format!("not a SQLite database: {error}"))
        }
        error => StoreError::write("the database", error),
    }
}

/// The `runs.state` column as read: JSON text from before compression, or a
/// compressed BLOB.
pub(crate) struct StateColumn(pub StoredState);

impl FromSql for StateColumn {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Blob(bytes) => Ok(Self(StoredState::Compressed(bytes.to_vec()))),
            other => String::column_result(other).map(|json| Self(StoredState::Json(json))),
        }
    }
}
