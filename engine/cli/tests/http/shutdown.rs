//! SIGTERM: a clean exit that loses nothing.

use crate::support::{ADMIN, Server, open_item};
use serde_json::json;
use std::process::Command;

#[test]
fn sigterm_exits_cleanly_and_a_restart_finds_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    let ada = server.loan_setup();
    let waiting = server.start_loan("linus", 30000);
    let item = open_item(&server.wait_resting(&waiting)).expect("a work item");
    // Started just before the signal: acknowledged, so it must survive.
    let fresh = server.start_loan("grace", 900_000);

    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = server.wait_exit();
    assert!(exit.success(), "exit status {exit}");

    let server = Server::start(dir.path());
    let (status, run) = server.get(&format!("/runs/{waiting}"), ADMIN);
    assert_eq!((status, run["status"].as_str()), (200, Some("in_progress")));
    assert_eq!(open_item(&run).as_deref(), Some(item.as_str()));
    let run = server.wait_run(&fresh, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "completed", "{run}");
    // Ada's token survived too.
    let (status, done) = server.post(
        &format!("/work-items/{item}/complete"),
        &ada,
        json!({"answers": {"decision": "approve"}}),
    );
    assert_eq!(status, 200, "{done}");
    let run = server.wait_run(&waiting, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "completed", "{run}");
}
