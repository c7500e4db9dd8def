//! Integration tests of the SQLite store: the conformance suite every
//! backend passes, then what only SQLite has (its file, its migrations, its
//! writer thread).

mod group_commit;
mod open;
mod sqlite_runs;
mod support;

async fn fresh() -> Option<support::TestStore> {
    Some(support::TestStore::new())
}

stagecraft_store_conformance::store_conformance_tests!(fresh);
