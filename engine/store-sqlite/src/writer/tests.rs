//! The writer loop driven directly: requests are queued before the loop
//! starts, so batch boundaries are deterministic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use jiff::Timestamp;
use rusqlite::Connection;
use serde_json::json;
use stagecraft_core::run::{Milestone, MilestoneKind, MilestoneRecord, Run, RunId, RunStatus};
use tokio::sync::oneshot;

use super::{Batch, Request, run};
use crate::codec::{EncodedRun, StateColumn};
use crate::{SqliteConfig, schema};
use stagecraft_store::encoding::state;
use stagecraft_store::{StoreError, StoreResult};

fn runs_only(runs: Vec<EncodedRun>) -> Batch {
    Batch {
        runs,
        step_logs: Vec::new(),
        audit: Vec::new(),
        job_runs: Vec::new(),
        released: Vec::new(),
        lineage: None,
    }
}

fn encoded(id: &str) -> EncodedRun {
    encoded_with(id, RunStatus::InProgress)
}

fn encoded_with(id: &str, status: RunStatus) -> EncodedRun {
    let at: Timestamp = "2025-01-06T09:00:00Z".parse().unwrap();
    let run = Run {
        id: RunId(id.to_owned()),
        orchestration: "test".to_owned(),
        version: 1,
        status,
        inputs: json!({}),
        stages: Vec::new(),
        current: None,
        work_items: Vec::new(),
        evaluations: Vec::new(),
        evaluations_issued: 0,
        error: None,
        handled_errors: Vec::new(),
        history: vec![Milestone {
            at,
            record: MilestoneRecord::Run,
            kind: MilestoneKind::StartRun,
            actor: None,
        }],
    };
    EncodedRun::new(&run).unwrap()
}

/// Queues one single-run commit per id; returns the answers.
fn queue(
    requests: &mpsc::Sender<Request>,
    ids: &[&str],
) -> Vec<oneshot::Receiver<StoreResult<()>>> {
    ids.iter()
        .map(|id| {
            let (reply, answer) = oneshot::channel();
            requests
                .send(Request::Commit {
                    batch: runs_only(vec![encoded(id)]),
                    reply,
                })
                .unwrap();
            answer
        })
        .collect()
}

fn stored_runs(path: &std::path::Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT count(*) FROM runs", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn queued_commits_share_one_transaction_and_max_batch_bounds_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = SqliteConfig::new(dir.path().join("store.db"));
    let conn = schema::open_writer(&config).unwrap();
    let (requests, receiver) = mpsc::channel();
    let ids: Vec<String> = (0..50).map(|i| format!("run-{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let answers = queue(&requests, &ids);
    drop(requests);
    let committed = AtomicU64::new(0);

    run(conn, &receiver, 20, &committed);

    // 50 queued single-run commits with batches of at most 20 runs.
    assert_eq!(committed.load(Ordering::Relaxed), 3);
    for mut answer in answers {
        assert!(matches!(answer.try_recv(), Ok(Ok(()))));
    }
    assert_eq!(stored_runs(&config.path), 50);
}

#[test]
fn a_failed_batch_answers_every_caller_with_the_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = SqliteConfig::new(dir.path().join("store.db"));
    let conn = schema::open_writer(&config).unwrap();
    // Fails the transaction at the second caller's run, after the first
    // caller's run was written.
    conn.execute_batch(
        "CREATE TEMP TRIGGER poison BEFORE INSERT ON runs WHEN NEW.id = 'poison'
         BEGIN SELECT RAISE(ABORT, 'poisoned run'); END;",
    )
    .unwrap();
    let (requests, receiver) = mpsc::channel();
    let answers = queue(&requests, &["a", "poison", "c"]);
    drop(requests);
    let committed = AtomicU64::new(0);

    run(conn, &receiver, 512, &committed);

    assert_eq!(committed.load(Ordering::Relaxed), 0);
    for mut answer in answers {
        match answer.try_recv() {
            Ok(Err(error @ StoreError::Write { .. })) => {
                assert!(!error.is_retryable());
                assert!(
                    error.report().contains("poisoned run"),
                    "{}",
                    error.report()
                );
            }
            other => panic!("expected the batch's error, got {other:?}"),
        }
    }
    assert_eq!(
        stored_runs(&config.path),
        0,
        "nothing of the batch is visible"
    );
}

#[test]
fn jobs_run_in_their_own_transaction_after_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = SqliteConfig::new(dir.path().join("store.db"));
    let conn = schema::open_writer(&config).unwrap();
    let (requests, receiver) = mpsc::channel();
    let (seen, count) = oneshot::channel();
    requests
        .send(Request::Job(Box::new(
            move |conn: &mut Connection, counter: &AtomicU64| {
                // Runs after the batch queued behind it was committed.
                let runs: i64 = conn
                    .query_row("SELECT count(*) FROM runs", [], |row| row.get(0))
                    .unwrap();
                seen.send(runs).unwrap();
                counter.fetch_add(1, Ordering::Relaxed);
            },
        )))
        .unwrap();
    let answers = queue(&requests, &["a", "b"]);
    drop(requests);
    let committed = AtomicU64::new(0);

    run(conn, &receiver, 512, &committed);

    assert_eq!(committed.load(Ordering::Relaxed), 2, "one batch, one job");
    assert_eq!(count.blocking_recv().unwrap(), 2);
    for mut answer in answers {
        assert!(matches!(answer.try_recv(), Ok(Ok(()))));
    }
}

#[test]
fn the_latest_queued_state_of_a_run_wins() {
    let dir = tempfile::tempdir().unwrap();
    let config = SqliteConfig::new(dir.path().join("store.db"));
    let conn = schema::open_writer(&config).unwrap();
    let (requests, receiver) = mpsc::channel();
    let mut answers = Vec::new();
    for status in [
        RunStatus::InProgress,
        RunStatus::Completed,
        RunStatus::Error,
    ] {
        let (reply, answer) = oneshot::channel();
        let runs = vec![encoded("same"), encoded_with("same", status)];
        requests
            .send(Request::Commit {
                batch: runs_only(runs),
                reply,
            })
            .unwrap();
        answers.push(answer);
    }
    drop(requests);
    let committed = AtomicU64::new(0);

    run(conn, &receiver, 512, &committed);

    assert_eq!(committed.load(Ordering::Relaxed), 1);
    for mut answer in answers {
        assert!(matches!(answer.try_recv(), Ok(Ok(()))));
    }
    let (status, state): (String, StateColumn) = Connection::open(&config.path)
        .unwrap()
        .query_row(
            "SELECT status, state FROM runs WHERE id = 'same'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(status, "error");
    let stored: Run = state::decode("same", &state.0).unwrap();
    assert_eq!(stored.status, RunStatus::Error);
}
