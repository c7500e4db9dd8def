//! Run commits, their projections, and the run and work-item queries.

// Each test body is named for the behaviour it checks.
#![allow(missing_docs)]

use std::sync::Arc;

use stagecraft_core::run::{RunId, WorkItemStatus};
use stagecraft_core::{Run, RunStatus};
use stagecraft_store::{Commit, RunFilter, StartKey, Store, StoreError, WorkItemFilter};

use crate::Harness;
use crate::support::{Loan, group, ids, renamed, stage_of, t, user, variant};

pub async fn a_realistic_run_round_trips_exactly<H: Harness>(test: H) {
    let mut loan = Loan::waiting_for_review("run-1");
    loan.approve();
    assert!(!loan.run.history.is_empty() && !loan.run.work_items.is_empty());
    test.store().commit_runs(vec![loan.shared()]).await.unwrap();

    let stored = test.store().run(&RunId("run-1".into())).await.unwrap();
    assert_eq!(stored, Some(loan.run.clone()));
    let summaries = test.store().runs(RunFilter::default()).await.unwrap();
    assert_eq!(summaries.len(), 1);
    let summary = &summaries[0];
    assert_eq!(summary.orchestration, "loan");
    assert_eq!(summary.version, loan.run.version);
    assert_eq!(summary.status, RunStatus::InProgress);
    // Nanosecond-exact: t() has a .123456789 s part.
    assert_eq!(summary.started_at, t(0));
    assert_eq!(summary.updated_at, loan.now);
    assert_eq!(test.store().run(&RunId("nope".into())).await.unwrap(), None);
}

/// Stores written before states were compressed kept plain JSON text in
/// the `state` column; such rows still read, including after a restart, and
/// the next commit of the run rewrites them compressed.
pub async fn committing_a_run_again_replaces_it<H: Harness>(test: H) {
    let mut loan = Loan::start("run-1");
    test.store().commit_runs(vec![loan.shared()]).await.unwrap();
    let first = test.store().runs(RunFilter::default()).await.unwrap();
    loan.finish_score();
    loan.approve();
    test.store().commit_runs(vec![loan.shared()]).await.unwrap();

    let stored = test.store().run(&RunId("run-1".into())).await.unwrap();
    assert_eq!(stored, Some(loan.run.clone()));
    let summaries = test.store().runs(RunFilter::default()).await.unwrap();
    assert_eq!(ids(&summaries), ["run-1"], "replaced, not added");
    assert_eq!(summaries[0].started_at, first[0].started_at);
    assert_eq!(summaries[0].updated_at, loan.now);
    assert!(summaries[0].updated_at > first[0].updated_at);
}

pub async fn work_item_rows_follow_the_run_state<H: Harness>(test: H) {
    let mut loan = Loan::waiting_for_review("run-1");
    test.store().commit_runs(vec![loan.shared()]).await.unwrap();
    let alice_open = WorkItemFilter {
        assignees: vec![user("alice")],
        open_only: true,
        run: None,
    };
    let open = test.store().work_items(alice_open.clone()).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].run, RunId("run-1".into()));
    assert_eq!(open[0].item, loan.work_item("review"));
    assert_eq!(open[0].item.status, WorkItemStatus::Assigned);
    let review = loan.work_item("review").id;
    assert_eq!(
        test.store().work_item(&review).await.unwrap(),
        Some(open[0].clone())
    );

    loan.approve();
    test.store().commit_runs(vec![loan.shared()]).await.unwrap();

    assert!(
        test.store()
            .work_items(alice_open)
            .await
            .unwrap()
            .is_empty()
    );
    let closed = test.store().work_item(&review).await.unwrap().unwrap();
    assert_eq!(closed.item.status, WorkItemStatus::Completed);
    assert_eq!(closed.item, loan.work_item("review"));
    // The sign-off is now open for the underwriters group, and for a user
    // asking with their memberships.
    let underwriters = WorkItemFilter {
        assignees: vec![user("uma"), group("underwriters")],
        open_only: true,
        run: None,
    };
    let open = test.store().work_items(underwriters).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].item, loan.work_item("sign_off"));
    // Every item of the run, oldest first.
    let all = test
        .store()
        .work_items(WorkItemFilter {
            run: Some(RunId("run-1".into())),
            ..WorkItemFilter::default()
        })
        .await
        .unwrap();
    let items: Vec<_> = all.into_iter().map(|record| record.item).collect();
    assert_eq!(items, loan.run.work_items);
    let other_run = WorkItemFilter {
        run: Some(RunId("run-2".into())),
        ..WorkItemFilter::default()
    };
    assert!(test.store().work_items(other_run).await.unwrap().is_empty());
}

