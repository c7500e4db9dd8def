//! Flows written in Python and JavaScript beside Rust ones: built by
//! `stagecraft flow build` with the pinned componentize-py and jco (once per
//! test run), tried by `flow test`, run by the server.
//!
//! Without those tools these tests skip with a loud message; with
//! `CI=true` they fail, since CI installs them.

use crate::support::{ADMIN, Server, binary, open_item};
use serde_json::{Value, json};
use stagecraft_example_plugins as plugins;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

/// The example projects, relative to `example-plugins/`.
const PY_RISK_SCORE: &str = "python/risk-score";
const PY_RISK_SCORE_FIXED: &str = "python/risk-score-fixed";
const PY_LOAN_REVIEW: &str = "python/loan-review";
const PY_HOSTILE: &str = "python/hostile";
const JS_CREDIT_CHECK: &str = "js/credit-check";
const JS_LOAN_REVIEW: &str = "js/loan-review";
const JS_HOSTILE: &str = "js/hostile";

/// Whether the flow toolchains are here; says so loudly when they are not,
/// and fails under `CI=true`.
pub fn toolchains_present(test: &str) -> bool {
    static MISSING: OnceLock<Vec<&'static str>> = OnceLock::new();
    let missing = MISSING.get_or_init(|| {
        ["componentize-py", "jco", "node", "python3"]
            .into_iter()
            .filter(|tool| {
                std::process::Command::new(tool)
                    .arg("--version")
                    .output()
                    .map_or(true, |o| !o.status.success())
            })
            .collect()
    });
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "{test}: SKIPPED, the flow toolchains are missing ({}); install them with \
         `pip install componentize-py==0.25.1` and `npm install -g @bytecodealliance/jco@1.35.0`",
        missing.join(", ")
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message} (CI must have them)"
    );
    eprintln!("\n{}\n{message}\n{}\n", "!".repeat(72), "!".repeat(72));
    false
}

fn example(project: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../example-plugins")
        .join(project)
}

/// Builds an example project with `stagecraft flow build`, once per test
/// run (concurrent callers wait for the one build).
pub fn component(project: &'static str) -> PathBuf {
    type Slot = Arc<OnceLock<PathBuf>>;
    static BUILT: LazyLock<Mutex<HashMap<&'static str, Slot>>> = LazyLock::new(Mutex::default);
    let slot = BUILT
        .lock()
        .expect("lock")
        .entry(project)
        .or_default()
        .clone();
    slot.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("polyglot")
            .join(format!("{}.wasm", project.replace('/', "-")));
        let build = binary()
            .args(["flow", "build"])
            .arg(example(project))
            .arg("--out")
            .arg(&out)
            .output()
            .expect("run stagecraft flow build");
        assert!(
            build.status.success(),
            "flow build {project}: {}",
            String::from_utf8_lossy(&build.stderr)
        );
        assert_eq!(stdout(&build).trim(), out.to_string_lossy());
        out
    })
    .clone()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `stagecraft flow test <component> --kind <kind> --inputs <inputs> [more]`.
fn flow_test(component: &Path, kind: &str, inputs: &Value, more: &[&str]) -> Output {
    binary()
        .args(["flow", "test", "--json"])
        .arg(component)
        .args(["--kind", kind, "--inputs", &inputs.to_string()])
        .args(more)
        .env_remove("RUST_LOG")
        .output()
        .expect("run stagecraft flow test")
}

