//! Authentication (401) and authorization (403).

use crate::support::{ADMIN, Server, assert_error, open_item};
use reqwest::Method;
use serde_json::{Value, json};
use stagecraft_example_plugins as plugins;

/// Without a valid token, every route but the OpenAPI document answers 401
/// with the error and nothing else.
#[test]
fn no_or_bad_token_gets_401_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    for (method, path) in [
        (Method::GET, "/me"),
        (Method::GET, "/flows"),
        (Method::POST, "/flows/x?kind=screen"),
        (Method::GET, "/runs"),
        (Method::POST, "/runs"),
        (Method::GET, "/work-items"),
        (Method::PUT, "/users/x"),
        (Method::GET, "/does/not/exist"),
    ] {
        for token in [None, Some("wrong"), Some(""), Some("test-admin-token")] {
            let (status, body) = server.call(method.clone(), path, token, Some(json!({})));
            assert_eq!(status, 401, "{method} {path} {token:?}");
            assert_eq!(
                body,
                json!({"error": {"code": "unauthorized", "message": "a valid bearer token is required"}}),
            );
        }
    }
    // A token in another scheme is no token.
    let response = reqwest::blocking::Client::new()
        .get(format!("{}/me", server.url))
        .header("authorization", format!("Basic {ADMIN}"))
        .send()
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
    // Revoked tokens stop working.
    assert_eq!(
        server.put("/users/ada", ADMIN, json!({"name": "Ada"})).0,
        200
    );
    let token = server.token_for("ada");
    assert_eq!(server.get("/me", &token).1["user"], "ada");
    let (status, revoked) = server.call(Method::DELETE, "/users/ada/tokens", Some(ADMIN), None);
    assert_eq!((status, revoked["revoked"].as_u64()), (200, Some(1)));
    assert_error(&server.get("/me", &token), 401, "unauthorized");
}

/// Users see and complete only their own work; everything else is the
/// admin's.
#[test]
fn users_are_refused_what_is_not_theirs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    let ada = server.loan_setup();
    assert_eq!(
        server
            .put("/users/mallory", ADMIN, json!({"name": "Mallory"}))
            .0,
        200
    );
    assert_eq!(
        server
            .put(
                "/queues/intake",
                ADMIN,
                json!({"name": "Intake", "members": ["mallory"]})
            )
            .0,
        200
    );
    let mallory = server.token_for("mallory");
    let (status, me) = server.get("/me", &mallory);
    assert_eq!(status, 200);
    assert_eq!(
        me,
        json!({"role": "user", "user": "mallory", "groups": [], "queues": ["intake"]})
    );

    // A user deploying a flow, an orchestration, controlling runs, the directory.
    let bytes = std::fs::read(plugins::RISK_SCORE_FIXED).expect("component");
    assert_error(
        &server.upload("risk_score", "autolaunched", bytes, &ada),
        403,
        "forbidden",
    );
    let definition: Value =
        serde_json::from_str(crate::support::LOAN_APPROVAL).expect("definition");
    assert_error(
        &server.post("/orchestrations", &ada, definition),
        403,
        "forbidden",
    );
    assert_error(&server.get("/flows", &ada), 403, "forbidden");
    assert_error(&server.get("/runs", &ada), 403, "forbidden");
    assert_error(
        &server.post("/runs", &ada, json!({"orchestration": "loan_approval"})),
        403,
        "forbidden",
    );
    assert_error(
        &server.put("/users/ada", &ada, json!({"name": "Queen"})),
        403,
        "forbidden",
    );
    assert_error(
        &server.post("/users/ada/tokens", &ada, Value::Null),
        403,
        "forbidden",
    );

    // Someone else's work item.
    let id = server.start_loan("linus", 30000);
    let item = open_item(&server.wait_resting(&id)).expect("a work item");
    assert_error(
        &server.post(&format!("/runs/{id}/cancel"), &ada, Value::Null),
        403,
        "forbidden",
    );
    let (_, mine) = server.get("/work-items", &mallory);
    assert_eq!(mine, json!([]));
    assert_error(
        &server.get(&format!("/work-items/{item}"), &mallory),
        403,
        "forbidden",
    );
    assert_error(
        &server.post(
            &format!("/work-items/{item}/complete"),
            &mallory,
            json!({"answers": {"decision": "approve"}}),
        ),
        403,
        "forbidden",
    );
    // Nor may the admin complete it: that takes the assignee.
    assert_error(
        &server.post(
            &format!("/work-items/{item}/complete"),
            ADMIN,
            json!({"answers": {"decision": "approve"}}),
        ),
        403,
        "forbidden",
    );
    // The item is still open, and ada (a member of the group) completes it.
    let (status, done) = server.post(
        &format!("/work-items/{item}/complete"),
        &ada,
        json!({"answers": {"decision": "approve"}}),
    );
    assert_eq!(status, 200, "{done}");
}
