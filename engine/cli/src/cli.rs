//! The command line, as clap parses it.

use crate::commands::flow::Language;
use clap::{Args, Parser, Subcommand};
use jiff::SignedDuration;
use stagecraft_engine::{
    CpuShares, EngineConfig, FlowKind, IntegrityCheck, Retention, SandboxLimits,
};
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
    /// Flows: new, build, test (for authors); deploy, list, show, activate.
    #[command(subcommand)]
    Flow(FlowCommand),
    /// Orchestrations: deploy, list, show, schema.
    #[command(subcommand, visible_alias = "orch")]
    Orchestration(OrchestrationCommand),
    /// Runs: start, list, show, history, suspend, resume (one or many),
    /// cancel, publish, dry-run a fix.
    #[command(subcommand)]
    Run(RunCommand),
    /// Resume jobs: list, show, wait for, cancel.
    #[command(subcommand)]
    Job(JobCommand),
    /// The audit log: who did what, when, and how it ended (admin).
    Audit(AuditArgs),
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
    /// Where the store (with the user tokens' hashes) and the compile cache
    /// live; with --database, only the compile cache.
    #[arg(long, env = "STAGECRAFT_DATA_DIR", default_value = "./stagecraft-data")]
    pub data_dir: PathBuf,
    /// Keep everything in this PostgreSQL database instead of the SQLite
    /// file in the data directory, e.g.
    /// `postgres://user:password@host:5432/db`. A password in a flag shows
    /// in the process list: prefer STAGECRAFT_DATABASE.
    #[arg(long, env = "STAGECRAFT_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// With --database: how long this node's lease lasts without renewal,
    /// e.g. `5s`. Renewed every third of it; when a node stops or is cut
    /// off for longer, the other nodes take over its runs.
    #[arg(long, env = "STAGECRAFT_LEASE_TTL", default_value = "5s", value_parser = parse_duration)]
    pub lease_ttl: SignedDuration,
    /// The admin token; generated and printed once when absent. A flag's
    /// value shows in the process list: prefer STAGECRAFT_ADMIN_TOKEN or
    /// --admin-token-file.
    #[arg(long, env = "STAGECRAFT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// A file holding the admin token (its first line).
    #[arg(
        long,
        env = "STAGECRAFT_ADMIN_TOKEN_FILE",
        conflicts_with = "admin_token"
    )]
    pub admin_token_file: Option<PathBuf>,
    /// Register the example external actions (`book_loan`) the demo
    /// orchestration uses.
    #[arg(long)]
    pub example_actions: bool,
    /// API requests per second each user token may send (bursts of twice
    /// as many); more are answered 429 with Retry-After. `off`: no limit.
    #[arg(long, env = "STAGECRAFT_RATE_LIMIT", default_value = "50", value_parser = parse_rate)]
    pub rate_limit: Rate,
    /// The same for the admin token; `off` by default, since integrations
    /// that start runs (thousands a second) use it.
    #[arg(long, env = "STAGECRAFT_ADMIN_RATE_LIMIT", default_value = "off", value_parser = parse_rate)]
    pub admin_rate_limit: Rate,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// The engine's settings, for `serve`.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// How long after an error a run may still be resumed, e.g. `14d` or
    /// `36h`.
    #[arg(
        long,
        env = "STAGECRAFT_RECOVERY_WINDOW",
        default_value = "14d",
        value_parser = parse_duration
    )]
    pub recovery_window: SignedDuration,
    /// How long finished runs (Completed, Canceled: with their work items
    /// and step logs) and ended resume jobs are kept after they last
    /// changed, e.g. `30d`; `off` keeps them for ever.
    #[arg(
        long,
        env = "STAGECRAFT_RETAIN_RUNS",
        default_value = "30d",
        value_parser = parse_retention
    )]
    pub retain_runs: Retained,
    /// How long audit records are kept, e.g. `400d`; `off` keeps them for
    /// ever. Before removal they are written to --audit-export.
    #[arg(
        long,
        env = "STAGECRAFT_RETAIN_AUDIT",
        default_value = "400d",
        value_parser = parse_retention
    )]
    pub retain_audit: Retained,
    /// How long a flow version is kept once a newer version of the same
    /// flow was deployed, e.g. `30d`, unless it is active or a step of a
    /// live run is pinned to it; `off` keeps every version.
    #[arg(
        long,
        env = "STAGECRAFT_RETAIN_FLOW_VERSIONS",
        default_value = "30d",
        value_parser = parse_retention
    )]
    pub retain_flow_versions: Retained,
    /// Where audit records are written (JSON lines, one file per UTC day)
    /// before retention removes them; relative to the data directory.
    #[arg(long, env = "STAGECRAFT_AUDIT_EXPORT", default_value = "audit-export")]
    pub audit_export: PathBuf,
    /// The sandbox's limits.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// The most memory a flow version may be deployed with
    /// (`flow deploy --memory-mib`), in MiB.
    #[arg(long, env = "STAGECRAFT_FLOW_MEMORY_MAX_MIB", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub flow_memory_max_mib: u32,
    /// Flow invocations running at once; more wait for a slot.
    #[arg(long, env = "STAGECRAFT_MAX_CONCURRENT_FLOWS", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_concurrent_flows: u32,
    /// Invocations of any one flow at once (default: a quarter of
    /// --max-concurrent-flows), so one flow cannot starve the others.
    #[arg(long, env = "STAGECRAFT_MAX_CONCURRENT_PER_FLOW",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_concurrent_per_flow: Option<u32>,
    /// Fair slices: how flows share the CPU.
    #[command(flatten)]
    pub cpu: CpuArgs,
    /// Quarantine a flow version after this many of its invocations in a
    /// row end in a resource limit (CPU budget, memory, time); `off`.
    #[arg(long, env = "STAGECRAFT_QUARANTINE_AFTER", default_value = "5",
          value_parser = parse_quarantine_after)]
    pub quarantine_after: QuarantineAfter,
    /// How the database is checked at start: `quick` (every page and
    /// record), `full` (indexes too; slower on big stores) or `off`. A store
    /// that fails is not served.
    #[arg(long, env = "STAGECRAFT_INTEGRITY_CHECK", value_enum, default_value_t = Integrity::Quick)]
    pub integrity_check: Integrity,
}

