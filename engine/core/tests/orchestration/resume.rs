//! C-RESUME-ROWS, C-RESUME-WINDOW and C-RESUME-SWAP.

use jiff::SignedDuration;
use serde_json::json;
use stagecraft_core::run::{MilestoneKind, StageStatus, StepStatus, WorkItemStatus};
use stagecraft_core::{Action, Event, EventError, FlowFailureKind, Limits, RunStatus};

use crate::support::{Driver, bg, ext, failure, interactive, orchestration, plan, stage, user};

fn restarted(actions: &[Action]) -> Vec<(String, u32)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RunFlow { step, attempt, .. } | Action::CallAction { step, attempt, .. } => {
                Some((step.step.clone(), *attempt))
            }
            _ => None,
        })
        .collect()
}

/// C-RESUME-ROWS: all five rows of the resume table, pending outputs included.
#[test]
fn c_resume_rows_resume_table() {
    let def = orchestration(json!([stage(
        "s",
        json!([
            bg("a"),
            bg("b"),
            bg("c"),
            ext("x"),
            ext("y"),
            interactive("r", json!({"user": "alice"}))
        ]),
        json!(null)
    )]));
    let mut run = Driver::of(def);
    let first_item = run.work_item("r").id;
    run.trap("a", FlowFailureKind::Trap);
    // Results that arrive after the run failed: outputs are kept as pending outputs.
    run.finish_with("c", json!({"v": 1}));
    run.action_done("x", Ok(json!({"sent": true})));
    let failed_late = run.send(run.flow_event("b", Err(failure(FlowFailureKind::Trap))));
    assert!(matches!(
        failed_late,
        Err(EventError::NotAwaitingResult { .. })
    ));
    assert!(
        run.stage("s").steps[2].pending.is_some(),
        "c's outputs are pending"
    );
    assert_eq!(run.step_status("s", "c"), StepStatus::Discontinued);

    let actions = run.ok(Event::Resume { by: "ops".into() });
    // Stage: Error → In Progress.
    assert_eq!(run.stage_status("s"), StageStatus::InProgress);
    // Errored background step restarts; discontinued ones without pending outputs restart.
    assert_eq!(
        restarted(&actions),
        [
            ("a".to_owned(), 2),
            ("b".to_owned(), 2),
            ("y".to_owned(), 2)
        ]
    );
    for step in ["a", "b", "y", "r"] {
        assert_eq!(run.step_status("s", step), StepStatus::InProgress, "{step}");
    }
    // Discontinued with pending outputs: processed, not run again → Completed.
    assert_eq!(run.step_status("s", "c"), StepStatus::Completed);
    assert_eq!(run.stage("s").steps[2].outputs, Some(json!({"v": 1})));
    assert_eq!(run.step_status("s", "x"), StepStatus::Completed);
    // Interactive: a replacement work item.
    let replacement = run.work_item("r");
    assert_eq!(replacement.replacement_of, Some(first_item));
    assert_eq!(replacement.status, WorkItemStatus::Assigned);
    assert!(actions.iter().any(
        |a| matches!(a, Action::CreateWorkItem { work_item, .. } if *work_item == replacement.id)
    ));

    run.finish("a");
    run.finish("b");
    run.action_done("y", Ok(json!({})));
    run.complete("r", user("alice"), json!({}))
        .expect("completes");
    assert_eq!(run.status(), RunStatus::Completed);
}

/// C-RESUME-ROWS: an interactive step in Error gets a replacement work item on resume.
#[test]
fn c_resume_rows_interactive_error_gets_replacement() {
    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([interactive("r", json!({"user": "alice"}))]),
        json!(null)
    )])));
    let first = run.work_item("r").id;
    run.ok(Event::WorkItemCompleted {
        work_item: first.clone(),
        by: user("alice"),
        answers: serde_json::Value::Null,
        result: Err(failure(FlowFailureKind::Trap)),
    });
    assert_eq!(run.step_status("s", "r"), StepStatus::Error);
    run.ok(Event::Resume { by: "ops".into() });
    let second = run.work_item("r");
    assert_ne!(second.id, first);
    assert_eq!(second.replacement_of, Some(first));
    assert_eq!(run.step_status("s", "r"), StepStatus::InProgress);
    assert!(run.recorded("run", MilestoneKind::ResumeRun));
}

/// C-RESUME-WINDOW: resume within 14 days works; after them it is refused with the reason.
#[test]
fn c_resume_window_default_fourteen_days() {
    let def = || orchestration(json!([stage("s", json!([bg("a")]), json!(null))]));
    let fourteen_days = 14 * 24 * 60;

    let mut run = Driver::of(def());
    run.trap("a", FlowFailureKind::Trap);
    run.wait(fourteen_days - 1);
    run.ok(Event::Resume { by: "ops".into() });
    assert_eq!(run.status(), RunStatus::InProgress);

    let mut run = Driver::of(def());
    run.wait(5);
    run.trap("a", FlowFailureKind::Trap);
    run.wait(fourteen_days + 1);
    match run.send(Event::Resume { by: "ops".into() }) {
        Err(error @ EventError::WindowExpired { .. }) => {
            assert!(error.to_string().contains("recovery window closed"));
        }
        other => panic!("expected WindowExpired, got {other:?}"),
    }
    assert_eq!(run.status(), RunStatus::Error);
}

/// C-RESUME-WINDOW: the window is configurable.
#[test]
fn c_resume_window_configurable() {
    let limits = Limits {
        recovery_window: SignedDuration::from_hours(1),
        ..Limits::default()
    };
    let plan = plan(orchestration(json!([stage(
        "s",
        json!([bg("a")]),
        json!(null)
    )])))
    .with_limits(limits);
    let mut run = Driver::start(plan, json!({}));
    run.trap("a", FlowFailureKind::MemoryLimit);
    run.wait(61);
    let refused = run.send(Event::Resume { by: "ops".into() });
    assert!(matches!(refused, Err(EventError::WindowExpired { .. })));
}

/// C-RESUME-SWAP: a trapping flow, a fixed version deployed, resume: the step reruns on the
/// version active at resume time and the run completes.
#[test]
fn c_resume_swap_step_reruns_on_fixed_version() {
    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([bg("a")]),
        json!(null)
    )])));
    let (key, attempt) = run.call("a");
    run.ok(Event::FlowFinished {
        step: key.clone(),
        attempt,
        flow_version: 1,
        result: Err(failure(FlowFailureKind::Trap)),
    });
    assert_eq!(run.stage("s").steps[0].flow_version, Some(1));
    // The operator deploys version 2 of `auto`, then resumes: the engine runs what is active.
    let actions = run.ok(Event::Resume { by: "ops".into() });
    assert_eq!(restarted(&actions), [("a".to_owned(), 2)]);
    let late = run.send(Event::FlowFinished {
        step: key.clone(),
        attempt: 1,
        flow_version: 1,
        result: Ok(json!({})),
    });
    assert!(matches!(
        late,
        Err(EventError::StaleAttempt {
            expected: 2,
            got: 1,
            ..
        })
    ));
    run.ok(Event::FlowFinished {
        step: key,
        attempt: 2,
        flow_version: 2,
        result: Ok(json!({"fixed": true})),
    });
    assert_eq!(run.status(), RunStatus::Completed);
    assert_eq!(run.stage("s").steps[0].flow_version, Some(2));
    assert_eq!(run.stage("s").steps[0].attempt, 2);
}
