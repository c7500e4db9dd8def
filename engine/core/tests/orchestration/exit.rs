//! C-EXIT-ALL, C-EXIT-REQ (run time) and C-EXIT-EVAL.

use serde_json::json;
use stagecraft_core::run::{EvalTarget, StageStatus, StepStatus};
use stagecraft_core::{Action, Event, EventError, RunStatus};

use crate::support::{Driver, bg, orchestration, requirements, stage, with};

/// C-EXIT-ALL: the stage completes when (and only when) all its steps are Completed.
#[test]
fn c_exit_all_stage_completes_when_all_steps_completed() {
    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([bg("a"), bg("b")]),
        json!(null)
    )])));
    run.finish("a");
    assert_eq!(run.stage_status("s"), StageStatus::InProgress);
    assert_eq!(run.status(), RunStatus::InProgress);
    run.finish("b");
    assert_eq!(run.stage_status("s"), StageStatus::Completed);
    assert_eq!(run.status(), RunStatus::Completed);
}

/// C-EXIT-REQ: the stage completes when its requirements are met; a still running step is
/// Discontinued, a never started one stays Not Started.
#[test]
fn c_exit_req_stage_completes_when_requirements_met() {
    let exit = requirements(&[("step.s.a.status", "equals", json!("completed"))]);
    let waiting = with(
        bg("c"),
        "entry",
        json!({"requirements": requirements(&[("input.amount", "greater_than", json!(1000))])}),
    );
    let def = orchestration(json!([with(
        stage("s", json!([bg("a"), bg("b"), waiting]), json!(null)),
        "exit",
        json!({"requirements": exit})
    )]));
    let mut run = Driver::start(crate::support::plan(def), json!({"amount": 5}));
    assert_eq!(run.step_status("s", "c"), StepStatus::NotStarted);
    run.finish("a");
    assert_eq!(run.stage_status("s"), StageStatus::Completed);
    assert_eq!(run.step_status("s", "b"), StepStatus::Discontinued);
    assert_eq!(run.step_status("s", "c"), StepStatus::NotStarted);
    assert_eq!(run.status(), RunStatus::Completed);
}

/// C-EXIT-REQ: requirements already met when the stage starts complete it at once.
#[test]
fn c_exit_req_met_at_stage_start() {
    let exit = requirements(&[("input.amount", "less_than", json!(10))]);
    let def = orchestration(json!([with(
        stage("s", json!([bg("a")]), json!(null)),
        "exit",
        json!({"requirements": exit})
    )]));
    let run = Driver::start(crate::support::plan(def), json!({"amount": 5}));
    assert_eq!(run.status(), RunStatus::Completed);
    assert_eq!(run.step_status("s", "a"), StepStatus::Discontinued);
}

fn eval_stage() -> serde_json::Value {
    orchestration(json!([
        with(
            stage("s", json!([bg("a"), bg("b")]), json!("t")),
            "exit",
            json!({"evaluation_flow": {"flow": "eval", "inputs": {"n": {"ref": "input.amount"}}}})
        ),
        stage("t", json!([bg("z")]), json!(null)),
    ]))
}

fn evaluations(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Evaluate { .. }))
        .count()
}

/// C-EXIT-EVAL: evaluated at stage start, stays In Progress while false, re-evaluated on each
/// step completion and each published event, completes on true; stale answers are refused.
#[test]
fn c_exit_eval_reevaluated_on_step_completion_and_events() {
    let mut run = Driver::start(crate::support::plan(eval_stage()), json!({"amount": 3}));
    assert_eq!(evaluations(&run.last), 1, "evaluated when the stage starts");
    let first = run.evaluation(&EvalTarget::StageExit);
    assert!(run.last.iter().any(|a| matches!(
        a,
        Action::Evaluate { flow, inputs, .. } if flow == "eval" && inputs == &json!({"n": 3})
    )));

    run.answer(&EvalTarget::StageExit, false);
    assert_eq!(run.stage_status("s"), StageStatus::InProgress);

    let actions = run.finish("a");
    assert_eq!(evaluations(&actions), 1, "re-evaluated on step completion");
    let actions = run.ok(Event::EventPublished {
        name: "payment_received".into(),
    });
    assert_eq!(
        evaluations(&actions),
        1,
        "re-evaluated on a published event"
    );
    let stale = run.send(Event::EvaluationFinished {
        request: first,
        result: Ok(true),
    });
    assert!(matches!(stale, Err(EventError::UnknownEvaluation { .. })));

    run.answer(&EvalTarget::StageExit, false);
    assert_eq!(run.stage_status("s"), StageStatus::InProgress);
    let answered = run.evaluation(&EvalTarget::StageExit);
    let again = run.send(Event::EvaluationFinished {
        request: answered,
        result: Ok(true),
    });
    assert!(
        matches!(again, Err(EventError::UnknownEvaluation { .. })),
        "an answered request is not answered twice"
    );
    run.ok(Event::EventPublished {
        name: "settled".into(),
    });
    run.answer(&EvalTarget::StageExit, true);
    assert_eq!(run.stage_status("s"), StageStatus::Completed);
    assert_eq!(run.step_status("s", "b"), StepStatus::Discontinued);
    assert_eq!(run.stage_status("t"), StageStatus::InProgress);
}

/// C-EXIT-EVAL: a superseded request's answer is refused even when it says true.
#[test]
fn c_exit_eval_superseded_answer_is_refused() {
    let mut run = Driver::start(crate::support::plan(eval_stage()), json!({"amount": 3}));
    let first = run.evaluation(&EvalTarget::StageExit);
    run.finish("a");
    let error = run
        .send(Event::EvaluationFinished {
            request: first,
            result: Ok(true),
        })
        .unwrap_err();
    assert!(matches!(error, EventError::UnknownEvaluation { request } if request == first));
    assert_eq!(run.stage_status("s"), StageStatus::InProgress);
}
