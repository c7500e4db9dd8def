//! `stagecraft job ...`, and following a resume job with a progress bar.

use crate::cli::{FilterArgs, JobCommand};
use crate::client::Client;
use crate::output::{Output, cell};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

/// Runs a job command.
pub async fn run(client: &Client, out: Output, command: JobCommand) -> Result<()> {
    match command {
        JobCommand::List => out.table(
            &client.get(&["jobs"], &[]).await?,
            &[
                ("id", "/id"),
                ("status", "/status"),
                ("by", "/created_by"),
                ("created at", "/created_at"),
                ("total", "/counts/total"),
                ("resumed", "/counts/resumed"),
                ("refused", "/counts/refused"),
                ("pending", "/counts/pending"),
            ],
        ),
        JobCommand::Show { id } => {
            let job = client.get(&["jobs", &id], &[]).await?;
            out.print(&job, summary);
        }
        JobCommand::Wait { id } => follow(client, out, &id).await?,
        JobCommand::Runs { id, state } => {
            let query: Vec<(&str, String)> = state.map(|s| ("state", s)).into_iter().collect();
            out.table(
                &client.get(&["jobs", &id, "runs"], &query).await?,
                &[("run", "/run"), ("state", "/state"), ("reason", "/reason")],
            );
        }
        JobCommand::Cancel { id } => {
            let job = client.post(&["jobs", &id, "cancel"], &Value::Null).await?;
            out.print(&job, summary);
        }
    }
    Ok(())
}

/// Follows job `id` until it finishes: a progress bar on a terminal, then
/// the summary (or the job's JSON).
pub async fn follow(client: &Client, out: Output, id: &str) -> Result<()> {
    let mut job = client.get(&["jobs", id], &[]).await?;
    let bar = ProgressBar::new(count(&job, "total"));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} resuming [{bar:40}] {pos}/{len} runs  {msg}  ({eta} left)",
        )
        .context("progress bar template")?
        .progress_chars("=> "),
    );
    loop {
        let handled = count(&job, "resumed") + count(&job, "refused");
        bar.set_position(handled);
        bar.set_message(format!(
            "{} resumed, {} refused",
            count(&job, "resumed"),
            count(&job, "refused")
        ));
        if job["status"] != "running" {
            break;
        }
        // The server answers as soon as the job finishes, and the bar moves
        // at least every quarter second meanwhile.
        job = client
            .get_waiting(
                &["jobs", id],
                &[
                    ("wait_for", "finished".to_owned()),
                    ("timeout", "250ms".to_owned()),
                ],
            )
            .await?
            .1;
    }
    bar.finish_and_clear();
    out.print(&job, summary);
    Ok(())
}

/// A job for people: where it is, and why runs were refused.
pub fn summary(job: &Value) {
    println!(
        "job {}  {}  {} runs: {} resumed, {} refused, {} pending",
        cell(&job["id"]),
        cell(&job["status"]),
        count(job, "total"),
        count(job, "resumed"),
        count(job, "refused"),
        count(job, "pending"),
    );
    for refusal in job["refusals"].as_array().into_iter().flatten() {
        println!(
            "  refused {} x: {} (e.g. run {})",
            refusal["count"],
            cell(&refusal["reason"]).lines().next().unwrap_or(""),
            cell(&refusal["example"])
        );
    }
}

fn count(job: &Value, name: &str) -> u64 {
    job["counts"][name].as_u64().unwrap_or(0)
}

impl FilterArgs {
    /// Whether any filter is given.
    pub fn any(&self) -> bool {
        self.status.is_some()
            || self.orchestration.is_some()
            || self.stage.is_some()
            || self.failed_step.is_some()
            || self.flow.is_some()
            || self.failure.is_some()
            || self.started_after.is_some()
            || self.started_before.is_some()
    }

    /// The filter as `POST /runs/resume` takes it.
    pub fn json(&self) -> Value {
        let mut filter = json!({});
        let mut set = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                filter[key] = value;
            }
        };
        set("status", self.status.clone().map(Value::from));
        set("orchestration", self.orchestration.clone().map(Value::from));
        set("version", self.orchestration_version.map(Value::from));
        set("stage", self.stage.clone().map(Value::from));
        set("step", self.failed_step.clone().map(Value::from));
        set("flow", self.flow.clone().map(Value::from));
        set("flow_version", self.flow_version.map(Value::from));
        set("failure", self.failure.clone().map(Value::from));
        set("started_after", self.started_after.clone().map(Value::from));
        set(
            "started_before",
            self.started_before.clone().map(Value::from),
        );
        filter
    }

    /// The filter as `POST /runs/dry-run` takes it (query parameters).
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        query.extend(self.orchestration.clone().map(|v| ("orchestration", v)));
        query.extend(
            self.orchestration_version
                .map(|v| ("orchestration_version", v.to_string())),
        );
        query.extend(self.stage.clone().map(|v| ("stage", v)));
        query.extend(self.failed_step.clone().map(|v| ("step", v)));
        query.extend(self.flow.clone().map(|v| ("flow", v)));
        query.extend(self.flow_version.map(|v| ("flow_version", v.to_string())));
        query.extend(self.failure.clone().map(|v| ("failure", v)));
        query.extend(self.started_after.clone().map(|v| ("started_after", v)));
        query.extend(self.started_before.clone().map(|v| ("started_before", v)));
        query
    }
}
