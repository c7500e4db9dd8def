//! `stagecraft audit`: the audit log, newest first.

use crate::cli::AuditArgs;
use crate::client::Client;
use crate::output::{Output, cell};
use anyhow::Result;
use serde_json::{Value, json};

/// Prints a page of the audit log.
pub async fn run(client: &Client, out: Output, args: AuditArgs) -> Result<()> {
    let mut query: Vec<(&str, String)> = vec![("limit", args.limit.to_string())];
    query.extend(args.actor.map(|v| ("actor", v)));
    query.extend(args.action.map(|v| ("action", v)));
    query.extend(args.target.map(|v| ("target", v)));
    query.extend(args.since.map(|v| ("since", v)));
    query.extend(args.until.map(|v| ("until", v)));
    query.extend(args.before.map(|v| ("before", v.to_string())));
    let page = client.get(&["audit"], &query).await?;
    out.print(&page, |page| {
        let rows: Vec<Value> = page["records"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|record| {
                let outcome = match record["outcome"].as_str() {
                    Some("refused") => format!(
                        "refused: {}",
                        cell(&record["reason"]).lines().next().unwrap_or("")
                    ),
                    _ => "done".to_owned(),
                };
                json!({
                    "id": record["id"],
                    "at": record["at"],
                    "actor": record["actor"],
                    "action": record["action"],
                    "target": record["target"],
                    "outcome": outcome,
                })
            })
            .collect();
        if rows.is_empty() {
            println!("no audit records match");
            return;
        }
        println!(
            "{}",
            crate::output::table(
                &rows,
                &[
                    ("id", "/id"),
                    ("at", "/at"),
                    ("actor", "/actor"),
                    ("action", "/action"),
                    ("target", "/target"),
                    ("outcome", "/outcome"),
                ]
            )
        );
        if let Some(before) = page["next_before"].as_u64() {
            println!("older records: stagecraft audit --before {before}");
        }
    });
    Ok(())
}
