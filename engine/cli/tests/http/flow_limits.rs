//! A flow version's limits, through the API and the CLI: the circuit breaker
//! (a version whose invocations keep exhausting their CPU budget is
//! quarantined, its next steps fail at once with a recoverable failure that
//! names the quarantine, and an operator lifts it), and the memory limit a
//! version is deployed with.

use crate::support::{ADMIN, Server, assert_error, cli};
use serde_json::Value;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_flow_version_that_keeps_exhausting_its_budget_is_quarantined_shown_audited_and_lifted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process_with(dir.path(), |config| {
        config.engine.limits.fuel = 1000;
        config.engine.quarantine_after = std::num::NonZeroU32::new(2);
    });
    server.loan_setup();
    for applicant in ["ann", "bob"] {
        let id = server.start_loan(applicant, 900_000);
        let run = server.wait_run(&id, |run| run["status"] != "in_progress");
        assert_eq!(run["error"]["kind"]["flow"], "cpu_budget", "{run}");
    }
    let id = server.start_loan("cid", 900_000);
    let run = server.wait_run(&id, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "error", "{run}");
    assert_eq!(run["error"]["kind"]["flow"], "quarantined", "{run}");
    let message = run["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("lift-quarantine risk_score 1"),
        "{message}"
    );

    let (status, versions) = server.get("/flows/risk_score", ADMIN);
    assert_eq!(status, 200);
    let quarantine = &versions[0]["quarantine"];
    assert!(
        quarantine["reason"]
            .as_str()
            .is_some_and(|r| r.contains("CPU budget")),
        "{versions}"
    );
    let listed = cli(&server, ADMIN, &["flow", "list"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert!(
        text(&listed.stdout).contains("quarantined since"),
        "{}",
        text(&listed.stdout)
    );
    let (_, audit) = server.get("/audit?action=flow.quarantine", ADMIN);
    let entries = audit["records"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["actor"], "stagecraft", "{audit}");

    // A user may not lift it; an unknown version is not found.
    let ada = server.token_for("ada");
    assert_eq!(
        server
            .post(
                "/flows/risk_score/versions/1/lift-quarantine",
                &ada,
                Value::Null
            )
            .0,
        403
    );
    assert_error(
        &server.post(
            "/flows/risk_score/versions/9/lift-quarantine",
            ADMIN,
            Value::Null,
        ),
        404,
        "not_found",
    );
    let lifted = cli(
        &server,
        ADMIN,
        &["flow", "lift-quarantine", "risk_score", "1"],
    );
    assert!(lifted.status.success(), "{}", text(&lifted.stderr));
    assert!(text(&lifted.stdout).contains("no longer quarantined"));
    let again = cli(
        &server,
        ADMIN,
        &["flow", "lift-quarantine", "risk_score", "1"],
    );
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("not quarantined"),
        "{}",
        text(&again.stderr)
    );
    let (_, versions) = server.get("/flows/risk_score", ADMIN);
    assert_eq!(versions[0]["quarantine"], Value::Null, "{versions}");
    let (_, audit) = server.get("/audit?action=flow.lift_quarantine", ADMIN);
    let outcomes: Vec<(&str, &str)> = audit["records"]
        .as_array()
        .map(|records| {
            records
                .iter()
                .map(|r| {
                    let field = |name: &str| r[name].as_str().unwrap_or_default();
                    (field("actor"), field("outcome"))
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        outcomes,
        [
            ("admin", "refused"),
            ("admin", "done"),
            ("admin", "refused"),
            ("ada", "refused")
        ],
        "newest first: the user refused, v9 not found, lifted, not quarantined any more: {audit}"
    );

    // Resumed, the step runs the version again.
    let (status, resumed) = server.post(&format!("/runs/{id}/resume"), ADMIN, Value::Null);
    assert_eq!(status, 200, "{resumed}");
    let run = server.wait_run(&id, |run| {
        run["status"] == "error" && run["error"]["kind"]["flow"] != "quarantined"
    });
    assert_eq!(run["error"]["kind"]["flow"], "cpu_budget", "{run}");
}

/// A flow version deployed with its own memory limit: a memory bomb stops
/// at that limit, not the default; the limit shows in the listing; one above
/// the server's most is refused.
#[test]
fn a_flow_version_deployed_with_its_own_memory_limit_runs_under_it() {
    use serde_json::json;
    use stagecraft_example_plugins as plugins;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process_with(dir.path(), |config| {
        config.example_actions = false;
        config.engine.max_flow_memory = 128 << 20;
    });
    assert_error(
        &server.post_bytes(
            "/flows/hostile?kind=autolaunched&memory_mib=129",
            Some(plugins::HOSTILE),
        ),
        400,
        "bad_request",
    );
    let deployed = cli(
        &server,
        ADMIN,
        &[
            "flow",
            "deploy",
            "hostile",
            plugins::HOSTILE,
            "--kind",
            "autolaunched",
            "--memory-mib",
            "16",
        ],
    );
    assert!(deployed.status.success(), "{}", text(&deployed.stderr));
    let (_, versions) = server.get("/flows/hostile", ADMIN);
    assert_eq!(versions[0]["memory_mib"], 16, "{versions}");
    let definition = json!({
        "format": 1,
        "name": "attack",
        "inputs": [{"name": "attack", "type": "text", "required": true}],
        "elements": [{"type": "stage", "name": "s", "steps": [{
            "name": "attack",
            "kind": {"type": "background", "flow": "hostile"},
            "inputs": {"attack": {"ref": "input.attack"}}
        }]}]
    });
    assert_eq!(server.post("/orchestrations", ADMIN, definition).0, 201);
    let (status, run) = server.post(
        "/runs",
        ADMIN,
        json!({"orchestration": "attack", "inputs": {"attack": "memory-bomb"}}),
    );
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().expect("run id").to_owned();
    let run = server.wait_run(&id, |run| run["status"] != "in_progress");
    assert_eq!(run["error"]["kind"]["flow"], "memory_limit", "{run}");
    let message = run["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&(16u64 << 20).to_string()), "{message}");
}
