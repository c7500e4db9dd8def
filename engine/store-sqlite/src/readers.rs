//! The pool of read-only connections.
//!
//! A semaphore with one permit per connection bounds concurrent reads, so a
//! permit holder always finds a connection in the pool; waiting happens on
//! the async side, never on a blocking thread.

use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::SqliteConfig;
use super::schema::open_reader;
use stagecraft_store::{StoreError, StoreResult};

/// Read-only connections and the permits to use them.
pub(super) struct Readers {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    /// Opens `config.readers` connections (at least one).
    pub fn open(config: &SqliteConfig) -> StoreResult<Self> {
        let count = config.readers.max(1);
        let idle = (0..count)
            .map(|_| open_reader(config))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Self {
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(count)),
        })
    }

    /// Runs `read` on an idle connection in `spawn_blocking`.
    pub async fn read<T, F>(pool: &Arc<Self>, read: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let permit = Arc::clone(&pool.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pool = Arc::clone(pool);
        tokio::task::spawn_blocking(move || {
            let lease = Lease::take(&pool)?;
            let result = read(lease.connection()?);
            drop(lease);
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::read("the database", e))?
        // Every failure of a read is a failed read, whatever `db` made of it.
        .map_err(|error| match error {
            StoreError::Write { what, source } => StoreError::Read { what, source },
            other => other,
        })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // The pool is a plain Vec: a panic while it was locked cannot leave
        // it inconsistent.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection taken from the pool; put back on drop, even on unwind.
struct Lease<'a> {
    pool: &'a Readers,
    conn: Option<Connection>,
}

impl<'a> Lease<'a> {
    fn take(pool: &'a Readers) -> StoreResult<Self> {
        let conn = pool.idle().pop();
        match conn {
            Some(conn) => Ok(Self {
                pool,
                conn: Some(conn),
            }),
            // Unreachable while permits match connections.
            None => Err(StoreError::read("the database", "no idle read connection")),
        }
    }

    fn connection(&self) -> StoreResult<&Connection> {
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::read("the database", "read connection already returned"))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.idle().push(conn);
        }
    }
}
