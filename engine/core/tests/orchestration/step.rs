//! C-STEP-ENTRY and C-STEP-INTERACTIVE, plus input mapping and interactive exits.

use serde_json::json;
use stagecraft_core::run::{Closure, EvalTarget, Principal, StepStatus, WorkItemStatus};
use stagecraft_core::{Action, Actor, Event, EventError, RunStatus};

use crate::support::{
    Driver, bg, interactive, orchestration, plan, requirements, stage, user, with,
};

fn started(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RunFlow { step, .. } | Action::CallAction { step, .. } => {
                Some(step.step.clone())
            }
            Action::CreateWorkItem { step, .. } => Some(step.step.clone()),
            _ => None,
        })
        .collect()
}

/// C-STEP-ENTRY: steps entering on stage start run side by side; an after_step step starts
/// when its predecessor completes.
#[test]
fn c_step_entry_stage_start_side_by_side_and_after_step() {
    let after = with(bg("c"), "entry", json!({"after_step": {"step": "a"}}));
    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([bg("a"), bg("b"), after]),
        json!(null)
    )])));
    assert_eq!(started(&run.last), ["a", "b"], "a and b start together");
    assert_eq!(run.step_status("s", "c"), StepStatus::NotStarted);
    let actions = run.finish("b");
    assert!(started(&actions).is_empty(), "b is not c's predecessor");
    let actions = run.finish("a");
    assert_eq!(started(&actions), ["c"]);
    run.finish("c");
    assert_eq!(run.status(), RunStatus::Completed);
}

/// C-STEP-ENTRY: a requirements entry starts its step once the requirements are met, checked
/// when a step completes; an unmet one stays Not Started.
#[test]
fn c_step_entry_requirements() {
    let gated = with(
        bg("b"),
        "entry",
        json!({"requirements": requirements(&[("step.s.a.outputs.ok", "equals", json!(true))])}),
    );
    let never = with(
        bg("c"),
        "entry",
        json!({"requirements": requirements(&[("input.amount", "greater_than", json!(100))])}),
    );
    let def = orchestration(json!([with(
        stage("s", json!([bg("a"), gated, never]), json!(null)),
        "exit",
        json!({"requirements": requirements(&[("step.s.b.status", "equals", json!("completed"))])})
    )]));
    let mut run = Driver::start(plan(def), json!({"amount": 1}));
    assert_eq!(run.step_status("s", "b"), StepStatus::NotStarted);
    let actions = run.finish_with("a", json!({"ok": true}));
    assert_eq!(started(&actions), ["b"]);
    run.finish("b");
    assert_eq!(run.status(), RunStatus::Completed);
    assert_eq!(run.step_status("s", "c"), StepStatus::NotStarted);
}

/// C-STEP-ENTRY: an evaluation-flow entry starts the step when the flow returns true.
#[test]
fn c_step_entry_evaluation_flow() {
    let gated = with(
        bg("b"),
        "entry",
        json!({"evaluation_flow": {"flow": "eval"}}),
    );
    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([bg("a"), gated]),
        json!(null)
    )])));
    let target = EvalTarget::StepEntry { step: "b".into() };
    run.answer(&target, false);
    assert_eq!(run.step_status("s", "b"), StepStatus::NotStarted);
    run.ok(Event::EventPublished { name: "go".into() });
    let actions = run.answer(&target, true);
    assert_eq!(started(&actions), ["b"]);
    assert_eq!(run.step_status("s", "b"), StepStatus::InProgress);
}

fn one_interactive(assignee: serde_json::Value) -> Driver {
    Driver::of(orchestration(json!([stage(
        "s",
        json!([with(
            interactive("review", assignee),
            "outputs",
            json!([{"name": "approved", "type": "boolean"}])
        )]),
        json!(null)
    )])))
}

/// C-STEP-INTERACTIVE: a work item for a user; someone else is refused; the user completes it.
#[test]
fn c_step_interactive_user_assignee() {
    let mut run = one_interactive(json!({"user": "alice"}));
    let item = run.work_item("review");
    assert_eq!(item.assignee, Principal::User("alice".into()));
    assert_eq!(item.id.0, "run-1/wi-1");
    assert!(run.last.iter().any(|a| matches!(
        a,
        Action::CreateWorkItem { assignee: Principal::User(u), screen_flow, .. }
            if u == "alice" && screen_flow == "screen"
    )));
    let refused = run.complete("review", user("mallory"), json!({"approved": true}));
    assert!(matches!(refused, Err(EventError::NotAssignee { .. })));
    run.complete("review", user("alice"), json!({"approved": true}))
        .expect("alice may complete");
    assert_eq!(run.status(), RunStatus::Completed);
    let item = run.work_item("review");
    assert_eq!(item.status, WorkItemStatus::Completed);
    assert_eq!(
        item.closed_by,
        Some(Closure::User {
            user: "alice".into()
        })
    );
    assert_eq!(
        run.stage("s").steps[0].outputs,
        Some(json!({"approved": true}))
    );
}

