//! Isolation from runaway and hostile flows, through the HTTP server: the
//! latency of ordinary runs (3 stages of the no-op flow, each started by
//! `POST /runs?wait_for=settled`, one request per run) while attacking runs
//! are started through the same API, on `stagecraft serve` with its default
//! settings. The engine-level twin is `stagecraft-tests`' `isolation` bench.
//!
//! Half the attacking runs start first and run for half a second; then the
//! ordinary runs start, one every 2 ms, with the other half in between. Each
//! mix runs on a fresh server: no attack, then each attack kind alone (CPU
//! loops, memory bombs, recursion, sleeps, a large Python component doing
//! ordinary work), then all mixed, at each intensity (attacking runs per 100
//! ordinary ones).
//!
//! `cargo bench -p stagecraft --bench isolation [-- ORDINARY INTENSITY...]`
//! (defaults: 200 ordinary runs; intensities 25 and 75). The Python row needs
//! `target/tmp/polyglot/python-risk-score.wasm` (built by the polyglot tests).
#![allow(missing_docs)]

use reqwest::blocking::Client;
use serde_json::{Value, json};
use stagecraft_example_plugins::{HOSTILE, NOOP};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-admin-token-0123456789";
/// How long the first half of the attacks run before ordinary runs start.
const WARM_UP: Duration = Duration::from_millis(500);
/// Between two ordinary runs' starts.
const PACE: Duration = Duration::from_millis(2);

/// An attacking run: its orchestration and inputs.
type Attack = (&'static str, Value);

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let ordinary: usize = args
        .next()
        .map_or(200, |a| a.parse().expect("ORDINARY is a number"));
    let mut intensities: Vec<usize> = args
        .map(|a| a.parse().expect("INTENSITY is a number"))
        .collect();
    if intensities.is_empty() {
        intensities = vec![25, 75];
    }
    let python = python_component();
    let hostile = |attack: &str| ("attack", json!({ "attack": attack }));
    let python_run = (
        "python",
        json!({"income": 52000, "debt": 1000, "amount": 5000}),
    );
    let mut mixes: Vec<(&str, Vec<Attack>)> = vec![
        ("CPU loops", vec![hostile("infinite-loop")]),
        ("memory bombs", vec![hostile("memory-bomb")]),
        ("recursion", vec![hostile("deep-recursion")]),
        ("sleeps", vec![hostile("sleep")]),
    ];
    if python.is_some() {
        mixes.push(("Python component", vec![python_run]));
    } else {
        eprintln!("no Python component: its row is skipped (see the bench's doc)");
    }
    let mut all: Vec<Attack> = mixes.iter().flat_map(|(_, a)| a.clone()).collect();
    all.sort_by_key(|(orchestration, _)| *orchestration);
    mixes.push(("all mixed", all));

    let (p50, p99) = measure(ordinary, 0, &[], python.as_ref());
    println!("| mix | attacks per 100 | ordinary p50 | ordinary p99 | p50 ratio | p99 ratio |");
    println!("|---|---|---|---|---|---|");
    println!("| no attack | 0 | {p50:.2?} | {p99:.2?} | 1.0 | 1.0 |");
    for intensity in intensities {
        for (label, attacks) in &mixes {
            let (a50, a99) = measure(ordinary, intensity, attacks, python.as_ref());
            println!(
                "| {label} | {intensity} | {a50:.2?} | {a99:.2?} | {:.1} | {:.1} |",
                a50.as_secs_f64() / p50.as_secs_f64(),
                a99.as_secs_f64() / p99.as_secs_f64(),
            );
        }
    }
}

fn python_component() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/tmp/polyglot/python-risk-score.wasm");
    path.exists().then_some(path)
}

