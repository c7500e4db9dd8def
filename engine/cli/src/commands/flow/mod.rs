//! `stagecraft flow ...`

use crate::cli::FlowCommand;
use crate::client::Client;
use crate::output::Output;
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const COLUMNS: &[(&str, &str)] = &[
    ("name", "/name"),
    ("version", "/version"),
    ("kind", "/kind"),
    ("active", "/active"),
    ("size", "/size"),
    ("deployed by", "/deployed_by"),
    ("deployed at", "/deployed_at"),
];

/// Runs a flow command.
pub async fn run(client: &Client, out: Output, command: FlowCommand) -> Result<()> {
    match command {
        FlowCommand::Build { dir } => {
            let path = build(&dir).await?;
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
            super::flow_test::run(
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
            resume_errored,
            only_if_dry_run_passes,
            detach,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let spinner = spinner(format!("deploying {name} (the server compiles it)"));
            let mut query = vec![("kind", kind)];
            if resume_errored {
                query.push(("resume_errored", "true".to_owned()));
            }
            if only_if_dry_run_passes {
                query.push(("only_if_dry_run_passes", "true".to_owned()));
            }
            let record = client.upload(&["flows", &name], &query, bytes).await;
            spinner.finish_and_clear();
            let record = record?;
            let job = record["resume_job"]["id"].as_str().map(str::to_owned);
            match job {
                Some(job) if !detach => {
                    if !out.json {
                        println!(
                            "deployed flow {name} v{}, now active; job {job} resumes the {} runs in Error on it",
                            record["version"], record["resume_job"]["counts"]["total"]
                        );
                    }
                    super::job::follow(client, out, &job).await?;
                }
                _ => out.print(&record, |record| {
                    println!(
                        "deployed flow {} v{} ({}), now active",
                        name,
                        record["version"],
                        record["kind"].as_str().unwrap_or("?")
                    );
                    if let Some(job) = record["resume_job"]["id"].as_str() {
                        println!(
                            "job {job} resumes the {} runs in Error on it; follow it with `stagecraft job wait {job}`",
                            record["resume_job"]["counts"]["total"]
                        );
                    }
                }),
            }
            if let Some(error) = record["resume_error"].as_str() {
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

/// `cargo build --release --target wasm32-wasip2` in the crate at `dir`,
/// showing progress; returns the component's path as cargo reports it.
pub async fn build(dir: &Path) -> Result<PathBuf> {
    if !dir.join("Cargo.toml").is_file() {
        bail!("{} is not a crate: it has no Cargo.toml", dir.display());
    }
    let spinner = spinner(format!("building {} for wasm32-wasip2", dir.display()));
    let mut child =
        tokio::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--message-format=json-render-diagnostics",
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("running cargo (is it installed?)")?;
    let stdout = child.stdout.take().context("cargo's stdout")?;
    let stderr = child.stderr.take().context("cargo's stderr")?;
    // Cargo's human output: the spinner shows its latest line, and all of
    // it is printed if the build fails.
    let progress = spinner.clone();
    let log = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut log = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let trimmed = line.trim();
            if !trimmed.is_empty() {
                progress.set_message(trimmed.to_owned());
            }
            log.push(line);
        }
        log
    });
    let manifest = manifest(dir)?;
    let mut components = Vec::new();
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let is_cdylib = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|kind| kind == "cdylib"));
        if !is_cdylib || message["manifest_path"].as_str() != manifest.to_str() {
            continue;
        }
        for file in message["filenames"].as_array().into_iter().flatten() {
            if let Some(file) = file.as_str().filter(|file| file.ends_with(".wasm")) {
                components.push(PathBuf::from(file));
            }
        }
    }
    let status = child.wait().await?;
    let log = log.await.unwrap_or_default();
    spinner.finish_and_clear();
    if !status.success() {
        for line in &log {
            eprintln!("{line}");
        }
        bail!(
            "cargo build failed ({status}); is the target installed? `rustup target add wasm32-wasip2`"
        );
    }
    match components.as_slice() {
        [component] => Ok(component.clone()),
        [] => bail!("cargo built no component: the crate needs `[lib] crate-type = [\"cdylib\"]`"),
        _ => bail!("cargo built several components: {components:?}"),
    }
}

/// The crate's manifest path, as cargo spells it in its messages.
fn manifest(dir: &Path) -> Result<PathBuf> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    Ok(dir.join("Cargo.toml"))
}
