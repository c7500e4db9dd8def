//! The circuit breaker per flow version, through the API and the CLI: a
//! version whose invocations keep exhausting their CPU budget is
//! quarantined, its next steps fail at once with a recoverable failure that
//! names the quarantine, and an operator lifts it.

use crate::support::{ADMIN, Server, assert_error, cli};
use serde_json::Value;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_flow_version_that_keeps_exhausting_its_budget_is_quarantined_shown_audited_and_lifted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(
        dir.path(),
        &[
            "--example-actions",
            "--flow-fuel",
            "1000",
            "--quarantine-after",
            "2",
        ],
    );
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
