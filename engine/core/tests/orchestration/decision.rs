//! C-DECISION.

use serde_json::json;
use stagecraft_core::RunStatus;

use crate::support::{Driver, bg, orchestration, plan, requirements, stage};

fn routed(amount: i64) -> Vec<String> {
    let def = orchestration(json!([
        stage("start", json!([bg("a")]), json!("route")),
        {"type": "decision", "name": "route", "outcomes": [
            {"name": "big", "when": requirements(&[("input.amount", "greater_than", json!(100))]), "next": "big"},
            {"name": "medium", "when": requirements(&[("input.amount", "greater_than", json!(10))]), "next": "medium"},
            {"name": "also_big", "when": requirements(&[("input.amount", "greater_than", json!(100))]), "next": "never"}
        ], "default": {"next": "small"}},
        stage("big", json!([bg("b")]), json!(null)),
        stage("medium", json!([bg("m")]), json!(null)),
        stage("never", json!([bg("n")]), json!(null)),
        stage("small", json!([bg("s")]), json!("done")),
        {"type": "end", "name": "done"},
    ]));
    let mut run = Driver::start(plan(def), json!({"amount": amount}));
    run.finish("a");
    assert_eq!(run.status(), RunStatus::InProgress);
    run.run.stages.iter().map(|s| s.stage.clone()).collect()
}

/// C-DECISION: outcomes are tested in order (the first match wins), else the default.
#[test]
fn c_decision_outcomes_in_order_then_default() {
    assert_eq!(
        routed(500),
        ["start", "big"],
        "first matching outcome, not also_big"
    );
    assert_eq!(routed(50), ["start", "medium"]);
    assert_eq!(routed(5), ["start", "small"], "default outcome");
}

/// C-DECISION: a decision can end the run through an outcome with no next element.
#[test]
fn c_decision_outcome_can_end_the_run() {
    let def = orchestration(json!([
        stage("start", json!([bg("a")]), json!("route")),
        {"type": "decision", "name": "route", "outcomes": [
            {"name": "stop", "when": {"conditions": [{"resource": "input.amount", "operator": "is_null"}]}}
        ], "default": {"next": "more"}},
        stage("more", json!([bg("b")]), json!(null)),
    ]));
    let mut run = Driver::of(def);
    run.finish("a");
    assert_eq!(run.status(), RunStatus::Completed);
    assert_eq!(run.run.stages.len(), 1);
}
