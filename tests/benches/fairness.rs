//! Fair sharing of the flow slots: how long a normal run (3 stages of the
//! no-op flow, one at a time) takes while a hostile flow floods the engine
//! with busy loops and sleeps (each stopped by its fuel or its 2 s timeout),
//! with the per-flow cap (the default, a quarter of the slots) and without
//! it (one flow may take every slot).
//!
//! `cargo bench -p stagecraft-tests --bench fairness [-- NORMAL ATTACKS]`
//! (defaults: 200 normal runs, 150 hostile ones).
#![allow(missing_docs)]

use anyhow::Result;
use serde_json::json;
use stagecraft_core::run::RunStatus;
use stagecraft_engine::{Engine, EngineConfig, FlowKind};
use stagecraft_tests::{HOSTILE, NOOP, chain_orchestration};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Flow slots of the engine under test.
const SLOTS: u32 = 16;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let normal: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let attacks: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(150);
    for (label, attacks, cap) in [
        ("no attack", 0, None),
        ("attack, per-flow cap (default)", attacks, None),
        ("attack, no per-flow cap", attacks, Some(SLOTS)),
    ] {
        let (p50, p99) = measure(normal, attacks, cap).await?;
        println!(
            "{label:<32} normal-run latency p50 {p50:>10.2?}, p99 {p99:>10.2?} ({normal} runs, {SLOTS} slots)"
        );
    }
    Ok(())
}

/// Latency percentiles of `normal` runs started one after another while
/// `attacks` hostile busy loops were started just before them.
async fn measure(normal: usize, attacks: usize, cap: Option<u32>) -> Result<(Duration, Duration)> {
    let dir = tempfile::tempdir()?;
    let mut config = EngineConfig::new(dir.path());
    config.max_concurrent_flows = SLOTS;
    config.max_concurrent_per_flow = cap;
    // A busy loop burns its whole budget, a sleep waits for the timeout:
    // keep both short.
    config.limits.fuel = 300_000_000;
    config.limits.timeout = Duration::from_secs(2);
    let engine = Engine::builder(config).open().await?;
    engine
        .deploy_flow(
            "noop",
            FlowKind::Autolaunched,
            std::fs::read(NOOP)?,
            "bench",
        )
        .await?;
    engine
        .deploy_flow(
            "hostile",
            FlowKind::Autolaunched,
            std::fs::read(HOSTILE)?,
            "bench",
        )
        .await?;
    engine
        .deploy_orchestration(chain_orchestration("chain", 3), "bench")
        .await?;
    let attack = json!({
        "format": 1,
        "name": "attack",
        "inputs": [{"name": "attack", "type": "text", "required": true}],
        "elements": [{"type": "stage", "name": "s", "steps": [{
            "name": "attack",
            "kind": {"type": "background", "flow": "hostile"},
            "inputs": {"attack": {"ref": "input.attack"}}
        }]}]
    });
    engine.deploy_orchestration(attack, "bench").await?;

    let mut hostile = Vec::with_capacity(attacks);
    for i in 0..attacks {
        let kind = if i % 2 == 0 { "infinite-loop" } else { "sleep" };
        let run = engine
            .start_run("attack", json!({"attack": kind}), "admin")
            .await?;
        hostile.push(run.id.clone());
    }
    let mut latencies = Vec::with_capacity(normal);
    for _ in 0..normal {
        let begin = Instant::now();
        let run = engine.start_run("chain", json!({}), "admin").await?;
        let run = engine.wait_until_settled(&run.id).await?;
        anyhow::ensure!(run.status == RunStatus::Completed, "a normal run failed");
        latencies.push(begin.elapsed());
    }
    for id in hostile {
        engine.wait_until_settled(&id).await?;
    }
    engine.shutdown().await;
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    Ok((pct(0.50), pct(0.99)))
}
