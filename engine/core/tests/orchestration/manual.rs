//! C-SUSPEND, C-CANCEL and C-MILESTONES.

use std::collections::BTreeSet;

use serde_json::json;
use stagecraft_core::run::{
    MilestoneKind, MilestoneRecord, StageStatus, StepStatus, WorkItemStatus,
};
use stagecraft_core::{Event, EventError, FlowFailureKind, RunStatus};

use crate::support::{Driver, bg, interactive, orchestration, requirements, stage, user, with};

fn two_stages() -> Driver {
    Driver::of(orchestration(json!([
        stage(
            "s",
            json!([bg("a"), interactive("r", json!({"user": "alice"}))]),
            json!("t")
        ),
        stage("t", json!([bg("z")]), json!(null)),
    ])))
}

fn suspend(by: &str) -> Event {
    Event::Suspend { by: by.into() }
}

fn resume(by: &str) -> Event {
    Event::Resume { by: by.into() }
}

fn cancel(by: &str) -> Event {
    Event::Cancel { by: by.into() }
}

/// C-SUSPEND: statuses and milestones with the actor; results arriving meanwhile are kept as
/// pending and processed on resume; refusals.
#[test]
fn c_suspend_pending_results_kept_and_processed_on_resume() {
    let mut run = two_stages();
    run.ok(suspend("sam"));
    assert_eq!(run.status(), RunStatus::Suspended);
    assert_eq!(run.stage_status("s"), StageStatus::Suspended);
    let tail: Vec<_> = run.run.history.iter().rev().take(2).collect();
    assert_eq!(tail[1].kind, MilestoneKind::SuspendRun);
    assert_eq!(tail[0].kind, MilestoneKind::SuspendStage);
    assert!(tail.iter().all(|m| m.actor.as_deref() == Some("sam")));

    // Results while suspended: kept, not processed.
    run.finish_with("a", json!({"x": 1}));
    run.complete("r", user("alice"), json!({"ok": true}))
        .expect("the assignee may complete while suspended");
    assert_eq!(run.step_status("s", "a"), StepStatus::InProgress);
    assert!(run.stage("s").steps[0].pending.is_some());
    assert!(run.stage("s").steps[1].pending.is_some());
    let duplicate = run.send(run.flow_event("a", Ok(json!({}))));
    assert!(matches!(duplicate, Err(EventError::AlreadyRecorded { .. })));

    // Refusals.
    let again = run.send(suspend("sam")).unwrap_err();
    assert!(matches!(
        again,
        EventError::CannotSuspend {
            status: RunStatus::Suspended
        }
    ));
    assert!(again.to_string().contains("cannot be suspended"));
    let published = run.send(Event::EventPublished { name: "x".into() });
    assert!(matches!(published, Err(EventError::NotInProgress { .. })));

    run.ok(resume("rita"));
    let resumed: Vec<_> = run
        .run
        .history
        .iter()
        .filter(|m| m.actor.as_deref() == Some("rita"))
        .map(|m| m.kind)
        .collect();
    assert_eq!(
        &resumed[..3],
        [
            MilestoneKind::ResumeRun,
            MilestoneKind::StartRun,
            MilestoneKind::StartStage
        ]
    );
    assert_eq!(run.step_status("s", "a"), StepStatus::Completed);
    assert_eq!(run.stage("s").steps[0].outputs, Some(json!({"x": 1})));
    assert_eq!(run.step_status("s", "r"), StepStatus::Completed);
    assert_eq!(run.stage_status("s"), StageStatus::Completed);
    assert_eq!(run.stage_status("t"), StageStatus::InProgress);
    run.finish("z");
    assert_eq!(run.status(), RunStatus::Completed);
    let done = run.send(suspend("sam"));
    assert!(matches!(
        done,
        Err(EventError::CannotSuspend {
            status: RunStatus::Completed
        })
    ));
    let done = run.send(resume("sam"));
    assert!(matches!(
        done,
        Err(EventError::CannotResume {
            status: RunStatus::Completed
        })
    ));
}

/// C-SUSPEND: a failure arriving while suspended is processed on resume, failing the run.
#[test]
fn c_suspend_pending_failure_processed_on_resume() {
    let mut run = two_stages();
    run.ok(suspend("sam"));
    run.trap("a", FlowFailureKind::Trap);
    assert_eq!(run.status(), RunStatus::Suspended);
    run.ok(resume("sam"));
    assert_eq!(run.status(), RunStatus::Error);
    assert_eq!(run.step_status("s", "a"), StepStatus::Error);
}

/// C-SUSPEND: a run in Error cannot be suspended.
#[test]
fn c_suspend_refused_in_error() {
    let mut run = two_stages();
    run.trap("a", FlowFailureKind::Trap);
    let refused = run.send(suspend("sam"));
    assert!(matches!(
        refused,
        Err(EventError::CannotSuspend {
            status: RunStatus::Error
        })
    ));
}

