//! The catalog's version on a store shared by several nodes, read fresh
//! for each request that acts on the catalog (a start, a resume, a resume
//! job, a dry-run), so that a node never acts on a catalog older than one
//! another node had already answered for when the request arrived.
//!
//! Reads are shared: a request uses a read that began after it arrived, so
//! concurrent requests wait on one read instead of each making their own.

use stagecraft_store::{Store, StoreResult};
use std::sync::atomic::{AtomicU64, Ordering};

/// Reads of the catalog's change count, shared by concurrent requests.
#[derive(Debug, Default)]
pub(crate) struct CatalogReads {
    /// Reads begun so far.
    begun: AtomicU64,
    /// The latest read: its number and what it found.
    latest: tokio::sync::Mutex<(u64, Option<i64>)>,
}

impl CatalogReads {
    /// The catalog's change count as of a read that began after this call.
    pub(crate) async fn fresh<S: Store>(&self, store: &S) -> StoreResult<Option<i64>> {
        let arrived = self.begun.load(Ordering::SeqCst);
        let mut latest = self.latest.lock().await;
        if latest.0 > arrived {
            return Ok(latest.1);
        }
        // Numbered before the query is sent: whoever arrives from now on
        // may use it.
        let number = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        let changes = store.catalog_changes().await?;
        *latest = (number, changes);
        Ok(changes)
    }
}
