//! `stagecraft flow ...`: the author's commands (new, build, test) and the
//! operator's (deploy, list, show, activate).

mod build;
mod new;
mod test;
mod toolchain;

pub use build::{Language, build};

use crate::cli::FlowCommand;
use crate::client::Client;
use crate::output::Output;
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::Value;
use stagecraft_api_model::DeployedFlow;
use std::time::Duration;

const COLUMNS: &[(&str, &str)] = &[
    ("name", "/name"),
    ("version", "/version"),
    ("kind", "/kind"),
    ("active", "/active"),
    ("size", "/size"),
    ("deployed by", "/deployed_by"),
    ("deployed at", "/deployed_at"),
    ("quarantined since", "/quarantine/since"),
];

/// Runs a flow command.
pub async fn run(client: &Client, out: Output, command: FlowCommand) -> Result<()> {
    match command {
        FlowCommand::New {
            dir,
            lang,
            kind,
            rust_sdk,
        } => {
            let written = new::create(&dir, lang, kind, rust_sdk.as_deref())?;
            out.print(&serde_json::json!({ "files": written }), |_| {
                println!("wrote a {kind} flow in {}:", dir.display());
                for file in &written {
                    println!("  {}", file.display());
                }
                println!("{}", new::next_steps(&dir, lang, kind));
            });
        }
        FlowCommand::Build { dir, out } => {
            let path = build(&dir, out.as_deref()).await?;
            println!("{}", path.display());
        }
        FlowCommand::Test {
            file,
            kind,
            inputs,
            answers,
            sandbox,
        } => {
            let inputs = super::json_object("--inputs", &inputs)?;
            let answers = answers
                .map(|answers| super::json_object("--answers", &answers))
                .transpose()?;
            test::run(
                out,
                &file,
                kind,
                &inputs,
                answers.as_ref(),
                sandbox.limits(),
            )
            .await?;
        }
        FlowCommand::Deploy {
            name,
            file,
            kind,
            memory_mib,
            resume_errored,
            only_if_dry_run_passes,
            detach,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let spinner = spinner(format!("deploying {name} (the server compiles it)"));
            let mut query = vec![("kind", kind)];
            if let Some(mib) = memory_mib {
                query.push(("memory_mib", mib.to_string()));
            }
            if resume_errored {
                query.push(("resume_errored", "true".to_owned()));
            }
            if only_if_dry_run_passes {
                query.push(("only_if_dry_run_passes", "true".to_owned()));
            }
            let record = client.upload(&["flows", &name], &query, bytes).await;
            spinner.finish_and_clear();
            let answer = record?;
            let deployed = DeployedFlow::deserialize(&answer).with_context(|| {
                format!("the server's answer does not read as expected: {answer}")
            })?;
            let version = deployed.record.version;
            match &deployed.resume_job {
                Some(job) if !detach => {
                    if !out.json {
                        println!(
                            "deployed flow {name} v{version}, now active; job {} resumes the {} runs in Error on it",
                            job.id.0, job.counts.total
                        );
                    }
                    super::job::follow(client, out, &job.id.0).await?;
                }
                _ => out.print(&answer, |_| {
                    println!(
                        "deployed flow {name} v{version} ({}), now active",
                        deployed.record.kind
                    );
                    if let Some(job) = &deployed.resume_job {
                        let job_id = &job.id.0;
                        println!(
                            "job {job_id} resumes the {} runs in Error on it; follow it with `stagecraft job wait {job_id}`",
                            job.counts.total
                        );
                    }
                }),
            }
            if let Some(error) = &deployed.resume_error {
                bail!("deployed, but the resume job could not start: {error}");
            }
        }
        FlowCommand::List => out.table(&client.get(&["flows"], &[]).await?, COLUMNS),
        FlowCommand::Show { name } => {
            out.table(&client.get(&["flows", &name], &[]).await?, COLUMNS);
        }
        FlowCommand::Activate { name, version } => {
            let record = client
                .post(
                    &["flows", &name, "versions", &version.to_string(), "activate"],
                    &Value::Null,
                )
                .await?;
            out.print(&record, |_| println!("flow {name} v{version} is active"));
        }
        FlowCommand::LiftQuarantine { name, version } => {
            let path = [
                "flows",
                &name,
                "versions",
                &version.to_string(),
                "lift-quarantine",
            ];
            let record = client.post(&path, &Value::Null).await?;
            out.print(&record, |_| {
                println!(
                    "flow {name} v{version} is no longer quarantined; resume the runs it put in Error"
                );
            });
        }
    }
    Ok(())
}

/// A spinner on stderr for work that takes a while.
pub fn spinner(message: String) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        spinner.set_style(style);
    }
    spinner.set_message(message);
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner
}