pub async fn runs_are_listed_newest_first_filtered_and_limited<H: Harness>(test: H) {
    test.store()
        .commit_runs(vec![
            variant("a", RunStatus::Completed, "loan", 1),
            variant("b", RunStatus::InProgress, "loan", 2),
            variant("c", RunStatus::InProgress, "lease", 3),
            variant("d", RunStatus::Error, "loan", 4),
        ])
        .await
        .unwrap();
    let list = |filter| test.store().runs(filter);

    assert_eq!(
        ids(&list(RunFilter::default()).await.unwrap()),
        ["d", "c", "b", "a"]
    );
    let in_progress = RunFilter {
        status: Some(RunStatus::InProgress),
        ..RunFilter::default()
    };
    assert_eq!(ids(&list(in_progress.clone()).await.unwrap()), ["c", "b"]);
    let loans = RunFilter {
        orchestration: Some("loan".into()),
        ..RunFilter::default()
    };
    assert_eq!(ids(&list(loans.clone()).await.unwrap()), ["d", "b", "a"]);
    let both = RunFilter {
        orchestration: Some("loan".into()),
        ..in_progress
    };
    assert_eq!(ids(&list(both).await.unwrap()), ["b"]);
    let two = RunFilter {
        limit: Some(2),
        ..loans
    };
    assert_eq!(ids(&list(two).await.unwrap()), ["d", "b"]);
}

pub async fn listings_default_to_100_runs_and_cap_at_1000<H: Harness>(test: H) {
    let template = Loan::start("template").run;
    let runs: Vec<Arc<Run>> = (0..1001)
        .map(|i| renamed(&template, &format!("run-{i:04}")))
        .collect();
    test.store().commit_runs(runs).await.unwrap();
    let default = test.store().runs(RunFilter::default()).await.unwrap();
    assert_eq!(default.len(), 100);
    let huge = RunFilter {
        limit: Some(5000),
        ..RunFilter::default()
    };
    assert_eq!(test.store().runs(huge).await.unwrap().len(), 1000);
}

pub async fn unfinished_runs_are_in_progress_suspended_or_in_error<H: Harness>(test: H) {
    let runs = vec![
        variant("a", RunStatus::InProgress, "loan", 1),
        variant("b", RunStatus::Completed, "loan", 2),
        variant("c", RunStatus::Suspended, "loan", 3),
        variant("d", RunStatus::Canceled, "loan", 4),
        variant("e", RunStatus::Error, "loan", 5),
    ];
    test.store().commit_runs(runs.clone()).await.unwrap();
    let unfinished = test.store().unfinished_runs().await.unwrap().runs;
    let expected: Vec<Run> = [&runs[0], &runs[2], &runs[4]]
        .into_iter()
        .map(|run| (**run).clone())
        .collect();
    assert_eq!(unfinished, expected);
}

/// A step's log is kept per attempt; a re-executed attempt replaces it.
pub async fn step_logs_are_kept_per_attempt_and_replaced_on_reexecution<H: Harness>(test: H) {
    use stagecraft_core::run::StepKey;
    use stagecraft_store::{StepLog, StepLogLine};

    let loan = Loan::waiting_for_review("run-1");
    test.store().commit_runs(vec![loan.shared()]).await.unwrap();
    let run = loan.run;
    let log = |attempt: u32, message: &str| StepLog {
        run: run.id.clone(),
        step: StepKey {
            stage: "intake".into(),
            stage_run: 0,
            step: "score".into(),
        },
        attempt,
        flow_version: attempt,
        recorded_at: t(i64::from(attempt)),
        lines: vec![StepLogLine {
            stream: "stdout".into(),
            message: message.into(),
        }],
    };
    let logs = |runs: Vec<Arc<Run>>, step_logs| Commit {
        runs,
        step_logs,
        ..Commit::default()
    };
    test.store()
        .commit(logs(vec![], vec![log(1, "first try")]))
        .await
        .unwrap();
    test.store()
        .commit(logs(
            vec![Arc::new(run.clone())],
            vec![log(1, "first try, again")],
        ))
        .await
        .unwrap();
    test.store()
        .commit(logs(vec![], vec![log(2, "second try")]))
        .await
        .unwrap();
    let logs = test.store().step_logs(&run.id).await.unwrap();
    assert_eq!(logs, vec![log(1, "first try, again"), log(2, "second try")]);
}

