//! Repair at scale through the real server and the command line: dry-runs
//! of an evaluation flow's failure and over a selection, resume jobs (gated
//! by a dry-run, started by a deploy, killed mid-way), and the audit log.

use crate::support::{ADMIN, Server, assert_error, cli};
use serde_json::{Value, json};
use stagecraft_example_plugins as plugins;
use std::collections::HashSet;

/// An orchestration whose only stage exits through the `credit_check`
/// evaluation flow, given the run's `risk` input: a risk outside 0 to 100
/// fails the evaluation (credit_check v1 refuses it).
fn gatekeeper() -> Value {
    json!({
        "format": 1,
        "name": "gatekeeper",
        "inputs": [{ "name": "risk", "type": "integer", "required": true }],
        "elements": [{
            "type": "stage",
            "name": "gate",
            "steps": [{ "name": "work", "kind": { "type": "background", "flow": "noop" } }],
            "exit": { "evaluation_flow": {
                "flow": "credit_check",
                "inputs": { "risk": { "ref": "input.risk" }, "threshold": { "value": 100 } }
            } }
        }]
    })
}

fn start(server: &Server, orchestration: &str, inputs: Value) -> String {
    let (status, run) = server.post(
        "/runs",
        ADMIN,
        json!({ "orchestration": orchestration, "inputs": inputs }),
    );
    assert_eq!(status, 201, "{run}");
    run["id"].as_str().expect("run id").to_owned()
}

/// Loan runs stopped by risk_score v1's trap (no income).
fn trapped_loans(server: &Server, count: usize) -> Vec<String> {
    let ids: Vec<String> = (0..count)
        .map(|i| server.start_loan(&format!("zero{i}"), 0))
        .collect();
    for id in &ids {
        let run = server.wait_run(id, |run| run["status"] != "in_progress");
        assert_eq!(run["status"], "error", "{run}");
    }
    ids
}

/// Waits until the job is finished, server-side.
fn finished(server: &Server, job: &str) -> Value {
    let (status, job) = server.get(&format!("/jobs/{job}?wait_for=finished&timeout=60s"), ADMIN);
    assert_eq!(status, 200, "{job}");
    assert_ne!(job["status"], "running", "{job}");
    job
}

fn audit(server: &Server, query: &str) -> Vec<Value> {
    let (status, page) = server.get(&format!("/audit?limit=1000&{query}"), ADMIN);
    assert_eq!(status, 200, "{page}");
    page["records"].as_array().cloned().unwrap_or_default()
}

