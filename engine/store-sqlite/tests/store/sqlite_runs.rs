//! What only SQLite has of runs: rows from older schemas, and corrupt rows.

use std::sync::Arc;

use rusqlite::Connection;
use stagecraft_core::RunStatus;
use stagecraft_core::run::RunId;
use stagecraft_store::{RunFilter, Store, StoreError};

use crate::support::{Loan, TestStore, ids, stage_of, variant};

#[tokio::test]
async fn a_run_stored_as_json_text_by_an_older_version_still_reads() {
    let test = TestStore::new();
    let mut loan = Loan::start("run-1");
    test.store.commit_runs(vec![loan.shared()]).await.unwrap();
    let json = serde_json::to_string(&loan.run).unwrap();
    Connection::open(test.path())
        .unwrap()
        .execute("UPDATE runs SET state = ?1 WHERE id = 'run-1'", [&json])
        .unwrap();

    let test = test.reopen();
    let id = RunId("run-1".into());
    assert_eq!(test.store.run(&id).await.unwrap(), Some(loan.run.clone()));
    assert_eq!(
        test.store.unfinished_runs().await.unwrap().runs,
        vec![loan.run.clone()]
    );

    loan.finish_score();
    test.store.commit_runs(vec![loan.shared()]).await.unwrap();
    let kind: String = Connection::open(test.path())
        .unwrap()
        .query_row(
            "SELECT typeof(state) FROM runs WHERE id = 'run-1'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(kind, "blob");
    assert_eq!(test.store.run(&id).await.unwrap(), Some(loan.run));
}

#[tokio::test]
async fn a_state_that_does_not_decode_is_reported_as_corrupt() {
    let test = TestStore::new();
    test.store
        .commit_runs(vec![
            Loan::waiting_for_review("good").shared(),
            Loan::waiting_for_review("bad").shared(),
        ])
        .await
        .unwrap();
    let conn = Connection::open(test.path()).unwrap();
    conn.execute(
        "UPDATE runs SET state = '{\"id\": \"bad\", \"stages\": ' WHERE id = 'bad'",
        [],
    )
    .unwrap();
    conn.execute("UPDATE work_items SET item = '[]' WHERE run_id = 'bad'", [])
        .unwrap();

    let corrupt_run = |error: StoreError, what: &str| match error {
        StoreError::Corrupt { what: named, .. } => assert_eq!(named, what),
        other => panic!("expected a corrupt record, got {other:?}"),
    };
    corrupt_run(
        test.store.run(&RunId("bad".into())).await.unwrap_err(),
        "run bad",
    );
    // Set aside at a restart, without failing the other runs.
    let unfinished = test.store.unfinished_runs().await.unwrap();
    assert_eq!(unfinished.unreadable.len(), 1);
    assert_eq!(unfinished.unreadable[0].0, RunId("bad".into()));
    assert!(
        matches!(&unfinished.unreadable[0].1, StoreError::Corrupt { what, .. } if what == "run bad"),
        "{:?}",
        unfinished.unreadable
    );
    let item = Loan::waiting_for_review("bad").work_item("review").id;
    corrupt_run(
        test.store.work_item(&item).await.unwrap_err(),
        &format!("work item {}", item.0),
    );
    // What does not need the state still works.
    assert!(
        test.store
            .run(&RunId("good".into()))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        test.store.runs(RunFilter::default()).await.unwrap().len(),
        2
    );
}

#[tokio::test]
async fn runs_stored_before_the_stage_column_get_theirs_when_migrated() {
    let test = TestStore::new();
    let review = Arc::new(Loan::waiting_for_review("b").run);
    let stage = stage_of(&review);
    test.store
        .commit_runs(vec![review, variant("c", RunStatus::Completed, "loan", 3)])
        .await
        .unwrap();
    let path = test.path();
    let test = {
        // Back to schema 5, as a store written by the previous release.
        let TestStore { store, dir } = test;
        drop(store);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE flow_quarantines; DROP TABLE start_keys; DROP INDEX runs_by_stage;
             ALTER TABLE runs DROP COLUMN stage; ALTER TABLE flows DROP COLUMN memory_mib;
             PRAGMA user_version = 5;",
        )
        .unwrap();
        drop(conn);
        TestStore {
            store: stagecraft_store_sqlite::SqliteStore::open(
                stagecraft_store_sqlite::SqliteConfig::new(&path),
            )
            .unwrap(),
            dir,
        }
    };
    let filter = RunFilter {
        stage: Some(stage),
        ..RunFilter::default()
    };
    assert_eq!(ids(&test.store.runs(filter).await.unwrap()), ["b"]);
}
