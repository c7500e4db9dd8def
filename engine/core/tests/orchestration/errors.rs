//! C-ERR-STATUS, C-ERR-RECOVERABLE and C-ERR-FATAL.

use serde_json::{Value, json};
use stagecraft_core::run::{
    Closure, ErrorKind, EvalTarget, MilestoneKind, StageStatus, StepStatus, WorkItemStatus,
};
use stagecraft_core::{
    Action, Event, EventError, FlowFailure, FlowFailureKind, RunStatus, Unavailability,
};

use crate::support::{
    Driver, bg, ext, failure, interactive, orchestration, plan, stage, user, with,
};

fn busy_stage() -> Value {
    let later = with(bg("d"), "entry", json!({"after_step": {"step": "a"}}));
    orchestration(json!([
        stage(
            "s",
            json!([
                bg("a"),
                bg("b"),
                interactive("c", json!({"user": "alice"})),
                later
            ]),
            json!("t")
        ),
        stage("t", json!([bg("z")]), json!(null)),
    ]))
}

/// C-ERR-STATUS: the five rows of the error table, and never-started steps stay Not Started.
#[test]
fn c_err_status_error_table() {
    let mut run = Driver::of(busy_stage());
    let item = run.work_item("c");
    let actions = run.trap("a", FlowFailureKind::Trap);
    assert_eq!(run.status(), RunStatus::Error, "orchestration run → Error");
    assert_eq!(
        run.stage_status("s"),
        StageStatus::Error,
        "current stage run → Error"
    );
    assert_eq!(
        run.step_status("s", "a"),
        StepStatus::Error,
        "errored step run → Error"
    );
    assert_eq!(
        run.step_status("s", "b"),
        StepStatus::Discontinued,
        "in-progress → Discontinued"
    );
    assert_eq!(
        run.step_status("s", "c"),
        StepStatus::Discontinued,
        "in-progress → Discontinued"
    );
    let item = run
        .run
        .work_items
        .iter()
        .find(|w| w.id == item.id)
        .expect("work item");
    assert_eq!(
        item.status,
        WorkItemStatus::Completed,
        "Assigned work item → Completed"
    );
    assert!(matches!(item.closed_by, Some(Closure::System { .. })));
    assert!(actions.contains(&Action::CloseWorkItem {
        work_item: item.id.clone()
    }));
    assert_eq!(run.step_status("s", "d"), StepStatus::NotStarted);
    assert!(run.run.latest_stage_run("t").is_none());
    let error = run.run.error.clone().expect("error recorded");
    assert_eq!(error.kind, ErrorKind::Flow(FlowFailureKind::Trap));
    assert_eq!(error.step.as_deref(), Some("a"));
    assert_eq!(error.at, run.now);
    assert!(run.recorded("s.a", MilestoneKind::FailStep));
    assert!(run.recorded("s.b", MilestoneKind::DiscontinueStep));
    assert!(run.recorded("s", MilestoneKind::FailStage));
    assert!(run.recorded("run", MilestoneKind::FailRun));
}

fn resumable(run: &mut Driver) -> bool {
    assert_eq!(run.status(), RunStatus::Error);
    assert!(run.run.error.as_ref().is_some_and(|e| e.recoverable()));
    run.send(Event::Resume { by: "ops".into() }).is_ok() && run.status() == RunStatus::InProgress
}

/// C-ERR-RECOVERABLE: trap, CPU budget, memory limit, timeout, error result and
/// quarantine of a step's flow are resumable.
#[test]
fn c_err_recoverable_flow_failures() {
    for kind in [
        FlowFailureKind::Trap,
        FlowFailureKind::CpuBudget,
        FlowFailureKind::MemoryLimit,
        FlowFailureKind::Timeout,
        FlowFailureKind::FlowError,
        FlowFailureKind::BadOutput,
        FlowFailureKind::Quarantined,
    ] {
        let mut run = Driver::of(orchestration(json!([stage(
            "s",
            json!([bg("a")]),
            json!(null)
        )])));
        run.trap("a", kind);
        assert!(resumable(&mut run), "{kind:?}");
        assert_eq!(run.call("a").1, 2, "the step restarted");
    }
}