#[test]
fn an_evaluation_flow_failure_is_dry_run_against_the_inputs_it_was_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    server.loan_setup();
    server.deploy_flow("noop", "autolaunched", plugins::NOOP);
    assert_eq!(server.post("/orchestrations", ADMIN, gatekeeper()).0, 201);
    let id = start(&server, "gatekeeper", json!({ "risk": 500 }));
    // The stage fails on its exit condition while its step's flow may
    // still run: wait for that flow's result too (kept as pending for the
    // resume), so that nothing changes the run from here on but the test.
    let run = server.wait_run(&id, |run| {
        let step = &run["stages"][0]["steps"][0];
        run["status"] != "in_progress"
            && (step["status"] == "completed" || step["pending"].is_object())
    });
    assert_eq!(run["status"], "error", "{run}");
    assert_eq!(run["error"]["flow"]["name"], "credit_check", "{run}");
    let before = server.get(&format!("/runs/{id}"), ADMIN).1;
    let history = server.get(&format!("/runs/{id}/history"), ADMIN).1;

    // The active version fails the same way the evaluation did.
    let (status, same) = server.post_bytes(&format!("/runs/{id}/dry-run"), None);
    assert_eq!(status, 200, "{same}");
    assert_eq!(same["flow"], "credit_check");
    assert_eq!(same["evaluation"], "stage_exit", "{same}");
    assert_eq!(same["candidate"]["version"], 1);
    assert_eq!(same["candidate"]["outcome"]["status"], "failed");
    assert_eq!(
        same["candidate"]["outcome"]["failure"]["kind"],
        "flow_error"
    );
    let original = same["original"]["error"].as_str().unwrap_or_default();
    assert!(
        original.contains("risk must be between 0 and 100"),
        "{same}"
    );

    // An undeployed fix decides the condition on the same inputs.
    let (status, fixed) = server.post_bytes(
        &format!("/runs/{id}/dry-run"),
        Some(plugins::CREDIT_CHECK_LENIENT),
    );
    assert_eq!(status, 200, "{fixed}");
    assert_eq!(fixed["candidate"]["version"], Value::Null);
    assert_eq!(
        fixed["candidate"]["outcome"]["status"], "decided",
        "{fixed}"
    );
    assert_eq!(fixed["candidate"]["outcome"]["met"], true, "{fixed}");

    // From the command line, with the run's failure as the default target.
    let out = cli(&server, ADMIN, &["run", "dry-run", &id]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let out = cli(
        &server,
        ADMIN,
        &[
            "run",
            "dry-run",
            &id,
            "--component",
            plugins::CREDIT_CHECK_LENIENT,
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("condition met"));

    // Nothing changed, byte for byte; dry-runs are no attempts.
    assert_eq!(server.get(&format!("/runs/{id}"), ADMIN).1, before);
    assert_eq!(server.get(&format!("/runs/{id}/history"), ADMIN).1, history);

    // Deployed, the fix lets the run resume and complete.
    server.deploy_flow("credit_check", "evaluation", plugins::CREDIT_CHECK_LENIENT);
    assert_eq!(
        server
            .post(&format!("/runs/{id}/resume"), ADMIN, Value::Null)
            .0,
        200
    );
    let run = server.wait_run(&id, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "completed", "{run}");
}

#[test]
fn a_dry_run_over_a_selection_counts_the_runs_a_fix_would_get_through() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    server.loan_setup();
    server.deploy_flow("noop", "autolaunched", plugins::NOOP);
    assert_eq!(server.post("/orchestrations", ADMIN, gatekeeper()).0, 201);
    let trapped = trapped_loans(&server, 3);
    // A run in Error on another flow is not selected.
    let gate = start(&server, "gatekeeper", json!({ "risk": 500 }));
    server.wait_run(&gate, |run| run["status"] == "error");

    let (status, same) = server.post_bytes("/runs/dry-run?flow=risk_score", None);
    assert_eq!(status, 200, "{same}");
    assert_eq!(same["version"], 1);
    assert_eq!(same["selected"], 3, "{same}");
    assert_eq!(same["succeeded"], 0);
    assert_eq!(same["failed"], 3);
    assert_eq!(same["failures"][0]["kind"], "trap", "{same}");
    assert_eq!(same["failures"][0]["count"], 3);

    // Deployed without resuming anything, v2 would get all three through.
    server.deploy_flow("risk_score", "autolaunched", plugins::RISK_SCORE_FIXED);
    let (_, v2) = server.post_bytes("/runs/dry-run?flow=risk_score&version=2", None);
    assert_eq!(v2["selected"], 3, "{v2}");
    assert_eq!(v2["succeeded"], 3, "{v2}");
    assert_eq!(v2["failed"], 0, "{v2}");

    // `run resume --dry-run` tries the active version and resumes nothing.
    let out = cli(
        &server,
        ADMIN,
        &["run", "resume", "--flow", "risk_score", "--dry-run"],
    );
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("3 would succeed, 0 would fail"),
        "{printed}"
    );
    for id in &trapped {
        assert_eq!(
            server.get(&format!("/runs/{id}"), ADMIN).1["status"],
            "error"
        );
    }

    // A selection dry-run needs the flow whose failures it tries.
    assert_error(
        &server.post_bytes("/runs/dry-run?orchestration=loan_approval", None),
        400,
        "invalid_query",
    );
}

