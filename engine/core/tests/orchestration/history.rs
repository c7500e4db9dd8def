//! Snapshot tests (insta) of milestone histories for complete scenarios, fixed timestamps.

use serde_json::json;
use stagecraft_core::{Event, FlowFailureKind, RunStatus};

use crate::support::{Driver, bg, interactive, orchestration, stage, user, with};

fn snapshot(name: &str, run: &Driver) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_json_snapshot!(name, run.run.history));
}

fn two_stages() -> Driver {
    Driver::of(orchestration(json!([
        stage(
            "intake",
            json!([bg("score"), interactive("review", json!({"user": "alice"}))]),
            json!("payout")
        ),
        stage("payout", json!([bg("pay")]), json!(null)),
    ])))
}

/// Happy path: two stages, a background and an interactive step, to End Run.
#[test]
fn history_happy_path() {
    let mut run = two_stages();
    run.wait(1);
    run.finish("score");
    run.wait(30);
    run.complete("review", user("alice"), json!({"ok": true}))
        .expect("alice completes");
    run.wait(2);
    run.finish("pay");
    assert_eq!(run.status(), RunStatus::Completed);
    snapshot("happy_path", &run);
}

/// A trap handled by a fault path that goes back to the main path by Go To.
#[test]
fn history_fault_path_with_go_to() {
    let mut run = Driver::of(orchestration(json!([
        with(
            stage(
                "intake",
                json!([bg("score"), bg("enrich")]),
                json!("payout")
            ),
            "fault_path",
            json!({"next": "manual", "elements": [stage("manual", json!([bg("fix")]), json!("payout"))]})
        ),
        stage("payout", json!([bg("pay")]), json!(null)),
    ])));
    run.wait(1);
    run.trap("score", FlowFailureKind::Trap);
    run.wait(5);
    run.finish("fix");
    run.wait(1);
    run.finish("pay");
    assert_eq!(run.status(), RunStatus::Completed);
    snapshot("fault_path_with_go_to", &run);
}

/// A trap fails the run; after a fix is deployed, resume reruns the step and the run completes.
#[test]
fn history_trap_then_resume() {
    let mut run = two_stages();
    run.wait(1);
    run.trap("score", FlowFailureKind::Trap);
    run.wait(60);
    run.ok(Event::Resume { by: "ops".into() });
    run.wait(1);
    run.finish("score");
    run.complete("review", user("alice"), json!({}))
        .expect("alice completes");
    run.finish("pay");
    assert_eq!(run.status(), RunStatus::Completed);
    snapshot("trap_then_resume", &run);
}

/// Suspend, a result arriving meanwhile, resume.
#[test]
fn history_suspend_and_resume() {
    let mut run = two_stages();
    run.wait(1);
    run.ok(Event::Suspend { by: "sam".into() });
    run.wait(1);
    run.finish("score");
    run.wait(10);
    run.ok(Event::Resume { by: "rita".into() });
    run.complete("review", user("alice"), json!({}))
        .expect("alice completes");
    run.finish("pay");
    assert_eq!(run.status(), RunStatus::Completed);
    snapshot("suspend_and_resume", &run);
}

/// Cancel while a stage is running.
#[test]
fn history_cancel() {
    let mut run = two_stages();
    run.wait(1);
    run.finish("score");
    run.wait(5);
    run.ok(Event::Cancel { by: "carl".into() });
    assert_eq!(run.status(), RunStatus::Canceled);
    snapshot("cancel", &run);
}