/// C-ERR-RECOVERABLE: an interactive step's screen flow failing is resumable.
#[test]
fn c_err_recoverable_screen_flow_failure() {
    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([interactive("r", json!({"user": "alice"}))]),
        json!(null)
    )])));
    let work_item = run.work_item("r").id;
    run.ok(Event::WorkItemCompleted {
        work_item,
        by: user("alice"),
        answers: json!({"approved": true}),
        result: Err(failure(FlowFailureKind::Trap)),
    });
    assert_eq!(run.step_status("s", "r"), StepStatus::Error);
    // The answers stay with the work item (a fix is dry-run against them),
    // and the error names the screen flow that failed.
    assert_eq!(
        run.run.work_items[0].answers,
        Some(json!({"approved": true}))
    );
    let failed = run.run.error.as_ref().and_then(|e| e.flow.as_ref());
    assert_eq!(failed.map(|f| f.name.as_str()), Some("screen"));
    assert!(resumable(&mut run));
}

/// C-ERR-RECOVERABLE: an evaluation flow failing (stage exit or step entry) is resumable.
#[test]
fn c_err_recoverable_evaluation_failure() {
    let def = orchestration(json!([with(
        stage(
            "s",
            json!([
                bg("a"),
                with(
                    bg("b"),
                    "entry",
                    json!({"evaluation_flow": {"flow": "eval"}})
                )
            ]),
            json!(null)
        ),
        "exit",
        json!({"evaluation_flow": {"flow": "eval"}})
    )]));
    let mut run = Driver::of(def.clone());
    let request = run.evaluation(&EvalTarget::StageExit);
    run.ok(Event::EvaluationFinished {
        request,
        result: Err(failure(FlowFailureKind::Trap)),
    });
    assert_eq!(run.stage_status("s"), StageStatus::Error);
    assert_eq!(run.run.error.as_ref().map(|e| e.step.clone()), Some(None));
    assert!(resumable(&mut run));

    let mut run = Driver::of(def);
    let request = run.evaluation(&EvalTarget::StepEntry { step: "b".into() });
    run.ok(Event::EvaluationFinished {
        request,
        result: Err(failure(FlowFailureKind::CpuBudget)),
    });
    assert_eq!(run.step_status("s", "b"), StepStatus::Error);
    assert!(resumable(&mut run));
    assert_eq!(
        run.step_status("s", "b"),
        StepStatus::NotStarted,
        "waits for its entry again"
    );
    assert!(run.last.iter().any(|a| matches!(
        a,
        Action::Evaluate {
            target: EvalTarget::StepEntry { .. },
            ..
        }
    )));
}

/// C-ERR-RECOVERABLE: a frozen or inactive assignee is resumable, with a replacement work item.
#[test]
fn c_err_recoverable_frozen_or_inactive_assignee() {
    for reason in [Unavailability::Frozen, Unavailability::Inactive] {
        let mut run = Driver::of(orchestration(json!([stage(
            "s",
            json!([interactive("r", json!({"user": "alice"}))]),
            json!(null)
        )])));
        let first = run.work_item("r").id;
        run.ok(Event::AssigneeUnavailable {
            work_item: first.clone(),
            reason,
        });
        assert_eq!(run.step_status("s", "r"), StepStatus::Error);
        assert!(resumable(&mut run), "{reason:?}");
        assert_eq!(run.work_item("r").replacement_of, Some(first));
    }
}

fn fatal(run: &mut Driver, expected: &ErrorKind) {
    assert_eq!(run.status(), RunStatus::Error);
    let error = run.run.error.clone().expect("error recorded");
    assert_eq!(&error.kind, expected);
    assert!(!error.recoverable());
    let refused = run.send(Event::Resume { by: "ops".into() });
    match refused {
        Err(EventError::NotRecoverable { kind, message }) => {
            assert_eq!(&kind, expected);
            assert!(!message.is_empty());
        }
        other => panic!("resume should be refused, got {other:?}"),
    }
}

