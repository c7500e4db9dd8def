//! Retention: what is removed, in batches, and what is kept.

// Each test body is named for the behaviour it checks.
#![allow(missing_docs)]

use std::sync::Arc;

use serde_json::json;
use stagecraft_core::run::{RunId, RunStatus, StepKey};
use stagecraft_store::{
    AuditAction, AuditFilter, AuditRecord, Commit, JobId, JobStatus, NewJob, StartKey, StepLog,
    Store,
};

use crate::Harness;
use crate::support::{t, variant};

fn log(run: &str) -> StepLog {
    StepLog {
        run: RunId(run.to_owned()),
        step: StepKey {
            stage: "intake".into(),
            stage_run: 0,
            step: "score".into(),
        },
        attempt: 1,
        flow_version: 1,
        recorded_at: t(0),
        lines: Vec::new(),
    }
}

pub async fn finished_runs_are_pruned_in_batches_with_their_logs_and_the_rest_kept<H: Harness>(
    test: H,
) {
    let store = test.store();
    let old_done = variant("old-done", RunStatus::Completed, "loan", 0);
    let old_canceled = variant("old-canceled", RunStatus::Canceled, "loan", 1);
    let old_live = variant("old-live", RunStatus::InProgress, "loan", 2);
    let old_error = variant("old-error", RunStatus::Error, "loan", 3);
    let old_waiting = variant("old-waiting", RunStatus::Suspended, "loan", 4);
    let new_done = variant("new-done", RunStatus::Completed, "loan", 100);
    let all: Vec<Arc<_>> = vec![
        old_done.clone(),
        old_canceled.clone(),
        old_live.clone(),
        old_error.clone(),
        old_waiting.clone(),
        new_done.clone(),
    ];
    store
        .commit(Commit {
            runs: all,
            step_logs: vec![log("old-done"), log("new-done")],
            ..Commit::default()
        })
        .await
        .unwrap();
    assert_eq!(store.prune_runs(t(50), 1).await.unwrap(), 1);
    assert_eq!(store.prune_runs(t(50), 10).await.unwrap(), 1);
    assert_eq!(store.prune_runs(t(50), 10).await.unwrap(), 0);
    for gone in [&old_done, &old_canceled] {
        assert_eq!(store.run(&gone.id).await.unwrap(), None, "{}", gone.id);
        assert!(store.step_logs(&gone.id).await.unwrap().is_empty());
    }
    for kept in [&old_live, &old_error, &old_waiting, &new_done] {
        assert!(store.run(&kept.id).await.unwrap().is_some(), "{}", kept.id);
    }
    assert_eq!(store.step_logs(&new_done.id).await.unwrap().len(), 1);
    let items = store
        .work_items(stagecraft_store::WorkItemFilter {
            run: Some(old_done.id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(items.is_empty(), "the run's work items go with it");
}

pub async fn ended_jobs_and_old_keys_are_pruned_and_running_ones_kept<H: Harness>(test: H) {
    let store = test.store();
    let job = |id: &str| NewJob {
        id: JobId(id.to_owned()),
        spec: json!({}),
        created_by: "admin".to_owned(),
        created_at: t(0),
        runs: vec![RunId("r1".to_owned())],
    };
    let audit = || AuditRecord::done(t(0), "admin", AuditAction::JobStart, "job:x".to_owned());
    store.create_job(job("ended"), audit()).await.unwrap();
    store.create_job(job("running"), audit()).await.unwrap();
    store
        .finish_job(&JobId("ended".to_owned()), JobStatus::Canceled, t(1), None)
        .await
        .unwrap();
    assert_eq!(store.prune_jobs(t(50), 10).await.unwrap(), 1);
    assert_eq!(store.job(&JobId("ended".to_owned())).await.unwrap(), None);
    assert!(
        store
            .job(&JobId("running".to_owned()))
            .await
            .unwrap()
            .is_some()
    );

    let key = |key: &str, minutes| StartKey {
        caller: "admin".to_owned(),
        key: key.to_owned(),
        request: "r".to_owned(),
        run: RunId(format!("run-{key}")),
        at: t(minutes),
    };
    store.hold_start_key(key("old", 0), None).await.unwrap();
    store.hold_start_key(key("new", 100), None).await.unwrap();
    assert_eq!(store.prune_start_keys(t(50), 10).await.unwrap(), 1);
    assert_eq!(
        store.hold_start_key(key("old", 101), None).await.unwrap(),
        None,
        "the old key is free again"
    );
    assert!(
        store
            .hold_start_key(key("new", 101), None)
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn old_audit_records_are_listed_oldest_first_then_pruned_the_newest_kept<H: Harness>(
    test: H,
) {
    let store = test.store();
    let at = |minutes| {
        AuditRecord::done(
            t(minutes),
            "admin",
            AuditAction::RunStart,
            "run:r".to_owned(),
        )
    };
    store
        .record_audit(vec![at(0), at(1), at(2), at(100)])
        .await
        .unwrap();
    let oldest = store.oldest_audit(t(50), 2).await.unwrap();
    assert_eq!(
        oldest.iter().map(|e| e.record.at).collect::<Vec<_>>(),
        [t(0), t(1)]
    );
    let all = store.oldest_audit(t(50), 100).await.unwrap();
    assert_eq!(all.len(), 3);
    // Up to the second only.
    assert_eq!(store.prune_audit(oldest[1].id, t(50)).await.unwrap(), 2);
    let left = store.audit(AuditFilter::default()).await.unwrap();
    assert_eq!(
        left.iter().map(|e| e.record.at).collect::<Vec<_>>(),
        [t(100), t(2)]
    );
    // The newest record stays, however old.
    assert_eq!(store.prune_audit(u64::MAX, t(1000)).await.unwrap(), 1);
    assert!(store.oldest_audit(t(1000), 10).await.unwrap().is_empty());
    assert_eq!(store.audit(AuditFilter::default()).await.unwrap().len(), 1);
}
