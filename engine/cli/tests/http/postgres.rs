//! `stagecraft serve --database postgres://…`: the same API on PostgreSQL,
//! everything kept in the database (a node's data directory holds only its
//! compile cache); several nodes on one database are in `cluster`. Skipped loudly without
//! `STAGECRAFT_TEST_DATABASE`; failing under `CI=true`.

use stagecraft_store_conformance::{fresh_database, test_database};

use crate::support::{ADMIN, Server};

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