/// Fair slices: flow invocations share the CPU by orchestration, then by
/// flow, in short slices.
#[derive(Debug, Args)]
pub struct CpuArgs {
    /// How long a flow runs before it yields the CPU to waiting ones, e.g.
    /// `1ms` or `500us`.
    #[arg(long, env = "STAGECRAFT_FLOW_SLICE", default_value = "1ms", value_parser = parse_duration)]
    pub flow_slice: SignedDuration,
    /// Flow invocations running on the engine's threads at once (default:
    /// one per engine thread, i.e. per CPU).
    #[arg(long, env = "STAGECRAFT_FLOW_LANES",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub flow_lanes: Option<u32>,
    /// An invocation that has run this long goes on running on background
    /// threads below the engine's priority, e.g. `2ms`; `off` keeps every
    /// invocation on the engine's threads.
    #[arg(long, env = "STAGECRAFT_FLOW_BACKGROUND_AFTER", default_value = "2ms",
          value_parser = parse_retention)]
    pub flow_background_after: Retained,
    /// How long past CPU use counts against an orchestration or flow: half
    /// as much after each half-life.
    #[arg(long, env = "STAGECRAFT_CPU_HALF_LIFE", default_value = "1s", value_parser = parse_duration)]
    pub cpu_half_life: SignedDuration,
    /// A share of the CPU other than 1, as `orchestration:NAME=WEIGHT` or
    /// `flow:NAME=WEIGHT`; repeat it, or separate with commas.
    #[arg(long = "cpu-weight", env = "STAGECRAFT_CPU_WEIGHTS", value_delimiter = ',',
          value_parser = parse_weight)]
    pub cpu_weights: Vec<Weight>,
}

