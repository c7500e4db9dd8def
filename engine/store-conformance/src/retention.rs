//! Retention: what is removed, in batches, and what is kept.

// Each test body is named for the behaviour it checks.
#![allow(missing_docs)]

use std::sync::Arc;

use serde_json::json;
use stagecraft_core::FlowKind;
use stagecraft_core::run::{RunId, RunStatus, StepKey};
use stagecraft_store::{
    AuditAction, AuditFilter, AuditRecord, Commit, JobId, JobStatus, LivePins, NewFlow, NewJob,
    Quarantine, StartKey, StepLog, Store,
};

use crate::Harness;
use crate::support::{audit, t, variant};

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

pub async fn superseded_flow_versions_nothing_uses_are_pruned_and_the_rest_kept<H: Harness>(
    test: H,
) {
    let store = test.store();
    let deploy = |name: &str, bytes: &str, minutes| NewFlow {
        name: name.to_owned(),
        kind: FlowKind::Autolaunched,
        bytes: bytes.as_bytes().to_vec(),
        digest: format!("digest-of-{bytes}"),
        deployed_by: "ops".to_owned(),
        deployed_at: t(minutes),
        memory_mib: None,
    };
    for (name, bytes, minutes) in [
        ("score", "one", 0),
        ("score", "two", 1),
        ("score", "three", 2),
        ("score", "four", 3),
        ("score", "five", 40),
        ("form", "form", 0),
        ("rolled", "r1", 0),
        ("rolled", "r2", 1),
        ("late", "l1", 0),
        ("late", "l2", 60),
    ] {
        store
            .insert_flow(deploy(name, bytes, minutes), audit())
            .await
            .unwrap();
    }
    // Rolled back: the old version is active, the newer one superseded by nothing.
    store.activate_flow("rolled", 1, audit()).await.unwrap();
    store
        .quarantine_flow(
            "late",
            1,
            Quarantine {
                reason: "five CPU budgets in a row".to_owned(),
                since: t(5),
            },
            AuditRecord::done(
                t(5),
                "stagecraft",
                AuditAction::FlowQuarantine,
                "flow:late@1".to_owned(),
            ),
        )
        .await
        .unwrap();
    // Live runs pin score v2 by digest and, from before digests, v3 by number.
    let pins = std::sync::Arc::new(LivePins {
        digests: ["digest-of-two".to_owned()].into(),
        versions: [3].into(),
    });
    let versions = |flows: Vec<stagecraft_store::FlowRecord>| {
        flows
            .into_iter()
            .map(|f| (f.name, f.version))
            .collect::<Vec<_>>()
    };

    let removed = store
        .prune_flow_versions(t(50), pins.clone(), 1)
        .await
        .unwrap();
    assert_eq!(
        removed,
        [("score".to_owned(), 1)],
        "oldest first, one per batch"
    );
    let removed = store
        .prune_flow_versions(t(50), pins.clone(), 10)
        .await
        .unwrap();
    assert_eq!(removed, [("score".to_owned(), 4)]);
    assert!(
        store
            .prune_flow_versions(t(50), pins.clone(), 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing more goes"
    );
    assert_eq!(
        versions(store.flows().await.unwrap()),
        [
            ("form".to_owned(), 1),
            ("late".to_owned(), 1),
            ("late".to_owned(), 2),
            ("rolled".to_owned(), 1),
            ("rolled".to_owned(), 2),
            ("score".to_owned(), 2),
            ("score".to_owned(), 3),
            ("score".to_owned(), 5),
        ],
        "pinned, active, superseded too recently or by nothing: kept"
    );
    assert_eq!(store.flow_bytes("score", 1).await.unwrap(), None);
    assert!(
        store.activate_flow("score", 1, audit()).await.is_err(),
        "a removed version cannot be activated"
    );

    // Later, the quarantined version goes with its quarantine.
    let removed = store.prune_flow_versions(t(70), pins, 10).await.unwrap();
    assert_eq!(removed, [("late".to_owned(), 1)]);
    let late = store.flows().await.unwrap();
    assert!(late.iter().all(|f| f.name != "late" || f.version == 2));
    // Numbering goes on from the highest version, never reusing one.
    let next = store
        .insert_flow(deploy("score", "six", 101), audit())
        .await
        .unwrap();
    assert_eq!(next.version, 6);
}
