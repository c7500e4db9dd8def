//! Runs the example flows through the host: a scoring flow that traps on a
//! zero income, its fixed version, an evaluation flow, a screen flow, and a
//! hostile flow stopped by its CPU budget.
//!
//! `cargo run -p stagecraft-host --example run_flows`

use serde_json::json;
use stagecraft_example_plugins as plugins;
use stagecraft_host::{FlowHost, FlowKind, HostConfig, Invocation};
use std::error::Error;

fn show<T: std::fmt::Debug>(what: &str, invocation: &Invocation<T>) {
    match &invocation.outcome {
        Ok(value) => println!("✔ {what}: {value:?}"),
        Err(failure) => println!("✘ {what}: {}", first_line(&failure.to_string())),
    }
    for line in &invocation.log {
        println!("    {:?}: {}", line.stream, line.message);
    }
    println!(
        "    ({} fuel, {:?})",
        invocation.fuel_consumed, invocation.elapsed
    );
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let host = FlowHost::new(HostConfig::default())?;
    let load = |kind, path: &str| -> Result<_, Box<dyn Error>> {
        Ok(host.load(kind, &std::fs::read(path)?)?)
    };

    let applicant = json!({"income": 0, "debt": 1200, "amount": 5000});
    let v1 = load(FlowKind::Autolaunched, plugins::RISK_SCORE)?;
    show("risk-score v1, zero income", &v1.run(&applicant).await);
    let v2 = load(FlowKind::Autolaunched, plugins::RISK_SCORE_FIXED)?;
    show("risk-score v2, zero income", &v2.run(&applicant).await);

    let check = load(FlowKind::Evaluation, plugins::CREDIT_CHECK)?;
    show(
        "credit-check, risk 30",
        &check.evaluate(&json!({"risk": 30})).await,
    );

    let review = load(FlowKind::Screen, plugins::LOAN_REVIEW)?;
    let inputs = json!({"applicant": "Ada", "amount": 5000, "risk": 30});
    show("loan-review form", &review.render(&inputs).await);
    let answers = json!({"decision": "reject"});
    show(
        "loan-review, reject without comment",
        &review.submit(&inputs, &answers).await,
    );

    let hostile = load(FlowKind::Autolaunched, plugins::HOSTILE)?;
    show(
        "hostile infinite loop",
        &hostile.run(&json!({"attack": "infinite-loop"})).await,
    );
    show(
        "hostile file read",
        &hostile.run(&json!({"attack": "read-file"})).await,
    );
    Ok(())
}