impl CpuArgs {
    /// The fair slices these settings give.
    pub fn shares(&self) -> CpuShares {
        let mut shares = CpuShares {
            slice: self.flow_slice.unsigned_abs(),
            lanes: self
                .flow_lanes
                .map(|lanes| usize::try_from(lanes).unwrap_or(usize::MAX)),
            half_life: self.cpu_half_life.unsigned_abs(),
            background_after: self.flow_background_after.0,
            ..CpuShares::default()
        };
        for weight in &self.cpu_weights {
            let table = match weight.of {
                Weighed::Orchestration => &mut shares.orchestration_weights,
                Weighed::Flow => &mut shares.flow_weights,
            };
            table.insert(weight.name.clone(), weight.weight);
        }
        shares
    }
}

/// What a `--cpu-weight` weighs.
#[derive(Debug, Clone, Copy)]
pub enum Weighed {
    /// An orchestration, with all its flows.
    Orchestration,
    /// A flow, within its orchestration's share.
    Flow,
}

/// One `--cpu-weight`.
#[derive(Debug, Clone)]
pub struct Weight {
    of: Weighed,
    name: String,
    weight: u32,
}

/// `orchestration:NAME=WEIGHT` or `flow:NAME=WEIGHT`, a weight from 1 to
/// 1000.
fn parse_weight(text: &str) -> Result<Weight, String> {
    let usage = || format!("{text:?}: expected orchestration:NAME=WEIGHT or flow:NAME=WEIGHT");
    let (kind, rest) = text.trim().split_once(':').ok_or_else(usage)?;
    let (name, weight) = rest.rsplit_once('=').ok_or_else(usage)?;
    let of = match kind {
        "orchestration" => Weighed::Orchestration,
        "flow" => Weighed::Flow,
        _ => return Err(usage()),
    };
    let weight = weight
        .parse::<u32>()
        .ok()
        .filter(|w| (1..=1000).contains(w))
        .ok_or_else(|| format!("{text:?}: the weight is a whole number from 1 to 1000"))?;
    if name.is_empty() {
        return Err(usage());
    }
    Ok(Weight {
        of,
        name: name.to_owned(),
        weight,
    })
}

/// The limits of one flow invocation, for `serve` and `flow test`.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// CPU budget of one flow invocation, in fuel units (about one per
    /// WebAssembly instruction).
    #[arg(long, env = "STAGECRAFT_FLOW_FUEL", default_value_t = 2_000_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub flow_fuel: u64,
    /// Memory limit of one flow invocation, in MiB (a flow version may be
    /// deployed with its own).
    #[arg(long, env = "STAGECRAFT_FLOW_MEMORY_MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub flow_memory_mib: u32,
    /// Wall-clock limit of one flow invocation, e.g. `30s`.
    #[arg(
        long,
        env = "STAGECRAFT_FLOW_TIMEOUT",
        default_value = "30s",
        value_parser = parse_duration
    )]
    pub flow_timeout: SignedDuration,
}

impl SandboxArgs {
    /// The limits these settings give.
    pub fn limits(&self) -> SandboxLimits {
        SandboxLimits {
            fuel: self.flow_fuel,
            memory_bytes: usize::try_from(self.flow_memory_mib)
                .unwrap_or(usize::MAX)
                .saturating_mul(1 << 20),
            timeout: self.flow_timeout.unsigned_abs(),
            ..SandboxLimits::default()
        }
    }
}

/// `--integrity-check`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Integrity {
    /// Every page and record.
    Quick,
    /// Indexes too.
    Full,
    /// No check.
    Off,
}

