//! A restart with another host configuration: stored orchestrations load
//! as they were deployed, and their runs stay controllable.

use crate::support::{ADMIN, Server, assert_error, open_item};
use serde_json::json;

/// An orchestration whose booking stage calls `book_loan`, deployed while
/// the action was registered, survives a restart without it: it is listed,
/// startable, and a step that calls the missing action fails with the
/// non-recoverable external action error (C-ERR-FATAL); the run can then be
/// canceled.
#[test]
fn an_orchestration_whose_action_is_gone_still_loads_and_its_runs_can_be_canceled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    let ada = server.loan_setup();
    let waiting = server.start_loan("linus", 30000);
    let item = open_item(&server.wait_resting(&waiting)).expect("a work item");
    drop(server);

    let server = Server::start_with(dir.path(), &[]);
    let (status, list) = server.get("/orchestrations", ADMIN);
    assert_eq!(status, 200, "{list}");
    assert!(list.to_string().contains("loan_approval"), "{list}");
    let fresh = server.start_loan("grace", 900_000);

    let (status, done) = server.post(
        &format!("/work-items/{item}/complete"),
        &ada,
        json!({"answers": {"decision": "approve"}}),
    );
    assert_eq!(status, 200, "{done}");
    for id in [&waiting, &fresh] {
        let run = server.wait_run(id, |run| run["status"] != "in_progress");
        assert_eq!(run["status"], "error", "{run}");
        assert_eq!(run["error"]["kind"], "external_action", "{run}");
        assert!(
            run["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("book_loan")),
            "{run}"
        );
        let refused = server.post(&format!("/runs/{id}/resume"), ADMIN, json!(null));
        assert_error(&refused, 409, "conflict");
        let message = refused.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("external action"), "{message}");
        let (status, canceled) = server.post(&format!("/runs/{id}/cancel"), ADMIN, json!(null));
        assert_eq!(status, 200, "{canceled}");
        assert_eq!(canceled["status"], "canceled", "{canceled}");
    }
}
