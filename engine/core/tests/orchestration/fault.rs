//! C-FAULT-ROWS, C-FAULT-NESTED and C-FAULT-STATUS.

use serde_json::{Value, json};
use stagecraft_core::run::{MilestoneKind, StageStatus, StepStatus, WorkItemStatus};
use stagecraft_core::{FlowFailureKind, RunStatus};

use crate::support::{Driver, bg, interactive, orchestration, stage, with};

/// Main path: stage `s` (steps a, b and interactive r) with `fault_path`, then stage `t`.
fn guarded(fault_path: Value) -> Value {
    orchestration(json!([
        with(
            stage(
                "s",
                json!([bg("a"), bg("b"), interactive("r", json!({"user": "alice"}))]),
                json!("t")
            ),
            "fault_path",
            fault_path
        ),
        stage("t", json!([bg("z")]), json!(null)),
    ]))
}

/// C-FAULT-ROWS row 1: the fault path ends in End and runs without error → Completed.
#[test]
fn c_fault_rows_fault_path_ending_in_end_completes() {
    let mut run = Driver::of(guarded(json!({"next": "fp", "elements": [
        stage("fp", json!([bg("f")]), json!("fp_end")),
        {"type": "end", "name": "fp_end"}
    ]})));
    run.trap("a", FlowFailureKind::Trap);
    assert_eq!(
        run.status(),
        RunStatus::InProgress,
        "the run goes on in the fault path"
    );
    assert_eq!(run.stage_status("fp"), StageStatus::InProgress);
    run.finish("f");
    assert_eq!(run.status(), RunStatus::Completed);
    assert!(run.run.latest_stage_run("t").is_none());
    assert!(!run.recorded("run", MilestoneKind::FailRun));
    assert!(run.recorded("run", MilestoneKind::EndRun));
}

/// C-FAULT-ROWS row 2: the fault path goes back to the main path by Go To → Completed.
#[test]
fn c_fault_rows_go_to_main_path_completes() {
    let mut run = Driver::of(guarded(json!({"next": "fp", "elements": [
        stage("fp", json!([bg("f")]), json!("t"))
    ]})));
    run.trap("a", FlowFailureKind::FlowError);
    run.finish("f");
    assert_eq!(run.stage_status("t"), StageStatus::InProgress);
    run.finish("z");
    assert_eq!(run.status(), RunStatus::Completed);
    let order: Vec<&str> = run.run.stages.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(order, ["s", "fp", "t"]);
}

/// C-FAULT-ROWS: the empty fault path going back runs the target next, nothing in between.
#[test]
fn c_fault_rows_empty_fault_path_go_to() {
    let mut run = Driver::of(guarded(json!({"next": "t"})));
    let actions = run.trap("a", FlowFailureKind::Trap);
    assert_eq!(run.status(), RunStatus::InProgress);
    let order: Vec<&str> = run.run.stages.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(order, ["s", "t"], "t runs directly after the failed stage");
    assert!(actions.iter().any(|a| matches!(
        a,
        stagecraft_core::Action::RunFlow { step, .. } if step.step == "z"
    )));
    run.finish("z");
    assert_eq!(run.status(), RunStatus::Completed);
}

/// C-FAULT-ROWS: a fault outlet with no next element ends the run, Completed.
#[test]
fn c_fault_rows_fault_outlet_to_end() {
    let mut run = Driver::of(guarded(json!({})));
    run.trap("a", FlowFailureKind::Trap);
    assert_eq!(run.status(), RunStatus::Completed);
}

/// C-FAULT-ROWS row 3: a stage inside the fault path errors and has no fault path → Error.
#[test]
fn c_fault_rows_error_inside_fault_path_is_error() {
    let mut run = Driver::of(guarded(json!({"next": "fp", "elements": [
        stage("fp", json!([bg("f")]), json!(null))
    ]})));
    run.trap("a", FlowFailureKind::Trap);
    run.trap("f", FlowFailureKind::Trap);
    assert_eq!(run.status(), RunStatus::Error);
    assert_eq!(run.stage_status("fp"), StageStatus::Error);
    assert_eq!(run.run.error.as_ref().map(|e| e.stage.as_str()), Some("fp"));
    assert_eq!(run.run.handled_errors.len(), 1);
}

/// C-FAULT-ROWS row 4: a stage with no fault path errors → Error.
#[test]
fn c_fault_rows_no_fault_path_is_error() {
    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([bg("a")]),
        json!(null)
    )])));
    run.trap("a", FlowFailureKind::Trap);
    assert_eq!(run.status(), RunStatus::Error);
    assert!(run.run.handled_errors.is_empty());
}

/// C-FAULT-NESTED: a stage in a fault path with its own fault path handles its own error.
#[test]
fn c_fault_nested_fault_path_stage_with_its_own_fault_path() {
    let inner = with(
        stage("fp", json!([bg("f")]), json!("t")),
        "fault_path",
        json!({"next": "fp2", "elements": [stage("fp2", json!([bg("g")]), json!("t"))]}),
    );
    let mut run = Driver::of(guarded(json!({"next": "fp", "elements": [inner]})));
    run.trap("a", FlowFailureKind::Trap);
    run.trap("f", FlowFailureKind::CpuBudget);
    assert_eq!(run.status(), RunStatus::InProgress);
    assert_eq!(run.stage_status("fp"), StageStatus::Error);
    assert_eq!(run.stage_status("fp2"), StageStatus::InProgress);
    run.finish("g");
    run.finish("z");
    assert_eq!(run.status(), RunStatus::Completed);
    assert_eq!(run.run.handled_errors.len(), 2);
}

/// C-FAULT-STATUS: a handled error keeps the failed stage and step in Error while the run goes
/// on and completes; the stage's other items are set as in the error table.
#[test]
fn c_fault_status_failed_stage_and_step_stay_in_error() {
    let mut run = Driver::of(guarded(json!({"next": "t"})));
    run.trap("b", FlowFailureKind::Trap);
    run.finish("z");
    assert_eq!(run.status(), RunStatus::Completed);
    assert_eq!(run.stage_status("s"), StageStatus::Error);
    assert_eq!(run.step_status("s", "b"), StepStatus::Error);
    assert_eq!(run.step_status("s", "a"), StepStatus::Discontinued);
    assert_eq!(run.step_status("s", "r"), StepStatus::Discontinued);
    assert_eq!(run.work_item("r").status, WorkItemStatus::Completed);
    assert!(run.run.error.is_none());
    let handled = &run.run.handled_errors[0];
    assert_eq!(
        (handled.stage.as_str(), handled.step.as_deref()),
        ("s", Some("b"))
    );
    assert!(run.recorded("s", MilestoneKind::FailStage));
    assert!(run.recorded("s.b", MilestoneKind::FailStep));
}