/// C-RESUME-SWAP, in three languages: the loan orchestration with its risk
/// score in Python, its review form in JavaScript and its credit check in
/// Rust. The Python risk score traps on a zero income (its traceback in the
/// step's log), the Python fix is deployed, the run resumes and completes
/// through the JavaScript form (which first refuses an invalid answer).
/// Meanwhile hostile Python flows (an infinite loop, a memory bomb,
/// unbounded recursion, a sleep past the deadline) fail on their own runs with their typed failures
/// (C-SANDBOX for an interpreter), disturbing nothing.
#[test]
fn c_resume_swap_polyglot_demo_python_trap_python_fix_javascript_form_rust_check() {
    if !toolchains_present("polyglot demo") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // A deadline short enough to wait for, long enough for the other flows.
    let server = Server::start_with(dir.path(), &["--example-actions", "--flow-timeout", "10s"]);
    assert_eq!(
        server.put("/users/ada", ADMIN, json!({"name": "Ada"})).0,
        200
    );
    let group = json!({"name": "Underwriters", "members": ["ada"]});
    assert_eq!(server.put("/groups/underwriters", ADMIN, group).0, 200);
    let ada = server.token_for("ada");
    let deploy = |name: &str, kind: &str, path: &Path| {
        server.deploy_flow(name, kind, path.to_str().expect("utf-8 path"))
    };
    deploy("risk_score", "autolaunched", &component(PY_RISK_SCORE));
    deploy("loan_review", "screen", &component(JS_LOAN_REVIEW));
    server.deploy_flow("credit_check", "evaluation", plugins::CREDIT_CHECK);
    let definition: Value =
        serde_json::from_str(crate::support::LOAN_APPROVAL).expect("definition");
    let (status, record) = server.post("/orchestrations", ADMIN, definition);
    assert_eq!(status, 201, "{record}");

    // Hostile Python flows, each on a run of its own.
    deploy("hostile_python", "autolaunched", &component(PY_HOSTILE));
    let (status, record) = server.post("/orchestrations", ADMIN, hostile_orchestration());
    assert_eq!(status, 201, "{record}");
    let attacks: Vec<(String, &str)> = [
        ("infinite-loop", "cpu_budget"),
        ("memory-bomb", "memory_limit"),
        // Python's frames live on its heap: its recursion ends at the memory limit.
        ("deep-recursion", "memory_limit"),
        ("sleep", "timeout"),
    ]
    .into_iter()
    .map(|(attack, failure)| {
        let inputs = json!({"orchestration": "hostile_python", "inputs": {"attack": attack}});
        let (status, run) = server.post("/runs", ADMIN, inputs);
        assert_eq!(status, 201, "{run}");
        (run["id"].as_str().expect("run id").to_owned(), failure)
    })
    .collect();

    // A safe application goes straight through: Python score, Rust check.
    let grace = server.start_loan("grace", 900_000);
    let run = server.wait_run(&grace, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "completed", "{run}");

    // The Python risk score divides by zero: a trap, a recoverable Error.
    let zero = server.start_loan("zero", 0);
    let run = server.wait_run(&zero, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "error", "{run}");
    assert_eq!(run["error"]["stage"], "scoring", "{run}");
    let (status, logs) = server.get(&format!("/runs/{zero}/steps/scoring.score/logs"), ADMIN);
    assert_eq!(status, 200, "{logs}");
    assert!(
        logs.to_string().contains("ZeroDivisionError"),
        "the traceback is in the step's log: {logs}"
    );

    // Each hostile run failed on its own, with its typed failure.
    for (id, failure) in &attacks {
        let run = server.wait_run(id, |run| run["status"] != "in_progress");
        assert_eq!(run["status"], "error", "{run}");
        assert_eq!(run["error"]["kind"]["flow"], *failure, "{}", run["error"]);
    }

    // The Python fix, hot-swapped in; resume reruns the step on it.
    let fixed = deploy(
        "risk_score",
        "autolaunched",
        &component(PY_RISK_SCORE_FIXED),
    );
    assert_eq!(fixed["version"], 2, "{fixed}");
    let (status, resumed) = server.post(&format!("/runs/{zero}/resume"), ADMIN, Value::Null);
    assert_eq!(status, 200, "{resumed}");
    let run = server.wait_resting(&zero);
    let scoring = &run["stages"][0]["steps"][0];
    assert_eq!(
        (scoring["status"].as_str(), scoring["flow_version"].as_u64()),
        (Some("completed"), Some(2)),
        "{run}"
    );
    assert_eq!(scoring["outputs"]["risk"], 100, "{run}");
    let (_, logs) = server.get(&format!("/runs/{zero}/steps/scoring.score/logs"), ADMIN);
    assert!(
        logs.to_string().contains("no income: highest risk"),
        "the fix's log record: {logs}"
    );

    // The JavaScript form: its title, a field error, then an approval.
    let item = open_item(&run).expect("a work item for the underwriters");
    let (status, shown) = server.get(&format!("/work-items/{item}"), &ada);
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        shown["form"]["title"], "Review zero's loan of 20000 (risk 100)",
        "{shown}"
    );
    let complete = |answers: Value| {
        server.post(
            &format!("/work-items/{item}/complete"),
            &ada,
            json!({ "answers": answers }),
        )
    };
    let (status, refused) = complete(json!({"decision": "maybe"}));
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused.to_string().contains("choose approve or reject"),
        "{refused}"
    );
    let (status, done) = complete(json!({"decision": "approve", "comment": "guarantor"}));
    assert_eq!(status, 200, "{done}");
    let run = server.wait_run(&zero, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "completed", "{run}");
}

