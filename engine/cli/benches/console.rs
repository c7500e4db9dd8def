//! The console's heaviest pages at scale: RUNS loan runs in the store (one
//! in ten in Error, three waiting for a review, the rest Completed), then
//! the server time (its `Server-Timing` header) of the runs list — first
//! page, a deep page, filtered by status and by stage — and of a run's page,
//! over loopback against `stagecraft serve`. Goal: under 50 ms each.
//!
//! `cargo bench -p stagecraft --bench console [-- RUNS]` (default 100000).
#![allow(missing_docs)]

use anyhow::{Context, Result, bail, ensure};
use serde_json::json;
use stagecraft_core::run::{RunId, RunStatus, WorkItemStatus};
use stagecraft_engine::{Engine, EngineConfig, FlowKind, Group, User, UserStatus};
use stagecraft_example_plugins as plugins;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// As in the `stagecraft` program.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFINITION: &str = include_str!("../../../example-plugins/loan_approval.json");
const ADMIN: &str = "bench-admin-token-0123456789";
/// Runs started at once while the population is built.
const CONCURRENCY: usize = 256;
/// Requests per page measured.
const SAMPLES: usize = 50;

#[tokio::main]
async fn main() -> Result<()> {
    let runs: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let (failed, middle) = populate(dir.path(), runs).await?;
    println!("{runs} loan runs stored in {:.2?}", started.elapsed());

    let mut server = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args([
            "serve",
            "--example-actions",
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("STAGECRAFT_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .context("start stagecraft serve")?;
    let stdout = server.stdout.take().context("stdout")?;
    let url = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                line.strip_prefix("stagecraft listening on ")
                    .map(|u| u.trim().to_owned())
            })
    })
    .await?
    .context("the server never said where it listens")?;
    let measured = measure(&url, &failed, &middle).await;
    let _ = server.kill();
    let _ = server.wait();
    let rows = measured?;
    println!(
        "{:<44} {:>9} {:>9} {:>9}",
        "page", "p50 ms", "p95 ms", "max ms"
    );
    for (page, mut times) in rows {
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        println!(
            "{page:<44} {:>9.2} {:>9.2} {:>9.2}",
            at(0.5),
            at(0.95),
            at(1.0)
        );
    }
    Ok(())
}

