//! Retention keeps a node flat: runs of a 3-stage orchestration (one no-op
//! background step per stage) go through the engine on SQLite, 256 in
//! flight, with finished runs kept 5 s and audit records 10 s (exported
//! before removal). Every tenth of the runs, the database's size on disk
//! (file and WAL), the runs it holds and the process's resident memory are
//! printed: after the first seconds they stay flat, however many runs
//! went through.
//!
//! `cargo bench -p stagecraft-tests --bench retention [-- RUNS]` (default
//! 1,000,000).
#![allow(missing_docs)]

use anyhow::{Context, Result};
use stagecraft_core::run::RunStatus;
use stagecraft_engine::{Engine, EngineConfig, FlowKind, Retention};
use stagecraft_tests::{NOOP, chain_orchestration};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// As in the `stagecraft` program.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONCURRENCY: usize = 256;

#[tokio::main]
async fn main() -> Result<()> {
    let runs: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let mut config = EngineConfig::new(dir.path());
    config.retention = Retention {
        runs: Some(Duration::from_secs(5)),
        audit: Some(Duration::from_secs(10)),
        ..Retention::default()
    };
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
        .deploy_orchestration(chain_orchestration("chain", 3), "bench")
        .await?;

    // A slot is freed by each committed completion.
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut updates = engine.subscribe();
    let freed = Arc::clone(&slots);
    let collector = tokio::spawn(async move {
        let mut completed = 0usize;
        while completed < runs {
            match updates.recv().await {
                Ok(update) if update.run.status == RunStatus::Completed => {
                    completed += 1;
                    freed.add_permits(1);
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("collector lagged by {n} updates");
                }
                Err(_) => break,
            }
        }
    });
    let started = Instant::now();
    println!("runs\telapsed\tdatabase MiB\truns held\tRSS MiB");
    let report_every = (runs / 10).max(1);
    for i in 1..=runs {
        slots.acquire().await?.forget();
        engine
            .start_run("chain", serde_json::json!({}), "bench")
            .await?;
        if i % report_every == 0 {
            let held: u64 = engine.run_counts(None).await?.iter().map(|(_, n)| n).sum();
            println!(
                "{i}\t{:.0}s\t{:.1}\t{held}\t{:.0}",
                started.elapsed().as_secs_f64(),
                database_bytes(dir.path())? as f64 / f64::from(1 << 20),
                rss_kib()? as f64 / 1024.0,
            );
        }
    }
    collector.await?;
    engine.shutdown().await;
    Ok(())
}

/// The SQLite database's size on disk, WAL included.
fn database_bytes(dir: &Path) -> Result<u64> {
    ["stagecraft.db", "stagecraft.db-wal"]
        .iter()
        .map(|name| match std::fs::metadata(dir.join(name)) {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e.into()),
        })
        .sum()
}

/// This process's resident memory, in KiB.
fn rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS in /proc/self/status")
}
