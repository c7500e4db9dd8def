//! Several `stagecraft serve` processes on one PostgreSQL database, acting
//! as one engine: any node answers any request, a node that dies (kill -9)
//! has its runs taken over within the lease TTL, and a node that was paused
//! past its lease cannot commit a stale state. Skipped loudly without
//! `STAGECRAFT_TEST_DATABASE`; failing under `CI=true`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stagecraft_example_plugins as plugins;
use stagecraft_store_conformance::{fresh_database, test_database};

use crate::support::{ADMIN, Server, open_item};

/// The lease TTL of the test nodes: short, so that takeovers are quick.
const TTL: &str = "1s";
/// How long after a node dies its runs may take to finish elsewhere: the
/// TTL, the takeover round (half a TTL) and the runs' own work, with room
/// for a loaded 2-core machine.
const TAKEOVER_BOUND: Duration = Duration::from_secs(5);

/// A fresh database for one test, or `None` (skipped) without PostgreSQL.
pub(crate) fn database(test: &str) -> Option<String> {
    let url = test_database(test)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    Some(runtime.block_on(fresh_database(&url, test)))
}

pub(crate) fn node(dir: &Path, url: &str) -> Server {
    Server::start_with(
        dir,
        &["--example-actions", "--database", url, "--lease-ttl", TTL],
    )
}

/// Three stages of one background step each, on flow `noop`.
pub(crate) fn chain() -> Value {
    let elements: Vec<Value> = (0..3)
        .map(|i| {
            json!({
                "type": "stage",
                "name": format!("stage_{i}"),
                "steps": [{"name": "work", "kind": {"type": "background", "flow": "noop"}}],
                "next": (i < 2).then(|| format!("stage_{}", i + 1)),
            })
        })
        .collect();
    json!({"format": 1, "name": "chain", "elements": elements})
}

