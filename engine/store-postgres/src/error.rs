//! PostgreSQL errors as store errors: what a retry can fix (a lost
//! connection, a server shutting down or out of resources, a serialization
//! failure) is [`StoreError::Unavailable`]; the rest fails the read or write.

use stagecraft_store::StoreError;
use tokio_postgres::error::SqlState;

/// Whether `error` is one a later attempt may not meet.
fn transient(error: &tokio_postgres::Error) -> bool {
    let Some(code) = error.code() else {
        // No SQLSTATE: the connection itself failed (I/O, closed, TLS).
        return true;
    };
    let class = &code.code()[..2];
    // 08: connection exception; 53: insufficient resources; 57: operator
    // intervention (shutdown, crash recovery); 40: serialization failures
    // and deadlocks.
    matches!(class, "08" | "53" | "57" | "40")
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
}

/// A failed read of `what`.
pub(crate) fn read_error(what: &str) -> impl FnOnce(tokio_postgres::Error) -> StoreError + '_ {
    move |error| {
        if transient(&error) {
            StoreError::unavailable(format!("cannot read {what}"), error)
        } else {
            StoreError::read(what, error)
        }
    }
}

/// A failed write of `what`.
pub(crate) fn write_error(what: &str) -> impl FnOnce(tokio_postgres::Error) -> StoreError + '_ {
    move |error| {
        if transient(&error) {
            StoreError::unavailable(format!("cannot write {what}"), error)
        } else if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StoreError::Conflict(format!("{what}: {error}"))
        } else {
            StoreError::write(what, error)
        }
    }
}

/// The pool could not give a connection.
pub(crate) fn unavailable(
    what: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::unavailable(what, error)
}
