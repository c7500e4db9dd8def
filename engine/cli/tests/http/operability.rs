//! What an operator needs at once: waiting for runs, step logs, settings,
//! messages in people's words, actors, and data directory errors.

use crate::support::{ADMIN, Server, assert_error, binary};
use serde_json::json;
use stagecraft_core::run::SYSTEM_PRINCIPAL;
use std::process::Output;

fn stagecraft(server: &Server, args: &[&str]) -> Output {
    crate::support::cli(server, ADMIN, args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `POST /runs` and `GET /runs/{id}` wait with `wait_for` and `timeout`;
/// the `Stagecraft-Wait` header says whether the wait was met; `run start
/// --wait` and `run wait` do the same from the command line.
#[test]
fn runs_can_be_waited_for_over_http_and_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    server.loan_setup();

    let response = server.call(
        reqwest::Method::POST,
        "/runs?wait_for=settled&timeout=60s",
        Some(ADMIN),
        Some(json!({
            "orchestration": "loan_approval",
            "inputs": {"applicant": "grace", "income": 900000, "debt": 1000, "amount": 20000}
        })),
    );
    assert_eq!(response.0, 201, "{}", response.1);
    assert_eq!(response.1["status"], "completed", "{}", response.1);

    let waiting = server.start_loan("linus", 30000);
    let (status, wait, run) =
        server.get_waiting(&format!("/runs/{waiting}?wait_for=settled&timeout=300ms"));
    assert_eq!((status, wait.as_deref()), (200, Some("timeout")), "{run}");
    assert_eq!(run["status"], "in_progress");
    let (status, wait, run) =
        server.get_waiting(&format!("/runs/{waiting}?wait_for=resting&timeout=60s"));
    assert_eq!((status, wait.as_deref()), (200, Some("met")), "{run}");
    assert_error(
        &server.get(&format!("/runs/{waiting}?wait_for=soon"), ADMIN),
        400,
        "invalid_query",
    );
    assert_error(
        &server.get(
            &format!("/runs/{waiting}?wait_for=settled&timeout=2h"),
            ADMIN,
        ),
        400,
        "invalid_query",
    );

    let out = stagecraft(
        &server,
        &[
            "run",
            "start",
            "loan_approval",
            "--inputs",
            r#"{"applicant": "ken", "income": 900000, "debt": 1000, "amount": 20000}"#,
            "--wait",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(
        printed.contains("started run") && printed.contains("completed"),
        "{printed}"
    );

    let out = stagecraft(&server, &["run", "wait", &waiting, "--timeout", "300ms"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let out = stagecraft(&server, &["run", "wait", &waiting, "--for", "in_progress"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// A flow's log lines per step and attempt: `GET /runs/{id}/logs`,
/// `GET /runs/{id}/steps/{stage.step}/logs`, and `stagecraft run logs`.
#[test]
fn step_logs_are_served_per_step_and_attempt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    server.loan_setup();
    let id = server.start_loan("grace", 900_000);
    server.wait_run(&id, |run| run["status"] != "in_progress");

    let (status, logs) = server.get(&format!("/runs/{id}/steps/scoring.score/logs"), ADMIN);
    assert_eq!(status, 200, "{logs}");
    assert_eq!(logs[0]["attempt"], 1, "{logs}");
    assert_eq!(logs[0]["flow_version"], 1, "{logs}");
    assert!(logs.to_string().contains("debt-to-income"), "{logs}");
    let (status, all) = server.get(&format!("/runs/{id}/logs"), ADMIN);
    assert_eq!(
        (status, all.clone()),
        (200, logs),
        "only the scoring step logs"
    );
    let (status, none) = server.get(
        &format!("/runs/{id}/steps/scoring.score/logs?attempt=2"),
        ADMIN,
    );
    assert_eq!((status, none), (200, json!([])));
    assert_error(
        &server.get(&format!("/runs/{id}/steps/scoring.nothing/logs"), ADMIN),
        404,
        "not_found",
    );
    assert_error(
        &server.get(&format!("/runs/{id}/steps/scoring/logs"), ADMIN),
        400,
        "invalid_path",
    );

    let out = stagecraft(&server, &["run", "logs", &id, "scoring.score"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(
        printed.contains("scoring.score  attempt 1  flow v1") && printed.contains("debt-to-income"),
        "{printed}"
    );
}

/// `serve` takes the sandbox limits, the recovery window and the flow
/// concurrency as flags and STAGECRAFT_ variables: a tiny CPU budget makes
/// the scoring flow fail with "CPU budget"; a bad duration is refused.
#[test]
fn serve_settings_reach_the_engine() {
    let help = binary().args(["serve", "--help"]).output().expect("help");
    let help = text(&help.stdout);
    for flag in [
        "--recovery-window",
        "STAGECRAFT_RECOVERY_WINDOW",
        "--flow-fuel",
        "--flow-memory-mib",
        "--flow-timeout",
        "--max-concurrent-flows",
        "--max-concurrent-per-flow",
        "--integrity-check",
        "--admin-token-file",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    let refused = binary()
        .args(["serve", "--recovery-window", "soon"])
        .output()
        .expect("serve");
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("14d"),
        "{}",
        text(&refused.stderr)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(dir.path(), &["--example-actions", "--flow-fuel", "1000"]);
    server.loan_setup();
    let id = server.start_loan("grace", 900_000);
    let run = server.wait_run(&id, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "error", "{run}");
    assert_eq!(run["error"]["kind"]["flow"], "cpu_budget", "{run}");
}

/// Refusals speak of statuses as people do; milestones of the system show
/// the system principal, manual ones their actor.
#[test]
fn messages_are_in_people_words_and_milestones_name_their_actor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    server.loan_setup();
    let id = server.start_loan("grace", 900_000);
    server.wait_run(&id, |run| run["status"] != "in_progress");
    let refused = server.post(&format!("/runs/{id}/cancel"), ADMIN, json!(null));
    assert_error(&refused, 409, "conflict");
    assert_eq!(
        refused.1["error"]["message"],
        "the run is completed and cannot be canceled"
    );

    let waiting = server.start_loan("linus", 30000);
    server.wait_resting(&waiting);
    let (status, _) = server.post(&format!("/runs/{waiting}/suspend"), ADMIN, json!(null));
    assert_eq!(status, 200);
    let refused = server.post(&format!("/runs/{waiting}/suspend"), ADMIN, json!(null));
    assert_eq!(
        refused.1["error"]["message"],
        "the run is suspended and cannot be suspended; only a run in progress can"
    );
    let (status, history) = server.get(&format!("/runs/{waiting}/history"), ADMIN);
    assert_eq!(status, 200);
    let history = history.as_array().expect("milestones");
    assert_eq!(history[0]["actor"], SYSTEM_PRINCIPAL, "{history:?}");
    let last = history.last().expect("a milestone");
    assert_eq!(last["actor"], "admin", "{last}");
    assert!(
        history.iter().all(|m| m["actor"].is_string()),
        "{history:?}"
    );
}

/// A data directory that cannot be created is an I/O error naming it; one
/// that is created is private to its user, and so is the database.
#[test]
fn the_data_directory_is_private_and_its_errors_name_it() {
    let refused = binary()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
            "/dev/null/data",
        ])
        .env("STAGECRAFT_ADMIN_TOKEN", ADMIN)
        .output()
        .expect("serve");
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("/dev/null/data"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("bad request"), "{stderr}");

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data);
    drop(server);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &std::path::Path| {
            std::fs::metadata(path)
                .expect("metadata")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("stagecraft.db")), 0o600);
    }
}
