//! The client commands against a real server: tables, `--json`, errors.

use crate::support::{ADMIN, Server, binary};
use serde_json::Value;
use std::process::Output;

fn stagecraft(server: &Server, token: &str, args: &[&str]) -> Output {
    crate::support::cli(server, token, args)
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

#[test]
fn commands_print_tables_json_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());

    let out = stdout(&stagecraft(
        &server,
        ADMIN,
        &["user", "put", "ada", "--name", "Ada"],
    ));
    assert!(out.contains("user ada saved"), "{out}");
    let out = stdout(&stagecraft(
        &server,
        ADMIN,
        &[
            "group",
            "put",
            "underwriters",
            "--name",
            "U",
            "--member",
            "ada",
        ],
    ));
    assert!(out.contains("group underwriters saved"), "{out}");
    let out = stdout(&stagecraft(&server, ADMIN, &["group", "list"]));
    assert!(out.contains("underwriters") && out.contains("ada"), "{out}");

    let path = stagecraft_example_plugins::RISK_SCORE;
    let out = stdout(&stagecraft(
        &server,
        ADMIN,
        &[
            "flow",
            "deploy",
            "risk_score",
            path,
            "--kind",
            "autolaunched",
        ],
    ));
    assert!(out.contains("deployed flow risk_score v1"), "{out}");
    let table = stdout(&stagecraft(&server, ADMIN, &["flow", "list"]));
    assert!(
        table.contains("risk_score") && table.contains("autolaunched"),
        "{table}"
    );
    let json: Value = serde_json::from_str(&stdout(&stagecraft(
        &server,
        ADMIN,
        &["flow", "list", "--json"],
    )))
    .expect("--json prints JSON");
    assert_eq!(json[0]["name"], "risk_score");

    let out = stdout(&stagecraft(&server, ADMIN, &["run", "list"]));
    assert_eq!(out.trim(), "(none)");
    let out = stdout(&stagecraft(&server, ADMIN, &["whoami"]));
    assert_eq!(out.trim(), "admin");

    let token = stdout(&stagecraft(
        &server,
        ADMIN,
        &["user", "token", "ada", "--json"],
    ));
    let token: Value = serde_json::from_str(&token).expect("json");
    let token = token["token"].as_str().expect("token");
    let out = stdout(&stagecraft(&server, token, &["work", "list"]));
    assert_eq!(out.trim(), "(none)");

    // Refusals: a message and a failing exit code.
    let refused = stagecraft(
        &server,
        token,
        &[
            "flow",
            "deploy",
            "risk_score",
            path,
            "--kind",
            "autolaunched",
        ],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("403") && stderr.contains("forbidden"),
        "{stderr}"
    );
    let unauthorized = stagecraft(&server, "wrong", &["run", "list"]);
    assert!(String::from_utf8_lossy(&unauthorized.stderr).contains("401"));

    let completions = stdout(&stagecraft(&server, ADMIN, &["completions", "bash"]));
    assert!(completions.contains("stagecraft"), "{completions}");
    let build = stagecraft(&server, ADMIN, &["flow", "build", "/nonexistent-crate"]);
    assert!(!build.status.success());
    assert!(String::from_utf8_lossy(&build.stderr).contains("no Cargo.toml"));
}

/// `flow build` compiles a flow crate and prints the component cargo reports.
#[test]
fn flow_build_prints_the_component_path() {
    let krate = concat!(env!("CARGO_MANIFEST_DIR"), "/../../example-plugins/noop");
    let output = binary()
        .args(["flow", "build", krate])
        .output()
        .expect("run stagecraft");
    let printed = stdout(&output);
    let path = std::path::Path::new(printed.trim());
    assert!(
        path.ends_with("wasm32-wasip2/release/noop.wasm"),
        "{printed}"
    );
    assert!(path.is_file(), "{printed}");
}
