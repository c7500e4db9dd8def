//! Bad and hostile input over the API: it gets a clear answer and leaves
//! everything else intact.

use crate::support::{ADMIN, Server, assert_error};
use serde_json::{Value, json};
use stagecraft_example_plugins as plugins;

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!([inner]))
}

/// Inputs nested too deeply to be stored and read back are refused with
/// 400; the deepest accepted ones are stored and read back, and outputs
/// that nest too deeply (these inputs, one level down) fail their step;
/// every run survives a restart.
#[test]
fn deeply_nested_inputs_are_refused_before_they_reach_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    server.deploy_flow("echo", "autolaunched", plugins::NOOP);
    let definition = json!({
        "format": 1,
        "name": "echo_any",
        "inputs": [{"name": "payload", "type": "any"}],
        "elements": [{
            "type": "stage",
            "name": "work",
            "steps": [{
                "name": "echo",
                "kind": {"type": "background", "flow": "echo"},
                "inputs": {"payload": {"ref": "input.payload"}},
                "outputs": [{"name": "payload", "type": "any"}]
            }]
        }]
    });
    let (status, record) = server.post("/orchestrations", ADMIN, definition);
    assert_eq!(status, 201, "{record}");
    for depth in [65, 122, 125] {
        let refused = server.post(
            "/runs",
            ADMIN,
            json!({"orchestration": "echo_any", "inputs": {"payload": nested(depth)}}),
        );
        assert_error(&refused, 400, "invalid_inputs");
    }
    let mut ids = Vec::new();
    for (depth, outcome) in [(63, "completed"), (64, "error")] {
        let (status, run) = server.post(
            "/runs",
            ADMIN,
            json!({"orchestration": "echo_any", "inputs": {"payload": nested(depth)}}),
        );
        assert_eq!(status, 201, "{run}");
        let id = run["id"].as_str().expect("run id").to_owned();
        let run = server.wait_run(&id, |run| run["status"] != "in_progress");
        assert_eq!(run["status"], outcome, "{run}");
        ids.push(id);
    }
    drop(server);
    let server = Server::start(dir.path());
    for id in ids {
        let (status, run) = server.get(&format!("/runs/{id}"), ADMIN);
        assert_eq!(status, 200, "{run}");
    }
}

/// A frozen or inactive user's tokens are refused with the reason; made
/// active again, the same token works.
#[test]
fn frozen_and_inactive_users_tokens_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    assert_eq!(
        server.put("/users/bob", ADMIN, json!({"name": "Bob"})).0,
        200
    );
    let bob = server.token_for("bob");
    assert_eq!(server.get("/me", &bob).0, 200);
    for status in ["frozen", "inactive"] {
        let (code, _) = server.put(
            "/users/bob",
            ADMIN,
            json!({"name": "Bob", "status": status}),
        );
        assert_eq!(code, 200);
        let refused = server.get("/me", &bob);
        assert_error(&refused, 403, "forbidden");
        let message = refused.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(status), "{message}");
        assert_error(&server.get("/work-items", &bob), 403, "forbidden");
    }
    server.put(
        "/users/bob",
        ADMIN,
        json!({"name": "Bob", "status": "active"}),
    );
    assert_eq!(server.get("/me", &bob).0, 200);
}

/// The `Bearer` scheme is matched case-insensitively (RFC 9110).
#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response = reqwest::blocking::Client::new()
            .get(format!("{}/me", server.url))
            .header("authorization", format!("{scheme} {ADMIN}"))
            .send()
            .expect("request");
        assert_eq!(response.status().as_u16(), 200, "{scheme}");
    }
}

/// Orchestration names are checked like flow and user names.
#[test]
fn orchestration_names_are_validated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    server.deploy_flow("echo", "autolaunched", plugins::NOOP);
    for (name, code) in [
        (String::new(), "bad_request"),
        ("a/b".to_owned(), "bad_request"),
        ("../../etc/passwd".to_owned(), "bad_request"),
        ("nul\0".to_owned(), "nul_character"),
        ("x".repeat(100_000), "bad_request"),
    ] {
        let definition = json!({
            "format": 1,
            "name": name,
            "elements": [{"type": "stage", "name": "s", "steps": [{
                "name": "a", "kind": {"type": "background", "flow": "echo"}
            }]}]
        });
        assert_error(
            &server.post("/orchestrations", ADMIN, definition),
            400,
            code,
        );
    }
    let (_, list) = server.get("/orchestrations", ADMIN);
    assert_eq!(list, json!([]));
}

