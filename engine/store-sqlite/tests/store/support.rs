//! Test support: stores in temporary directories; realistic runs come from
//! the conformance suite's support.

use stagecraft_store_conformance::Harness;
pub use stagecraft_store_conformance::support::*;
use stagecraft_store_sqlite::{SqliteConfig, SqliteStore};
use tempfile::TempDir;

/// A store in its own temporary directory (kept alive alongside it).
pub struct TestStore {
    pub store: SqliteStore,
    pub dir: TempDir,
}

impl TestStore {
    /// A fresh store with the default configuration.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store =
            SqliteStore::open(SqliteConfig::new(dir.path().join("store.db"))).expect("store opens");
        Self { store, dir }
    }

    /// The database file.
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("store.db")
    }

    /// Closes the store (waiting for its writer) and opens the same file again.
    pub fn reopen(self) -> Self {
        let Self { store, dir } = self;
        drop(store);
        let store = SqliteStore::open(SqliteConfig::new(dir.path().join("store.db")))
            .expect("store reopens");
        Self { store, dir }
    }
}

impl Harness for TestStore {
    type Store = SqliteStore;

    fn store(&self) -> &SqliteStore {
        &self.store
    }

    async fn reopen(self) -> Self {
        TestStore::reopen(self)
    }
}