/// Stores `total` loan runs through the engine; returns a run in Error and
/// the cursor of the runs list's middle page.
async fn populate(dir: &std::path::Path, total: usize) -> Result<(RunId, String)> {
    // As `stagecraft serve --example-actions`.
    let engine = Engine::builder(EngineConfig::new(dir))
        .action(
            "book_loan",
            |call: stagecraft_engine::ActionCall| async move {
                let applicant = call.inputs["applicant"].as_str().unwrap_or("unknown");
                Ok(json!({ "reference": format!("LN-{applicant}") }))
            },
        )
        .open()
        .await?;
    engine
        .put_user(
            User {
                id: "ada".into(),
                name: "Ada".into(),
                status: UserStatus::Active,
            },
            "bench",
        )
        .await?;
    engine
        .put_group(
            Group {
                id: "underwriters".into(),
                name: "Underwriters".into(),
                members: vec!["ada".into()],
            },
            "bench",
        )
        .await?;
    for (name, kind, path) in [
        ("risk_score", FlowKind::Autolaunched, plugins::RISK_SCORE),
        ("credit_check", FlowKind::Evaluation, plugins::CREDIT_CHECK),
        ("loan_review", FlowKind::Screen, plugins::LOAN_REVIEW),
    ] {
        engine
            .deploy_flow(name, kind, std::fs::read(path)?, "bench")
            .await?;
    }
    engine
        .deploy_orchestration(serde_json::from_str(DEFINITION)?, "bench")
        .await?;
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let permit = Arc::clone(&slots).acquire_owned().await?;
        let engine = engine.clone();
        let inputs = match i % 10 {
            0 => {
                json!({"applicant": format!("zero-{i}"), "income": 0, "debt": 1000, "amount": 5000})
            }
            1..=3 => {
                json!({"applicant": format!("linus-{i}"), "income": 30000, "debt": 10000, "amount": 20000})
            }
            _ => {
                json!({"applicant": format!("grace-{i}"), "income": 90000, "debt": 5000, "amount": 20000})
            }
        };
        tasks.push(tokio::spawn(async move {
            let run = engine.start_run("loan_approval", inputs, "bench").await?;
            // Settled, or waiting for a review.
            let run = engine
                .wait_for(&run.id, |run| {
                    run.status != RunStatus::InProgress
                        || run
                            .work_items
                            .iter()
                            .any(|item| item.status == WorkItemStatus::Assigned)
                })
                .await?;
            drop(permit);
            Ok::<_, anyhow::Error>((run.id.clone(), run.status))
        }));
    }
    let mut failed = None;
    let mut all = Vec::with_capacity(total);
    for task in tasks {
        let (id, status) = task.await??;
        if status == RunStatus::Error && failed.is_none() {
            failed = Some(id.clone());
        }
        all.push(id);
    }
    // The middle page starts after the run half-way down the list.
    let mut listed = engine
        .runs(stagecraft_engine::RunFilter {
            limit: Some(1000),
            ..Default::default()
        })
        .await?;
    let mut skipped = listed.len();
    while skipped < total / 2 && listed.len() == 1000 {
        let last = listed.last().context("a page")?;
        let after = Some((last.started_at, last.id.clone()));
        listed = engine
            .runs(stagecraft_engine::RunFilter {
                limit: Some(1000),
                after,
                ..Default::default()
            })
            .await?;
        skipped += listed.len();
    }
    let last = listed.last().context("a page")?;
    let cursor = format!("{}|{}", last.started_at, last.id);
    engine.shutdown().await;
    Ok((failed.context("a run in Error")?, cursor))
}

/// A page measured: its name, path and query.
type Page<'a> = (&'static str, String, Vec<(&'static str, &'a str)>);

/// Server time of each page, SAMPLES times.
async fn measure(url: &str, failed: &RunId, middle: &str) -> Result<Vec<(String, Vec<f64>)>> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let signed = http
        .post(format!("{url}/ui/sign-in"))
        .header("origin", url)
        .form(&[("token", ADMIN), ("next", "/ui/runs")])
        .send()
        .await?;
    let cookie = signed
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("a session cookie")?
        .to_owned();
    let pages: [Page; 6] = [
        ("runs list, first page", "/ui/runs".into(), vec![]),
        (
            "runs list, middle page",
            "/ui/runs".into(),
            vec![("after", middle)],
        ),
        (
            "runs list, status error",
            "/ui/runs".into(),
            vec![("status", "error")],
        ),
        (
            "runs list, stage review",
            "/ui/runs".into(),
            vec![("stage", "review")],
        ),
        ("run page, in Error", format!("/ui/runs/{failed}"), vec![]),
        (
            "API GET /runs?limit=50",
            "/runs".into(),
            vec![("limit", "50")],
        ),
    ];
    let mut measured = Vec::new();
    for (name, path, query) in pages {
        let mut times = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let response = http
                .get(format!("{url}{path}"))
                .query(&query)
                .header("cookie", &cookie)
                .bearer_auth(ADMIN)
                .timeout(Duration::from_secs(30))
                .send()
                .await?;
            if !response.status().is_success() {
                bail!("{path}: {}", response.status());
            }
            let took = response
                .headers()
                .get("server-timing")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("app;dur="))
                .and_then(|v| v.parse::<f64>().ok())
                .context("a Server-Timing header")?;
            let body = response.text().await?;
            ensure!(!body.is_empty(), "{path} answered");
            times.push(took);
        }
        measured.push((name.to_owned(), times));
    }
    Ok(measured)
}