/// A stored component altered on disk is not run: its steps fail with an
/// error naming the flow and version, and the rest of the engine serves.
#[test]
fn a_stored_component_that_fails_its_digest_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    server.loan_setup();
    drop(server);

    let db = rusqlite::Connection::open(dir.path().join("stagecraft.db")).expect("database");
    let other = std::fs::read(plugins::RISK_SCORE_FIXED).expect("component");
    db.execute_batch("DROP TRIGGER flows_immutable")
        .expect("drop trigger");
    let changed = db
        .execute(
            "UPDATE flows SET bytes = ?1 WHERE name = 'risk_score' AND version = 1",
            [other],
        )
        .expect("tamper");
    assert_eq!(changed, 1);
    // Damaged beyond compiling: the server must still start.
    let changed = db
        .execute(
            "UPDATE flows SET bytes = x'0061736d' WHERE name = 'credit_check' AND version = 1",
            [],
        )
        .expect("tamper");
    assert_eq!(changed, 1);
    drop(db);

    let server = Server::start(dir.path());
    let id = server.start_loan("grace", 900_000);
    let run = server.wait_run(&id, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "error", "{run}");
    let message = run["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("\"risk_score\" v1 failed its integrity check"),
        "{message}"
    );
    // A good deploy replaces it; the next stage meets the component that no
    // longer compiles, and a good deploy replaces that one too.
    server.deploy_flow("risk_score", "autolaunched", plugins::RISK_SCORE_FIXED);
    let (status, _) = server.post(&format!("/runs/{id}/resume"), ADMIN, Value::Null);
    assert_eq!(status, 200);
    let run = server.wait_run(&id, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "error", "{run}");
    let message = run["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("\"credit_check\" v1 failed its integrity check"),
        "{message}"
    );
    server.deploy_flow("credit_check", "evaluation", plugins::CREDIT_CHECK);
    let (status, _) = server.post(&format!("/runs/{id}/resume"), ADMIN, Value::Null);
    assert_eq!(status, 200);
    let run = server.wait_run(&id, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "completed", "{run}");
}

/// A database whose pages fail SQLite's checks is not served: the server
/// refuses to start and says how to recover.
#[test]
fn a_database_that_fails_its_integrity_check_is_not_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    server.loan_setup();
    server.start_loan("grace", 900_000);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    assert!(server.wait_exit().success());

    // Scribble over every page but the first (the header and the schema's
    // root), as a failing disk would.
    let path = dir.path().join("stagecraft.db");
    let mut bytes = std::fs::read(&path).expect("database");
    let page = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    assert!(bytes.len() > 4 * page, "a database of several pages");
    for (i, byte) in bytes[page..].iter_mut().enumerate() {
        *byte = u8::try_from(i % 251).unwrap_or(0);
    }
    std::fs::write(&path, bytes).expect("write");

    let refused = crate::support::binary()
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("STAGECRAFT_ADMIN_TOKEN", ADMIN)
        .output()
        .expect("serve");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!String::from_utf8_lossy(&refused.stdout).contains("listening"));
    assert!(stderr.contains("backup"), "{stderr}");
}

/// A JSON body over the 2 MiB limit is 413, and a method the public
/// document does not take is 405: both with the documented error JSON.
#[test]
fn oversized_bodies_and_wrong_methods_get_the_error_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    let response = server.call(reqwest::Method::DELETE, "/openapi.json", None, None);
    assert_error(&response, 405, "method_not_allowed");
    // Just over the limit, so that what the server leaves unread fits in
    // the socket's buffers; the last request on this server, as it closes
    // the connection after refusing the body.
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat((2 << 20) + (16 << 10)));
    let response = server.http_raw(
        reqwest::Method::POST,
        "/orchestrations",
        &big,
        "application/json",
    );
    assert_error(&response, 413, "payload_too_large");
}

