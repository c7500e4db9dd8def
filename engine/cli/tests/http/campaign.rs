//! Issue 20: a fault-injection campaign over three nodes on one PostgreSQL
//! database, bounded in time and reproducible from its printed seed.
//!
//! Mixed load goes through the live nodes (starts with idempotency keys,
//! retried until answered; work-item completions; events; cancels; a resume
//! job) while, once per round, a node is killed (-9), stopped (SIGTERM),
//! paused past its lease (SIGSTOP, then SIGCONT), or every database
//! connection is cut (`pg_terminate_backend`). Afterwards: each key started
//! exactly one run; every run settles; every completed run's history is a
//! legal one, each step's completion recorded once; every job's counts add
//! up to its runs.
//!
//! `STAGECRAFT_CAMPAIGN_SEED` replays a schedule; `STAGECRAFT_CAMPAIGN_ROUNDS`
//! (default 6, a short version for CI) makes it longer;
//! `STAGECRAFT_CAMPAIGN_PG_RESTART=1` adds restarts of the database server
//! (`pg_ctl restart -m fast`), by hand only: other tests share the server.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use stagecraft_example_plugins as plugins;

use super::cluster::{chain, database, kinds, node, signal};
use crate::support::{ADMIN, Server};

/// How long a paused node stays paused: longer than its lease (1 s).
const PAUSE: Duration = Duration::from_millis(2500);
/// Operations per round.
const OPERATIONS: u64 = 14;
/// How long every run may take to settle once the faults are over.
const SETTLE: Duration = Duration::from_secs(60);

/// A xorshift generator: the whole schedule follows from its seed.
struct Schedule(u64);

impl Schedule {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The three nodes, each live, paused or being replaced.
struct Cluster {
    url: String,
    dirs: Vec<tempfile::TempDir>,
    nodes: Vec<Server>,
    paused: Option<(usize, Instant)>,
    token: String,
}

impl Cluster {
    /// A live node to send a request through, by turn.
    fn via(&self, turn: u64) -> &Server {
        let live: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.paused.is_none_or(|(p, _)| p != *i))
            .collect();
        let index = usize::try_from(turn).unwrap_or(0) % live.len();
        &self.nodes[live[index]]
    }

    /// Lets a paused node go on once it has been paused long enough.
    fn wake_if_due(&mut self, now: bool) {
        if let Some((victim, since)) = self.paused
            && (now || since.elapsed() >= PAUSE)
        {
            signal(&self.nodes[victim], "-CONT");
            self.paused = None;
        }
    }

    /// One fault, chosen by the schedule.
    fn fault(&mut self, schedule: &mut Schedule) -> String {
        self.wake_if_due(true);
        let victim = usize::try_from(schedule.below(3)).unwrap_or(0);
        let kinds = if restarts_allowed() { 5 } else { 4 };
        match schedule.below(kinds) {
            4 => {
                restart_database(&self.url);
                "pg_ctl restart -m fast of the database server".to_owned()
            }
            0 => {
                // Server's drop is kill -9.
                let dead = std::mem::replace(
                    &mut self.nodes[victim],
                    node(self.dirs[victim].path(), &self.url),
                );
                drop(dead);
                format!("kill -9 node {victim} (and start it again)")
            }
            1 => {
                signal(&self.nodes[victim], "-TERM");
                let placeholder = node(self.dirs[victim].path(), &self.url);
                let stopping = std::mem::replace(&mut self.nodes[victim], placeholder);
                assert!(stopping.wait_exit().success(), "SIGTERM exits 0");
                format!("SIGTERM node {victim} (and start it again)")
            }
            2 => {
                signal(&self.nodes[victim], "-STOP");
                self.paused = Some((victim, Instant::now()));
                format!("SIGSTOP node {victim} for {PAUSE:?}")
            }
            _ => {
                let cut = terminate_connections(&self.url);
                format!("pg_terminate_backend of {cut} connections")
            }
        }
    }

