//! The durable engine under load, durability on (every commit synced to
//! disk):
//!
//! 1. throughput and latency: runs of a 3-stage orchestration, one background
//!    step per stage running the no-op flow; runs/s, and p50/p99 from
//!    `start_run` to the commit of Completed, with 256 runs in flight
//!    (saturated) and with one at a time (unloaded latency);
//! 2. footprint: runs waiting on a work item each; resident memory and
//!    database size.
//!
//! `cargo bench -p stagecraft-tests --bench engine [-- RUNS WAITING]`
//! (defaults: 20000 runs, 100000 waiting; 0 skips that part).
//!
//! On SQLite in a temporary directory by default; with
//! `STAGECRAFT_BENCH_DATABASE=postgres://…` on PostgreSQL, each part in a
//! fresh database of that server, reporting also the database server's CPU
//! and the statements (round trips) per run, counted by
//! `pg_stat_statements` when the server loads it (`.ci/postgres` does).
//! There, `STAGECRAFT_BENCH_NODES=1,2,3` runs part 1 with each number of
//! engine nodes on the one database, in this process, the runs started
//! through each node in turn (CPU per run is then that of all the nodes).
#![allow(missing_docs)]

use anyhow::{Context, Result};
use serde_json::json;
use stagecraft_core::run::{RunStatus, WorkItemStatus};
use stagecraft_engine::{
    Engine, EngineBuilder, EngineConfig, FlowKind, SqliteStore, Store, User, UserStatus,
};
use stagecraft_store_postgres::{PostgresConfig, PostgresStore};
use stagecraft_tests::{LOAN_REVIEW, NOOP, chain_orchestration};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// As in the `stagecraft` program.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONCURRENCY: usize = 256;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let runs: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let waiting: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    match std::env::var("STAGECRAFT_BENCH_DATABASE") {
        Ok(url) => {
            println!("on PostgreSQL");
            let nodes = std::env::var("STAGECRAFT_BENCH_NODES")
                .unwrap_or_else(|_| "1".to_owned())
                .split(',')
                .map(|n| n.trim().parse::<usize>())
                .collect::<Result<Vec<_>, _>>()
                .context("STAGECRAFT_BENCH_NODES: numbers of nodes, e.g. 1,2,3")?;
            bench(&Postgres { url }, &nodes, runs, waiting).await
        }
        Err(_) => {
            println!("on SQLite");
            bench(&Sqlite, &[1], runs, waiting).await
        }
    }
}

async fn bench<B: Backend>(
    backend: &B,
    nodes: &[usize],
    runs: usize,
    waiting: usize,
) -> Result<()> {
    // A zero skips a part (e.g. to profile one of them).
    if runs > 0 {
        for &nodes in nodes {
            // Saturated: how many runs per second the engine sustains.
            throughput(backend, nodes, runs, CONCURRENCY).await?;
            // Unloaded: how long one run takes from start to completion.
            throughput(backend, nodes, runs.min(2000), 1).await?;
        }
    }
    if waiting > 0 {
        footprint(backend, waiting).await?;
    }
    Ok(())
}

/// Where the engine keeps its runs.
trait Backend {
    type Store: Store;
    /// An engine with its data directory in `dir`, on an empty store.
    async fn open(&self, dir: &Path) -> Result<Engine<Self::Store>> {
        let mut engines = self.open_nodes(dir, 1).await?;
        engines.pop().context("one engine")
    }
    /// `nodes` engines on one empty store, their data directories in `dir`.
    async fn open_nodes(&self, dir: &Path, nodes: usize) -> Result<Vec<Engine<Self::Store>>>;
    /// CPU seconds the database spent outside this process so far.
    fn server_cpu(&self) -> Result<f64>;
    /// Statements the database has executed so far, if it counts them.
    async fn statements(&self) -> Result<Option<f64>>;
}

struct Sqlite;

impl Backend for Sqlite {
    type Store = SqliteStore;

    async fn open_nodes(&self, dir: &Path, nodes: usize) -> Result<Vec<Engine<SqliteStore>>> {
        anyhow::ensure!(nodes == 1, "a SQLite store serves one node");
        Ok(vec![Engine::builder(EngineConfig::new(dir)).open().await?])
    }

    fn server_cpu(&self) -> Result<f64> {
        Ok(0.0)
    }

    async fn statements(&self) -> Result<Option<f64>> {
        Ok(None)
    }
}