/// C-CANCEL: run Canceled, its stage Canceled, running steps Discontinued, work items closed;
/// a canceled run cannot be resumed, canceled again or fed results.
#[test]
fn c_cancel_statuses_milestones_and_refusals() {
    let mut run = two_stages();
    let event = run.flow_event("a", Ok(json!({})));
    run.ok(cancel("carl"));
    assert_eq!(run.status(), RunStatus::Canceled);
    assert_eq!(run.stage_status("s"), StageStatus::Canceled);
    assert_eq!(run.step_status("s", "a"), StepStatus::Discontinued);
    assert_eq!(run.work_item("r").status, WorkItemStatus::Completed);
    assert!(run.recorded("run", MilestoneKind::CancelRun));
    assert!(run.recorded("s", MilestoneKind::DiscontinueStage));
    assert!(
        run.run
            .history
            .iter()
            .filter(|m| m.kind == MilestoneKind::CancelRun)
            .all(|m| m.actor.as_deref() == Some("carl"))
    );
    let refused = run.send(resume("carl")).unwrap_err();
    assert!(matches!(
        refused,
        EventError::CannotResume {
            status: RunStatus::Canceled
        }
    ));
    assert!(refused.to_string().contains("cannot be resumed"));
    let again = run.send(cancel("carl"));
    assert!(matches!(
        again,
        Err(EventError::CannotCancel {
            status: RunStatus::Canceled
        })
    ));
    let late = run.send(event);
    assert!(matches!(
        late,
        Err(EventError::RunFinished {
            status: RunStatus::Canceled
        })
    ));
    let published = run.send(Event::EventPublished { name: "x".into() });
    assert!(published.is_err());
}

/// C-CANCEL: suspended and errored runs may be canceled; completed ones may not.
#[test]
fn c_cancel_from_suspended_and_error_not_completed() {
    let mut run = two_stages();
    run.ok(suspend("sam"));
    run.ok(cancel("carl"));
    assert_eq!(run.status(), RunStatus::Canceled);
    assert_eq!(run.stage_status("s"), StageStatus::Canceled);

    let mut run = two_stages();
    run.trap("a", FlowFailureKind::Trap);
    run.ok(cancel("carl"));
    assert_eq!(run.status(), RunStatus::Canceled);
    assert_eq!(
        run.stage_status("s"),
        StageStatus::Error,
        "the failed stage keeps its Error"
    );

    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([bg("a")]),
        json!(null)
    )])));
    run.finish("a");
    let refused = run.send(cancel("carl"));
    assert!(matches!(
        refused,
        Err(EventError::CannotCancel {
            status: RunStatus::Completed
        })
    ));
}

/// C-MILESTONES: every milestone of SPEC §2 is recorded, manual ones with their actor.
#[test]
fn c_milestones_every_kind_recorded_with_actor_on_manual_actions() {
    let exit = requirements(&[("step.s.a.status", "equals", json!("completed"))]);
    let def = orchestration(json!([with(
        stage("s", json!([bg("a"), bg("b")]), json!(null)),
        "exit",
        json!({"requirements": exit})
    )]));
    let mut completed = Driver::of(def.clone());
    completed.ok(suspend("sam"));
    completed.ok(resume("rita"));
    completed.trap("a", FlowFailureKind::Trap);
    completed.ok(resume("rita"));
    completed.finish("a");
    assert_eq!(completed.status(), RunStatus::Completed);

    let mut canceled = Driver::of(def);
    canceled.ok(cancel("carl"));

    let kinds: BTreeSet<String> = completed
        .run
        .history
        .iter()
        .chain(&canceled.run.history)
        .map(|m| format!("{:?}", m.kind))
        .collect();
    use MilestoneKind::*;
    for kind in [
        StartRun,
        EndRun,
        SuspendRun,
        CancelRun,
        ResumeRun,
        FailRun,
        StartStage,
        EndStage,
        SuspendStage,
        DiscontinueStage,
        FailStage,
        StartStep,
        EndStep,
        DiscontinueStep,
        FailStep,
    ] {
        assert!(
            kinds.contains(&format!("{kind:?}")),
            "{kind:?} never recorded"
        );
    }
    let history = &completed.run.history;
    assert_eq!(history[0].kind, StartRun);
    assert_eq!(history[0].actor, None, "the initial start is not manual");
    for milestone in history {
        let manual = matches!(milestone.kind, SuspendRun | SuspendStage | ResumeRun);
        if manual {
            assert!(milestone.actor.is_some(), "{milestone:?}");
        }
        if matches!(milestone.kind, FailRun | FailStep | EndRun) {
            assert_eq!(milestone.actor, None, "{milestone:?}");
        }
    }
    let restart = history
        .iter()
        .filter(|m| m.kind == StartRun && m.record == MilestoneRecord::Run)
        .filter_map(|m| m.actor.as_deref())
        .collect::<Vec<_>>();
    assert_eq!(
        restart,
        ["rita", "rita"],
        "Start Run on each manual resume, by its actor"
    );
}
