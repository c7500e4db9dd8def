//! `stagecraft serve --database postgres://…`: the same API on PostgreSQL,
//! everything kept in the database (a node's data directory holds only its
//! compile cache), and one node per database. Skipped loudly without
//! `STAGECRAFT_TEST_DATABASE`; failing under `CI=true`.

use serde_json::json;
use stagecraft_store_conformance::{fresh_database, test_database};

use crate::support::{ADMIN, Server, open_item};

/// A fresh database for one test, or `None` (skipped) without PostgreSQL.
fn database(test: &str) -> Option<String> {
    let url = test_database(test)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    Some(runtime.block_on(fresh_database(&url, test)))
}

#[test]
fn a_node_on_postgres_serves_the_loan_story_and_another_picks_it_up_after_it() {
    let Some(url) = database("pg_loan_story") else {
        return;
    };
    let first_dir = tempfile::tempdir().expect("data dir");
    let server = Server::start_with(first_dir.path(), &["--example-actions", "--database", &url]);
    let ada = server.loan_setup();
    let id = server.start_loan("linus", 30000);
    let run = server.wait_resting(&id);
    let item = open_item(&run).expect("the review waits for ada");

    // A second node on the same database is refused while the first serves.
    let second_dir = tempfile::tempdir().expect("data dir");
    let refused = crate::support::binary()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--database",
            &url,
            "--data-dir",
        ])
        .arg(second_dir.path())
        .env("STAGECRAFT_ADMIN_TOKEN", ADMIN)
        .output()
        .expect("runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("another Stagecraft node"), "{stderr}");

    // The first node goes away; a node with another, empty data directory
    // finds everything in the database: the run, the flows, ada's token.
    drop(server);
    let server = Server::start_with(
        second_dir.path(),
        &["--example-actions", "--database", &url],
    );
    let (status, flows) = server.get("/flows", ADMIN);
    assert_eq!(status, 200, "{flows}");
    assert_eq!(flows.as_array().map(Vec::len), Some(3), "{flows}");
    let (status, done) = server.post(
        &format!("/work-items/{item}/complete"),
        &ada,
        json!({"answers": {"decision": "approve"}}),
    );
    assert_eq!(status, 200, "{done}");
    let run = server.wait_run(&id, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "completed", "{run}");
    let (status, audit) = server.get(&format!("/audit?target=run:{id}"), ADMIN);
    assert_eq!(status, 200, "{audit}");
    assert!(
        audit["records"]
            .as_array()
            .is_some_and(|records| !records.is_empty()),
        "{audit}"
    );
    assert!(
        !second_dir.path().join("stagecraft.db").exists(),
        "nothing of the store is kept in the data directory"
    );
}

#[test]
fn an_unreachable_database_is_a_clear_start_failure() {
    let dir = tempfile::tempdir().expect("data dir");
    let output = crate::support::binary()
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args([
            "--database",
            "postgres://nobody@127.0.0.1:1/none?connect_timeout=2",
        ])
        .env("STAGECRAFT_ADMIN_TOKEN", ADMIN)
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PostgreSQL"), "{stderr}");
    assert!(stderr.contains("unavailable"), "{stderr}");
}

#[test]
fn a_node_refuses_a_database_whose_schema_is_newer_than_it_knows() {
    let Some(url) = database("pg_newer_schema") else {
        return;
    };
    let dir = tempfile::tempdir().expect("data dir");
    // A first node creates the schema.
    drop(Server::start_with(dir.path(), &["--database", &url]));
    // A newer Stagecraft has been here since.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connects");
        tokio::spawn(connection);
        client
            .batch_execute("INSERT INTO stagecraft_schema (version) VALUES (999)")
            .await
            .expect("a newer version is recorded");
    });
    let output = crate::support::binary()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--database",
            &url,
            "--data-dir",
        ])
        .arg(dir.path())
        .env("STAGECRAFT_ADMIN_TOKEN", ADMIN)
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("schema version 999 is newer than this build of Stagecraft knows"),
        "{stderr}"
    );
}
