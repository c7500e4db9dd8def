//! C-VERSION-PIN over the API: a step runs, renders and submits the flow
//! version that was active when it started, crashes included.

use crate::support::{ADMIN, Server, assert_error, open_item};
use serde_json::{Value, json};
use stagecraft_example_plugins as plugins;

/// The step `stage.step` of a run's first stage run of that stage.
fn step<'r>(run: &'r Value, stage: &str, step: &str) -> &'r Value {
    run["stages"]
        .as_array()
        .and_then(|stages| stages.iter().find(|s| s["stage"] == stage))
        .and_then(|s| s["steps"].as_array())
        .and_then(|steps| steps.iter().find(|s| s["name"] == step))
        .unwrap_or_else(|| panic!("no step {stage}.{step} in {run}"))
}

/// C-VERSION-PIN: an open work item keeps rendering and submitting the
/// screen flow version its step started with, while a newer (broken) one is
/// active; the next run's step gets the new version, and its trap on submit
/// answers 502 with the run's new status.
#[test]
fn c_version_pin_an_open_work_item_keeps_its_screen_flow_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    let ada = server.loan_setup();
    let first = server.start_loan("linus", 30000);
    let run = server.wait_resting(&first);
    let item = open_item(&run).expect("a work item");
    let review = step(&run, "review", "underwriter");
    assert_eq!(review["flow_version"], 1, "pinned at the start: {review}");
    assert_eq!(review["flow_digest"].as_str().map(str::len), Some(64));

    let v2 = server.deploy_flow("loan_review", "screen", plugins::REVIEW_TRAP);
    assert_eq!(v2["version"], 2);

    let (status, shown) = server.get(&format!("/work-items/{item}"), &ada);
    assert_eq!(status, 200, "{shown}");
    let title = shown["form"]["title"].as_str().unwrap_or_default();
    assert!(title.starts_with("Review linus"), "v1's form: {shown}");
    let (status, done) = server.post(
        &format!("/work-items/{item}/complete"),
        &ada,
        json!({"answers": {"decision": "approve"}}),
    );
    assert_eq!(status, 200, "v1's submit: {done}");
    let run = server.wait_run(&first, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(step(&run, "review", "underwriter")["flow_version"], 1);

    // A step that starts now pins v2, whose submit traps.
    let second = server.start_loan("ken", 30000);
    let run = server.wait_resting(&second);
    assert_eq!(step(&run, "review", "underwriter")["flow_version"], 2);
    let item = open_item(&run).expect("a work item");
    let (_, shown) = server.get(&format!("/work-items/{item}"), &ada);
    assert_eq!(shown["form"]["title"], "Broken review", "{shown}");
    let response = server.post(
        &format!("/work-items/{item}/complete"),
        &ada,
        json!({"answers": {"decision": "approve"}}),
    );
    assert_error(&response, 502, "flow_failed");
    let error = &response.1["error"];
    assert_eq!(error["run_status"], "error", "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("the run is in error")),
        "{error}"
    );
    let (_, run) = server.get(&format!("/runs/{second}"), ADMIN);
    assert_eq!(run["status"], "error", "{run}");
}

/// A one-stage orchestration whose background step runs flow `slow`.
fn slow_orchestration() -> Value {
    json!({
        "format": 1,
        "name": "slow_job",
        "elements": [{
            "type": "stage",
            "name": "work",
            "steps": [{
                "name": "job",
                "kind": {"type": "background", "flow": "slow"},
                "inputs": {"attack": {"value": "sleep"}},
                "outputs": [{"name": "attack", "type": "text"}]
            }]
        }]
    })
}

/// C-VERSION-PIN, C-DURABLE: a background step started on v1 is killed with
/// the server (kill -9) after v2 was deployed; after the restart it is
/// re-executed on v1, the version committed with its start. v1 sleeps past
/// the flow timeout; v2 (noop) would complete the run at once.
#[test]
fn c_version_pin_c_durable_a_step_rerun_after_a_crash_keeps_its_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ["--flow-timeout", "3s"];
    let server = Server::start_with(dir.path(), &args);
    let v1 = server.deploy_flow("slow", "autolaunched", plugins::HOSTILE);
    let (status, record) = server.post("/orchestrations", ADMIN, slow_orchestration());
    assert_eq!(status, 201, "{record}");
    let (status, run) = server.post("/runs", ADMIN, json!({"orchestration": "slow_job"}));
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().expect("run id").to_owned();
    let job = step(&run, "work", "job");
    assert_eq!(job["flow_version"], 1, "committed with the start: {run}");
    assert_eq!(job["flow_digest"], v1["digest"], "{run}");

    let v2 = server.deploy_flow("slow", "autolaunched", plugins::NOOP);
    assert_eq!(v2["version"], 2);
    drop(server); // SIGKILL, with the step in flight on v1

    let server = Server::start_with(dir.path(), &args);
    let (status, _, run) = server.get_waiting(&format!("/runs/{id}?wait_for=settled&timeout=60s"));
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "error", "v1 ran again and timed out: {run}");
    let job = step(&run, "work", "job");
    assert_eq!(job["flow_version"], 1, "{run}");
    assert_eq!(job["attempt"], 1, "{run}");
    assert!(
        job["error"]
            .as_str()
            .is_some_and(|e| e.contains("did not finish within 3s")),
        "{run}"
    );
}

/// A submission whose outputs the step refuses (they lack a declared
/// output) fails the step, and the answer says so (502 with the run's
/// status), like a screen flow that traps.
#[test]
fn a_submission_that_fails_its_step_is_not_answered_as_completed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    let ada = server.loan_setup();
    let definition = json!({
        "format": 1,
        "name": "strict_review",
        "elements": [{"type": "stage", "name": "review", "steps": [{
            "name": "underwriter",
            "kind": {"type": "interactive", "flow": "loan_review", "assignee": {"user": "ada"}},
            "inputs": {
                "applicant": {"value": "ken"},
                "amount": {"value": 1},
                "risk": {"value": 99}
            },
            "outputs": [{"name": "approved", "type": "boolean"}, {"name": "missing", "type": "text"}]
        }]}]
    });
    let (status, record) = server.post("/orchestrations", ADMIN, definition);
    assert_eq!(status, 201, "{record}");
    let (status, run) = server.post("/runs", ADMIN, json!({"orchestration": "strict_review"}));
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().expect("run id").to_owned();
    let item = open_item(&server.wait_resting(&id)).expect("a work item");
    let response = server.post(
        &format!("/work-items/{item}/complete"),
        &ada,
        json!({"answers": {"decision": "approve"}}),
    );
    assert_error(&response, 502, "flow_failed");
    assert_eq!(response.1["error"]["run_status"], "error", "{}", response.1);
    let message = response.1["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("missing"), "{message}");
}
