//! `stagecraft`: the Stagecraft program. `stagecraft serve` runs the engine
//! behind an HTTP JSON API with bearer-token auth; the other subcommands
//! talk to such a server; `stagecraft demo` runs the whole story in one
//! command. See the repository README, section "The `stagecraft` program".

mod cli;
mod client;
mod commands;
mod demo;
mod output;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser};
use cli::{Cli, Command};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// The engine allocates and frees many small values per transition (run
/// states, events, encodings); mimalloc does that markedly faster than the
/// system allocator (see the engine benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve(args) => {
            let admin_token = match &args.admin_token_file {
                Some(path) => Some(read_token_file(path)?),
                None => args.admin_token,
            };
            let running = stagecraft_server::serve(stagecraft_server::ServerConfig {
                addr: args.addr,
                engine: args.engine.config(args.data_dir),
                admin_token,
                example_actions: args.example_actions,
                database: args.database,
                lease_ttl: args.lease_ttl.unsigned_abs(),
                rate_limit: stagecraft_server::RateLimit {
                    users: args.rate_limit.0,
                    admin: args.admin_rate_limit.0,
                },
            })
            .await?;
            println!("stagecraft listening on {}", running.url);
            if let Some(token) = &running.generated_admin_token {
                println!("admin token (generated, shown once): {token}");
            }
            Ok(running.until_signal().await?)
        }
        Command::Demo(args) => demo::run(args).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "stagecraft",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        command => commands::run(cli.global, command).await,
    }
}

/// The admin token in `path`: its first line, trimmed.
fn read_token_file(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the admin token file {}", path.display()))?;
    let token = text.lines().next().unwrap_or_default().trim();
    if token.is_empty() {
        anyhow::bail!("the admin token file {} is empty", path.display());
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
