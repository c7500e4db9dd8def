//! C-STAGE-SEQ and C-OWNER.

use serde_json::json;
use stagecraft_core::run::{SYSTEM_PRINCIPAL, StageStatus, StepStatus};
use stagecraft_core::{Action, RunStatus};

use crate::support::{Driver, bg, orchestration, stage};

fn three_stages() -> serde_json::Value {
    orchestration(json!([
        stage("a", json!([bg("a1")]), json!("b")),
        stage("b", json!([bg("b1")]), json!("c")),
        stage("c", json!([bg("c1")]), json!(null)),
    ]))
}

/// C-STAGE-SEQ: stages run in sequence, one In Progress at a time, and a stage run record
/// exists only once the stage is In Progress.
#[test]
fn c_stage_seq_one_stage_at_a_time_records_created_on_start() {
    let mut run = Driver::of(three_stages());
    assert_eq!(run.run.stages.len(), 1, "only the first stage has a record");
    assert_eq!(run.stage_status("a"), StageStatus::InProgress);
    assert!(run.run.latest_stage_run("b").is_none());

    run.finish("a1");
    assert_eq!(run.run.stages.len(), 2);
    assert_eq!(run.stage_status("a"), StageStatus::Completed);
    assert_eq!(run.stage_status("b"), StageStatus::InProgress);
    assert!(run.run.latest_stage_run("c").is_none());
    let in_progress = run
        .run
        .stages
        .iter()
        .filter(|s| s.status == StageStatus::InProgress)
        .count();
    assert_eq!(in_progress, 1);

    run.finish("b1");
    run.finish("c1");
    assert_eq!(run.status(), RunStatus::Completed);
    let order: Vec<&str> = run.run.stages.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(order, ["a", "b", "c"]);
    assert_eq!(run.run.current, None);
}

/// C-STAGE-SEQ: a step of the next stage only starts once the previous stage completed.
#[test]
fn c_stage_seq_next_stage_steps_wait_for_previous_stage() {
    let run = Driver::of(three_stages());
    let flows: Vec<&str> = run
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::RunFlow { step, .. } => Some(step.step.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(flows, ["a1"]);
    assert_eq!(run.step_status("a", "a1"), StepStatus::InProgress);
}

/// C-OWNER: every stage run record is owned by the system principal.
#[test]
fn c_owner_stage_runs_are_owned_by_the_system_principal() {
    let mut run = Driver::of(three_stages());
    run.finish("a1");
    run.finish("b1");
    assert_eq!(run.run.stages.len(), 3);
    for stage in &run.run.stages {
        assert_eq!(stage.owner, SYSTEM_PRINCIPAL);
    }
}

/// Starting a run checks its inputs against the declared input variables, reporting every
/// problem.
#[test]
fn start_checks_inputs() {
    use stagecraft_core::{EventError, InputProblem, RunId, definition::ValueType};
    let def = json!({"format": 1, "name": "inputs", "inputs": [
        {"name": "amount", "type": "number", "required": true},
        {"name": "customer", "type": "object", "required": true},
        {"name": "note", "type": "text"}
    ], "elements": [stage("a", json!([bg("a1")]), json!(null))]});
    let plan = crate::support::plan(def);
    let start =
        |inputs| stagecraft_core::start(&plan, RunId("r".into()), inputs, crate::support::t(0));
    match start(json!({"amount": "ten", "note": null, "extra": 1})) {
        Err(EventError::InvalidInputs { problems }) => assert_eq!(
            problems,
            [
                InputProblem::WrongType {
                    name: "amount".into(),
                    expected: ValueType::Number
                },
                InputProblem::Missing {
                    name: "customer".into()
                },
                InputProblem::Unknown {
                    name: "extra".into()
                },
            ]
        ),
        other => panic!("expected invalid inputs, got {other:?}"),
    }
    assert!(matches!(
        start(json!([1])),
        Err(EventError::InvalidInputs { problems }) if problems == [InputProblem::NotAnObject]
    ));
    let ok = start(json!({"amount": 10.5, "customer": {"id": 1}})).expect("valid inputs");
    assert_eq!(ok.run.status, RunStatus::InProgress);
    assert_eq!(
        ok.run.history.len(),
        3,
        "Start Run, Start Stage, Start Step"
    );
}