/// The stage each live run is in, by name.
pub async fn live_runs_are_listed_by_the_stage_they_are_in<H: Harness>(test: H) {
    let scoring = Arc::new(Loan::start("a").run);
    // The store reads the stage off the state: rename b's to have two.
    let mut review = Loan::waiting_for_review("b").run;
    let current = review.current.expect("a current stage");
    review.stages[current].stage = "review".into();
    let review = Arc::new(review);
    let (first, second) = (stage_of(&scoring), stage_of(&review));
    assert_ne!(first, second, "two runs in two stages");
    test.store()
        .commit_runs(vec![
            scoring,
            review,
            variant("c", RunStatus::Completed, "loan", 3),
            variant("d", RunStatus::Error, "loan", 4),
        ])
        .await
        .unwrap();
    let in_stage = |stage: &str, status| RunFilter {
        stage: Some(stage.to_owned()),
        status,
        ..RunFilter::default()
    };
    let list = |filter| test.store().runs(filter);
    // A Completed run is in no stage any more, even though it has a last one.
    assert_eq!(
        ids(&list(in_stage(&first, None)).await.unwrap()),
        ["d", "a"]
    );
    assert_eq!(ids(&list(in_stage(&second, None)).await.unwrap()), ["b"]);
    let in_error = in_stage(&first, Some(RunStatus::Error));
    assert_eq!(ids(&list(in_error).await.unwrap()), ["d"]);
    assert!(list(in_stage("nowhere", None)).await.unwrap().is_empty());
}

/// Commits from many tasks at once all land, and a run committed twice in
/// order keeps its later state (the order of calls is the order of writes).
pub async fn concurrent_commits_all_land_and_the_last_state_wins<H: Harness>(test: H) {
    const TASKS: usize = 16;
    const PER_TASK: usize = 25;
    let template = Loan::waiting_for_review("template").run;
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = test.store().clone();
            let template = template.clone();
            tokio::spawn(async move {
                for i in 0..PER_TASK {
                    let run = renamed(&template, &format!("run-{task}-{i}"));
                    let mut done = (*run).clone();
                    done.status = RunStatus::Completed;
                    // Two pending commits of the same run, the later one last.
                    let first = store.commit_runs(vec![run]);
                    let second = store.commit_runs(vec![Arc::new(done)]);
                    let (first, second) = tokio::join!(first, second);
                    first?;
                    second?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task ran").expect("commits succeed");
    }
    let counts = test.store().run_counts(None).await.unwrap();
    assert_eq!(
        counts,
        vec![(RunStatus::Completed, (TASKS * PER_TASK) as u64)]
    );
    assert!(
        test.store()
            .unfinished_runs()
            .await
            .unwrap()
            .runs
            .is_empty()
    );
}

fn start_key(caller: &str, key: &str, run: &str, minutes: i64) -> StartKey {
    StartKey {
        caller: caller.to_owned(),
        key: key.to_owned(),
        request: format!("request of {run}"),
        run: RunId(run.to_owned()),
        at: t(minutes),
    }
}

pub async fn start_keys_are_held_once_per_caller_and_replaced_only_for_the_run_named<H: Harness>(
    test: H,
) {
    let store = test.store();
    let first = start_key("alice", "k-1", "run-1", 0);
    assert_eq!(
        store.hold_start_key(first.clone(), None).await.unwrap(),
        None
    );
    // The same key again, for another run: the first holding answers, unchanged.
    let again = start_key("alice", "k-1", "run-2", 1);
    assert_eq!(
        store.hold_start_key(again.clone(), None).await.unwrap(),
        Some(first.clone())
    );
    // Keys are per caller.
    let bobs = start_key("bob", "k-1", "run-3", 1);
    assert_eq!(store.hold_start_key(bobs, None).await.unwrap(), None);
    // Replacing a run that no longer holds the key answers with the holder.
    let stale = RunId("run-9".to_owned());
    assert_eq!(
        store
            .hold_start_key(again.clone(), Some(stale))
            .await
            .unwrap(),
        Some(first.clone())
    );
    // Replacing the run that holds it takes the key over.
    assert_eq!(
        store
            .hold_start_key(again.clone(), Some(first.run.clone()))
            .await
            .unwrap(),
        None
    );
    let test = test.reopen().await;
    let store = test.store();
    assert_eq!(
        store
            .hold_start_key(start_key("alice", "k-1", "run-4", 2), None)
            .await
            .unwrap(),
        Some(again.clone()),
        "a holding is durable"
    );
    // Released only for the run that holds it.
    store
        .release_start_key("alice", "k-1", &first.run)
        .await
        .unwrap();
    assert_eq!(
        store
            .hold_start_key(start_key("alice", "k-1", "run-5", 3), None)
            .await
            .unwrap(),
        Some(again.clone())
    );
    store
        .release_start_key("alice", "k-1", &again.run)
        .await
        .unwrap();
    assert_eq!(
        store
            .hold_start_key(start_key("alice", "k-1", "run-6", 4), None)
            .await
            .unwrap(),
        None
    );
}