/// One background step running the hostile Python flow on the run's input.
fn hostile_orchestration() -> Value {
    json!({
        "format": 1,
        "name": "hostile_python",
        "inputs": [{ "name": "attack", "type": "text", "required": true }],
        "elements": [{
            "type": "stage",
            "name": "attack",
            "steps": [{
                "name": "attack",
                "kind": { "type": "background", "flow": "hostile_python" },
                "inputs": { "attack": { "ref": "input.attack" } },
            }],
        }],
    })
}

/// C-SANDBOX for JavaScript: a hostile flow's infinite loop, memory bomb
/// and unbounded recursion end in their typed failures under the server's
/// limits, as `flow test` shows (the Python ones run in the demo's server).
#[test]
fn c_sandbox_hostile_javascript_flows_end_in_typed_failures() {
    if !toolchains_present("hostile JavaScript") {
        return;
    }
    let hostile = component(JS_HOSTILE);
    for (attack, failure) in [
        ("infinite-loop", "cpu_budget"),
        ("memory-bomb", "memory_limit"),
        ("deep-recursion", "trap"),
        ("none", "flow_error"),
    ] {
        let output = flow_test(&hostile, "autolaunched", &json!({ "attack": attack }), &[]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{attack}: {}",
            stderr(&output)
        );
        let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        assert_eq!(printed["failure"]["kind"], failure, "{attack}: {printed}");
    }
}

/// The SDKs' other kinds through `flow test`: the Python review form and
/// its answers, the JavaScript credit check.
#[test]
fn python_and_javascript_flows_of_every_kind_run_in_the_sandbox() {
    if !toolchains_present("flow kinds") {
        return;
    }
    let review = component(PY_LOAN_REVIEW);
    let inputs = json!({"applicant": "ada", "amount": 5000, "risk": 70});
    let form: Value =
        serde_json::from_slice(&flow_test(&review, "screen", &inputs, &[]).stdout).expect("JSON");
    let fields = &form["result"]["form"]["fields"];
    assert_eq!(fields[0]["name"], "decision", "{form}");
    assert_eq!(fields[0]["field_type"], "choice", "{form}");
    assert_eq!(fields[0]["choices"][1]["value"], "reject", "{form}");
    assert_eq!(fields[1]["field_type"], "long_text", "{form}");
    let submitted = |answers: Value| -> Value {
        let output = flow_test(
            &review,
            "screen",
            &inputs,
            &["--answers", &answers.to_string()],
        );
        serde_json::from_slice(&output.stdout).expect("JSON")
    };
    let rejected = submitted(json!({"decision": "reject"}));
    assert_eq!(
        rejected["result"]["field_errors"][0]["field"], "comment",
        "{rejected}"
    );
    let approved = submitted(json!({"decision": "approve"}));
    assert_eq!(
        approved["result"]["outputs"],
        json!({"approved": true, "comment": ""}),
        "{approved}"
    );

    let check = component(JS_CREDIT_CHECK);
    let met = |risk: i64| -> Value {
        let output = flow_test(&check, "evaluation", &json!({ "risk": risk }), &[]);
        serde_json::from_slice(&output.stdout).expect("JSON")
    };
    assert_eq!(met(20)["result"], true);
    assert_eq!(met(80)["result"], false);
    assert_eq!(met(200)["failure"]["kind"], "flow_error");
}

