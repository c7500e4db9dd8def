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

/// User tokens live in the store: issued ones survive a restart, and a
/// `tokens.json` left by an earlier version is imported once (audited as
/// the system's) and set aside.
#[test]
fn user_tokens_survive_a_restart_and_an_old_token_file_is_imported() {
    use sha2::Digest as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    assert_eq!(
        server.put("/users/ada", ADMIN, json!({"name": "Ada"})).0,
        200
    );
    let issued = server.token_for("ada");
    drop(server);

    let legacy = "sc_user_from_an_old_version";
    let hash = hex::encode(sha2::Sha256::digest(legacy.as_bytes()));
    let file = json!({"tokens": [{"user": "ada", "sha256": hash}]});
    std::fs::write(dir.path().join("tokens.json"), file.to_string()).expect("token file");

    let server = Server::start(dir.path());
    for token in [issued.as_str(), legacy] {
        let (status, me) = server.get("/me", token);
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["user"], "ada", "{me}");
    }
    assert!(!dir.path().join("tokens.json").exists());
    assert!(dir.path().join("tokens.json.imported").exists());
    let (_, audit) = server.get("/audit?action=token.issue", ADMIN);
    let imported = audit["records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["detail"]["imported_from"] == "tokens.json")
        .count();
    assert_eq!(imported, 1, "{audit}");
    drop(server);

    // Once imported, the store alone knows it; revoking ends both.
    let server = Server::start(dir.path());
    assert_eq!(server.get("/me", legacy).0, 200);
    let (status, revoked) = server.call(
        reqwest::Method::DELETE,
        "/users/ada/tokens",
        Some(ADMIN),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(revoked["revoked"], 2, "{revoked}");
    assert_eq!(server.get("/me", legacy).0, 401);
}
