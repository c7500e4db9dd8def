//! Repair at scale, durability on: RUNS runs in Error on one flow (a
//! one-stage orchestration whose step runs `risk_score` v1, which traps on
//! a zero income), then
//!
//! 1. a dry-run of the fix (`risk_score_fixed`, uploaded, not deployed)
//!    against every one of them: time to the answer;
//! 2. deploy-and-resume: the fix deployed as v2 with a resume job over the
//!    runs in Error on the flow; time from the deploy request until the
//!    last run is Completed.
//!
//! `cargo bench -p stagecraft-tests --bench repair [-- RUNS]` (default 10000).
#![allow(missing_docs)]

use anyhow::{Context, Result, ensure};
use serde_json::json;
use stagecraft_core::run::RunStatus;
use stagecraft_engine::{Candidate, Engine, EngineConfig, FlowKind, RepairFilter, SqliteStore};
use stagecraft_tests::{RISK_SCORE, RISK_SCORE_FIXED};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

/// As in the `stagecraft` program.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs started at once while the population is built.
const CONCURRENCY: usize = 256;

#[tokio::main]
async fn main() -> Result<()> {
    let runs: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let engine = Engine::builder(EngineConfig::new(dir.path()))
        .open()
        .await?;
    engine
        .deploy_flow(
            "risk_score",
            FlowKind::Autolaunched,
            std::fs::read(RISK_SCORE)?,
            "bench",
        )
        .await?;
    engine
        .deploy_orchestration(
            json!({"format": 1, "name": "score", "elements": [{
                "type": "stage", "name": "scoring",
                "steps": [{"name": "score",
                           "kind": {"type": "background", "flow": "risk_score"},
                           "inputs": {"income": {"value": 0}, "debt": {"value": 1000},
                                      "amount": {"value": 5000}}}]
            }]}),
            "bench",
        )
        .await?;

    let started = Instant::now();
    let ids = fail(&engine, runs).await?;
    println!(
        "{runs} runs in Error on risk_score v1 (a trap each) in {:.2?}",
        started.elapsed()
    );

    let filter = RepairFilter {
        flow: Some("risk_score".to_owned()),
        ..RepairFilter::default()
    };
    let fix = std::fs::read(RISK_SCORE_FIXED)?;
    let started = Instant::now();
    let tried = engine
        .dry_run_selection(&filter, Candidate::Component(fix.clone()), "bench")
        .await?;
    println!(
        "dry-run of the fix against all {} runs: {} would succeed, {} would fail, in {:.2?}",
        tried.selected,
        tried.succeeded,
        tried.failed,
        started.elapsed()
    );
    ensure!(tried.succeeded == runs, "the fix gets every run through");

    let mut updates = engine.subscribe();
    let started = Instant::now();
    let (record, job) = engine
        .deploy_and_resume(
            "risk_score",
            FlowKind::Autolaunched,
            fix,
            None,
            false,
            "bench",
        )
        .await?;
    let mut completed = HashSet::new();
    while completed.len() < ids.len() {
        match updates.recv().await {
            Ok(update) if update.run.status == RunStatus::Completed => {
                completed.insert(update.run.id.clone());
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                eprintln!("missed {n} updates: waiting for the rest run by run");
                for id in &ids {
                    if !completed.contains(id) {
                        engine
                            .wait_for(id, |run| run.status == RunStatus::Completed)
                            .await?;
                        completed.insert(id.clone());
                    }
                }
            }
            Err(closed) => return Err(closed).context("updates"),
        }
    }
    let elapsed = started.elapsed();
    let job = engine.wait_for_job(&job?.id).await?;
    ensure!(
        job.counts.resumed as usize == runs,
        "every run resumed: {job:?}"
    );
    println!(
        "deploy risk_score v{} with resume_errored: {} runs resumed and Completed in {elapsed:.2?} ({:.0} runs/s)",
        record.version,
        completed.len(),
        runs as f64 / elapsed.as_secs_f64()
    );
    engine.shutdown().await;
    Ok(())
}

/// Starts `total` runs and waits until every one is in Error.
async fn fail(
    engine: &Engine<SqliteStore>,
    total: usize,
) -> Result<Vec<stagecraft_core::run::RunId>> {
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = Vec::with_capacity(total);
    for _ in 0..total {
        let permit = Arc::clone(&slots).acquire_owned().await?;
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let run = engine.start_run("score", json!({}), "bench").await?;
            let run = engine.wait_until_settled(&run.id).await?;
            drop(permit);
            ensure!(run.status == RunStatus::Error, "run {} is in Error", run.id);
            Ok::<_, anyhow::Error>(run.id.clone())
        }));
    }
    let mut ids = Vec::with_capacity(total);
    for task in tasks {
        ids.push(task.await??);
    }
    Ok(ids)
}