/// C-STEP-INTERACTIVE: group and queue work items accept members only; completing a closed
/// work item is refused.
#[test]
fn c_step_interactive_group_and_queue_members_only() {
    for (assignee, member) in [
        (
            json!({"group": "underwriters"}),
            Actor {
                user: "uma".into(),
                groups: vec!["underwriters".into()],
                queues: vec![],
            },
        ),
        (
            json!({"queue": "intake"}),
            Actor {
                user: "quinn".into(),
                groups: vec![],
                queues: vec!["intake".into()],
            },
        ),
    ] {
        let mut run = one_interactive(assignee);
        let outsider = Actor {
            user: "olga".into(),
            groups: vec!["other".into()],
            queues: vec!["other".into()],
        };
        let refused = run.complete("review", outsider, json!({"approved": true}));
        assert!(matches!(refused, Err(EventError::NotAssignee { .. })));
        run.complete("review", member.clone(), json!({"approved": true}))
            .expect("a member may complete");
        assert_eq!(run.status(), RunStatus::Completed);
        let again = run.complete("review", member, json!({"approved": true}));
        assert!(matches!(
            again,
            Err(EventError::RunFinished { .. } | EventError::WorkItemClosed { .. })
        ));
    }
}

/// C-STEP-INTERACTIVE: a work item closed by the system (stage completed) cannot be completed.
#[test]
fn c_step_interactive_closed_work_item_refused() {
    let def = orchestration(json!([
        with(
            stage(
                "s",
                json!([bg("a"), interactive("review", json!({"user": "alice"}))]),
                json!("t")
            ),
            "exit",
            json!({"requirements": requirements(&[("step.s.a.status", "equals", json!("completed"))])})
        ),
        stage("t", json!([bg("z")]), json!(null)),
    ]));
    let mut run = Driver::of(def);
    let actions = run.finish("a");
    let item = run.work_item("review");
    assert!(actions.contains(&Action::CloseWorkItem {
        work_item: item.id.clone()
    }));
    assert_eq!(item.status, WorkItemStatus::Completed);
    assert!(matches!(item.closed_by, Some(Closure::System { .. })));
    let refused = run.complete("review", user("alice"), json!({}));
    assert!(matches!(refused, Err(EventError::WorkItemClosed { .. })));
}

/// C-STEP-INTERACTIVE: an assignee given by reference resolves at run time.
#[test]
fn c_step_interactive_assignee_by_reference() {
    for (who, expected) in [
        (json!("group:ops"), Principal::Group("ops".into())),
        (
            json!({"queue": "triage"}),
            Principal::Queue("triage".into()),
        ),
        (json!("user:bob"), Principal::User("bob".into())),
    ] {
        let def = orchestration(json!([stage(
            "s",
            json!([interactive("review", json!({"ref": "input.who"}))]),
            json!(null)
        )]));
        let run = Driver::start(plan(def), json!({"who": who}));
        assert_eq!(run.work_item("review").assignee, expected);
    }
}

/// An interactive step with a requirements exit completes when they are met, not when the
/// screen is done; its work item is closed.
#[test]
fn interactive_requirements_exit() {
    let review = with(
        interactive("review", json!({"user": "alice"})),
        "kind",
        json!({"type": "interactive", "flow": "screen", "assignee": {"user": "alice"},
               "exit": {"requirements": requirements(&[("step.s.a.status", "equals", json!("completed"))])}}),
    );
    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([bg("a"), review]),
        json!(null)
    )])));
    run.complete("review", user("alice"), json!({"note": "done"}))
        .expect("completes the screen");
    assert_eq!(run.step_status("s", "review"), StepStatus::InProgress);
    run.finish("a");
    assert_eq!(run.step_status("s", "review"), StepStatus::Completed);
    assert_eq!(run.status(), RunStatus::Completed);
}

/// An interactive step with an evaluation exit completes when the flow returns true.
#[test]
fn interactive_evaluation_exit() {
    let review = json!({"name": "review", "kind": {"type": "interactive", "flow": "screen",
        "assignee": {"user": "alice"}, "exit": {"evaluation_flow": {"flow": "eval"}}}});
    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([review]),
        json!(null)
    )])));
    let target = EvalTarget::StepExit {
        step: "review".into(),
    };
    run.answer(&target, false);
    assert_eq!(run.step_status("s", "review"), StepStatus::InProgress);
    run.ok(Event::EventPublished { name: "x".into() });
    let actions = run.answer(&target, true);
    assert_eq!(run.status(), RunStatus::Completed);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::CloseWorkItem { .. }))
    );
}

/// Step inputs map literal values and references; outputs of a completed step flow on.
#[test]
fn inputs_are_mapped_from_references() {
    let first = with(
        bg("a"),
        "outputs",
        json!([{"name": "score", "type": "integer"}]),
    );
    let second = with(
        with(bg("b"), "entry", json!({"after_step": {"step": "a"}})),
        "inputs",
        json!({"score": {"ref": "step.s.a.outputs.score"}, "n": {"ref": "input.amount"},
               "fixed": {"value": [1, 2]}, "status": {"ref": "stage.s.status"}}),
    );
    let def = orchestration(json!([stage("s", json!([first, second]), json!(null))]));
    let mut run = Driver::start(plan(def), json!({"amount": 7}));
    let actions = run.finish_with("a", json!({"score": 640}));
    let inputs = actions.iter().find_map(|a| match a {
        Action::RunFlow { inputs, .. } => Some(inputs.clone()),
        _ => None,
    });
    assert_eq!(
        inputs,
        Some(json!({"score": 640, "n": 7, "fixed": [1, 2], "status": "in_progress"}))
    );
}