impl EngineArgs {
    /// The engine configuration these settings give, with data in `data_dir`.
    pub fn config(&self, data_dir: PathBuf) -> EngineConfig {
        let mut config = EngineConfig::new(data_dir);
        config.recovery_window = self.recovery_window;
        config.retention = Retention {
            runs: self.retain_runs.0,
            audit: self.retain_audit.0,
            flow_versions: self.retain_flow_versions.0,
            audit_export: self.audit_export.clone(),
        };
        config.limits = self.sandbox.limits();
        config.max_flow_memory = usize::try_from(self.flow_memory_max_mib)
            .unwrap_or(usize::MAX)
            .saturating_mul(1 << 20);
        config.max_concurrent_flows = self.max_concurrent_flows;
        config.max_concurrent_per_flow = self.max_concurrent_per_flow;
        config.cpu = self.cpu.shares();
        config.quarantine_after = self.quarantine_after.0;
        config.integrity_check = match self.integrity_check {
            Integrity::Quick => IntegrityCheck::Quick,
            Integrity::Full => IntegrityCheck::Full,
            Integrity::Off => IntegrityCheck::Off,
        };
        config
    }
}

/// A positive duration in jiff's friendly format (`14d`, `36h`, `1m 30s`);
/// a day is 24 hours.
fn parse_duration(text: &str) -> Result<SignedDuration, String> {
    let span: jiff::Span = text
        .parse()
        .map_err(|e| format!("not a duration like 14d, 36h or 30s: {e}"))?;
    let duration = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|e| format!("not a duration like 14d, 36h or 30s: {e}"))?;
    if duration.is_positive() {
        Ok(duration)
    } else {
        Err("the duration must be positive".to_owned())
    }
}

/// Requests per second, or none (`off`).
#[derive(Debug, Clone, Copy)]
pub struct Rate(pub Option<std::num::NonZeroU32>);

/// `off`, or a positive number of requests per second.
fn parse_rate(text: &str) -> Result<Rate, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(Rate(None));
    }
    text.trim()
        .parse::<std::num::NonZeroU32>()
        .map(|rate| Rate(Some(rate)))
        .map_err(|_| "requests per second, a whole number above 0, or `off`".to_owned())
}

/// `--quarantine-after`: a number of failures in a row, or never.
#[derive(Debug, Clone, Copy)]
pub struct QuarantineAfter(Option<std::num::NonZeroU32>);

/// `off`, or a whole number above 0.
fn parse_quarantine_after(text: &str) -> Result<QuarantineAfter, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(QuarantineAfter(None));
    }
    text.trim()
        .parse::<std::num::NonZeroU32>()
        .map(|after| QuarantineAfter(Some(after)))
        .map_err(|_| "a number of failures in a row, above 0, or `off`".to_owned())
}

/// A retention period, or none (`off`).
#[derive(Debug, Clone, Copy)]
pub struct Retained(Option<std::time::Duration>);

