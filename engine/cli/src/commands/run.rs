//! `stagecraft run ...`

use super::json_object;
use crate::cli::{FilterArgs, RunCommand};
use crate::client::Client;
use crate::output::{Output, cell, table};
use anyhow::{Context, Result, bail};
use jiff::SignedDuration;
use serde_json::{Value, json};
use stagecraft_api_model::{PublishEvent, StartRun};

/// Runs a run command.
pub async fn run(client: &Client, out: Output, command: RunCommand) -> Result<()> {
    match command {
        RunCommand::Start {
            orchestration,
            inputs,
            idempotency_key,
            wait: waits,
            timeout,
        } => {
            let inputs = json_object("--inputs", &inputs)?;
            let body = StartRun {
                orchestration,
                inputs,
            };
            let (replayed, run) = match &idempotency_key {
                Some(key) => client.post_once(&["runs"], &body, key).await?,
                None => (false, client.post(&["runs"], &body).await?),
            };
            let said = if replayed {
                "already started run"
            } else {
                "started run"
            };
            if waits {
                let id = run["id"].as_str().unwrap_or_default().to_owned();
                if !out.json {
                    println!("{said} {id}");
                }
                wait(client, out, &id, "settled", timeout).await?;
            } else {
                out.print(&run, |run| {
                    println!("{said} {}", cell(&run["id"]));
                });
            }
        }
        RunCommand::DryRun {
            id,
            step,
            version,
            component,
            filter,
        } => {
            let bytes = match &component {
                Some(path) => {
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
                }
                None => Vec::new(),
            };
            let mut query: Vec<(&str, String)> = version
                .map(|v| ("version", v.to_string()))
                .into_iter()
                .collect();
            let Some(id) = id else {
                query.extend(selection_query(&filter)?);
                let result = client.upload(&["runs", "dry-run"], &query, bytes).await?;
                out.print(&result, print_selection);
                if result["failed"].as_u64().unwrap_or(0) > 0 {
                    std::process::exit(i32::from(CANDIDATE_FAILED));
                }
                return Ok(());
            };
            if filter.any() {
                bail!("give a run id or a filter (--flow, --orchestration...), not both");
            }
            let result = match &step {
                Some(step) => {
                    client
                        .upload(&["runs", &id, "steps", step, "dry-run"], &query, bytes)
                        .await?
                }
                None => {
                    client
                        .upload(&["runs", &id, "dry-run"], &query, bytes)
                        .await?
                }
            };
            out.print(&result, print_dry_run);
            if result["candidate"]["outcome"]["status"] == "failed" {
                std::process::exit(i32::from(CANDIDATE_FAILED));
            }
        }
        RunCommand::Wait { id, until, timeout } => wait(client, out, &id, &until, timeout).await?,
        RunCommand::Logs { id, step, attempt } => {
            let query: Vec<(&str, String)> = attempt
                .map(|n| ("attempt", n.to_string()))
                .into_iter()
                .collect();
            let logs = match &step {
                Some(step) => {
                    client
                        .get(&["runs", &id, "steps", step, "logs"], &query)
                        .await?
                }
                None => client.get(&["runs", &id, "logs"], &query).await?,
            };
            out.print(&logs, print_logs);
        }
        RunCommand::List {
            status,
            orchestration,
            version,
            stage,
            limit,
        } => {
            let mut query = Vec::new();
            query.extend(status.map(|status| ("status", status)));
            query.extend(orchestration.map(|name| ("orchestration", name)));
            query.extend(version.map(|version| ("version", version.to_string())));
            query.extend(stage.map(|stage| ("stage", stage)));
            query.extend(limit.map(|limit| ("limit", limit.to_string())));
            out.table(
                &client.get(&["runs"], &query).await?,
                &[
                    ("id", "/id"),
                    ("orchestration", "/orchestration"),
                    ("version", "/version"),
                    ("status", "/status"),
                    ("started at", "/started_at"),
                    ("updated at", "/updated_at"),
                ],
            );
        }
        RunCommand::Show { id } => {
            let run = client.get(&["runs", &id], &[]).await?;
            out.print(&run, show);
        }
        RunCommand::History { id } => {
            let history = client.get(&["runs", &id, "history"], &[]).await?;
            out.print(&history, |history| {
                let rows: Vec<Value> = history
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|milestone| {
                        json!({
                            "at": milestone["at"],
                            "record": record(&milestone["record"]),
                            "kind": milestone["kind"],
                            "actor": milestone["actor"],
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    table(
                        &rows,
                        &[
                            ("at", "/at"),
                            ("record", "/record"),
                            ("milestone", "/kind"),
                            ("actor", "/actor")
                        ]
                    )
                );
            });
        }
        RunCommand::Suspend { id } => control(client, out, &id, "suspend").await?,
        RunCommand::Resume {
            id,
            filter,
            dry_run,
            only_if_dry_run_passes,
            detach,
        } => match id {
            Some(id) => {
                if filter.any() || dry_run || only_if_dry_run_passes || detach {
                    bail!("a run id resumes that run: leave out the filter and job options");
                }
                control(client, out, &id, "resume").await?;
            }
            None if dry_run => {
                let result = client
                    .upload(&["runs", "dry-run"], &selection_query(&filter)?, Vec::new())
                    .await?;
                out.print(&result, print_selection);
                if result["failed"].as_u64().unwrap_or(0) > 0 {
                    std::process::exit(i32::from(CANDIDATE_FAILED));
                }
            }
            None => {
                if !filter.any() {
                    bail!(
                        "say which runs to resume: a run id, or a filter such as \
                         --status error --flow risk_score"
                    );
                }
                let body = json!({
                    "filter": filter.json(),
                    "only_if_dry_run_passes": only_if_dry_run_passes,
                });
                let job = client.post(&["runs", "resume"], &body).await?;
                let job_id = cell(&job["id"]);
                if detach {
                    out.print(&job, |job| {
                        println!(
                            "job {job_id} resumes {} runs; follow it with `stagecraft job wait {job_id}`",
                            job["counts"]["total"]
                        );
                    });
                } else {
                    if !out.json {
                        println!("job {job_id} resumes {} runs", job["counts"]["total"]);
                    }
                    super::job::follow(client, out, &job_id).await?;
                }
            }
        },
        RunCommand::Cancel { id } => control(client, out, &id, "cancel").await?,
        RunCommand::Publish { id, event } => {
            let run = client
                .post(
                    &["runs", &id, "events"],
                    &PublishEvent {
                        name: event.clone(),
                    },
                )
                .await?;
            out.print(&run, |run| {
                println!("published {event}; run {id} is {}", cell(&run["status"]));
            });
        }
    }
    Ok(())
}

/// The exit status of a dry-run whose candidate failed.
const CANDIDATE_FAILED: u8 = 4;

/// The query of a dry-run over a selection; it needs the flow.
fn selection_query(filter: &FilterArgs) -> Result<Vec<(&'static str, String)>> {
    if filter.flow.is_none() {
        bail!("say whose failures to try: --flow <name> (and a filter, if you like)");
    }
    if filter
        .status
        .as_deref()
        .is_some_and(|status| status != "error")
    {
        bail!("a dry-run tries runs in Error: leave out --status, or say --status error");
    }
    Ok(filter.query())
}

/// A dry-run over a selection for people: how many would get through, and
/// how the others fail.
fn print_selection(result: &Value) {
    let which = match result["version"].as_u64() {
        Some(version) => format!("{} v{version}", cell(&result["flow"])),
        None => format!("the uploaded component of {}", cell(&result["flow"])),
    };
    println!(
        "{which} against {} selected runs: {} would succeed, {} would fail",
        result["selected"], result["succeeded"], result["failed"]
    );
    for group in result["failures"].as_array().into_iter().flatten() {
        println!(
            "  {} x {}: {} (e.g. run {})",
            group["count"],
            cell(&group["kind"]),
            cell(&group["message"]).lines().next().unwrap_or(""),
            cell(&group["runs"][0])
        );
    }
    for group in result["not_tried"].as_array().into_iter().flatten() {
        println!("  {} not tried: {}", group["count"], cell(&group["reason"]));
    }
}

/// A dry-run for people: the candidate's result over the attempt's.
fn print_dry_run(result: &Value) {
    let candidate = &result["candidate"];
    let which = match candidate["version"].as_u64() {
        Some(version) => format!("v{version}"),
        None => "the uploaded component".to_owned(),
    };
    let outcome = &candidate["outcome"];
    match outcome["status"].as_str() {
        Some("succeeded") => println!("{which} succeeds: outputs {}", outcome["outputs"]),
        Some("rendered") => {
            println!("{which} renders the form {}", outcome["form"]["title"]);
            match outcome["submitted"]["result"].as_str() {
                Some("accepted") => println!(
                    "  and accepts the recorded answers: outputs {}",
                    outcome["submitted"]["outputs"]
                ),
                Some("invalid") => println!(
                    "  and finds the recorded answers invalid: {}",
                    outcome["submitted"]["errors"]
                ),
                _ => {}
            }
        }
        Some("decided") => println!(
            "{which} decides: condition {}",
            if outcome["met"] == true {
                "met"
            } else {
                "not met"
            }
        ),
        _ => println!(
            "{which} fails ({}): {}",
            cell(&outcome["failure"]["kind"]),
            cell(&outcome["failure"]["message"])
                .lines()
                .next()
                .unwrap_or("")
        ),
    }
    for line in candidate["logs"].as_array().into_iter().flatten() {
        println!("  [{}] {}", cell(&line["stream"]), cell(&line["message"]));
    }
    let original = &result["original"];
    let error = original["error"]
        .as_str()
        .map(|e| format!(": {}", e.lines().next().unwrap_or("")))
        .unwrap_or_default();
    match original["attempt"].as_u64() {
        Some(attempt) => println!(
            "attempt {attempt} (flow v{}) is {}{error}",
            original["flow_version"],
            cell(&original["status"]),
        ),
        None => println!("the evaluation that stopped the run failed{error}"),
    }
}

/// The exit status of a wait that timed out.
const TIMED_OUT: u8 = 3;

/// Waits (in server-side waits of at most five minutes each) until run `id`
/// reaches `until`, then shows it; exits with [`TIMED_OUT`] if it does not.
async fn wait(
    client: &Client,
    out: Output,
    id: &str,
    until: &str,
    timeout: SignedDuration,
) -> Result<()> {
    let deadline = std::time::Instant::now() + timeout.unsigned_abs();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let chunk = left.min(std::time::Duration::from_secs(300));
        let (met, run) = client
            .get_waiting(
                &["runs", id],
                &[
                    ("wait_for", until.to_owned()),
                    ("timeout", format!("{}ms", chunk.as_millis())),
                ],
            )
            .await?;
        if met || left == chunk {
            out.print(&run, show);
            if !met {
                eprintln!("run {id} did not reach {until} within {timeout:#}");
                std::process::exit(i32::from(TIMED_OUT));
            }
            return Ok(());
        }
    }
}

/// Step logs for people: a header per invocation, then its lines.
fn print_logs(logs: &Value) {
    let logs = logs.as_array().map(Vec::as_slice).unwrap_or_default();
    if logs.is_empty() {
        println!("no step logs");
    }
    for log in logs {
        println!(
            "{}.{}  attempt {}  flow v{}  at {}",
            cell(&log["step"]["stage"]),
            cell(&log["step"]["step"]),
            log["attempt"],
            log["flow_version"],
            cell(&log["recorded_at"])
        );
        for line in log["lines"].as_array().into_iter().flatten() {
            println!("  [{}] {}", cell(&line["stream"]), cell(&line["message"]));
        }
    }
}

async fn control(client: &Client, out: Output, id: &str, action: &str) -> Result<()> {
    let run = client.post(&["runs", id, action], &Value::Null).await?;
    out.print(&run, |run| {
        println!("run {id} is {}", cell(&run["status"]));
    });
    Ok(())
}

/// Prints a run for people: status, error, then its stages and steps.
pub fn show(run: &Value) {
    println!(
        "run {}  {} v{}  {}",
        cell(&run["id"]),
        cell(&run["orchestration"]),
        run["version"],
        cell(&run["status"])
    );
    println!("inputs: {}", run["inputs"]);
    if let Some(error) = run["error"].as_object() {
        println!(
            "error in stage {} ({}): {}",
            cell(&error["stage"].clone()),
            cell(&error["kind"].clone()),
            cell(&error["message"].clone()).lines().next().unwrap_or("")
        );
    }
    let mut rows = Vec::new();
    for stage in run["stages"].as_array().into_iter().flatten() {
        for step in stage["steps"].as_array().into_iter().flatten() {
            rows.push(json!({
                "stage": stage["stage"],
                "stage_status": stage["status"],
                "step": step["name"],
                "step_status": step["status"],
                "attempt": step["attempt"],
                "flow_version": step["flow_version"],
                "outputs": step["outputs"],
                "error": step["error"].as_str().and_then(|e| e.lines().next()),
            }));
        }
    }
    if !rows.is_empty() {
        println!(
            "{}",
            table(
                &rows,
                &[
                    ("stage", "/stage"),
                    ("stage status", "/stage_status"),
                    ("step", "/step"),
                    ("step status", "/step_status"),
                    ("attempt", "/attempt"),
                    ("flow v", "/flow_version"),
                    ("outputs", "/outputs"),
                    ("error", "/error"),
                ]
            )
        );
    }
    let items: Vec<&Value> = run["work_items"].as_array().into_iter().flatten().collect();
    for item in items {
        println!(
            "work item {}  {}  {}",
            cell(&item["id"]),
            cell(&item["status"]),
            principal(&item["assignee"])
        );
    }
}

/// `{"group": "x"}` as `group x`.
pub fn principal(value: &Value) -> String {
    value
        .as_object()
        .and_then(|object| object.iter().next())
        .map(|(kind, name)| format!("{kind} {}", cell(name)))
        .unwrap_or_else(|| cell(value))
}

fn record(value: &Value) -> String {
    match value {
        Value::String(run) => run.clone(),
        Value::Object(object) => match object.iter().next() {
            Some((kind, fields)) => {
                let names: Vec<String> = fields
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(_, name)| cell(name))
                    .collect();
                format!("{kind} {}", names.join("."))
            }
            None => String::new(),
        },
        other => cell(other),
    }
}