    /// Starts a run of `body` under `key`, through the nodes in turn, until
    /// a node answers it (201, or 200 for a retry the first attempt made):
    /// the run's id.
    fn start(&self, key: &str, body: &Value, turn: &mut u64) -> String {
        let started = Instant::now();
        loop {
            *turn += 1;
            let answer = self.via(*turn).try_call(
                Method::POST,
                "/runs",
                ADMIN,
                Some(body.clone()),
                Some(key),
            );
            match answer {
                Some((201 | 200, run)) => return run["id"].as_str().expect("run id").to_owned(),
                // The node died, is stopping, or could not say: try again.
                Some((409 | 503, _)) | None => {}
                Some((status, answer)) => panic!("start {key}: {status} {answer}"),
            }
            assert!(started.elapsed() < SETTLE, "start {key} was never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Completes the open work item of loan run `id` as ada, if it has one
    /// now; tolerates its node dying (the completion is retried later).
    fn complete(&self, id: &str, turn: u64) {
        let Some((200, run)) =
            self.via(turn)
                .try_call(Method::GET, &format!("/runs/{id}"), ADMIN, None, None)
        else {
            return;
        };
        let Some(item) = open_item(&run) else {
            return;
        };
        let _ = self.via(turn + 1).try_call(
            Method::POST,
            &format!("/work-items/{item}/complete"),
            &self.token,
            Some(json!({"answers": {"decision": "approve"}})),
            None,
        );
    }
}

fn open_item(run: &Value) -> Option<String> {
    run["work_items"]
        .as_array()?
        .iter()
        .find(|item| item["status"] == "assigned")
        .and_then(|item| item["id"].as_str())
        .map(str::to_owned)
}

/// Whether the campaign may restart the database server: only by hand
/// (`STAGECRAFT_CAMPAIGN_PG_RESTART=1`), since the other tests share it.
fn restarts_allowed() -> bool {
    std::env::var("STAGECRAFT_CAMPAIGN_PG_RESTART").is_ok_and(|v| v == "1")
}

/// Restarts the database server (`pg_ctl restart -m fast`: every
/// connection is cut, and the server is back once the command returns),
/// as the user who owns its data directory.
fn restart_database(url: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (data, version) = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("the database accepts connections");
        tokio::spawn(connection);
        let data: String = client
            .query_one("SHOW data_directory", &[])
            .await
            .expect("the data directory")
            .get(0);
        let version: String = client
            .query_one("SHOW server_version_num", &[])
            .await
            .expect("the version")
            .get(0);
        (data, version)
    });
    let major = version.parse::<u32>().expect("a version number") / 10_000;
    let pg_ctl = format!("/usr/lib/postgresql/{major}/bin/pg_ctl");
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    let mut command = if root {
        let mut command = std::process::Command::new("runuser");
        command.args(["-u", "postgres", "--", &pg_ctl]);
        command
    } else {
        std::process::Command::new(&pg_ctl)
    };
    let status = command
        .args(["-D", &data, "-w", "-m", "fast", "restart"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("pg_ctl runs");
    assert!(status.success(), "pg_ctl restart failed");
}

/// Cuts every connection to the test's database but the test's own; how
/// many.
fn terminate_connections(url: &str) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("the database accepts connections");
        tokio::spawn(connection);
        let rows = client
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .expect("connections terminated");
        rows.len() as u64
    })
}

/// The ids of every run in the database, read there (no listing is capped).
fn stored_runs(url: &str) -> BTreeSet<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("the database accepts connections");
        tokio::spawn(connection);
        client
            .query("SELECT id FROM runs", &[])
            .await
            .expect("the runs")
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect()
    })
}

fn seed() -> u64 {
    std::env::var("STAGECRAFT_CAMPAIGN_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |elapsed| u64::from(elapsed.subsec_nanos()))
        })
        | 1
}

