//! Every route, and every error the API answers with.

use crate::support::{ADMIN, Server, assert_error, open_item};
use reqwest::Method;
use serde_json::{Value, json};
use stagecraft_example_plugins as plugins;

/// Every documented operation exists on the server: with the admin token
/// none answers "no such route" or "method not allowed", and unknown ones do.
#[test]
fn the_openapi_document_is_served_and_every_documented_route_exists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    let (status, document) = server.call(Method::GET, "/openapi.json", None, None);
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20);
    for (path, operations) in paths {
        let concrete = path
            .replace("{version}", "1")
            .replace("{item}", "wi-1")
            .replace(['{', '}'], "");
        for method in operations.as_object().expect("operations").keys() {
            let method: Method = method.to_uppercase().parse().expect("method");
            let (status, body) =
                server.call(method.clone(), &concrete, Some(ADMIN), Some(json!({})));
            assert_ne!(status, 405, "{method} {path}: {body}");
            assert_ne!(body["error"]["code"], "no_such_route", "{method} {path}");
        }
    }
    assert_error(&server.get("/nope", ADMIN), 404, "no_such_route");
    assert_error(
        &server.call(Method::DELETE, "/runs", Some(ADMIN), None),
        405,
        "method_not_allowed",
    );
}

#[test]
fn flows_orchestrations_and_the_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());

    // Directory.
    let (status, user) = server.put("/users/ada", ADMIN, json!({"name": "Ada"}));
    assert_eq!((status, user["status"].as_str()), (200, Some("active")));
    assert_eq!(
        server
            .put(
                "/users/bob",
                ADMIN,
                json!({"name": "Bob", "status": "frozen"})
            )
            .0,
        200
    );
    assert_eq!(
        server
            .put(
                "/groups/underwriters",
                ADMIN,
                json!({"name": "U", "members": ["ada"]})
            )
            .0,
        200
    );
    assert_eq!(
        server
            .put(
                "/queues/intake",
                ADMIN,
                json!({"name": "Intake", "members": ["bob"]})
            )
            .0,
        200
    );
    let (_, users) = server.get("/users", ADMIN);
    assert_eq!(users.as_array().map(Vec::len), Some(2));
    let (_, groups) = server.get("/groups", ADMIN);
    assert_eq!(groups[0]["members"], json!(["ada"]));
    let (_, queues) = server.get("/queues", ADMIN);
    assert_eq!(queues[0]["id"], "intake");
    assert_error(
        &server.put(
            "/groups/g",
            ADMIN,
            json!({"name": "G", "members": ["ghost"]}),
        ),
        400,
        "unknown_member",
    );
    assert_error(
        &server.put(
            "/users/ada",
            ADMIN,
            json!({"name": "Ada", "status": "asleep"}),
        ),
        400,
        "invalid_json",
    );
    assert_error(
        &server.put("/users/bad%20name", ADMIN, json!({"name": "x"})),
        400,
        "bad_request",
    );
    assert_error(
        &server.post("/users/ghost/tokens", ADMIN, Value::Null),
        404,
        "not_found",
    );
    let (status, me) = server.get("/me", ADMIN);
    assert_eq!((status, me["role"].as_str()), (200, Some("admin")));

    // Flows.
    let v1 = server.deploy_flow("risk_score", "autolaunched", plugins::RISK_SCORE);
    assert_eq!(
        (v1["version"].as_u64(), v1["active"].as_bool()),
        (Some(1), Some(true))
    );
    let v2 = server.deploy_flow("risk_score", "autolaunched", plugins::RISK_SCORE_FIXED);
    assert_eq!(v2["version"], 2);
    let (status, flows) = server.get("/flows", ADMIN);
    assert_eq!((status, flows.as_array().map(Vec::len)), (200, Some(2)));
    let (status, versions) = server.get("/flows/risk_score", ADMIN);
    assert_eq!(status, 200);
    assert_eq!(versions[1]["active"], true);
    let (status, activated) =
        server.post("/flows/risk_score/versions/1/activate", ADMIN, Value::Null);
    assert_eq!((status, activated["active"].as_bool()), (200, Some(true)));
    assert_error(&server.get("/flows/nope", ADMIN), 404, "not_found");
    assert_error(
        &server.post("/flows/risk_score/versions/9/activate", ADMIN, Value::Null),
        404,
        "not_found",
    );
    assert_error(
        &server.post(
            "/flows/risk_score/versions/one/activate",
            ADMIN,
            Value::Null,
        ),
        400,
        "invalid_path",
    );
    assert_error(
        &server.upload("junk", "autolaunched", b"not wasm".to_vec(), ADMIN),
        400,
        "flow_rejected",
    );
    assert_error(
        &server.upload("junk", "sideways", b"\0asm".to_vec(), ADMIN),
        400,
        "invalid_kind",
    );
    let no_kind = server.call(Method::POST, "/flows/junk", Some(ADMIN), None);
    assert_error(&no_kind, 400, "missing_kind");
    assert_error(
        &server.upload("junk", "screen", Vec::new(), ADMIN),
        400,
        "empty_body",
    );
    // A screen component deployed as an autolaunched flow is refused.
    assert_error(
        &server.upload(
            "loan_review",
            "autolaunched",
            std::fs::read(plugins::LOAN_REVIEW).expect("component"),
            ADMIN,
        ),
        400,
        "flow_rejected",
    );

    // Orchestrations.
    server.deploy_flow("credit_check", "evaluation", plugins::CREDIT_CHECK);
    server.deploy_flow("loan_review", "screen", plugins::LOAN_REVIEW);
    let definition: Value =
        serde_json::from_str(crate::support::LOAN_APPROVAL).expect("definition");
    let (status, record) = server.post("/orchestrations", ADMIN, definition.clone());
    assert_eq!((status, record["version"].as_u64()), (201, Some(1)));
    let (status, list) = server.get("/orchestrations", ADMIN);
    assert_eq!(status, 200);
    assert_eq!(list[0]["name"], "loan_approval");
    assert!(list[0].get("definition").is_none());
    let (status, versions) = server.get("/orchestrations/loan_approval", ADMIN);
    assert_eq!((status, versions[0]["active"].as_bool()), (200, Some(true)));
    let (status, version) = server.get("/orchestrations/loan_approval/versions/1", ADMIN);
    assert_eq!(status, 200);
    assert_eq!(version["definition"], definition);
    assert_error(&server.get("/orchestrations/nope", ADMIN), 404, "not_found");
    assert_error(
        &server.get("/orchestrations/loan_approval/versions/7", ADMIN),
        404,
        "not_found",
    );
    let (status, schema) = server.get("/schemas/orchestration", ADMIN);
    assert_eq!(status, 200);
    assert!(schema["properties"]["elements"].is_object(), "{schema}");
    assert_error(
        &server.post("/orchestrations", ADMIN, json!({"name": "x"})),
        400,
        "definition_syntax",
    );
    let mut invalid = definition;
    invalid["elements"][0]["steps"][0]["kind"]["flow"] = json!("missing_flow");
    assert_error(
        &server.post("/orchestrations", ADMIN, invalid),
        400,
        "definition_invalid",
    );
    let garbage = server.http_raw(
        Method::POST,
        "/orchestrations",
        "{not json",
        "application/json",
    );
    assert_error(&garbage, 400, "invalid_json");
}

