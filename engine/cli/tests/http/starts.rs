//! Issue 20, defect 10: a start sent with an `Idempotency-Key` is made once.
//! A client whose answer was lost (or told 503 though the start may have
//! committed) retries with the same key, through any node, and gets the
//! first request's run; the same key with another request is refused.

use serde_json::{Value, json};
use stagecraft_store_conformance::{fresh_database, test_database};

use crate::support::{ADMIN, Server, assert_error, cli};

fn loan(applicant: &str) -> Value {
    json!({"orchestration": "loan_approval",
        "inputs": {"applicant": applicant, "income": 50000, "debt": 10000, "amount": 20000}})
}

/// How many runs of the loan orchestration there are.
fn loan_runs(server: &Server) -> usize {
    let (status, runs) = server.get("/runs?orchestration=loan_approval&limit=1000", ADMIN);
    assert_eq!(status, 200, "{runs}");
    runs.as_array().expect("a list").len()
}

/// The first request with a key starts a run (201); the same request again
/// answers with that run (200, replayed) and starts nothing; another
/// request under the key is 422; a malformed key is 400; the CLI's
/// `--idempotency-key` says which it was.
fn a_key_starts_one_run(server: &Server) {
    server.loan_setup();
    let (status, replayed, first) = server.start_once("order-1", loan("linus"));
    assert_eq!((status, replayed), (201, false), "{first}");
    let id = first["id"].as_str().expect("run id").to_owned();
    for _ in 0..2 {
        let (status, replayed, again) = server.start_once("order-1", loan("linus"));
        assert_eq!((status, replayed), (200, true), "{again}");
        assert_eq!(again["id"], id.as_str());
    }
    assert_eq!(loan_runs(server), 1);

    let (status, _, other) = server.start_once("order-1", loan("grace"));
    assert_eq!(status, 422, "{other}");
    assert_eq!(other["error"]["code"], "idempotency_key_reused", "{other}");
    assert_error(
        &{
            let (status, _, body) = server.start_once(&"k".repeat(256), loan("linus"));
            (status, body)
        },
        400,
        "bad_request",
    );
    let (status, _, missing) =
        server.start_once("order-2", json!({"orchestration": "nothing_here"}));
    assert_eq!(status, 404, "{missing}");
    // A refused request does not use the key up.
    let (status, _, second) = server.start_once("order-2", loan("grace"));
    assert_eq!(status, 201, "{second}");
    assert_eq!(loan_runs(server), 2);

    let inputs = r#"{"applicant": "ada", "income": 50000, "debt": 10000, "amount": 20000}"#;
    let args = [
        "run",
        "start",
        "loan_approval",
        "--inputs",
        inputs,
        "--idempotency-key",
        "order-3",
    ];
    let started = cli(server, ADMIN, &args);
    assert!(started.status.success(), "{started:?}");
    let said = String::from_utf8_lossy(&started.stdout).to_string();
    let run = said.strip_prefix("started run ").expect("started").trim();
    let again = cli(server, ADMIN, &args);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        format!("already started run {run}")
    );
    assert_eq!(loan_runs(server), 3);
}

#[test]
fn a_start_with_an_idempotency_key_is_made_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    a_key_starts_one_run(&Server::in_process(dir.path()));
}

/// On PostgreSQL, and across nodes: a retry through another node answers
/// with the run the first node started.
#[test]
fn a_start_with_an_idempotency_key_is_made_once_across_nodes() {
    let Some(url) = test_database("start_once") else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let url = runtime.block_on(fresh_database(&url, "start_once"));
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let a = Server::start_with(dir_a.path(), &["--example-actions", "--database", &url]);
    a_key_starts_one_run(&a);
    let b = Server::start_with(dir_b.path(), &["--example-actions", "--database", &url]);
    let (status, _, first) = a.start_once("order-9", loan("edsger"));
    assert_eq!(status, 201, "{first}");
    let (status, replayed, again) = b.start_once("order-9", loan("edsger"));
    assert_eq!((status, replayed), (200, true), "{again}");
    assert_eq!(again["id"], first["id"]);
    let (status, _, other) = b.start_once("order-9", loan("barbara"));
    assert_eq!(status, 422, "{other}");
    assert_eq!(loan_runs(&b), 4);
}
