//! Retention through `serve`'s flags: a finished run is removed once older
//! than --retain-runs, a run that waits on a person is kept, and a bad
//! value is refused at start.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{ADMIN, Server, binary};

#[test]
fn a_finished_run_is_removed_after_retain_runs_and_a_waiting_one_kept() {
    let refused = binary()
        .args(["serve", "--retain-runs", "soon"])
        .output()
        .expect("serve");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("off"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(
        dir.path(),
        &[
            "--example-actions",
            "--retain-runs",
            "2s",
            "--retain-audit",
            "off",
        ],
    );
    server.loan_setup();
    // Canceled: finished.
    let id = server.start_loan("linus", 50_000);
    server.wait_resting(&id);
    let (status, canceled) = server.post(&format!("/runs/{id}/cancel"), ADMIN, Value::Null);
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(canceled["status"], "canceled");
    // Waits on a person.
    let waiting = server.start_loan("ada", 50_000);
    server.wait_resting(&waiting);
    let started = Instant::now();
    loop {
        let (status, _) = server.get(&format!("/runs/{id}"), ADMIN);
        if status == 404 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the finished run was never removed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, run) = server.get(&format!("/runs/{waiting}"), ADMIN);
    assert_eq!(status, 200, "a run waiting on a person is kept: {run}");
    let (status, audit) = server.get("/audit?action=retention.prune", ADMIN);
    assert_eq!(status, 200, "{audit}");
    assert_eq!(
        audit["records"][0]["detail"]["runs"], 1,
        "the removal is audited: {audit}"
    );
}
