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
    assert!(String::from_utf8_lossy(&build.stderr).contains("is not a directory"));
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

/// `flow test` runs a component here, in the server's sandbox, with no
/// server: an autolaunched flow's outputs and log; its trap as a typed
/// failure and exit code 1; an evaluation's answer; a screen flow's form,
/// its submission's outputs and its field errors; a CPU budget that runs
/// out; a flow of the wrong kind and a file that is no component.
#[test]
fn flow_test_runs_a_component_in_the_sandbox_without_a_server() {
    use stagecraft_example_plugins as plugins;
    let test = |args: &[&str]| {
        binary()
            .args(["flow", "test"])
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .expect("run stagecraft")
    };
    let stderr = |output: &Output| String::from_utf8_lossy(&output.stderr).into_owned();
    let application = r#"{"income": 50000, "debt": 10000, "amount": 20000}"#;

    let out = stdout(&test(&[
        plugins::RISK_SCORE,
        "--kind",
        "autolaunched",
        "--inputs",
        application,
    ]));
    assert!(out.contains(r#""debt_to_income_pct": 60"#), "{out}");
    assert!(out.contains("[info] debt-to-income 60%"), "{out}");

    let zero = r#"{"income": 0, "debt": 1, "amount": 1}"#;
    let trapped = test(&[
        "--json",
        plugins::RISK_SCORE,
        "--kind",
        "autolaunched",
        "--inputs",
        zero,
    ]);
    assert_eq!(trapped.status.code(), Some(1), "{}", stderr(&trapped));
    assert!(
        stderr(&trapped).contains("the flow failed (trap)"),
        "{}",
        stderr(&trapped)
    );
    let printed: Value = serde_json::from_slice(&trapped.stdout).expect("JSON");
    assert_eq!(printed["failure"]["kind"], "trap", "{printed}");
    assert!(printed["fuel_consumed"].as_u64().is_some(), "{printed}");
    let fixed = stdout(&test(&[
        plugins::RISK_SCORE_FIXED,
        "--kind",
        "autolaunched",
        "--inputs",
        zero,
    ]));
    assert!(fixed.contains("risk"), "{fixed}");

    let met = |risk: &str| {
        stdout(&test(&[
            plugins::CREDIT_CHECK,
            "--kind",
            "evaluation",
            "--inputs",
            &format!(r#"{{"risk": {risk}}}"#),
        ]))
    };
    assert!(met("20").starts_with("true"), "{}", met("20"));
    assert!(met("95").starts_with("false"), "{}", met("95"));

    let review = r#"{"applicant": "linus", "amount": 20000, "risk": 30}"#;
    let form = stdout(&test(&[
        plugins::LOAN_REVIEW,
        "--kind",
        "screen",
        "--inputs",
        review,
    ]));
    assert!(
        form.contains("\"decision\"") && form.contains("\"comment\""),
        "{form}"
    );
    let approved = stdout(&test(&[
        plugins::LOAN_REVIEW,
        "--kind",
        "screen",
        "--inputs",
        review,
        "--answers",
        r#"{"decision": "approve"}"#,
    ]));
    assert!(approved.contains(r#""approved": true"#), "{approved}");
    let invalid = stdout(&test(&[
        plugins::LOAN_REVIEW,
        "--kind",
        "screen",
        "--inputs",
        review,
        "--answers",
        r#"{"decision": "maybe"}"#,
    ]));
    assert!(
        invalid.contains("field_errors") && invalid.contains("approve or reject"),
        "{invalid}"
    );

    // Each fails, saying why.
    let fails = |args: &[&str], why: &str| {
        let output = test(args);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(stderr(&output).contains(why), "{}", stderr(&output));
    };
    fails(
        &[
            plugins::HOSTILE,
            "--kind",
            "autolaunched",
            "--inputs",
            r#"{"attack": "infinite-loop"}"#,
            "--flow-fuel",
            "1000000",
        ],
        "cpu_budget",
    );
    fails(
        &[plugins::RISK_SCORE, "--kind", "screen"],
        "is not a working screen flow",
    );
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    fails(
        &[manifest, "--kind", "autolaunched"],
        "is not a working autolaunched flow",
    );
    fails(
        &[
            plugins::RISK_SCORE,
            "--kind",
            "autolaunched",
            "--inputs",
            "[1]",
        ],
        "--inputs must be a JSON object",
    );
}
