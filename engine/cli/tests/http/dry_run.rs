//! Dry-runs: a candidate flow version tried against a failed step's
//! recorded inputs, over HTTP and from the command line, changing nothing.

use crate::support::{ADMIN, Server, assert_error, open_item};
use serde_json::Value;
use stagecraft_example_plugins as plugins;

fn dry_run(server: &Server, path: &str, component: Option<&str>) -> (u16, Value) {
    server.post_bytes(path, component)
}

#[test]
fn a_fix_is_tried_against_the_failed_input_before_anything_is_resumed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    server.loan_setup();
    let failed = server.start_loan("zero", 0);
    let run = server.wait_run(&failed, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "error", "{run}");
    let before = server.get(&format!("/runs/{failed}"), ADMIN).1;
    let path = format!("/runs/{failed}/steps/scoring.score/dry-run");

    // The active version fails the same way as the attempt did.
    let (status, same) = dry_run(&server, &path, None);
    assert_eq!(status, 200, "{same}");
    assert_eq!(same["candidate"]["version"], 1);
    assert_eq!(same["candidate"]["outcome"]["status"], "failed", "{same}");
    assert_eq!(same["candidate"]["outcome"]["failure"]["kind"], "trap");
    assert_eq!(same["original"]["status"], "error");
    assert_eq!(same["original"]["attempt"], 1);

    // An undeployed fix succeeds on the same inputs.
    let (status, fixed) = dry_run(&server, &path, Some(plugins::RISK_SCORE_FIXED));
    assert_eq!(status, 200, "{fixed}");
    assert_eq!(fixed["candidate"]["version"], Value::Null);
    assert_eq!(
        fixed["candidate"]["outcome"]["status"], "succeeded",
        "{fixed}"
    );
    assert!(
        fixed["candidate"]["outcome"]["outputs"]["risk"].is_number(),
        "{fixed}"
    );

    // Deployed as v2, it can be named; a version that does not exist cannot.
    server.deploy_flow("risk_score", "autolaunched", plugins::RISK_SCORE_FIXED);
    let (_, v2) = dry_run(&server, &format!("{path}?version=2"), None);
    assert_eq!(v2["candidate"]["version"], 2);
    assert_eq!(v2["candidate"]["outcome"]["status"], "succeeded", "{v2}");
    assert_error(
        &dry_run(&server, &format!("{path}?version=9"), None),
        404,
        "not_found",
    );

    // Nothing changed: not the state, not the history, not the attempts.
    let after = server.get(&format!("/runs/{failed}"), ADMIN).1;
    assert_eq!(before, after);

    // From the command line: exit 4 when the candidate fails, 0 when it works.
    let cli = |args: &[&str]| crate::support::cli(&server, ADMIN, args);
    let out = cli(&["run", "dry-run", &failed, "scoring.score", "--version", "1"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("v1 fails (trap)"));
    let out = cli(&[
        "run",
        "dry-run",
        &failed,
        "scoring.score",
        "--component",
        plugins::RISK_SCORE_FIXED,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("the uploaded component succeeds"));
}

#[test]
fn screen_flows_render_and_external_steps_cannot_be_dry_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    server.loan_setup();
    let waiting = server.start_loan("linus", 30000);
    open_item(&server.wait_resting(&waiting)).expect("a work item");
    let (status, shown) = dry_run(
        &server,
        &format!("/runs/{waiting}/steps/review.underwriter/dry-run"),
        None,
    );
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["candidate"]["outcome"]["status"], "rendered");
    let title = shown["candidate"]["outcome"]["form"]["title"]
        .as_str()
        .unwrap_or_default();
    assert!(title.starts_with("Review linus"), "{shown}");

    let booked = server.start_loan("grace", 900_000);
    server.wait_run(&booked, |run| run["status"] != "in_progress");
    assert_error(
        &dry_run(
            &server,
            &format!("/runs/{booked}/steps/booking.book/dry-run"),
            None,
        ),
        400,
        "bad_request",
    );
    assert_error(
        &dry_run(
            &server,
            &format!("/runs/{booked}/steps/review.underwriter/dry-run"),
            None,
        ),
        404,
        "not_found",
    );
}