/// `flow new` in each language writes a project whose own tests pass and
/// which `flow build` turns into a component that runs at once on `{}`;
/// every kind in Python and JavaScript. Refusals: a directory in use, a
/// directory with no project, a project that does not say its kind.
#[test]
fn flow_new_writes_projects_that_build_test_and_run_in_each_language() {
    if !toolchains_present("flow new") {
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let new = |name: &str, lang: &str, kind: &str| -> PathBuf {
        let dir = root.path().join(name);
        let output = binary()
            .args(["flow", "new"])
            .arg(&dir)
            .args(["--lang", lang, "--kind", kind])
            .output()
            .expect("run stagecraft flow new");
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            stdout(&output).contains("stagecraft flow build"),
            "{}",
            stdout(&output)
        );
        dir
    };
    let own_tests = |dir: &Path, program: &str, args: &[&str]| {
        let output = std::process::Command::new(program)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run the project's tests");
        assert!(
            output.status.success(),
            "{program} {args:?} in {}: {}{}",
            dir.display(),
            stdout(&output),
            stderr(&output)
        );
    };
    let build = |dir: &Path| -> PathBuf {
        let output = binary()
            .args(["flow", "build"])
            .arg(dir)
            // One target directory for every run of this test.
            .env(
                "CARGO_TARGET_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("flow-new"),
            )
            .output()
            .expect("run stagecraft flow build");
        assert!(output.status.success(), "{}", stderr(&output));
        PathBuf::from(stdout(&output).trim())
    };
    let runs_on_nothing = |component: &Path, kind: &str| -> Value {
        let output = flow_test(component, kind, &json!({}), &[]);
        assert!(output.status.success(), "{kind}: {}", stderr(&output));
        serde_json::from_slice(&output.stdout).expect("JSON")
    };

    for kind in ["autolaunched", "evaluation", "screen"] {
        let dir = new(&format!("py-{kind}"), "python", kind);
        own_tests(&dir, "python3", &["-m", "unittest", "-q"]);
        let dir = new(&format!("js-{kind}"), "js", kind);
        own_tests(&dir, "node", &["--test"]);
        let printed = runs_on_nothing(&build(&dir), kind);
        match kind {
            "autolaunched" => assert_eq!(printed["result"], json!({"greeting": "Hello, world!"})),
            "evaluation" => assert_eq!(printed["result"], false),
            _ => assert_eq!(printed["result"]["form"]["title"], "Approve the request?"),
        }
    }
    // Interpreter components take seconds to compile: one Python build.
    let printed = runs_on_nothing(&build(&root.path().join("py-autolaunched")), "autolaunched");
    assert_eq!(
        printed["result"],
        json!({"greeting": "Hello, world!"}),
        "{printed}"
    );
    assert!(printed["log"].to_string().contains("greeting"), "{printed}");

    let dir = new("rust-autolaunched", "rust", "autolaunched");
    let printed = runs_on_nothing(&build(&dir), "autolaunched");
    assert_eq!(
        printed["result"],
        json!({"greeting": "Hello, world!"}),
        "{printed}"
    );

    // Refusals, each saying why.
    let again = binary()
        .args(["flow", "new"])
        .arg(&dir)
        .args(["--lang", "js"])
        .output()
        .expect("run stagecraft flow new");
    assert!(!again.status.success());
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));
    let nothing = binary()
        .args(["flow", "build"])
        .arg(root.path())
        .output()
        .expect("run stagecraft flow build");
    assert!(!nothing.status.success());
    assert!(
        stderr(&nothing).contains("stagecraft flow new"),
        "{}",
        stderr(&nothing)
    );
    let unsaid = root.path().join("py-evaluation");
    let manifest = unsaid.join("pyproject.toml");
    let text = std::fs::read_to_string(&manifest).expect("pyproject");
    std::fs::write(&manifest, text.replace("kind = \"evaluation\"\n", "")).expect("write");
    let refused = binary()
        .args(["flow", "build"])
        .arg(&unsaid)
        .output()
        .expect("run stagecraft flow build");
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("kind = \"autolaunched\""),
        "{}",
        stderr(&refused)
    );
}

/// A missing tool is named, with the one command that installs it, and
/// nothing is installed: here, with a `PATH` that has none of them.
#[test]
fn flow_build_names_a_missing_tool_and_its_install_command() {
    let root = tempfile::tempdir().expect("tempdir");
    for (lang, tool, install) in [
        (
            "python",
            "componentize-py",
            "pip install componentize-py==0.25.1",
        ),
        ("js", "node", "nodejs"),
    ] {
        let dir = root.path().join(format!("{lang}-flow"));
        let created = binary()
            .args(["flow", "new"])
            .arg(&dir)
            .args(["--lang", lang])
            .output()
            .expect("run stagecraft flow new");
        assert!(created.status.success(), "{}", stderr(&created));
        let output = binary()
            .args(["flow", "build"])
            .arg(&dir)
            .env("PATH", root.path())
            .output()
            .expect("run stagecraft flow build");
        assert!(!output.status.success());
        let said = stderr(&output);
        assert!(
            said.contains(&format!("{tool} is not installed")) && said.contains(install),
            "{said}"
        );
        assert!(!dir.join("build").exists(), "nothing was written");
    }
    // With Node.js but no jco, jco is the one named.
    let Some(node) = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("node"))
            .find(|node| node.is_file())
    }) else {
        return;
    };
    let bin = root.path().join("bin");
    std::fs::create_dir(&bin).expect("bin");
    std::os::unix::fs::symlink(node, bin.join("node")).expect("symlink");
    let output = binary()
        .args(["flow", "build"])
        .arg(root.path().join("js-flow"))
        .env("PATH", &bin)
        .output()
        .expect("run stagecraft flow build");
    let said = stderr(&output);
    assert!(
        said.contains("jco is not installed")
            && said.contains("npm install -g @bytecodealliance/jco@1.35.0"),
        "{said}"
    );
}
