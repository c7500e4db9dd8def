//! Group commit: concurrent callers share transactions; a failed transaction
//! fails every caller in it and leaves nothing behind.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use stagecraft_core::run::RunId;
use stagecraft_store::{Store, StoreError};
use stagecraft_store_sqlite::{SqliteConfig, SqliteStore};

use crate::support::{Loan, TestStore, renamed};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_all_land_in_far_fewer_transactions() {
    const TASKS: usize = 200;
    const PER_TASK: usize = 10;
    let test = TestStore::new();
    let template = Loan::waiting_for_review("template").run;
    let before = test.store.transactions_committed();

    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = test.store.clone();
            let template = template.clone();
            tokio::spawn(async move {
                for i in 0..PER_TASK {
                    let run = renamed(&template, &format!("run-{task}-{i}"));
                    store.commit_runs(vec![run]).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    let calls = (TASKS * PER_TASK) as u64;
    let transactions = test.store.transactions_committed() - before;
    println!("{calls} commit_runs calls in {transactions} transactions");
    assert!(transactions >= 1);
    assert!(
        transactions * 4 <= calls,
        "group commit should batch: {calls} calls took {transactions} transactions"
    );
    for task in 0..TASKS {
        for i in 0..PER_TASK {
            let id = RunId(format!("run-{task}-{i}"));
            let run = test.store.run(&id).await.unwrap().expect("committed run");
            assert_eq!(Arc::new(run), renamed(&template, &id.0));
        }
    }
    let count: i64 = Connection::open(test.path())
        .unwrap()
        .query_row("SELECT count(*) FROM work_items", [], |row| row.get(0))
        .unwrap();
    assert_eq!(
        count,
        i64::try_from(calls).unwrap(),
        "one work-item row per run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_transaction_fails_every_caller_gets_the_error_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let config = SqliteConfig {
        busy_timeout: Duration::from_millis(20),
        ..SqliteConfig::new(&path)
    };
    let store = SqliteStore::open(config).unwrap();
    let template = Loan::waiting_for_review("template").run;
    // Another process holds the write lock: every write transaction the
    // store attempts fails once its busy timeout expires.
    let mut other = Connection::open(&path).unwrap();
    let lock = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();

    let callers: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let run = renamed(&template, &format!("run-{i}"));
            tokio::spawn(async move { store.commit_runs(vec![run]).await })
        })
        .collect();
    for caller in callers {
        match caller.await.unwrap() {
            Err(error @ StoreError::Unavailable { .. }) => {
                assert!(error.is_retryable());
                assert!(error.report().contains("locked"), "{}", error.report());
            }
            other => panic!("expected the commit to fail, got {other:?}"),
        }
    }
    assert_eq!(store.transactions_committed(), 0);

    lock.rollback().unwrap();
    for i in 0..20 {
        let id = RunId(format!("run-{i}"));
        assert_eq!(
            store.run(&id).await.unwrap(),
            None,
            "nothing of {id} stored"
        );
    }
    // The store recovers once the lock is gone.
    let run = renamed(&template, "after");
    store.commit_runs(vec![Arc::clone(&run)]).await.unwrap();
    assert_eq!(store.run(&run.id).await.unwrap().as_ref(), Some(&*run));
}

#[tokio::test]
async fn dropping_the_store_commits_what_is_already_queued() {
    let test = TestStore::new();
    let run = Loan::waiting_for_review("queued").shared();
    {
        let commit = test.store.commit_runs(vec![Arc::clone(&run)]);
        tokio::pin!(commit);
        // Poll once: the request reaches the writer's queue; then give up
        // waiting for the answer.
        tokio::select! {
            biased;
            result = &mut commit => result.unwrap(),
            () = std::future::ready(()) => {}
        }
    }
    let test = test.reopen();
    assert_eq!(test.store.run(&run.id).await.unwrap().as_ref(), Some(&*run));
}

#[tokio::test]
async fn committing_nothing_is_a_no_op() {
    let test = TestStore::new();
    test.store.commit_runs(Vec::new()).await.unwrap();
    assert_eq!(test.store.transactions_committed(), 0);
}
