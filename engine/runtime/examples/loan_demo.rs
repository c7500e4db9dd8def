//! The whole story, embedded: deploy the example flows and the loan
//! orchestration, run three applications, hit the trapping risk score on a
//! zero income, hot-swap the fixed flow and resume the failed run to
//! Completed (C-RESUME-SWAP end to end).
//!
//! `cargo run -p stagecraft-engine --example loan_demo [DATA_DIR]`

use anyhow::{Context, Result};
use serde_json::json;
use stagecraft_core::run::{Run, RunStatus, WorkItemStatus};
use stagecraft_engine::{
    ActionCall, Completion, Engine, EngineConfig, FlowKind, Group, User, UserStatus,
};
use stagecraft_example_plugins as plugins;

const DEFINITION: &str = include_str!("../../../example-plugins/loan_approval.json");

#[tokio::main]
async fn main() -> Result<()> {
    let data = match std::env::args().nth(1) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => tempfile::tempdir()?.keep(),
    };
    println!("data directory: {}", data.display());
    let engine = Engine::builder(EngineConfig::new(&data))
        .action("book_loan", |call: ActionCall| async move {
            Ok(json!({ "reference": format!("LN-{}", call.inputs["applicant"].as_str().unwrap_or("?")) }))
        })
        .open()
        .await?;

    engine
        .put_user(
            User {
                id: "ada".into(),
                name: "Ada Lovelace".into(),
                status: UserStatus::Active,
            },
            "admin",
        )
        .await?;
    engine
        .put_group(
            Group {
                id: "underwriters".into(),
                name: "Underwriters".into(),
                members: vec!["ada".into()],
            },
            "admin",
        )
        .await?;
    for (name, kind, path) in [
        ("risk_score", FlowKind::Autolaunched, plugins::RISK_SCORE),
        ("credit_check", FlowKind::Evaluation, plugins::CREDIT_CHECK),
        ("loan_review", FlowKind::Screen, plugins::LOAN_REVIEW),
    ] {
        let record = engine
            .deploy_flow(name, kind, std::fs::read(path)?, "admin")
            .await?;
        println!("deployed flow {name} v{}", record.version);
    }
    let orchestration = engine
        .deploy_orchestration(serde_json::from_str(DEFINITION)?, "admin")
        .await?;
    println!(
        "deployed orchestration {} v{}",
        orchestration.name, orchestration.version
    );

    let applications = [
        json!({"applicant": "grace", "income": 90000, "debt": 5000, "amount": 20000}),
        json!({"applicant": "linus", "income": 30000, "debt": 10000, "amount": 20000}),
        json!({"applicant": "zero", "income": 0, "debt": 1000, "amount": 5000}),
    ];
    let mut runs = Vec::new();
    for inputs in applications {
        let run = engine.start_run("loan_approval", inputs, "admin").await?;
        runs.push(run.id.clone());
    }
    for id in &runs {
        let run = engine.wait_for(id, waiting).await?;
        report(&run);
    }

    // The underwriter reviews what is waiting for the group.
    for item in engine.work_items_for("ada").await? {
        let form = engine.work_item_form(&item.item.id, "ada").await?;
        println!("ada sees: {}", form.title);
        match engine
            .complete_work_item(&item.item.id, "ada", json!({"decision": "approve"}))
            .await?
        {
            Completion::Completed(run) => println!("ada approved; run {} moves on", run.id),
            Completion::Invalid(errors) => println!("ada's answers were refused: {errors:?}"),
            Completion::Failed { error, .. } => println!("the submission failed the step: {error}"),
        }
    }

    // The zero-income run trapped. Fix the flow, hot-swap it, resume.
    let failed = runs.last().context("three runs")?;
    let fixed = engine
        .deploy_flow(
            "risk_score",
            FlowKind::Autolaunched,
            std::fs::read(plugins::RISK_SCORE_FIXED)?,
            "admin",
        )
        .await?;
    println!("hot-swapped risk_score to v{}", fixed.version);
    engine.resume(failed, "operator").await?;
    let run = engine.wait_for(failed, waiting).await?;
    report(&run);
    for item in engine.work_items_for("ada").await? {
        engine
            .complete_work_item(
                &item.item.id,
                "ada",
                json!({"decision": "reject", "comment": "no income"}),
            )
            .await?;
    }

    println!("\nfinal statuses:");
    for id in &runs {
        let run = engine.wait_until_settled(id).await?;
        println!(
            "  {} {:<6} {:?}",
            run.id,
            run.inputs["applicant"].as_str().unwrap_or("?"),
            run.status
        );
    }
    engine.shutdown().await;
    Ok(())
}

/// Settled, or waiting for a person.
fn waiting(run: &Run) -> bool {
    run.status != RunStatus::InProgress
        || run
            .work_items
            .iter()
            .any(|item| item.status == WorkItemStatus::Assigned)
}

fn report(run: &Run) {
    let applicant = run.inputs["applicant"].as_str().unwrap_or("?");
    match (&run.status, &run.error) {
        (RunStatus::Error, Some(error)) => {
            println!(
                "{applicant}: Error in stage {} — {}",
                error.stage,
                first_line(&error.message)
            );
        }
        (RunStatus::InProgress, _) => println!("{applicant}: waiting for an underwriter"),
        (status, _) => println!("{applicant}: {status:?}"),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}