#[test]
fn runs_and_work_items() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    let ada = server.loan_setup();

    // A risky application waits for an underwriter.
    let id = server.start_loan("linus", 30000);
    let run = server.wait_resting(&id);
    assert_eq!(run["status"], "in_progress");
    let item = open_item(&run).expect("a work item");
    let (status, runs) = server.get(
        "/runs?status=in_progress&orchestration=loan_approval",
        ADMIN,
    );
    assert_eq!(status, 200);
    assert_eq!(runs[0]["id"], id.as_str());
    let (_, none) = server.get("/runs?status=completed", ADMIN);
    assert_eq!(none, json!([]));
    let (_, limited) = server.get("/runs?limit=1", ADMIN);
    assert_eq!(limited.as_array().map(Vec::len), Some(1));
    assert_error(
        &server.get("/runs?status=sleeping", ADMIN),
        400,
        "invalid_query",
    );
    let (status, history) = server.get(&format!("/runs/{id}/history"), ADMIN);
    assert_eq!(status, 200);
    assert_eq!(history[0]["kind"], "start_run");
    assert_error(&server.get("/runs/nope", ADMIN), 404, "not_found");
    assert_error(&server.get("/runs/nope/history", ADMIN), 404, "not_found");

    // Work items: ada's list, the admin's list, the form.
    let (status, mine) = server.get("/work-items", &ada);
    assert_eq!(status, 200);
    assert_eq!(mine[0]["item"]["id"], item.as_str());
    let (_, all) = server.get(&format!("/work-items?run={id}"), ADMIN);
    assert_eq!(all[0]["item"]["id"], item.as_str());
    let (status, shown) = server.get(&format!("/work-items/{item}"), &ada);
    assert_eq!(status, 200, "{shown}");
    assert!(
        shown["form"]["fields"]
            .as_array()
            .is_some_and(|f| !f.is_empty()),
        "{shown}"
    );
    let (status, shown) = server.get(&format!("/work-items/{item}"), ADMIN);
    assert_eq!((status, &shown["form"]), (200, &Value::Null));
    assert_error(&server.get("/work-items/nope/wi-1", &ada), 404, "not_found");
    // Invalid answers leave it open, with the field errors.
    let invalid = server.post(
        &format!("/work-items/{item}/complete"),
        &ada,
        json!({"answers": {"decision": "maybe"}}),
    );
    assert_error(&invalid, 400, "invalid_answers");
    assert!(
        invalid.1["error"]["fields"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
    assert_error(
        &server.post(
            &format!("/work-items/{item}/complete"),
            &ada,
            json!({"nope": 1}),
        ),
        400,
        "invalid_json",
    );

    // Suspend, publish, resume, then complete.
    let (status, run) = server.post(&format!("/runs/{id}/suspend"), ADMIN, Value::Null);
    assert_eq!((status, run["status"].as_str()), (200, Some("suspended")));
    assert_error(
        &server.post(&format!("/runs/{id}/suspend"), ADMIN, Value::Null),
        409,
        "conflict",
    );
    assert_error(
        &server.post(
            &format!("/runs/{id}/events"),
            ADMIN,
            json!({"name": "nudge"}),
        ),
        409,
        "conflict",
    );
    let (status, run) = server.post(&format!("/runs/{id}/resume"), ADMIN, Value::Null);
    assert_eq!((status, run["status"].as_str()), (200, Some("in_progress")));
    let (status, _) = server.post(
        &format!("/runs/{id}/events"),
        ADMIN,
        json!({"name": "nudge"}),
    );
    assert_eq!(status, 200);
    assert_error(
        &server.post("/runs/nope/events", ADMIN, json!({"name": "nudge"})),
        404,
        "not_found",
    );
    let run = server.wait_resting(&id);
    let item = open_item(&run).expect("a work item after resume");
    let (status, done) = server.post(
        &format!("/work-items/{item}/complete"),
        &ada,
        json!({"answers": {"decision": "approve"}}),
    );
    assert_eq!(status, 200, "{done}");
    let run = server.wait_run(&id, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "completed", "{run}");
    assert_error(
        &server.post(
            &format!("/work-items/{item}/complete"),
            &ada,
            json!({"answers": {"decision": "approve"}}),
        ),
        409,
        "conflict",
    );
    assert_error(
        &server.post(&format!("/runs/{id}/resume"), ADMIN, Value::Null),
        409,
        "conflict",
    );

    // Cancel another run; inputs are checked.
    let other = server.start_loan("mary", 30000);
    server.wait_resting(&other);
    let (status, run) = server.post(&format!("/runs/{other}/cancel"), ADMIN, Value::Null);
    assert_eq!((status, run["status"].as_str()), (200, Some("canceled")));
    assert_error(
        &server.post(&format!("/runs/{other}/cancel"), ADMIN, Value::Null),
        409,
        "conflict",
    );
    assert_error(
        &server.post(
            "/runs",
            ADMIN,
            json!({"orchestration": "loan_approval", "inputs": {"applicant": 3}}),
        ),
        400,
        "invalid_inputs",
    );
    assert_error(
        &server.post("/runs", ADMIN, json!({"orchestration": "nope"})),
        404,
        "not_found",
    );
    assert_error(
        &server.post("/runs/nope/cancel", ADMIN, Value::Null),
        404,
        "not_found",
    );
}