#[test]
fn a_resume_job_gated_by_a_dry_run_refuses_then_deploy_and_resume_fixes_every_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    server.loan_setup();
    let trapped = trapped_loans(&server, 3);

    // v1 is still active: its dry-run fails on every run, so none resumes.
    let (status, job) = server.post(
        "/runs/resume",
        ADMIN,
        json!({ "filter": { "flow": "risk_score" }, "only_if_dry_run_passes": true }),
    );
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["counts"]["total"], 3, "{job}");
    let job = finished(&server, job["id"].as_str().expect("job id"));
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["counts"]["refused"], 3, "{job}");
    assert_eq!(job["counts"]["resumed"], 0, "{job}");
    let reason = job["refusals"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("the dry-run of risk_score v1 failed"),
        "{job}"
    );
    for id in &trapped {
        assert_eq!(
            server.get(&format!("/runs/{id}"), ADMIN).1["status"],
            "error"
        );
    }

    // Deploy the fix and resume what it fixes, from the command line.
    let out = cli(
        &server,
        ADMIN,
        &[
            "flow",
            "deploy",
            "risk_score",
            plugins::RISK_SCORE_FIXED,
            "--kind",
            "autolaunched",
            "--resume-errored",
            "--only-if-dry-run-passes",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("3 runs: 3 resumed, 0 refused"),
        "{printed}"
    );
    for id in &trapped {
        // No income: maximum risk, so an underwriter reviews it.
        let run = server.wait_resting(id);
        assert_eq!(run["status"], "in_progress", "{run}");
        assert_eq!(run["stages"][0]["steps"][0]["flow_version"], 2, "{run}");
    }

    // Nothing is left in Error: a second job selects nothing.
    let (_, again) = server.post(
        "/runs/resume",
        ADMIN,
        json!({ "filter": { "flow": "risk_score" } }),
    );
    assert_eq!(again["counts"]["total"], 0, "{again}");

    // The log: the deploy, both jobs, and one resume per run and job.
    let resumes = audit(&server, "action=run.resume");
    assert_eq!(resumes.len(), 6, "{resumes:?}");
    let done: Vec<&Value> = resumes.iter().filter(|r| r["outcome"] == "done").collect();
    assert_eq!(done.len(), 3);
    let targets: HashSet<&str> = done.iter().filter_map(|r| r["target"].as_str()).collect();
    assert_eq!(targets.len(), 3);
    assert_eq!(audit(&server, "action=job.start").len(), 3);
    let deploys = audit(&server, "action=flow.deploy&target=flow:risk_score");
    assert_eq!(deploys.len(), 2, "{deploys:?}");
    assert_eq!(deploys[0]["detail"]["version"], 2, "{deploys:?}");
}

#[test]
fn a_resume_job_killed_mid_way_resumes_each_run_exactly_once_after_a_restart() {
    // More than a worker's batch (512): some runs are still pending when
    // the first resumes are seen, however fast the batch goes.
    const RUNS: usize = 600;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    server.loan_setup();
    let trapped = trapped_loans(&server, RUNS);
    server.deploy_flow("risk_score", "autolaunched", plugins::RISK_SCORE_FIXED);

    // Gated by a dry-run per run, the job takes a while: kill -9 the server
    // once it has resumed some runs and not all.
    let (status, job) = server.post(
        "/runs/resume",
        ADMIN,
        json!({ "filter": { "flow": "risk_score" }, "only_if_dry_run_passes": true }),
    );
    assert_eq!(status, 202, "{job}");
    let job = job["id"].as_str().expect("job id").to_owned();
    let at_kill = loop {
        let (_, now) = server.get(&format!("/jobs/{job}"), ADMIN);
        assert_eq!(
            now["status"], "running",
            "the job ended before the kill: {now}"
        );
        if now["counts"]["resumed"].as_u64().unwrap_or(0) > 0 {
            break now;
        }
    };
    drop(server); // SIGKILL
    assert!(
        at_kill["counts"]["pending"].as_u64().unwrap_or(0) > 0,
        "{at_kill}"
    );

    let server = Server::start(dir.path());
    let done = finished(&server, &job);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["counts"]["total"], RUNS, "{done}");
    assert_eq!(done["counts"]["resumed"], RUNS, "{done}");
    assert_eq!(done["counts"]["refused"], 0, "{done}");

    // Each run was resumed exactly once: one Resume Run milestone, one
    // audit record, and v2 ran it.
    for id in &trapped {
        let history = server.get(&format!("/runs/{id}/history"), ADMIN).1;
        let resumes = history
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["kind"] == "resume_run")
            .count();
        assert_eq!(resumes, 1, "run {id}: {history}");
    }
    let records = audit(&server, "action=run.resume");
    assert_eq!(records.len(), RUNS);
    let targets: HashSet<&str> = records
        .iter()
        .filter_map(|r| r["target"].as_str())
        .collect();
    assert_eq!(targets.len(), RUNS);
}