/// The kinds of a run's milestones, in order.
pub(crate) fn kinds(run: &Value) -> Vec<String> {
    run["history"]
        .as_array()
        .map(|history| {
            history
                .iter()
                .map(|m| m["kind"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Two nodes at once: flows and orchestrations deployed through one are
/// used by the other, a token issued through one works on the other, a run
/// started on one is completed through the other, and each sees the other's
/// results. Nothing of the store is kept in a node's data directory.
#[test]
fn two_nodes_on_one_database_serve_the_loan_story_as_one_engine() {
    let Some(url) = database("cluster_loan_story") else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(dir_a.path(), &url);
    let b = node(dir_b.path(), &url);
    let ada_on_a = a.loan_setup();

    // Deployed through A, started through B; ada answers through A.
    let id = b.start_loan("linus", 30000);
    let run = b.wait_resting(&id);
    let item = open_item(&run).expect("the review waits for ada");
    let (status, done) = a.post(
        &format!("/work-items/{item}/complete"),
        &ada_on_a,
        json!({"answers": {"decision": "approve"}}),
    );
    assert_eq!(status, 200, "{done}");
    let run = b.wait_run(&id, |run| run["status"] != "in_progress");
    assert_eq!(run["status"], "completed", "{run}");

    // A token issued through B works through A at once, and is refused
    // there once revoked through B.
    let ada_on_b = b.token_for("ada");
    let (status, items) = a.get("/work-items", &ada_on_b);
    assert_eq!(status, 200, "{items}");
    let (status, revoked) = b.call(
        reqwest::Method::DELETE,
        "/users/ada/tokens",
        Some(ADMIN),
        None,
    );
    assert_eq!(status, 200, "{revoked}");
    let started = Instant::now();
    while a.get("/work-items", &ada_on_b).0 != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a token revoked through B is still accepted by A"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A flow fixed through B is what A runs next: the risk score traps on a
    // zero income (the run is in Error), the fix is deployed through B, and
    // the run resumed through A completes its score.
    let failing = a.start_loan("grace", 0);
    let run = a.wait_run(&failing, |run| run["status"] == "error");
    assert_eq!(run["status"], "error", "{run}");
    b.deploy_flow("risk_score", "autolaunched", plugins::RISK_SCORE_FIXED);
    let (status, resumed) = a.post(&format!("/runs/{failing}/resume"), ADMIN, Value::Null);
    assert_eq!(status, 200, "{resumed}");
    let run = b.wait_resting(&failing);
    assert!(open_item(&run).is_some(), "scored with the fix: {run}");

    for dir in [&dir_a, &dir_b] {
        assert!(
            !dir.path().join("stagecraft.db").exists(),
            "nothing of the store is kept in the data directory"
        );
    }
}

/// Three nodes under load from all three; one of them is killed (kill -9)
/// at a random moment ten times, and restarted. Every run acknowledged
/// completes, and those in flight on the last node killed within the
/// takeover bound; each step's completion is recorded once, and every
/// history is the one a run that saw no crash has.
#[test]
fn three_nodes_lose_nothing_when_nodes_are_killed_under_load() {
    let Some(url) = database("cluster_kill_9") else {
        return;
    };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<Server> = dirs.iter().map(|dir| node(dir.path(), &url)).collect();
    nodes[0].deploy_flow("noop", "autolaunched", plugins::NOOP);
    let (status, record) = nodes[0].post("/orchestrations", ADMIN, chain());
    assert_eq!(status, 201, "{record}");

    // A run that sees no crash: the legal history every run must have.
    let (status, reference) = nodes[1].post("/runs", ADMIN, json!({"orchestration": "chain"}));
    assert_eq!(status, 201, "{reference}");
    let reference = nodes[2].wait_run(reference["id"].as_str().unwrap(), |run| {
        run["status"] == "completed"
    });
    let legal = kinds(&reference);
    assert_eq!(
        legal.iter().filter(|kind| *kind == "end_step").count(),
        3,
        "{reference}"
    );

    // Seeded by the clock: a different schedule each time, printed so a
    // failure can be replayed.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos() as u64 | 1)
        .unwrap_or(7);
    eprintln!("kill schedule seed: {seed}");
    let mut random = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let mut acknowledged: Vec<String> = Vec::new();
    let mut kills: Vec<Instant> = Vec::new();
    for round in 0..10 {
        // Load from all three nodes; the kill lands somewhere in it.
        let victim = usize::try_from(random(3)).unwrap_or(0);
        let kill_after = random(12);
        for n in 0..12 {
            if n == kill_after {
                drop(nodes.remove(victim));
                kills.push(Instant::now());
                nodes.insert(victim, node(dirs[victim].path(), &url));
            }
            let via = &nodes[(n as usize + round) % 3];
            let (status, run) = via.post("/runs", ADMIN, json!({"orchestration": "chain"}));
            assert_eq!(status, 201, "{run}");
            acknowledged.push(run["id"].as_str().unwrap().to_owned());
        }
    }

    // Every acknowledged run completes, read through any node; those the
    // last node killed had in flight are taken over and finish within the
    // bound.
    let last_kill = *kills.last().expect("ten kills");
    let mut finished = BTreeMap::new();
    for (i, id) in acknowledged.iter().enumerate() {
        let run = nodes[i % 3].wait_run(id, |run| {
            run["status"] != "in_progress" || last_kill.elapsed() > TAKEOVER_BOUND
        });
        finished.insert(id.clone(), run);
    }
    let took = last_kill.elapsed();
    for (id, run) in &finished {
        assert_eq!(
            run["status"], "completed",
            "run {id} ({took:?} after the last kill): {run}"
        );
        assert_eq!(kinds(run), legal, "run {id} has another history: {run}");
    }
    eprintln!(
        "{} runs, all completed {took:?} after the last kill",
        finished.len()
    );
}

/// Fencing: node A is paused (SIGSTOP) with a flow in flight, for longer
/// than its lease. B takes the run over and records the step's outcome.
/// When A continues, its flow's result comes in too late: its commit is
/// refused (the epoch moved on), A drops the run, and the run keeps B's
/// outcome, recorded once. A goes on serving.
#[test]
fn a_paused_node_cannot_commit_a_stale_state_once_its_runs_were_taken_over() {
    let Some(url) = database("cluster_fencing") else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let log = dir_a.path().join("node-a.log");
    let args = slow_node_args(&url, "3s");
    let a = Server::start_logged(dir_a.path(), &args, &log);
    let b = Server::start_with(dir_b.path(), &args);
    a.deploy_flow("slow", "autolaunched", plugins::HOSTILE);
    a.deploy_flow("noop", "autolaunched", plugins::NOOP);
    assert_eq!(a.post("/orchestrations", ADMIN, slow_job()).0, 201);
    assert_eq!(a.post("/orchestrations", ADMIN, chain()).0, 201);

    // The flow sleeps until its timeout: A is paused while it runs.
    let (status, run) = a.post("/runs", ADMIN, json!({"orchestration": "slow_job"}));
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_owned();
    signal(&a, "-STOP");
    let run = b.wait_run(&id, |run| run["status"] == "error");
    assert_eq!(run["status"], "error", "B ran the step again: {run}");
    let recorded = kinds(&run);

    // A continues: its own attempt times out too, and its commit is fenced.
    signal(&a, "-CONT");
    let started = Instant::now();
    loop {
        let written = std::fs::read_to_string(&log).unwrap_or_default();
        if written.contains("now served by another node") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "A never tried to commit its stale state; its log:\n{written}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = a.wait_run(&id, |_| true);
    assert_eq!(run["status"], "error", "{run}");
    assert_eq!(kinds(&run), recorded, "the outcome is B's, recorded once");

    // A dropped the run and goes on serving.
    let (status, fresh) = a.post("/runs", ADMIN, json!({"orchestration": "chain"}));
    assert_eq!(status, 201, "{fresh}");
    let fresh = a.wait_run(fresh["id"].as_str().unwrap(), |run| {
        run["status"] != "in_progress"
    });
    assert_eq!(fresh["status"], "completed", "{fresh}");
}

/// A command for a run whose flow is under way on another node is routed
/// to that node and answered from there: a run started on A, its flow
/// running there, is canceled through B. A run that waits on nobody is
/// claimed by the node that gets its command, and waits for nobody.
#[test]
fn a_command_for_a_run_another_node_works_on_is_routed_to_it() {
    let Some(url) = database("cluster_routing") else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = slow_node_args(&url, "20s");
    let a = Server::start_with(dir_a.path(), &args);
    let b = Server::start_with(dir_b.path(), &args);
    a.deploy_flow("slow", "autolaunched", plugins::HOSTILE);
    assert_eq!(a.post("/orchestrations", ADMIN, slow_job()).0, 201);
    let (status, run) = a.post("/runs", ADMIN, json!({"orchestration": "slow_job"}));
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_owned();

    // The flow sleeps on A for 20 s: B's cancel is A's to apply, at once.
    let asked = Instant::now();
    let (status, canceled) = b.post(&format!("/runs/{id}/cancel"), ADMIN, Value::Null);
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "the cancel waited for the flow: {:?}",
        asked.elapsed()
    );
    let run = a.wait_run(&id, |_| true);
    assert_eq!(run["status"], "canceled", "{run}");

    // Refused there as it would be here: the run is canceled already.
    let (status, refused) = b.post(&format!("/runs/{id}/resume"), ADMIN, Value::Null);
    assert_eq!(status, 409, "{refused}");
}

/// One stage whose background step runs flow `slow`, which sleeps until
/// its timeout.
fn slow_job() -> Value {
    json!({
        "format": 1,
        "name": "slow_job",
        "elements": [{
            "type": "stage", "name": "work", "next": null,
            "steps": [{"name": "job", "kind": {"type": "background", "flow": "slow"},
                       "inputs": {"attack": {"value": "sleep"}}}]
        }]
    })
}

/// A node's arguments, with flows timed out after `flow_timeout`.
fn slow_node_args<'a>(url: &'a str, flow_timeout: &'a str) -> [&'a str; 6] {
    [
        "--database",
        url,
        "--lease-ttl",
        TTL,
        "--flow-timeout",
        flow_timeout,
    ]
}

pub(crate) fn signal(server: &Server, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill {signal}");
}