/// One unreadable run record does not keep the server from starting: that
/// run is set aside (its record answers 500 `corrupt_record`, its controls
/// 503 with the reason) and the other runs are served and go on.
#[test]
fn an_unreadable_run_is_set_aside_and_the_rest_are_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    let ada = server.loan_setup();
    let bad = server.start_loan("linus", 30000);
    let good = server.start_loan("ken", 30000);
    server.wait_resting(&bad);
    let item = crate::support::open_item(&server.wait_resting(&good)).expect("a work item");
    drop(server);

    let db = rusqlite::Connection::open(dir.path().join("stagecraft.db")).expect("database");
    let changed = db
        .execute("UPDATE runs SET state = x'00ff' WHERE id = ?1", [&bad])
        .expect("corrupt");
    assert_eq!(changed, 1);
    drop(db);

    let server = Server::start(dir.path());
    assert_error(
        &server.get(&format!("/runs/{bad}"), ADMIN),
        500,
        "corrupt_record",
    );
    let refused = server.post(&format!("/runs/{bad}/cancel"), ADMIN, Value::Null);
    assert_error(&refused, 503, "unavailable");
    let (status, listed) = server.get("/runs?status=in_progress", ADMIN);
    assert_eq!(status, 200);
    assert!(listed.to_string().contains(&bad), "still listed: {listed}");
    let (status, done) = server.post(
        &format!("/work-items/{item}/complete"),
        &ada,
        json!({"answers": {"decision": "approve"}}),
    );
    assert_eq!(status, 200, "{done}");
    let run = server.wait_run(&good, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "completed", "{run}");
}

/// Issue 20, defect 2: a NUL character in a path, a query or a JSON body is
/// refused at the edge with the same 400 on SQLite and on PostgreSQL (where
/// it once reached a group commit and failed everyone's commits batched
/// with it), and the server goes on serving.
#[test]
fn nul_characters_are_refused_at_the_edge_alike_on_every_store() {
    let sqlite_dir = tempfile::tempdir().expect("tempdir");
    let mut servers = vec![("sqlite", Server::start(sqlite_dir.path()))];
    let postgres_dir = tempfile::tempdir().expect("tempdir");
    if let Some(url) = stagecraft_store_conformance::test_database("nul_at_the_edge") {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let url = runtime.block_on(stagecraft_store_conformance::fresh_database(
            &url,
            "nul_at_the_edge",
        ));
        servers.push((
            "postgres",
            Server::start_with(
                postgres_dir.path(),
                &["--example-actions", "--database", &url],
            ),
        ));
    }
    for (store, server) in &servers {
        let ada = server.loan_setup();
        let applicant = json!({"orchestration": "loan_approval",
            "inputs": {"applicant": "lin\u{0}us", "income": 1, "debt": 1, "amount": 1}});
        for (what, refused) in [
            (
                "a path",
                server.post("/work-items/%00/x/complete", &ada, json!({"answers": {}})),
            ),
            ("a path", server.get("/runs/%00", ADMIN)),
            ("a query", server.get("/runs?orchestration=%00", ADMIN)),
            ("run inputs", server.post("/runs", ADMIN, applicant)),
            (
                "a user's name",
                server.put("/users/eve", ADMIN, json!({"name": "e\u{0}ve"})),
            ),
        ] {
            assert_eq!(refused.0, 400, "{store}, {what}: {}", refused.1);
            assert_eq!(
                refused.1["error"]["code"], "nul_character",
                "{store}, {what}"
            );
        }
        // A backslash before `u0000` is text, not a NUL.
        let (status, run) = server.post(
            "/runs",
            ADMIN,
            json!({"orchestration": "loan_approval",
                "inputs": {"applicant": "lin\\u0000us", "income": 30000, "debt": 10000, "amount": 20000}}),
        );
        assert_eq!(status, 201, "{store}: {run}");
        let id = run["id"].as_str().expect("run id");
        let run = server.wait_resting(id);
        assert_eq!(run["inputs"]["applicant"], "lin\\u0000us", "{store}: {run}");
    }
}