struct Postgres {
    url: String,
}

impl Backend for Postgres {
    type Store = PostgresStore;

    async fn open_nodes(&self, dir: &Path, nodes: usize) -> Result<Vec<Engine<PostgresStore>>> {
        let url = stagecraft_store_conformance::fresh_database(&self.url, "bench").await;
        let mut engines = Vec::with_capacity(nodes);
        for node in 0..nodes {
            let store = PostgresStore::open(PostgresConfig::from_url(&url)?).await?;
            let engine = EngineBuilder::new(EngineConfig::new(dir.join(node.to_string())))
                .open_on(store)
                .await?;
            engines.push(engine);
        }
        Ok(engines)
    }

    /// The CPU of every `postgres` process this user can read (the server
    /// on this machine).
    fn server_cpu(&self) -> Result<f64> {
        let mut total = 0.0;
        for entry in std::fs::read_dir("/proc")? {
            let path = entry?.path();
            let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if comm.trim_end() == "postgres"
                && let Ok(stat) = std::fs::read_to_string(path.join("stat"))
            {
                // With the children reaped: the backends of connections
                // closed meanwhile count in their postmaster's.
                total += stat_cpu_seconds(&stat)? + stat_children_cpu_seconds(&stat)?;
            }
        }
        Ok(total)
    }

    async fn statements(&self) -> Result<Option<f64>> {
        let (client, connection) =
            tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        if client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await
            .is_err()
        {
            return Ok(None);
        }
        match client
            .query_one("SELECT sum(calls)::float8 FROM pg_stat_statements", &[])
            .await
        {
            Ok(row) => Ok(row.get::<_, Option<f64>>(0)),
            Err(_) => Ok(None),
        }
    }
}

async fn throughput<B: Backend>(
    backend: &B,
    nodes: usize,
    total: usize,
    concurrency: usize,
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let engines = backend.open_nodes(dir.path(), nodes).await?;
    let engine = &engines[0];
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

    // Every node takes in the catalog before the clock starts.
    for engine in &engines {
        engine.sync_catalog().await?;
    }

    // Completion times come from the streams of committed updates (each
    // node's), which also free a client slot: at most CONCURRENCY runs are
    // in flight.
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let done: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut collectors = Vec::new();
    for engine in &engines {
        let mut updates = engine.subscribe();
        let done = Arc::clone(&done);
        let slots = Arc::clone(&slots);
        collectors.push(tokio::spawn(async move {
            loop {
                match updates.recv().await {
                    Ok(update) if update.run.status == RunStatus::Completed => {
                        done.lock()
                            .await
                            .insert(update.run.id.0.clone(), Instant::now());
                        slots.add_permits(1);
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        eprintln!("collector lagged by {n} updates");
                    }
                    Err(_) => break,
                }
            }
        }));
    }

    let cpu_before = cpu_seconds()?;
    let writer_before = thread_cpu_seconds("stagecraft-stor")?;
    let written_before = bytes_written()?;
    let server_before = backend.server_cpu()?;
    let statements_before = backend.statements().await?;
    let started_at = Instant::now();
    let mut starters = Vec::with_capacity(total);
    for n in 0..total {
        slots.acquire().await?.forget();
        let engine = engines[n % nodes].clone();
        starters.push(tokio::spawn(async move {
            let begin = Instant::now();
            let run = engine.start_run("chain", json!({}), "admin").await?;
            Ok::<_, anyhow::Error>((run.id.0.clone(), begin))
        }));
    }
    let mut starts = Vec::with_capacity(total);
    for starter in starters {
        starts.push(starter.await??);
    }
    // Wait for the last runs to complete.
    let _ = slots.acquire_many(u32::try_from(concurrency)?).await?;
    let elapsed = started_at.elapsed();
    let cpu = cpu_seconds()? - cpu_before;
    let writer_cpu = thread_cpu_seconds("stagecraft-stor")? - writer_before;
    let written = bytes_written()? - written_before;
    let server_cpu = backend.server_cpu()? - server_before;
    let statements = match (statements_before, backend.statements().await?) {
        (Some(before), Some(after)) => format!(
            "; {:.1} statements (round trips) per run",
            (after - before) / total as f64
        ),
        _ => String::new(),
    };
    for collector in collectors {
        collector.abort();
    }

    let done = done.lock().await;
    let mut latencies: Vec<Duration> = starts
        .iter()
        .filter_map(|(id, begin)| done.get(id).map(|end| end.duration_since(*begin)))
        .collect();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{nodes} node(s), {concurrency:>3} in flight: {total} runs of 3 stages in {elapsed:.2?}: {:.0} runs/s; latency p50 {:?}, p99 {:?} ({} samples); per run: CPU {:.0} µs ({:.0} µs of it the SQLite writer), database server CPU {:.0} µs, {:.1} KiB written{statements}",
        total as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        latencies.len(),
        cpu * 1e6 / total as f64,
        writer_cpu * 1e6 / total as f64,
        server_cpu * 1e6 / total as f64,
        written as f64 / 1024.0 / total as f64,
    );
    for engine in engines {
        engine.shutdown().await;
    }
    Ok(())
}

