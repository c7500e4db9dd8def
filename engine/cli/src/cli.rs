//! The command line, as clap parses it.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Stagecraft: orchestrations of sandboxed WebAssembly flows.
///
/// `stagecraft serve` runs the engine behind an HTTP JSON API; the other
/// commands talk to such a server. `stagecraft demo` shows the whole story
/// in one command.
#[derive(Debug, Parser)]
#[command(name = "stagecraft", version)]
pub struct Cli {
    /// Where the server is, and how to print.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every client command.
#[derive(Debug, Args)]
pub struct Global {
    /// The server's base URL.
    #[arg(
        long,
        global = true,
        env = "STAGECRAFT_URL",
        default_value = "http://127.0.0.1:7878"
    )]
    pub url: String,
    /// The bearer token: the admin token, or a user's.
    #[arg(long, global = true, env = "STAGECRAFT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the server's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the engine behind the HTTP API.
    Serve(ServeArgs),
    /// Build the example flows, start a server, and run the loan story:
    /// a flow traps, a fixed version is hot-swapped in, the run resumes.
    Demo(DemoArgs),
    /// Flows: build, deploy, list, show, activate.
    #[command(subcommand)]
    Flow(FlowCommand),
    /// Orchestrations: deploy, list, show, schema.
    #[command(subcommand, visible_alias = "orch")]
    Orchestration(OrchestrationCommand),
    /// Runs: start, list, show, history, suspend, resume, cancel, publish.
    #[command(subcommand)]
    Run(RunCommand),
    /// Work items: list yours, show one with its form, complete it.
    #[command(subcommand, visible_alias = "work-item")]
    Work(WorkCommand),
    /// Users and their tokens.
    #[command(subcommand)]
    User(UserCommand),
    /// Groups of users.
    #[command(subcommand)]
    Group(MembersCommand),
    /// Queues of work.
    #[command(subcommand)]
    Queue(MembersCommand),
    /// Who the token belongs to.
    Whoami,
    /// Print a shell completion script, e.g. `stagecraft completions bash`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the bound address is
    /// printed).
    #[arg(long, env = "STAGECRAFT_ADDR", default_value = "127.0.0.1:7878")]
    pub addr: SocketAddr,
    /// Where the store, the compile cache and the user tokens live.
    #[arg(long, env = "STAGECRAFT_DATA_DIR", default_value = "./stagecraft-data")]
    pub data_dir: PathBuf,
    /// The admin token; generated and printed once when absent.
    #[arg(long, env = "STAGECRAFT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Register the example external actions (`book_loan`) the demo
    /// orchestration uses.
    #[arg(long)]
    pub example_actions: bool,
}

/// Options of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to serve on after the story.
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub addr: SocketAddr,
    /// Data directory of the demo server.
    #[arg(long, default_value = "./stagecraft-demo")]
    pub data_dir: PathBuf,
}

/// `flow ...`
#[derive(Debug, Subcommand)]
pub enum FlowCommand {
    /// Build a flow crate for wasm32-wasip2 and print the component's path.
    Build {
        /// The crate's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Deploy a component as a new version of a flow (a hot swap).
    Deploy {
        /// The flow's name, as orchestrations reference it.
        name: String,
        /// The `.wasm` component.
        file: PathBuf,
        /// autolaunched, evaluation or screen.
        #[arg(long)]
        kind: String,
    },
    /// Every version of every flow.
    List,
    /// The versions of one flow.
    Show {
        /// The flow's name.
        name: String,
    },
    /// Make a stored version active again (rollback).
    Activate {
        /// The flow's name.
        name: String,
        /// The version.
        version: u32,
    },
}

/// `orchestration ...`
#[derive(Debug, Subcommand)]
pub enum OrchestrationCommand {
    /// Deploy a JSON definition as a new version.
    Deploy {
        /// The definition file.
        file: PathBuf,
    },
    /// Every version of every orchestration.
    List,
    /// The versions of one orchestration, or one version's definition.
    Show {
        /// The orchestration's name.
        name: String,
        /// Print this version's definition.
        #[arg(long)]
        version: Option<u32>,
    },
    /// The JSON Schema of definitions.
    Schema,
}

/// `run ...`
#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Start a run of an orchestration's active version.
    Start {
        /// The orchestration.
        orchestration: String,
        /// The inputs, a JSON object.
        #[arg(long, default_value = "{}")]
        inputs: String,
    },
    /// Runs, newest first.
    List {
        /// in_progress, completed, suspended, canceled or error.
        #[arg(long)]
        status: Option<String>,
        /// Only runs of this orchestration.
        #[arg(long)]
        orchestration: Option<String>,
        /// At most this many.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// A run with its stages, steps and outputs.
    Show {
        /// The run id.
        id: String,
    },
    /// A run's milestones.
    History {
        /// The run id.
        id: String,
    },
    /// Suspend a run.
    Suspend {
        /// The run id.
        id: String,
    },
    /// Resume a suspended run, or one in recoverable Error.
    Resume {
        /// The run id.
        id: String,
    },
    /// Cancel a run for good.
    Cancel {
        /// The run id.
        id: String,
    },
    /// Publish an orchestration event to a run.
    Publish {
        /// The run id.
        id: String,
        /// The event's name.
        event: String,
    },
}

/// `work ...`
#[derive(Debug, Subcommand)]
pub enum WorkCommand {
    /// Open work items: yours (user token) or all (admin token).
    List {
        /// Only items of this run.
        #[arg(long)]
        run: Option<String>,
    },
    /// One work item, with its form.
    Show {
        /// The work item id (`<run id>/wi-<n>`).
        id: String,
    },
    /// Complete a work item with answers.
    Complete {
        /// The work item id (`<run id>/wi-<n>`).
        id: String,
        /// The answers, a JSON object, e.g. '{"decision": "approve"}'.
        #[arg(long)]
        answers: String,
    },
}

/// `user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Every user.
    List,
    /// Create or replace a user.
    Put {
        /// Login id.
        id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// active, frozen or inactive.
        #[arg(long, default_value = "active")]
        status: String,
    },
    /// Issue a token for a user (shown once).
    Token {
        /// Login id.
        id: String,
    },
    /// Revoke every token of a user.
    Revoke {
        /// Login id.
        id: String,
    },
}

/// `group ...` and `queue ...`
#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// Every one.
    List,
    /// Create or replace one with its members.
    Put {
        /// Id.
        id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// A member's user id (repeat for more).
        #[arg(long = "member")]
        members: Vec<String>,
    },
}
