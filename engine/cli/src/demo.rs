//! `stagecraft demo`: the loan story on a fresh server, step by step.

use crate::cli::DemoArgs;
use crate::client::Client;
use crate::commands::flow::spinner;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use stagecraft_api_model::{Answers, PutMembers, PutUser, ShownWorkItem, StartRun};
use stagecraft_core::run::{Run, RunId, RunStatus, WorkItemStatus};
use stagecraft_engine::Form;
use stagecraft_engine::UserStatus;
use stagecraft_example_plugins as plugins;
use stagecraft_server::{Engine, RateLimit, ServerConfig};
use std::time::Duration;

const DEFINITION: &str = include_str!("../../../example-plugins/loan_approval.json");

/// How long one run may take to reach its next resting point.
const PATIENCE: Duration = Duration::from_secs(120);

/// Runs the demo, then serves until SIGTERM or Ctrl-C.
pub async fn run(args: DemoArgs) -> Result<()> {
    println!(
        "Stagecraft demo: a loan orchestration whose risk-score flow traps on a zero income.\n"
    );
    println!(
        "1. The example flows were compiled to wasm32-wasip2 components and embedded when this program was built:"
    );
    for plugin in plugins::ALL.iter().filter(|plugin| {
        !matches!(
            plugin.name,
            "noop" | "hostile" | "review-trap" | "credit-check-lenient"
        )
    }) {
        println!(
            "   {:<17} {:<13} {} KiB",
            plugin.name,
            plugin.kind,
            plugin.wasm.len() / 1024
        );
    }

    let starting = spinner(format!(
        "starting the engine in {}",
        args.data_dir.display()
    ));
    let running = stagecraft_server::serve(ServerConfig {
        addr: args.addr,
        engine: stagecraft_engine::EngineConfig::new(&args.data_dir),
        admin_token: None,
        example_actions: true,
        database: None,
        lease_ttl: stagecraft_store_postgres::DEFAULT_LEASE_TTL,
        rate_limit: RateLimit::default(),
    })
    .await;
    starting.finish_and_clear();
    let running = running?;
    let admin_token = running
        .generated_admin_token
        .clone()
        .context("the demo generates its admin token")?;
    println!(
        "2. Server started at {} (data in {}).",
        running.url,
        args.data_dir.display()
    );
    let admin = Client::new(&running.url, Some(admin_token.clone()))?;
    let engine = running.engine.clone();

    admin
        .put(
            &["users", "ada"],
            &PutUser {
                name: "Ada Lovelace".to_owned(),
                status: UserStatus::Active,
            },
        )
        .await?;
    admin
        .put(
            &["groups", "underwriters"],
            &PutMembers {
                name: "Underwriters".to_owned(),
                members: vec!["ada".to_owned()],
            },
        )
        .await?;
    let ada_token = admin
        .post(&["users", "ada", "tokens"], &Value::Null)
        .await?["token"]
        .as_str()
        .context("a token for ada")?
        .to_owned();
    let ada = Client::new(&running.url, Some(ada_token.clone()))?;
    println!("3. Directory: user ada in group underwriters; ada got her own token.");

    println!("4. Deploying flows (each is validated and compiled by the server):");
    for (name, kind, wasm) in [
        ("risk_score", "autolaunched", plugins::RISK_SCORE_WASM),
        ("credit_check", "evaluation", plugins::CREDIT_CHECK_WASM),
        ("loan_review", "screen", plugins::LOAN_REVIEW_WASM),
    ] {
        let record = deploy(&admin, name, kind, wasm).await?;
        println!("   {name} v{} ({kind})", record["version"]);
    }
    let definition: Value = serde_json::from_str(DEFINITION)?;
    let orchestration = admin.post(&["orchestrations"], &definition).await?;
    println!(
        "5. Deployed orchestration loan_approval v{}: scoring → triage → review → booking.",
        orchestration["version"]
    );

    println!("6. Three applications:");
    let applications = [
        json!({"applicant": "grace", "income": 90000, "debt": 5000, "amount": 20000}),
        json!({"applicant": "linus", "income": 30000, "debt": 10000, "amount": 20000}),
        json!({"applicant": "zero", "income": 0, "debt": 1000, "amount": 5000}),
    ];
    let mut runs = Vec::new();
    for inputs in applications {
        let run = admin
            .post(
                &["runs"],
                &StartRun {
                    orchestration: "loan_approval".to_owned(),
                    inputs,
                },
            )
            .await?;
        runs.push(RunId(run["id"].as_str().context("a run id")?.to_owned()));
    }
    for id in &runs {
        let run = settle(&engine, id).await?;
        println!("   {}", report(&run));
    }

    println!("7. ada reviews what waits for the underwriters:");
    complete_for(&ada, &runs, json!({"decision": "approve"}), "approves").await?;

    let failed = runs.last().context("three runs")?;
    println!("8. The zero-income run is in Error: risk_score v1 divides by zero and traps.");
    let tried = admin
        .upload(
            &["runs", &failed.0, "dry-run"],
            &[],
            plugins::RISK_SCORE_FIXED_WASM.to_vec(),
        )
        .await?;
    println!(
        "   Dry-run of the fix, not deployed, against the input that failed: {} (the run is untouched).",
        match tried["candidate"]["outcome"]["status"].as_str() {
            Some("succeeded") => format!("outputs {}", tried["candidate"]["outcome"]["outputs"]),
            _ => format!(
                "it fails too: {}",
                tried["candidate"]["outcome"]["failure"]["message"]
            ),
        }
    );
    let progress = spinner("deploying risk_score v2 and resuming its failed runs".to_owned());
    let fixed = admin
        .upload(
            &["flows", "risk_score"],
            &[
                ("kind", "autolaunched".to_owned()),
                ("resume_errored", "true".to_owned()),
                ("only_if_dry_run_passes", "true".to_owned()),
            ],
            plugins::RISK_SCORE_FIXED_WASM.to_vec(),
        )
        .await;
    progress.finish_and_clear();
    let fixed = fixed?;
    let job_id = fixed["resume_job"]["id"]
        .as_str()
        .context("the deploy started a resume job")?
        .to_owned();
    let (_, job) = admin
        .get_waiting(
            &["jobs", &job_id],
            &[
                ("wait_for", "finished".to_owned()),
                ("timeout", "120s".to_owned()),
            ],
        )
        .await?;
    println!(
        "   Hot swap: risk_score v{} deployed with --resume-errored — no restart; job {job_id} resumed {} of the {} runs in Error on it ({} refused).",
        fixed["version"],
        job["counts"]["resumed"],
        job["counts"]["total"],
        job["counts"]["refused"]
    );
    let run = settle(&engine, failed).await?;
    println!("   {}", report(&run));
    complete_for(
        &ada,
        std::slice::from_ref(failed),
        json!({"decision": "reject", "comment": "no income"}),
        "rejects",
    )
    .await?;

    println!("9. Final statuses:");
    for id in &runs {
        let run = wait(&engine, id, |run| run.status != RunStatus::InProgress).await?;
        println!("   {}", report(&run));
    }

    println!(
        "\nThe server keeps running at {} (Ctrl-C to stop).",
        running.url
    );
    println!("  admin token: {admin_token}");
    println!("  ada's token: {ada_token}");
    println!(
        "The console, in a browser (one-click sign-in links; the token stays in the browser):"
    );
    println!("  as ada:   {}/ui/sign-in#token={ada_token}", running.url);
    println!("  as admin: {}/ui/sign-in#token={admin_token}", running.url);
    println!("Try:");
    println!(
        "  export STAGECRAFT_URL={} STAGECRAFT_TOKEN={admin_token}",
        running.url
    );
    println!("  stagecraft run list");
    println!("  stagecraft run show {failed}");
    println!("  stagecraft run history {failed}");
    println!("  stagecraft run dry-run {failed} scoring.score --version 1");
    println!("  stagecraft flow list");
    println!("  stagecraft audit");
    drop(engine);
    Ok(running.until_signal().await?)
}