/// C-ERR-FATAL: an input that does not resolve fails the step; resume is refused with reason.
#[test]
fn c_err_fatal_input_mapping() {
    let step = with(bg("a"), "inputs", json!({"n": {"ref": "input.amount"}}));
    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([step]),
        json!(null)
    )])));
    fatal(&mut run, &ErrorKind::InputMapping);
    assert_eq!(run.step_status("s", "a"), StepStatus::Error);
    assert!(
        run.run
            .error
            .as_ref()
            .is_some_and(|e| e.message.contains("input.amount"))
    );
}

/// C-ERR-FATAL: outputs that do not match the declared ones are a fatal error.
#[test]
fn c_err_fatal_output_processing() {
    for outputs in [json!({"score": "high"}), json!({}), json!([1])] {
        let step = with(
            bg("a"),
            "outputs",
            json!([{"name": "score", "type": "integer"}]),
        );
        let mut run = Driver::of(orchestration(json!([stage(
            "s",
            json!([step]),
            json!(null)
        )])));
        run.finish_with("a", outputs);
        fatal(&mut run, &ErrorKind::OutputProcessing);
    }
}

/// C-ERR-FATAL: an external action's error is fatal.
#[test]
fn c_err_fatal_external_action() {
    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([ext("x")]),
        json!(null)
    )])));
    run.action_done("x", Err("HTTP 500".into()));
    fatal(&mut run, &ErrorKind::ExternalAction);
    assert_eq!(run.step_status("s", "x"), StepStatus::Error);
}

/// C-ERR-FATAL: an assignee reference resolving to no user, group or queue is fatal, as is an
/// assignee the engine reports unresolvable.
#[test]
fn c_err_fatal_misconfigured_assignee() {
    for who in [
        json!("robot:r2"),
        json!(42),
        json!({"user": ""}),
        json!("alice"),
    ] {
        let def = orchestration(json!([stage(
            "s",
            json!([interactive("r", json!({"ref": "input.who"}))]),
            json!(null)
        )]));
        let mut run = Driver::start(plan(def), json!({"who": who}));
        fatal(&mut run, &ErrorKind::MisconfiguredAssignee);
    }
    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([interactive("r", json!({"group": "ghosts"}))]),
        json!(null)
    )])));
    let work_item = run.work_item("r").id;
    run.ok(Event::AssigneeUnavailable {
        work_item,
        reason: Unavailability::Unresolvable,
    });
    fatal(
        &mut run,
        &ErrorKind::AssigneeUnavailable(Unavailability::Unresolvable),
    );
}

/// A failure reported for a flow whose step is not a background step is refused.
#[test]
fn flow_result_for_an_external_step_is_refused() {
    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([ext("x")]),
        json!(null)
    )])));
    let (step, attempt) = run.call("x");
    let refused = run.send(Event::FlowFinished {
        step,
        attempt,
        flow_version: 1,
        result: Err(FlowFailure {
            kind: FlowFailureKind::Trap,
            message: "boom".into(),
        }),
    });
    assert!(matches!(refused, Err(EventError::WrongStepKind { .. })));
}

/// A Go To loop whose stage completes instantly is stopped by a fatal error instead of
/// spinning forever; fault paths do not handle it (they would loop again).
#[test]
fn instant_loop_is_stopped_as_a_fatal_error() {
    let exit = crate::support::requirements(&[("input.amount", "greater_than", json!(0))]);
    let looping = with(
        with(
            stage("a", json!([bg("x")]), json!("d")),
            "exit",
            json!({"requirements": exit}),
        ),
        "fault_path",
        json!({}),
    );
    let def = orchestration(json!([
        looping,
        {"type": "decision", "name": "d", "outcomes": [
            {"name": "again", "when": crate::support::requirements(&[("input.amount", "equals", json!(1))]), "next": "a"}
        ], "default": {}},
    ]));
    let limits = stagecraft_core::Limits {
        max_stage_entries_per_event: 5,
        ..stagecraft_core::Limits::default()
    };
    let mut run = Driver::start(plan(def.clone()).with_limits(limits), json!({"amount": 1}));
    assert_eq!(run.run.stages.len(), 6);
    fatal(&mut run, &ErrorKind::Looping);
    let run = Driver::start(plan(def), json!({"amount": 2}));
    assert_eq!(
        run.status(),
        RunStatus::Completed,
        "the loop is left when amount ≠ 1"
    );
}