/// `stagecraft serve` on a fresh data directory, killed when dropped.
struct Server {
    child: Child,
    url: String,
    http: Client,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("a data directory");
        let mut child = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("STAGECRAFT_ADMIN_TOKEN", TOKEN)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("stagecraft serve starts");
        let stdout = child.stdout.take().expect("its stdout");
        let url = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                line.strip_prefix("stagecraft listening on ")
                    .map(|url| url.trim().to_owned())
            })
            .expect("the server prints its address");
        let http = Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(512)
            .build()
            .expect("an HTTP client");
        Self {
            child,
            url,
            http,
            _dir: dir,
        }
    }

    fn deploy_flow(&self, name: &str, bytes: Vec<u8>) {
        let response = self
            .http
            .post(format!("{}/flows/{name}?kind=autolaunched", self.url))
            .bearer_auth(TOKEN)
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
            .expect("deploy");
        assert_eq!(response.status().as_u16(), 201, "deploy {name}");
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .expect("request");
        let status = response.status().as_u16();
        let body: Value = response.json().unwrap_or(Value::Null);
        assert!(status < 300, "{path}: {status} {body}");
        body
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Latency percentiles of `ordinary` runs with `intensity` attacking runs
/// (taken in turn from `attacks`) per 100 of them.
fn measure(
    ordinary: usize,
    intensity: usize,
    attacks: &[Attack],
    python: Option<&PathBuf>,
) -> (Duration, Duration) {
    let server = Server::start();
    server.deploy_flow("noop", std::fs::read(NOOP).expect("the noop plugin"));
    server.deploy_flow(
        "hostile",
        std::fs::read(HOSTILE).expect("the hostile plugin"),
    );
    let stage = |name: &str, flow: &str, inputs: Value| {
        json!({"type": "stage", "name": name, "steps": [{
            "name": "step", "kind": {"type": "background", "flow": flow}, "inputs": inputs
        }]})
    };
    let chain: Vec<Value> = (1..=3)
        .map(|i| {
            let mut element = stage(&format!("s{i}"), "noop", json!({}));
            element["next"] = if i < 3 {
                json!(format!("s{}", i + 1))
            } else {
                Value::Null
            };
            element
        })
        .collect();
    server.post(
        "/orchestrations",
        &json!({"format": 1, "name": "chain", "elements": chain}),
    );
    server.post(
        "/orchestrations",
        &json!({
            "format": 1, "name": "attack",
            "inputs": [{"name": "attack", "type": "text", "required": true}],
            "elements": [stage("s", "hostile", json!({"attack": {"ref": "input.attack"}}))]
        }),
    );
    if let Some(python) = python {
        server.deploy_flow("py_score", std::fs::read(python).expect("the Python flow"));
        let input = |name: &str| json!({"name": name, "type": "number", "required": true});
        let refs = json!({
            "income": {"ref": "input.income"},
            "debt": {"ref": "input.debt"},
            "amount": {"ref": "input.amount"}
        });
        server.post(
            "/orchestrations",
            &json!({
                "format": 1, "name": "python",
                "inputs": [input("income"), input("debt"), input("amount")],
                "elements": [stage("s", "py_score", refs)]
            }),
        );
    }

    let mut attacks = attacks.iter().cycle();
    let total = ordinary * intensity / 100;
    let start_attack = |(orchestration, inputs): &Attack| {
        server.post(
            "/runs",
            &json!({"orchestration": orchestration, "inputs": inputs}),
        );
    };
    for attack in attacks.by_ref().take(total / 2) {
        start_attack(attack);
    }
    if total > 0 {
        std::thread::sleep(WARM_UP);
    }
    let later = total - total / 2;
    let mut attacked = 0;
    let began = Instant::now();
    let latencies = std::thread::scope(|scope| {
        let mut waiting = Vec::with_capacity(ordinary);
        for i in 0..ordinary {
            while attacked < later * (i + 1) / ordinary {
                if let Some(attack) = attacks.next() {
                    start_attack(attack);
                }
                attacked += 1;
            }
            let due = began + PACE * u32::try_from(i).unwrap_or(u32::MAX);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let server = &server;
            waiting.push(scope.spawn(move || {
                let begin = Instant::now();
                let run = server.post(
                    "/runs?wait_for=settled&timeout=60s",
                    &json!({"orchestration": "chain", "inputs": {}}),
                );
                assert_eq!(run["status"], "completed", "an ordinary run: {run}");
                begin.elapsed()
            }));
        }
        waiting
            .into_iter()
            .map(|waiter| waiter.join().expect("an ordinary run's thread"))
            .collect::<Vec<_>>()
    });
    let mut latencies = latencies;
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    (pct(0.50), pct(0.99))
}
