//! `stagecraft orchestration ...`

use crate::cli::OrchestrationCommand;
use crate::client::Client;
use crate::output::Output;
use anyhow::{Context, Result};
use serde_json::Value;

const COLUMNS: &[(&str, &str)] = &[
    ("name", "/name"),
    ("version", "/version"),
    ("active", "/active"),
    ("deployed by", "/deployed_by"),
    ("deployed at", "/deployed_at"),
];

/// Runs an orchestration command.
pub async fn run(client: &Client, out: Output, command: OrchestrationCommand) -> Result<()> {
    match command {
        OrchestrationCommand::Deploy { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let definition: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let record = client.post(&["orchestrations"], &definition).await?;
            out.print(&record, |record| {
                println!(
                    "deployed orchestration {} v{}, now active",
                    record["name"].as_str().unwrap_or("?"),
                    record["version"]
                );
            });
        }
        OrchestrationCommand::List => {
            out.table(&client.get(&["orchestrations"], &[]).await?, COLUMNS);
        }
        OrchestrationCommand::Show {
            name,
            version: None,
        } => out.table(&client.get(&["orchestrations", &name], &[]).await?, COLUMNS),
        OrchestrationCommand::Show {
            name,
            version: Some(version),
        } => {
            let record = client
                .get(
                    &["orchestrations", &name, "versions", &version.to_string()],
                    &[],
                )
                .await?;
            out.print(&record, |record| {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&record["definition"])
                        .unwrap_or_else(|_| record["definition"].to_string())
                );
            });
        }
        OrchestrationCommand::Schema => {
            let schema = client.get(&["schemas", "orchestration"], &[]).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_else(|_| schema.to_string())
            );
        }
    }
    Ok(())
}
