//! The client commands: each turns arguments into requests and prints the
//! answers.

mod audit;
mod directory;
pub mod flow;
mod job;
mod orchestration;
mod run;
mod work;

use crate::cli::{Command, Global};
use crate::client::Client;
use crate::output::Output;
use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Runs a command that talks to a server.
pub async fn run(global: Global, command: Command) -> Result<()> {
    let client = Client::new(&global.url, global.token)?;
    let out = Output { json: global.json };
    match command {
        Command::Flow(command) => flow::run(&client, out, command).await,
        Command::Orchestration(command) => orchestration::run(&client, out, command).await,
        Command::Run(command) => run::run(&client, out, command).await,
        Command::Job(command) => job::run(&client, out, command).await,
        Command::Audit(args) => audit::run(&client, out, args).await,
        Command::Work(command) => work::run(&client, out, command).await,
        Command::User(command) => directory::user(&client, out, command).await,
        Command::Group(command) => directory::members(&client, out, "groups", command).await,
        Command::Queue(command) => directory::members(&client, out, "queues", command).await,
        Command::Whoami => directory::whoami(&client, out).await,
        Command::Serve(_) | Command::Demo(_) | Command::Completions { .. } => {
            bail!("not a client command")
        }
    }
}

/// Parses a JSON object given on the command line.
fn json_object(what: &str, text: &str) -> Result<Value> {
    let value: Value =
        serde_json::from_str(text).with_context(|| format!("{what} must be JSON: {text}"))?;
    if !value.is_object() {
        bail!("{what} must be a JSON object, like '{{\"name\": \"value\"}}'");
    }
    Ok(value)
}
