//! Isolation from runaway and hostile flows: the latency of ordinary runs
//! (3 stages of the no-op flow) started interleaved with attacking runs, on
//! an engine with the default settings (64 slots, 2e9 fuel, 64 MiB, 30 s).
//!
//! Half the attacking runs start first and run for half a second; then the
//! ordinary runs start, one every 2 ms, with the other half in between.
//! Each mix is measured on a fresh engine: no attack, then each attack kind
//! alone (CPU loops, memory bombs, recursion, sleeps, a large Python
//! component doing ordinary work), then all of them mixed, at each
//! intensity (attacking runs per 100 ordinary ones).
//!
//! `cargo bench -p stagecraft-tests --bench isolation [-- ORDINARY INTENSITY...]`
//! (defaults: 200 ordinary runs; intensities 25 and 75). The Python row
//! needs `target/tmp/polyglot/python-risk-score.wasm` (built by the polyglot
//! tests) or `STAGECRAFT_BENCH_PYTHON=path`; without it, it is skipped.
#![allow(missing_docs)]

use anyhow::{Context, Result};
use serde_json::{Value, json};
use stagecraft_core::run::RunStatus;
use stagecraft_engine::{Engine, EngineConfig, FlowKind};
use stagecraft_tests::{HOSTILE, NOOP, chain_orchestration};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long the first half of the attacks run before ordinary runs start.
const WARM_UP: Duration = Duration::from_millis(500);
/// Between two ordinary runs' starts.
const PACE: Duration = Duration::from_millis(2);

/// An attacking run: its orchestration and inputs.
type Attack = (&'static str, Value);

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let ordinary: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let mut intensities: Vec<usize> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
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
        mixes.push(("Python component", vec![python_run.clone()]));
    } else {
        eprintln!("no Python component: its row is skipped (see the bench's doc)");
    }
    let mut all: Vec<Attack> = mixes.iter().flat_map(|(_, a)| a.clone()).collect();
    all.sort_by_key(|(orchestration, _)| *orchestration);
    mixes.push(("all mixed", all));

    let (p50, p99) = on_fresh_runtime(measure(ordinary, 0, &[], python.as_ref()))?;
    println!("| mix | attacks per 100 | ordinary p50 | ordinary p99 | p50 ratio | p99 ratio |");
    println!("|---|---|---|---|---|---|");
    println!("| no attack | 0 | {p50:.2?} | {p99:.2?} | 1.0 | 1.0 |");
    for intensity in intensities {
        for (label, attacks) in &mixes {
            let (a50, a99) =
                on_fresh_runtime(measure(ordinary, intensity, attacks, python.as_ref()))?;
            println!(
                "| {label} | {intensity} | {a50:.2?} | {a99:.2?} | {:.1} | {:.1} |",
                a50.as_secs_f64() / p50.as_secs_f64(),
                a99.as_secs_f64() / p99.as_secs_f64(),
            );
        }
    }
    Ok(())
}

/// Runs one measurement on a runtime of its own, dropped after it with the
/// attacks still running, so that none of them weighs on the next one.
fn on_fresh_runtime<T>(measurement: impl Future<Output = Result<T>>) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(measurement);
    runtime.shutdown_timeout(Duration::from_secs(10));
    result
}

fn python_component() -> Option<PathBuf> {
    let path = std::env::var_os("STAGECRAFT_BENCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/tmp/polyglot/python-risk-score.wasm")
        });
    path.exists().then_some(path)
}

/// Latency percentiles of `ordinary` runs with `intensity` attacking runs
/// (taken in turn from `attacks`) per 100 of them.
async fn measure(
    ordinary: usize,
    intensity: usize,
    attacks: &[Attack],
    python: Option<&PathBuf>,
) -> Result<(Duration, Duration)> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::builder(EngineConfig::new(dir.path()))
        .open()
        .await?;
    let deploy = |name: &'static str, bytes: Vec<u8>| {
        let engine = engine.clone();
        async move {
            engine
                .deploy_flow(name, FlowKind::Autolaunched, bytes, "bench")
                .await
        }
    };
    deploy("noop", std::fs::read(NOOP)?).await?;
    deploy("hostile", std::fs::read(HOSTILE)?).await?;
    engine
        .deploy_orchestration(chain_orchestration("chain", 3), "bench")
        .await?;
    engine
        .deploy_orchestration(one_step("attack", "hostile", "attack"), "bench")
        .await?;
    if let Some(python) = python {
        let bytes = std::fs::read(python).with_context(|| python.display().to_string())?;
        deploy("py_score", bytes).await?;
        let mut orchestration = one_step("python", "py_score", "income");
        orchestration["inputs"] = json!([
            {"name": "income", "type": "number", "required": true},
            {"name": "debt", "type": "number", "required": true},
            {"name": "amount", "type": "number", "required": true}
        ]);
        orchestration["elements"][0]["steps"][0]["inputs"] = json!({
            "income": {"ref": "input.income"},
            "debt": {"ref": "input.debt"},
            "amount": {"ref": "input.amount"}
        });
        engine.deploy_orchestration(orchestration, "bench").await?;
    }

    // Half the attacks start first and get going; the others come in
    // between the ordinary runs, which start at a steady pace.
    let mut attacks = attacks.iter().cycle();
    let total = ordinary * intensity / 100;
    let start_attack = |(orchestration, inputs): &Attack| {
        let engine = engine.clone();
        let (orchestration, inputs) = (*orchestration, inputs.clone());
        async move { engine.start_run(orchestration, inputs, "admin").await }
    };
    for attack in attacks.by_ref().take(total / 2) {
        start_attack(attack).await?;
    }
    if total > 0 {
        tokio::time::sleep(WARM_UP).await;
    }
    let mut pace = tokio::time::interval(PACE);
    let mut waiting = Vec::with_capacity(ordinary);
    let later = total - total / 2;
    let mut attacked = 0;
    for i in 0..ordinary {
        while attacked < later * (i + 1) / ordinary {
            if let Some(attack) = attacks.next() {
                start_attack(attack).await?;
            }
            attacked += 1;
        }
        pace.tick().await;
        let begin = Instant::now();
        let run = engine.start_run("chain", json!({}), "admin").await?;
        let engine = engine.clone();
        waiting.push(tokio::spawn(async move {
            let run = engine.wait_until_settled(&run.id).await?;
            anyhow::ensure!(run.status == RunStatus::Completed, "an ordinary run failed");
            Ok(begin.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(ordinary);
    for waiter in waiting {
        latencies.push(waiter.await??);
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    Ok((pct(0.50), pct(0.99)))
}

/// An orchestration of one stage whose one step runs `flow` on the input
/// `input`.
fn one_step(name: &str, flow: &str, input: &str) -> Value {
    json!({
        "format": 1,
        "name": name,
        "inputs": [{"name": input, "type": "text", "required": true}],
        "elements": [{"type": "stage", "name": "s", "steps": [{
            "name": "step",
            "kind": {"type": "background", "flow": flow},
            "inputs": {input: {"ref": format!("input.{input}")}}
        }]}]
    })
}
