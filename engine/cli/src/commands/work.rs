//! `stagecraft work ...`

use super::json_object;
use super::run::principal;
use crate::cli::WorkCommand;
use crate::client::Client;
use crate::output::{Output, cell, table};
use anyhow::{Result, bail};
use serde_json::{Value, json};
use stagecraft_api_model::{Answers, Completed};

/// Runs a work item command.
pub async fn run(client: &Client, out: Output, command: WorkCommand) -> Result<()> {
    match command {
        WorkCommand::List { run } => {
            let query: Vec<_> = run.map(|run| ("run", run)).into_iter().collect();
            let items = client.get(&["work-items"], &query).await?;
            out.print(&items, |items| {
                let rows: Vec<Value> = items
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|record| {
                        let item = &record["item"];
                        json!({
                            "id": item["id"],
                            "step": format!("{}.{}", cell(&item["step"]["stage"]), cell(&item["step"]["step"])),
                            "assignee": principal(&item["assignee"]),
                            "screen_flow": item["screen_flow"],
                            "created_at": item["created_at"],
                        })
                    })
                    .collect();
                if rows.is_empty() {
                    println!("(none)");
                    return;
                }
                println!(
                    "{}",
                    table(
                        &rows,
                        &[
                            ("id", "/id"),
                            ("step", "/step"),
                            ("assignee", "/assignee"),
                            ("screen flow", "/screen_flow"),
                            ("created at", "/created_at"),
                        ]
                    )
                );
            });
        }
        WorkCommand::Show { id } => {
            let shown = client.get(&segments(&id)?, &[]).await?;
            out.print(&shown, |shown| {
                let item = &shown["item"];
                println!(
                    "work item {}  {}  {}",
                    cell(&item["id"]),
                    cell(&item["status"]),
                    principal(&item["assignee"])
                );
                let form = &shown["form"];
                if form.is_null() {
                    return;
                }
                println!("{}", cell(&form["title"]));
                let fields: Vec<Value> = form["fields"].as_array().cloned().unwrap_or_default();
                println!(
                    "{}",
                    table(
                        &fields,
                        &[
                            ("answer key", "/name"),
                            ("label", "/label"),
                            ("type", "/field_type"),
                            ("required", "/required"),
                            ("help", "/help"),
                        ]
                    )
                );
            });
        }
        WorkCommand::Complete { id, answers } => {
            let answers = json_object("--answers", &answers)?;
            let mut path = segments(&id)?;
            path.push("complete");
            let done = client.post(&path, &Answers { answers }).await?;
            out.show(&done, |done: &Completed| {
                println!(
                    "completed {id}; run {} is {}",
                    done.run.id,
                    cell(&serde_json::json!(done.run.status))
                );
            })?;
        }
    }
    Ok(())
}

/// `/work-items/<run id>/wi-<n>` from the id `<run id>/wi-<n>`.
fn segments(id: &str) -> Result<Vec<&str>> {
    match id.split_once('/') {
        Some((run, item)) if !run.is_empty() && !item.is_empty() && !item.contains('/') => {
            Ok(vec!["work-items", run, item])
        }
        _ => bail!("{id:?} is not a work item id; they look like <run id>/wi-<n>"),
    }
}