#[test]
fn every_action_is_audited_refusals_too_and_only_the_admin_reads_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    let ada = server.loan_setup();
    let failed = trapped_loans(&server, 1).remove(0);

    // A refused resume: the run was canceled first.
    assert_eq!(
        server
            .post(&format!("/runs/{failed}/cancel"), ADMIN, Value::Null)
            .0,
        200
    );
    assert_error(
        &server.post(&format!("/runs/{failed}/resume"), ADMIN, Value::Null),
        409,
        "conflict",
    );
    // A user may not deploy, nor read the log; both refusals are recorded.
    let (status, _) = server.upload("risk_score", "autolaunched", vec![0, 1, 2], &ada);
    assert_eq!(status, 403);
    assert_error(&server.get("/audit", &ada), 403, "forbidden");

    let records = audit(&server, "");
    let find = |action: &str, outcome: &str| {
        records
            .iter()
            .filter(|r| r["action"] == action && r["outcome"] == outcome)
            .count()
    };
    assert_eq!(find("user.put", "done"), 1, "{records:?}");
    assert_eq!(find("group.put", "done"), 1);
    assert_eq!(find("token.issue", "done"), 1);
    assert_eq!(find("flow.deploy", "done"), 3);
    assert_eq!(find("orchestration.deploy", "done"), 1);
    assert_eq!(find("run.start", "done"), 1);
    assert_eq!(find("run.cancel", "done"), 1);
    assert_eq!(find("run.resume", "refused"), 1);
    let refused_deploy: Vec<&Value> = records
        .iter()
        .filter(|r| r["action"] == "flow.deploy" && r["outcome"] == "refused")
        .collect();
    assert_eq!(refused_deploy.len(), 1, "{records:?}");
    assert_eq!(refused_deploy[0]["actor"], "ada");
    let text = serde_json::to_string(&records).expect("json");
    assert!(!text.contains(&ada), "a token appears in the audit log");
    assert!(!text.contains(crate::support::ADMIN));

    // Filters and paging.
    let mine = audit(&server, "actor=ada");
    assert!(mine.iter().all(|r| r["actor"] == "ada") && !mine.is_empty());
    let about = audit(&server, &format!("target=run:{failed}"));
    assert_eq!(about.len(), 3, "{about:?}");
    let (_, first) = server.get("/audit?limit=2", ADMIN);
    let next = first["next_before"].as_u64().expect("a next page");
    let (_, second) = server.get(&format!("/audit?limit=2&before={next}"), ADMIN);
    assert!(second["records"][0]["id"].as_u64() < Some(next), "{second}");
    assert_error(
        &server.get("/audit?action=nonsense", ADMIN),
        400,
        "invalid_query",
    );

    // From the command line.
    let out = cli(&server, ADMIN, &["audit", "--action", "run.resume"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("refused"));
}