async fn footprint<B: Backend>(backend: &B, total: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let rss_before = rss_kib()?;
    let engine = backend.open(dir.path()).await?;
    engine
        .put_user(
            User {
                id: "ada".into(),
                name: "Ada".into(),
                status: UserStatus::Active,
            },
            "admin",
        )
        .await?;
    engine
        .deploy_flow(
            "review",
            FlowKind::Screen,
            std::fs::read(LOAN_REVIEW)?,
            "bench",
        )
        .await?;
    engine
        .deploy_orchestration(
            json!({"format": 1, "name": "wait", "elements": [{
                "type": "stage", "name": "review",
                "steps": [{"name": "approve",
                           "kind": {"type": "interactive", "flow": "review", "assignee": {"user": "ada"}}}]
            }]}),
            "bench",
        )
        .await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            for _ in (worker..total).step_by(CONCURRENCY) {
                let run = engine.start_run("wait", json!({}), "admin").await?;
                anyhow::ensure!(
                    run.work_items
                        .iter()
                        .any(|w| w.status == WorkItemStatus::Assigned),
                    "the run waits on a work item"
                );
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let rss_after = rss_kib()?;
    let db: u64 = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("stagecraft.db"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "footprint: {total} runs waiting on work items (started in {elapsed:.2?}): \
         resident memory +{} MiB ({} MiB for the whole process), SQLite database {} MiB",
        (rss_after.saturating_sub(rss_before)) / 1024,
        rss_after / 1024,
        db / (1 << 20)
    );
    engine.shutdown().await;
    Ok(())
}

fn rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS in /proc/self/status")
}

/// CPU time (user + system) this process has used, in seconds.
fn cpu_seconds() -> Result<f64> {
    stat_cpu_seconds(&std::fs::read_to_string("/proc/self/stat")?)
}

/// CPU time of this process's threads whose name starts with `name` (Linux
/// keeps 15 bytes of a thread's name).
fn thread_cpu_seconds(name: &str) -> Result<f64> {
    let mut total = 0.0;
    for task in std::fs::read_dir("/proc/self/task")? {
        let path = task?.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim_end().starts_with(name) {
            total += stat_cpu_seconds(&std::fs::read_to_string(path.join("stat"))?)?;
        }
    }
    Ok(total)
}

/// The user + system time in a /proc stat line, in seconds (utime and
/// stime, the 14th and 15th fields of the whole line).
fn stat_cpu_seconds(stat: &str) -> Result<f64> {
    stat_seconds(stat, [11, 12])
}

/// The CPU of a process's reaped children (cutime and cstime, the 16th and
/// 17th fields).
fn stat_children_cpu_seconds(stat: &str) -> Result<f64> {
    stat_seconds(stat, [13, 14])
}

/// The sum of two fields of a /proc stat line, counted after the
/// parenthesised command name, in clock ticks (100 per second on Linux).
fn stat_seconds(stat: &str, fields: [usize; 2]) -> Result<f64> {
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("/proc/…/stat")?;
    let all: Vec<&str> = rest.split_whitespace().collect();
    let mut ticks = 0.0;
    for i in fields {
        ticks += all.get(i).context("/proc/…/stat field")?.parse::<f64>()?;
    }
    Ok(ticks / 100.0)
}

/// Bytes this process has passed to write(2) and the like (the WAL, the
/// database at checkpoints), from /proc/self/io.
fn bytes_written() -> Result<u64> {
    let io = std::fs::read_to_string("/proc/self/io")?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
        .context("wchar in /proc/self/io")
}
