//! The audit log and resume jobs in the store: records written with the
//! effect they describe, job runs leaving Pending exactly once.

// Each test body is named for the behaviour it checks.
#![allow(missing_docs)]

use std::sync::Arc;

use serde_json::json;
use stagecraft_core::run::{RunId, RunStatus};
use stagecraft_store::{
    AuditAction, AuditFilter, AuditOutcome, AuditRecord, Commit, JobId, JobRunOutcome, JobRunState,
    JobStatus, NewJob, Store, StoreError,
};

use crate::Harness;
use crate::support::{Loan, renamed, t};

fn record(actor: &str, action: AuditAction, target: &str) -> AuditRecord {
    AuditRecord::done(t(1), actor, action, target.to_owned())
}

pub async fn audit_records_commit_with_their_run_and_read_back_newest_first_by_filter<
    H: Harness,
>(
    test: H,
) {
    let loan = Loan::start("r1");
    test.store()
        .commit(Commit {
            runs: vec![Arc::new(loan.run.clone())],
            audit: vec![record("admin", AuditAction::RunStart, "run:r1")],
            ..Commit::default()
        })
        .await
        .unwrap();
    test.store()
        .record_audit(vec![
            record("ada", AuditAction::FlowDeploy, "flow:score").refused("not an administrator"),
            record("admin", AuditAction::DryRun, "run:r1").with_detail(json!({"version": 2})),
        ])
        .await
        .unwrap();

    let all = test.store().audit(AuditFilter::default()).await.unwrap();
    let actions: Vec<AuditAction> = all.iter().map(|e| e.record.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::DryRun,
            AuditAction::FlowDeploy,
            AuditAction::RunStart
        ]
    );
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(all[0].record.detail, json!({"version": 2}));
    assert_eq!(
        all[1].record.outcome,
        AuditOutcome::Refused {
            reason: "not an administrator".to_owned()
        }
    );

    let about_run = test
        .store()
        .audit(AuditFilter {
            target: Some("run:r1".to_owned()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(about_run.len(), 2);
    let by_ada = test
        .store()
        .audit(AuditFilter {
            actor: Some("ada".to_owned()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(by_ada.len(), 1);
    let older = test
        .store()
        .audit(AuditFilter {
            before: Some(all[0].id),
            limit: Some(1),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].id, all[1].id);
}

pub async fn a_failed_commit_writes_neither_its_runs_nor_its_audit_records<H: Harness>(test: H) {
    let loan = Loan::start("r1");
    // An audit time outside what the store can index fails the whole
    // transaction, run included.
    let mut bad = record("admin", AuditAction::RunStart, "run:r1");
    bad.at = jiff::Timestamp::MAX;
    let result = test
        .store()
        .commit(Commit {
            runs: vec![Arc::new(loan.run.clone())],
            audit: vec![bad],
            ..Commit::default()
        })
        .await;
    assert!(result.is_err());
    assert!(test.store().run(&loan.run.id).await.unwrap().is_none());
    assert!(
        test.store()
            .audit(AuditFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn a_job_run_leaves_pending_once_and_a_finished_job_cannot_end_again<H: Harness>(
    test: H,
) {
    let loan = Loan::start("r1");
    let other = renamed(&loan.run, "r2");
    let id = JobId("job-1".to_owned());
    let created = test
        .store()
        .create_job(
            NewJob {
                id: id.clone(),
                spec: json!({"filter": {"flow": "score"}}),
                created_by: "admin".to_owned(),
                created_at: t(1),
                runs: vec![loan.run.id.clone(), other.id.clone()],
            },
            record("admin", AuditAction::JobStart, "job:job-1"),
        )
        .await
        .unwrap();
    assert_eq!(created.status, JobStatus::Running);
    assert_eq!((created.counts.total, created.counts.pending), (2, 2));

    let resumed = |outcome| JobRunOutcome {
        job: id.clone(),
        run: RunId("r1".to_owned()),
        outcome,
    };
    test.store()
        .commit(Commit {
            runs: vec![Arc::new(loan.run.clone())],
            job_runs: vec![resumed(Ok(()))],
            ..Commit::default()
        })
        .await
        .unwrap();
    // A second outcome for the same run changes nothing: it already left
    // Pending.
    test.store()
        .commit(Commit {
            job_runs: vec![resumed(Err("again".to_owned()))],
            ..Commit::default()
        })
        .await
        .unwrap();
    test.store()
        .commit(Commit {
            job_runs: vec![JobRunOutcome {
                job: id.clone(),
                run: other.id.clone(),
                outcome: Err("the recovery window is over".to_owned()),
            }],
            ..Commit::default()
        })
        .await
        .unwrap();

    let job = test.store().job(&id).await.unwrap().expect("the job");
    assert_eq!(
        (job.counts.resumed, job.counts.refused, job.counts.pending),
        (1, 1, 0)
    );
    assert_eq!(job.refusals.len(), 1);
    assert_eq!(job.refusals[0].reason, "the recovery window is over");
    let pending = test
        .store()
        .job_runs(&id, Some(JobRunState::Pending), 10)
        .await
        .unwrap();
    assert!(pending.is_empty());
    let all = test.store().job_runs(&id, None, 10).await.unwrap();
    assert_eq!(all[0].state, JobRunState::Resumed);
    assert_eq!(all[0].reason, None);

    let done = test
        .store()
        .finish_job(&id, JobStatus::Completed, t(2), None)
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert!(matches!(
        test.store()
            .finish_job(&id, JobStatus::Canceled, t(3), None)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let running = test
        .store()
        .jobs(Some(JobStatus::Running), 10)
        .await
        .unwrap();
    assert!(running.is_empty());
    assert_eq!(test.store().jobs(None, 10).await.unwrap().len(), 1);
}

pub async fn runs_are_selected_by_status_and_orchestration_for_a_job<H: Harness>(test: H) {
    let mut loan = Loan::start("r1");
    let started = Arc::new(loan.run.clone());
    loan.run.status = RunStatus::Error;
    let failed = renamed(&loan.run, "r2");
    test.store()
        .commit_runs(vec![started, failed])
        .await
        .unwrap();
    let errors = test
        .store()
        .runs_with_status(RunStatus::Error, None)
        .await
        .unwrap();
    let ids: Vec<&str> = errors.runs.iter().map(|r| r.id.0.as_str()).collect();
    assert_eq!(ids, ["r2"]);
    let other = test
        .store()
        .runs_with_status(RunStatus::Error, Some(("lease".to_owned(), None)))
        .await
        .unwrap();
    assert!(other.runs.is_empty());
    let versioned = test
        .store()
        .runs_with_status(
            RunStatus::Error,
            Some((loan.run.orchestration.clone(), Some(loan.run.version))),
        )
        .await
        .unwrap();
    assert_eq!(versioned.runs.len(), 1);
}

/// Issue 20, defect 9: a commit built on one that failed (same lineage,
/// same run) fails unwritten, or the failed commit's transition would
/// become durable without its audit record though its caller was told it
/// failed. Commits of other runs, and of a new lineage, are written.
pub async fn a_commit_built_on_a_failed_one_fails_unwritten<H: Harness>(test: H) {
    let mut loan = Loan::start("r1");
    let other = renamed(&loan.run, "r2");
    let mut bad = record("admin", AuditAction::RunStart, "run:r1");
    bad.at = jiff::Timestamp::MAX;
    let failed = test
        .store()
        .commit(Commit {
            runs: vec![loan.shared()],
            audit: vec![bad],
            lineage: Some(1),
            ..Commit::default()
        })
        .await;
    assert!(failed.is_err());
    loan.finish_score();
    let built_on_it = test
        .store()
        .commit(Commit {
            runs: vec![loan.shared()],
            audit: vec![record("admin", AuditAction::RunStart, "run:r1")],
            lineage: Some(1),
            ..Commit::default()
        })
        .await;
    assert!(built_on_it.is_err(), "a commit built on a failed one fails");
    assert!(test.store().run(&loan.run.id).await.unwrap().is_none());
    assert!(
        test.store()
            .audit(AuditFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    test.store()
        .commit(Commit {
            runs: vec![other.clone()],
            lineage: Some(1),
            ..Commit::default()
        })
        .await
        .expect("another run of the lineage is written");
    test.store()
        .commit(Commit {
            runs: vec![loan.shared()],
            lineage: Some(2),
            ..Commit::default()
        })
        .await
        .expect("a new lineage is written");
    assert_eq!(
        test.store().run(&loan.run.id).await.unwrap().as_ref(),
        Some(&loan.run)
    );
    assert!(test.store().run(&other.id).await.unwrap().is_some());
}