async fn deploy(admin: &Client, name: &str, kind: &str, wasm: &[u8]) -> Result<Value> {
    let progress = spinner(format!("deploying {name}"));
    let record = admin
        .upload(
            &["flows", name],
            &[("kind", kind.to_owned())],
            wasm.to_vec(),
        )
        .await;
    progress.finish_and_clear();
    Ok(record?)
}

/// Completes, as the user of `client`, the open work items of `runs`.
async fn complete_for(client: &Client, runs: &[RunId], answers: Value, verb: &str) -> Result<()> {
    let items = client.get(&["work-items"], &[]).await?;
    for record in items.as_array().into_iter().flatten() {
        let run = record["run"].as_str().unwrap_or_default();
        if !runs.iter().any(|id| id.0 == run) {
            continue;
        }
        let id = record["item"]["id"].as_str().context("a work item id")?;
        let (run_part, item_part) = id.split_once('/').context("a work item id")?;
        let shown: ShownWorkItem = serde_json::from_value(
            client
                .get(&["work-items", run_part, item_part], &[])
                .await?,
        )?;
        let form: Option<Form> = serde_json::from_value(shown.form).ok();
        println!(
            "   ada opens {id}: form \"{}\" — she {verb}.",
            form.as_ref().map_or("?", |form| form.title.as_str())
        );
        client
            .post(
                &["work-items", run_part, item_part, "complete"],
                &Answers {
                    answers: answers.clone(),
                },
            )
            .await?;
    }
    Ok(())
}

/// Waits until the run rests: settled, or waiting for a person.
async fn settle(engine: &Engine, id: &RunId) -> Result<std::sync::Arc<Run>> {
    wait(engine, id, |run| {
        run.status != RunStatus::InProgress
            || run
                .work_items
                .iter()
                .any(|item| item.status == WorkItemStatus::Assigned)
    })
    .await
}

async fn wait(
    engine: &Engine,
    id: &RunId,
    condition: impl Fn(&Run) -> bool,
) -> Result<std::sync::Arc<Run>> {
    match tokio::time::timeout(PATIENCE, engine.wait_for(id, condition)).await {
        Ok(run) => Ok(run?),
        Err(_) => bail!("run {id} did not progress within {PATIENCE:?}"),
    }
}

fn report(run: &Run) -> String {
    let applicant = run.inputs["applicant"].as_str().unwrap_or("?");
    match (&run.status, &run.error) {
        (RunStatus::Error, Some(error)) => format!(
            "{applicant:<6} Error in stage {}: {}",
            error.stage,
            error.message.lines().next().unwrap_or("")
        ),
        (RunStatus::InProgress, _) => format!("{applicant:<6} waiting for an underwriter"),
        (status, _) => format!("{applicant:<6} {status:?}"),
    }
}