#[test]
fn a_fault_campaign_over_three_nodes_loses_nothing_and_doubles_nothing() {
    let Some(url) = database("fault_campaign") else {
        return;
    };
    let rounds: u64 = std::env::var("STAGECRAFT_CAMPAIGN_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(6);
    let seed = seed();
    eprintln!(
        "fault campaign: seed {seed} (STAGECRAFT_CAMPAIGN_SEED={seed} replays it), {rounds} rounds"
    );
    let mut schedule = Schedule(seed);
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let nodes: Vec<Server> = dirs.iter().map(|dir| node(dir.path(), &url)).collect();
    let token = nodes[0].loan_setup();
    nodes[0].deploy_flow("noop", "autolaunched", plugins::NOOP);
    assert_eq!(nodes[0].post("/orchestrations", ADMIN, chain()).0, 201);
    let mut cluster = Cluster {
        url: url.clone(),
        dirs,
        nodes,
        paused: None,
        token,
    };
    let loan = |income: u64| {
        json!({"orchestration": "loan_approval",
            "inputs": {"applicant": "ada", "income": income, "debt": 10000, "amount": 20000}})
    };

    // Loans in Error (risk score v1 traps on a zero income), for the
    // resume job the campaign starts half-way.
    let mut turn = 0;
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    let mut failing = Vec::new();
    for n in 0..6 {
        let key = format!("failing-{n}");
        let id = cluster.start(&key, &loan(0), &mut turn);
        failing.push(id.clone());
        keys.insert(key, id);
    }
    for id in &failing {
        let run = cluster
            .via(0)
            .wait_run(id, |run| run["status"] != "in_progress");
        assert_eq!(run["status"], "error", "{run}");
    }
    // Fixed: the job resumes them on the new version.
    cluster.nodes[0].deploy_flow("risk_score", "autolaunched", plugins::RISK_SCORE_FIXED);

    let mut chains = Vec::new();
    let mut loans = Vec::new();
    let mut cancels = BTreeSet::new();
    let mut job = None;
    for round in 0..rounds {
        let fault_at = schedule.below(OPERATIONS);
        for op in 0..OPERATIONS {
            cluster.wake_if_due(false);
            if op == fault_at {
                let fault = cluster.fault(&mut schedule);
                eprintln!("round {round}: {fault}");
            }
            if round == rounds / 2 && op == 0 {
                let body = json!({"filter": {"flow": "risk_score"}});
                if let Some((201, created)) = cluster.via(turn).try_call(
                    Method::POST,
                    "/runs/resume",
                    ADMIN,
                    Some(body),
                    None,
                ) {
                    job = created["id"].as_str().map(str::to_owned);
                }
            }
            turn += 1;
            match schedule.below(10) {
                0..=4 => {
                    let key = format!("chain-{round}-{op}");
                    let id = cluster.start(&key, &json!({"orchestration": "chain"}), &mut turn);
                    chains.push(id.clone());
                    keys.insert(key, id);
                }
                5 | 6 => {
                    let key = format!("loan-{round}-{op}");
                    let id = cluster.start(&key, &loan(1), &mut turn);
                    loans.push(id.clone());
                    keys.insert(key, id);
                }
                7 if !loans.is_empty() => {
                    let id =
                        &loans[usize::try_from(schedule.below(loans.len() as u64)).unwrap_or(0)];
                    cluster.complete(id, turn);
                }
                8 if !loans.is_empty() => {
                    let id =
                        &loans[usize::try_from(schedule.below(loans.len() as u64)).unwrap_or(0)];
                    let _ = cluster.via(turn).try_call(
                        Method::POST,
                        &format!("/runs/{id}/events"),
                        ADMIN,
                        Some(json!({"name": "nudge"})),
                        None,
                    );
                }
                _ if !chains.is_empty() => {
                    let id = chains
                        [usize::try_from(schedule.below(chains.len() as u64)).unwrap_or(0)]
                    .clone();
                    let _ = cluster.via(turn).try_call(
                        Method::POST,
                        &format!("/runs/{id}/cancel"),
                        ADMIN,
                        None,
                        None,
                    );
                    cancels.insert(id);
                }
                _ => {}
            }
        }
        // A paused node stays paused past its lease, under load: its runs
        // are taken over, and commands for them routed or claimed.
        let mut extra = 0;
        while cluster.paused.is_some() {
            turn += 1;
            extra += 1;
            let key = format!("chain-{round}-paused-{extra}");
            let id = cluster.start(&key, &json!({"orchestration": "chain"}), &mut turn);
            chains.push(id.clone());
            keys.insert(key, id);
            cluster.wake_if_due(false);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    cluster.wake_if_due(true);

    // Every key started exactly one run, and nothing else started any.
    let ids: BTreeSet<&String> = keys.values().collect();
    assert_eq!(ids.len(), keys.len(), "two keys answered with one run");
    let listed = stored_runs(&url);
    let acknowledged: BTreeSet<String> = ids.into_iter().cloned().collect();
    let unknown: Vec<_> = listed.difference(&acknowledged).collect();
    let lost: Vec<_> = acknowledged.difference(&listed).collect();
    assert!(
        unknown.is_empty() && lost.is_empty(),
        "runs no key started: {unknown:?}; runs acknowledged and lost: {lost:?} (seed {seed})"
    );

    // The reference history of a chain run that saw no fault.
    let reference = cluster.start("reference", &json!({"orchestration": "chain"}), &mut turn);
    let reference = cluster
        .via(0)
        .wait_run(&reference, |run| run["status"] == "completed");
    let legal = kinds(&reference);

    // Every chain run settles: completed with the legal history, or
    // canceled (only those the campaign tried to cancel).
    let settled_by = Instant::now() + SETTLE;
    for (i, id) in chains.iter().enumerate() {
        let run = cluster.via(i as u64).wait_run(id, |run| {
            run["status"] != "in_progress" || Instant::now() > settled_by
        });
        match run["status"].as_str() {
            Some("completed") => assert_eq!(kinds(&run), legal, "run {id}: {run}"),
            Some("canceled") => assert!(cancels.contains(id), "run {id} canceled: {run}"),
            _ => panic!("run {id} did not settle (seed {seed}): {run}"),
        }
    }
    // Every loan run waiting for review gets its answer (again, if a
    // completion was lost with its node) and completes, the review
    // recorded once.
    for (i, id) in loans.iter().enumerate() {
        let deadline = Instant::now() + SETTLE;
        let run = loop {
            let run = cluster.via(i as u64).wait_run(id, |run| {
                run["status"] != "in_progress" || open_item(run).is_some()
            });
            if run["status"] != "in_progress" {
                break run;
            }
            cluster.complete(id, i as u64);
            assert!(
                Instant::now() < deadline,
                "loan {id} never completed: {run}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(run["status"], "completed", "loan {id} (seed {seed}): {run}");
        let reviews = run["history"]
            .as_array()
            .expect("a history")
            .iter()
            .filter(|m| m["kind"] == "end_step" && m["record"]["step"]["step"] == "underwriter")
            .count();
        assert_eq!(
            reviews, 1,
            "loan {id}'s review recorded {reviews} times: {run}"
        );
    }
    // The resume job ends, its counts adding up to its runs, each run it
    // resumed out of Error once.
    if let Some(job) = job {
        let deadline = Instant::now() + SETTLE;
        let record = loop {
            let (status, record) = cluster.via(0).get(&format!("/jobs/{job}"), ADMIN);
            assert_eq!(status, 200, "{record}");
            if record["status"] != "running" {
                break record;
            }
            assert!(Instant::now() < deadline, "job {job} never ended: {record}");
            std::thread::sleep(Duration::from_millis(50));
        };
        let counts = &record["counts"];
        let (total, resumed, refused, pending) = (
            counts["total"].as_u64().unwrap_or_default(),
            counts["resumed"].as_u64().unwrap_or_default(),
            counts["refused"].as_u64().unwrap_or_default(),
            counts["pending"].as_u64().unwrap_or_default(),
        );
        assert_eq!((total, pending), (failing.len() as u64, 0), "{record}");
        assert_eq!(resumed + refused, total, "{record}");
        for id in &failing {
            let run = cluster
                .via(0)
                .wait_run(id, |run| run["status"] != "in_progress");
            let resumes = run["history"]
                .as_array()
                .expect("a history")
                .iter()
                .filter(|m| m["kind"] == "resume_run")
                .count();
            assert!(resumes <= 1, "run {id} resumed {resumes} times: {run}");
        }
    }
    eprintln!(
        "fault campaign: {} runs, every one accounted for",
        acknowledged.len()
    );
}