/// `off`, or a positive duration (see [`parse_duration`]).
fn parse_retention(text: &str) -> Result<Retained, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(Retained(None));
    }
    parse_duration(text)
        .map(|duration| Retained(Some(duration.unsigned_abs())))
        .map_err(|e| format!("{e} (or `off`)"))
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
    /// Write a new flow project, with a test of its own, ready to build.
    New {
        /// The project's directory (created; its name names the flow).
        dir: PathBuf,
        /// The flow's language.
        #[arg(long, value_enum, default_value = "rust")]
        lang: Language,
        /// autolaunched, evaluation or screen.
        #[arg(long, default_value = "autolaunched")]
        kind: FlowKind,
        /// Rust: the directory of the Rust SDK (stagecraft-sdk), when it is
        /// not where this program was built from.
        #[arg(long)]
        rust_sdk: Option<PathBuf>,
    },
    /// Build a flow project into a component and print its path: a crate
    /// (Cargo.toml) with cargo, a Python project (pyproject.toml) with
    /// componentize-py, a JavaScript project (package.json) with jco.
    Build {
        /// The project's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Write the component here instead.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Run a component here, in the sandbox and limits of the server, and
    /// print its outputs (or its typed failure) and its log. Needs no server.
    Test {
        /// The `.wasm` component.
        file: PathBuf,
        /// autolaunched, evaluation or screen.
        #[arg(long)]
        kind: FlowKind,
        /// The inputs, a JSON object.
        #[arg(long, default_value = "{}")]
        inputs: String,
        /// A screen flow's answers, a JSON object: submitted after the form
        /// is rendered. Without them, the form is printed.
        #[arg(long)]
        answers: Option<String>,
        /// The sandbox's limits.
        #[command(flatten)]
        sandbox: SandboxArgs,
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
        /// This version's own memory limit in MiB, instead of the server's
        /// default (--flow-memory-mib), up to its --flow-memory-max-mib.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        memory_mib: Option<u32>,
        /// Then resume every run whose Error came from this flow, as a
        /// server-side job; its progress is shown until it finishes.
        #[arg(long)]
        resume_errored: bool,
        /// With --resume-errored: resume only the runs on which the new
        /// version gets through the failed invocation, dry-run; the others
        /// are reported.
        #[arg(long, requires = "resume_errored")]
        only_if_dry_run_passes: bool,
        /// With --resume-errored: do not follow the job (see `job wait`).
        #[arg(long, requires = "resume_errored")]
        detach: bool,
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
    /// Let a quarantined version's steps run again (a version is
    /// quarantined when its invocations keep ending in a resource limit).
    LiftQuarantine {
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
        /// Start at most one run with this key: run again with the same key
        /// (within 24 hours), it shows the run the first start made instead
        /// of starting another, so a start whose answer was lost can be
        /// retried safely.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
        /// Wait until the run settles (no longer in progress) and show it;
        /// exits with status 3 if it does not settle within --timeout.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits, e.g. `30s` or `5m`.
        #[arg(long, default_value = "60s", value_parser = parse_duration, requires = "wait")]
        timeout: SignedDuration,
    },
    /// Wait until a run reaches a point, then show it; exits with status 3
    /// if it does not within --timeout.
    Wait {
        /// The run id.
        id: String,
        /// `settled` (no longer in progress), `resting` (settled, or waiting
        /// for a person), or a status: in_progress, completed, suspended,
        /// canceled, error.
        #[arg(long = "for", default_value = "settled")]
        until: String,
        /// How long to wait, e.g. `30s` or `5m`.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        timeout: SignedDuration,
    },
    /// Try a flow version against recorded inputs, changing nothing: those
    /// of the failure that stopped a run (a step's flow or an evaluation
    /// flow), of one step's last attempt, or, without a run id, of every run
    /// in Error a filter selects (--flow needed). Exits with status 4 when
    /// the candidate fails (on any run).
    DryRun {
        /// The run id; leave it out to try every run the filter selects.
        id: Option<String>,
        /// Only with a run id: the step, as `stage.step` (default: whatever
        /// failed).
        #[arg(requires = "id")]
        step: Option<String>,
        /// A deployed version of the flow (default: the active one).
        #[arg(long, conflicts_with = "component")]
        version: Option<u32>,
        /// A component file to try without deploying it.
        #[arg(long)]
        component: Option<PathBuf>,
        /// Without a run id: the runs to try.
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// What a run's flows printed and logged, per step and attempt.
    Logs {
        /// The run id.
        id: String,
        /// Only this step, as `stage.step`.
        step: Option<String>,
        /// Only this attempt.
        #[arg(long)]
        attempt: Option<u32>,
    },
    /// Runs, newest first.
    List {
        /// in_progress, completed, suspended, canceled or error.
        #[arg(long)]
        status: Option<String>,
        /// Only runs of this orchestration.
        #[arg(long)]
        orchestration: Option<String>,
        /// Only runs of this version of the orchestration.
        #[arg(long)]
        version: Option<u32>,
        /// Only live runs whose stage in progress (or in error) is this one.
        #[arg(long)]
        stage: Option<String>,
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
    /// Resume a suspended run, or one in recoverable Error; without a run
    /// id, every run a filter selects, as a server-side job whose progress
    /// is shown until it finishes.
    Resume {
        /// The run id; leave it out to resume every run the filter selects.
        id: Option<String>,
        /// Without a run id: the runs to resume.
        #[command(flatten)]
        filter: FilterArgs,
        /// Resume nothing: dry-run the active version of --flow against each
        /// selected run's failure and say how many would get through (exit
        /// status 4 if any would fail).
        #[arg(long)]
        dry_run: bool,
        /// Resume only the runs on which the active version of --flow gets
        /// through the failed invocation, dry-run; report the others.
        #[arg(long, conflicts_with = "dry_run")]
        only_if_dry_run_passes: bool,
        /// Start the job and return without following it.
        #[arg(long, conflicts_with = "dry_run")]
        detach: bool,
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

/// The runs a resume or a dry-run over many runs applies to.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// error (default) or suspended.
    #[arg(long)]
    pub status: Option<String>,
    /// Runs of this orchestration.
    #[arg(long)]
    pub orchestration: Option<String>,
    /// Runs of this orchestration version (with --orchestration).
    #[arg(long, requires = "orchestration")]
    pub orchestration_version: Option<u32>,
    /// Runs whose failed stage is this one.
    #[arg(long)]
    pub stage: Option<String>,
    /// Runs whose failed step is this one (its name, without the stage).
    #[arg(long = "step")]
    pub failed_step: Option<String>,
    /// Runs stopped by a failure of this flow.
    #[arg(long)]
    pub flow: Option<String>,
    /// Runs stopped by a failure of this version of --flow.
    #[arg(long, requires = "flow")]
    pub flow_version: Option<u32>,
    /// Runs stopped by a flow failing this way: trap, cpu_budget,
    /// memory_limit, timeout, flow_error, bad_output or quarantined.
    #[arg(long)]
    pub failure: Option<String>,
    /// Runs started at or after this time (RFC 3339).
    #[arg(long)]
    pub started_after: Option<String>,
    /// Runs started before this time (RFC 3339).
    #[arg(long)]
    pub started_before: Option<String>,
}

/// `job ...`
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// The latest resume jobs.
    List,
    /// A job and its progress.
    Show {
        /// The job id.
        id: String,
    },
    /// Follow a job until it finishes, with a progress bar.
    Wait {
        /// The job id.
        id: String,
    },
    /// A job's runs and what became of each.
    Runs {
        /// The job id.
        id: String,
        /// Only pending, resumed or refused runs.
        #[arg(long)]
        state: Option<String>,
    },
    /// Stop a running job; the runs it has not handled stay as they are.
    Cancel {
        /// The job id.
        id: String,
    },
}

/// `audit`: filters of the audit log.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this actor's records (`admin`, or a user id).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only this action, e.g. `run.resume` or `flow.deploy`.
    #[arg(long)]
    pub action: Option<String>,
    /// Only records about this target, e.g. `run:<id>` or `flow:risk_score`.
    #[arg(long)]
    pub target: Option<String>,
    /// Only records at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Only records before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Only records older than this id (for the next page).
    #[arg(long)]
    pub before: Option<u64>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_weights_name_an_orchestration_or_a_flow() {
        let weight = parse_weight("orchestration:loan_approval=4").expect("valid");
        assert!(matches!(weight.of, Weighed::Orchestration));
        assert_eq!((weight.name.as_str(), weight.weight), ("loan_approval", 4));
        assert!(matches!(parse_weight("flow:a=b=2").map(|w| w.name), Ok(n) if n == "a=b"));
        for bad in [
            "loan=4",
            "queue:x=1",
            "flow:x=0",
            "flow:x=1001",
            "flow:=2",
            "flow:x",
        ] {
            assert!(parse_weight(bad).is_err(), "{bad} must be refused");
        }
    }
}