#[test]
fn a_canceled_job_resumes_nothing_more_and_leaves_its_other_runs_in_error() {
    // Well over a worker's batch (512), so that the cancel lands before the
    // last runs are handled.
    const RUNS: usize = 800;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    server.loan_setup();
    trapped_loans(&server, RUNS);
    server.deploy_flow("risk_score", "autolaunched", plugins::RISK_SCORE_FIXED);
    let (_, job) = server.post(
        "/runs/resume",
        ADMIN,
        json!({ "filter": { "flow": "risk_score" }, "only_if_dry_run_passes": true }),
    );
    let job = job["id"].as_str().expect("job id").to_owned();
    loop {
        let (_, now) = server.get(&format!("/jobs/{job}"), ADMIN);
        assert_eq!(
            now["status"], "running",
            "the job ended before the cancel: {now}"
        );
        if now["counts"]["resumed"].as_u64().unwrap_or(0) > 0 {
            break;
        }
    }
    let (status, canceled) = server.post(&format!("/jobs/{job}/cancel"), ADMIN, Value::Null);
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(canceled["status"], "canceled");
    assert!(
        canceled["counts"]["pending"].as_u64() > Some(0),
        "{canceled}"
    );

    // Every run still pending is untouched, in Error.
    let (_, pending) = server.get(&format!("/jobs/{job}/runs?state=pending"), ADMIN);
    let pending = pending.as_array().cloned().unwrap_or_default();
    assert!(!pending.is_empty());
    for row in &pending {
        let id = row["run"].as_str().expect("run id");
        let run = server.get(&format!("/runs/{id}"), ADMIN).1;
        assert_eq!(run["status"], "error", "{run}");
    }
    assert_error(
        &server.post(&format!("/jobs/{job}/cancel"), ADMIN, Value::Null),
        409,
        "conflict",
    );
    let out = cli(&server, ADMIN, &["job", "list"]);
    assert!(out.status.success(), "{out:?}");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains(&job) && listed.contains("canceled"),
        "{listed}"
    );
}

#[test]
fn a_screen_flow_that_failed_on_submission_is_dry_run_against_the_recorded_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    let ada = server.loan_setup();
    // The review form's v2 traps when answers are submitted.
    server.deploy_flow("loan_review", "screen", plugins::REVIEW_TRAP);
    let id = server.start_loan("linus", 30000);
    let item = crate::support::open_item(&server.wait_resting(&id)).expect("a work item");
    let answers = json!({ "answers": { "decision": "approve", "comment": "fine" } });
    let (status, failed) = server.post(&format!("/work-items/{item}/complete"), &ada, answers);
    assert_eq!(status, 502, "{failed}");
    let run = server.wait_run(&id, |run| run["status"] == "error");
    assert_eq!(run["error"]["flow"]["name"], "loan_review", "{run}");
    let before = server.get(&format!("/runs/{id}"), ADMIN).1;

    // The active version renders, then fails on the answers ada gave.
    let (status, same) = server.post_bytes(&format!("/runs/{id}/dry-run"), None);
    assert_eq!(status, 200, "{same}");
    assert_eq!(same["step"], "underwriter");
    assert_eq!(same["candidate"]["outcome"]["status"], "failed", "{same}");
    assert_eq!(same["candidate"]["outcome"]["failure"]["kind"], "trap");

    // The working form takes the same answers.
    let (status, fixed) =
        server.post_bytes(&format!("/runs/{id}/dry-run"), Some(plugins::LOAN_REVIEW));
    assert_eq!(status, 200, "{fixed}");
    let outcome = &fixed["candidate"]["outcome"];
    assert_eq!(outcome["status"], "rendered", "{fixed}");
    assert_eq!(outcome["submitted"]["result"], "accepted", "{fixed}");
    assert_eq!(outcome["submitted"]["outputs"]["approved"], true, "{fixed}");
    assert_eq!(server.get(&format!("/runs/{id}"), ADMIN).1, before);
}
