//! The demo story over HTTP: deploy, run, trap, hot swap, resume, complete.

use crate::support::{ADMIN, Server, open_item};
use serde_json::{Value, json};
use stagecraft_example_plugins as plugins;

#[test]
fn trap_hot_swap_resume_and_complete_over_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    let ada = server.loan_setup();

    // A safe application goes straight through.
    let grace = server.start_loan("grace", 900_000);
    let run = server.wait_run(&grace, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "completed", "{run}");

    // A zero income traps risk_score v1: the run is in recoverable Error.
    let zero = server.start_loan("zero", 0);
    let run = server.wait_run(&zero, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "error", "{run}");
    assert_eq!(run["error"]["stage"], "scoring");
    assert_eq!(run["stages"][0]["steps"][0]["flow_version"], 1);

    // Hot swap: the fixed flow as v2, no restart; resume reruns the step on it.
    let fixed = server.deploy_flow("risk_score", "autolaunched", plugins::RISK_SCORE_FIXED);
    assert_eq!(fixed["version"], 2);
    let (status, resumed) = server.post(&format!("/runs/{zero}/resume"), ADMIN, Value::Null);
    assert_eq!(
        (status, resumed["status"].as_str()),
        (200, Some("in_progress")),
        "{resumed}"
    );
    let run = server.wait_resting(&zero);
    assert_eq!(run["status"], "in_progress", "{run}");
    let scoring = &run["stages"][0]["steps"][0];
    assert_eq!(
        (scoring["status"].as_str(), scoring["flow_version"].as_u64()),
        (Some("completed"), Some(2))
    );

    // The risky application now waits for the underwriters; ada rejects it.
    let item = open_item(&run).expect("a work item for the underwriters");
    let (_, mine) = server.get("/work-items", &ada);
    assert!(
        mine.as_array()
            .expect("list")
            .iter()
            .any(|r| r["item"]["id"] == item.as_str())
    );
    let (status, shown) = server.get(&format!("/work-items/{item}"), &ada);
    assert_eq!(status, 200);
    assert!(
        shown["form"]["title"]
            .as_str()
            .is_some_and(|t| t.contains("zero")),
        "{shown}"
    );
    let (status, done) = server.post(
        &format!("/work-items/{item}/complete"),
        &ada,
        json!({"answers": {"decision": "reject", "comment": "no income"}}),
    );
    assert_eq!(status, 200, "{done}");
    let run = server.wait_run(&zero, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "completed", "{run}");
    let (_, history) = server.get(&format!("/runs/{zero}/history"), ADMIN);
    let kinds: Vec<&str> = history
        .as_array()
        .expect("history")
        .iter()
        .filter(|m| m["record"] == "run")
        .filter_map(|m| m["kind"].as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"start_run"), "{kinds:?}");
    assert!(
        kinds.contains(&"fail_run") && kinds.contains(&"resume_run"),
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"end_run"), "{kinds:?}");
}
