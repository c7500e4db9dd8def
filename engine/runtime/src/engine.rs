//! The engine's public API.

pub(crate) mod audit;
pub(crate) mod dry_run;
pub(crate) mod jobs;
mod retention;
pub(crate) mod selection;
mod start_key;

use audit::target;

use crate::action::ExternalAction;
use crate::clock::{Clock, SystemClock};
use crate::config::EngineConfig;
use crate::dispatch::Dispatcher;
use crate::error::EngineError;
use crate::executor::{Command, Executor, RunUpdate, Trail};
use crate::fairness::FlowShares;
use crate::quarantine::Breaker;
use crate::registry::{ActiveFlow, Registry};
use crate::runner::{FlowRunner, LoadedFlow};
use crate::slices::{Account, Slices};
use crate::versions::Versions;
use crate::watch::Watchers;
use serde_json::Value;
use stagecraft_core::run::{Run, RunId, RunStatus, WorkItemId, WorkItemStatus};
use stagecraft_core::{Actor, Event, Limits, Orchestration};
use stagecraft_host::{FieldError, FlowHost, FlowKind, Form, HostConfig, Submission};
use stagecraft_store::{
    AuditAction, FlowRecord, Group, NewFlow, NewOrchestration, OrchestrationRecord, Queue,
    RunFilter, RunSummary, StepLog, Store, StoreError, User, WorkItemFilter, WorkItemRecord,
};
#[cfg(feature = "sqlite")]
use stagecraft_store_sqlite::{SqliteConfig, SqliteStore};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

pub use retention::{Pruned, Retention};
pub use start_key::{START_KEY_WINDOW, Started};

/// A new run's id: a UUIDv7, ordered by time of creation.
fn new_run_id() -> RunId {
    RunId(uuid::Uuid::now_v7().to_string())
}

/// Commands waiting for the executor, at most; callers wait beyond that.
const QUEUE_DEPTH: usize = 16 * 1024;

/// Sets up an [`Engine`]: external actions, clock, then [`EngineBuilder::open`].
pub struct EngineBuilder {
    config: EngineConfig,
    actions: HashMap<String, Arc<dyn ExternalAction>>,
    clock: Arc<dyn Clock>,
    runner: Option<Arc<dyn FlowRunner>>,
}

impl EngineBuilder {
    /// Starts building an engine that keeps its data in `data_dir`, on the
    /// store given to [`EngineBuilder::open_on`].
    pub fn new(config: EngineConfig) -> Self {
        Self {
            config,
            actions: HashMap::new(),
            clock: Arc::new(SystemClock),
            runner: None,
        }
    }

    /// Runs flows with `runner` instead of a WebAssembly host of the
    /// engine's own (a host shared with other engines, or a fake in tests).
    #[must_use]
    pub fn runner(mut self, runner: Arc<dyn FlowRunner>) -> Self {
        self.runner = Some(runner);
        self
    }

    /// Registers an external action under `name`, for external-action steps.
    #[must_use]
    pub fn action(mut self, name: impl Into<String>, action: impl ExternalAction) -> Self {
        self.actions.insert(name.into(), Arc::new(action));
        self
    }

    /// Replaces the system clock (tests move time by hand with
    /// [`crate::ManualClock`]).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Opens the SQLite store in the data directory, then as
    /// [`EngineBuilder::open_on`].
    #[cfg(feature = "sqlite")]
    pub async fn open(self) -> Result<Engine<SqliteStore>, EngineError> {
        let store = self.sqlite_store()?;
        self.open_on(store).await
    }

    /// Opens the SQLite store in the data directory (`stagecraft.db`,
    /// private to this user), with the configuration's SQLite settings.
    #[cfg(feature = "sqlite")]
    pub fn sqlite_store(&self) -> Result<SqliteStore, EngineError> {
        let database = self.config.data_dir.join("stagecraft.db");
        private_dir(&self.config.data_dir)
            .and_then(|()| private_file(&database))
            .map_err(|(path, source)| EngineError::DataDir { path, source })?;
        let mut store_config = SqliteConfig::new(database);
        store_config.synchronous = self.config.synchronous;
        store_config.integrity_check = self.config.integrity_check;
        Ok(SqliteStore::open(store_config)?)
    }

    /// Starts the engine on `store`: compiles the active flows into the
    /// data directory's cache, loads every orchestration version, picks
    /// unfinished runs back up and starts the executor.
    pub async fn open_on<S: Store>(self, store: S) -> Result<Engine<S>, EngineError> {
        let EngineBuilder {
            config,
            actions,
            clock,
            runner,
        } = self;
        private_dir(&config.data_dir)
            .map_err(|(path, source)| EngineError::DataDir { path, source })?;
        let runner = match runner {
            Some(runner) => runner,
            None => Arc::new(FlowHost::new(HostConfig {
                limits: config.limits.clone(),
                max_concurrent_invocations: config.max_concurrent_flows,
                cache_dir: Some(config.data_dir.join("compiled")),
                max_memory_bytes: config.max_flow_memory.max(config.limits.memory_bytes),
                slice: config.cpu.slice,
            })?),
        };
        Engine::start(store, runner, config, actions, clock).await
    }
}

/// Creates the data directory private to this user (0700: it holds every
/// run's data, or compiled flows); an existing one is left as it is.
fn private_dir(dir: &std::path::Path) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| (dir.to_owned(), e))
}

/// Creates the database file private to this user (0600); SQLite gives its
/// journal files the database's permissions. An existing one is left as it
/// is.
#[cfg(feature = "sqlite")]
fn private_file(database: &std::path::Path) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(database)
        .map(drop)
        .map_err(|e| (database.to_owned(), e))
}

/// A running Stagecraft engine on a [`Store`]. Cheap to clone; every clone
/// drives the same engine.
pub struct Engine<S: Store> {
    inner: Arc<Inner<S>>,
}

impl<S: Store> Clone for Engine<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// How often a wait for a run's state reads it from a store shared by
/// several nodes (another node may be applying its commands).
const CLUSTER_WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(100);

struct Inner<S> {
    store: Arc<S>,
    runner: Arc<dyn FlowRunner>,
    registry: Arc<Registry>,
    limits: Limits,
    clock: Arc<dyn Clock>,
    commands: mpsc::Sender<Command>,
    updates: broadcast::Sender<RunUpdate>,
    watchers: Arc<Watchers>,
    executor: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// Bumped whenever a resume job makes progress or ends.
    jobs_progress: tokio::sync::watch::Sender<u64>,
    /// Resume jobs canceled, whose commands the executor drops.
    canceled: crate::executor::CanceledJobs,
    /// Runs the executor holds in memory.
    held: Arc<std::sync::atomic::AtomicUsize>,
    /// The catalog as of which changes, on a store shared by several
    /// nodes (deploys and activations made through the others).
    catalog_seen: tokio::sync::Mutex<Option<i64>>,
    /// Fresh reads of the catalog's version, shared by concurrent requests.
    catalog_reads: crate::catalog_version::CatalogReads,
    /// The resume jobs this engine drives.
    driving: std::sync::Mutex<std::collections::HashSet<stagecraft_store::JobId>>,
    /// How long what the engine stores is kept.
    retention: Retention,
    /// Fair slices of the CPU among orchestrations and flows.
    slices: Arc<Slices>,
    /// Quarantines flow versions that keep hitting resource limits.
    breaker: Arc<Breaker>,
    /// Where audit records are exported before retention removes them.
    audit_export: std::path::PathBuf,
}

/// What a work item's screen flow works with.
struct OpenStep {
    /// The inputs its step resolved when it started.
    inputs: Value,
    /// The version its step is pinned to, with its digest.
    pin: Option<(u32, Option<String>)>,
    /// Whose CPU its screen flow uses.
    account: Account,
}

/// What became of a work item submission.
#[derive(Debug, Clone)]
pub enum Completion {
    /// The screen flow accepted the answers; the run moved on.
    Completed(Arc<Run>),
    /// The answers are invalid; the work item stays open.
    Invalid(Vec<FieldError>),
    /// The submission failed the step: the screen flow failed (trapped, ran
    /// out of budget...) on the answers, or its outputs were refused (not
    /// the declared ones, nested too deeply). The step failed as SPEC §3
    /// says, and so did the run unless a fault path took over.
    Failed {
        /// The run after the failure.
        run: Arc<Run>,
        /// Why the step failed, as the step records it.
        error: String,
    },
}

#[cfg(feature = "sqlite")]
impl Engine<SqliteStore> {
    /// Starts building an engine that keeps its data in `data_dir`: the
    /// usual start, on SQLite ([`EngineBuilder::new`] for any store).
    pub fn builder(config: EngineConfig) -> EngineBuilder {
        EngineBuilder::new(config)
    }
}

impl<S: Store> Engine<S> {
    /// Starts an engine on an already opened store, running flows with
    /// `runner` (a [`FlowHost`], usually).
    pub async fn start(
        store: S,
        runner: Arc<dyn FlowRunner>,
        config: EngineConfig,
        actions: HashMap<String, Arc<dyn ExternalAction>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, EngineError> {
        let store = Arc::new(store);
        let registry = Arc::new(Registry::new(actions));
        let limits = Limits {
            recovery_window: config.recovery_window,
            ..Limits::default()
        };
        // Read before the catalog: a deploy committed while it loads is
        // taken in at the next look.
        let catalog_seen = store.catalog_changes().await?;
        load_flows(&*store, &runner, &registry).await?;
        load_orchestrations(&*store, &registry, &limits).await?;

        let (commands, receiver) = mpsc::channel(QUEUE_DEPTH);
        let (updates, _) = broadcast::channel(16 * 1024);
        let watchers = Arc::new(Watchers::default());
        let workers = tokio::runtime::Handle::current().metrics().num_workers();
        let preempt = Arc::clone(&runner);
        let slices = Arc::new(
            Slices::new(&config.cpu, workers, Box::new(move || preempt.end_slices()))
                .map_err(EngineError::Threads)?,
        );
        let breaker = Arc::new(Breaker::new(config.quarantine_after));
        let dispatcher = Dispatcher {
            commands: commands.downgrade(),
            registry: Arc::clone(&registry),
            store: Arc::clone(&store),
            runner: Arc::clone(&runner),
            action_permits: Arc::new(Semaphore::new(config.max_concurrent_actions.max(1))),
            shares: Arc::new(FlowShares::new(config.flow_share())),
            slices: Arc::clone(&slices),
            breaker: Arc::clone(&breaker),
            clock: Arc::clone(&clock),
            under_way: Arc::default(),
        };
        let recovered = crate::recovery::recover(&*store, &registry, &dispatcher).await?;
        let lease_ttl = store.lease_ttl();
        let canceled = crate::executor::CanceledJobs::default();
        let held = Arc::new(std::sync::atomic::AtomicUsize::new(recovered.held.len()));
        let executor = Executor {
            store: Arc::clone(&store),
            registry: Arc::clone(&registry),
            clock: Arc::clone(&clock),
            dispatcher,
            updates: updates.clone(),
            watchers: Arc::clone(&watchers),
            runs: recovered.held,
            loading: HashMap::new(),
            held: Arc::clone(&held),
            failing: Default::default(),
            canceled: Arc::clone(&canceled),
            clustered: lease_ttl.is_some(),
            releasing: recovered.let_go,
            parked: recovered.parked,
            lineage: 0,
        };
        let handle = tokio::spawn(executor.run(receiver));
        if let Some(ttl) = lease_ttl {
            crate::cluster::take_routed(Arc::clone(&store), commands.downgrade());
            crate::cluster::take_over(Arc::clone(&store), commands.downgrade(), ttl);
        }
        let engine = Self {
            inner: Arc::new(Inner {
                store,
                runner,
                registry,
                limits,
                clock,
                commands,
                updates,
                watchers,
                executor: std::sync::Mutex::new(Some(handle)),
                jobs_progress: tokio::sync::watch::Sender::new(0),
                canceled,
                held,
                catalog_seen: tokio::sync::Mutex::new(catalog_seen),
                catalog_reads: crate::catalog_version::CatalogReads::default(),
                driving: std::sync::Mutex::default(),
                audit_export: config.data_dir.join(&config.retention.audit_export),
                retention: config.retention.clone(),
                slices,
                breaker,
            }),
        };
        engine.prune_every_so_often();
        if let Some(ttl) = lease_ttl {
            engine.follow_catalog(ttl);
        }
        engine.resume_jobs().await?;
        Ok(engine)
    }

    /// On a store shared by several nodes, takes in the flows and
    /// orchestrations deployed or activated through other nodes since the
    /// last look: a new active flow version is compiled (or read from the
    /// compile cache) here on first need. A no-op on a store of one node.
    pub async fn sync_catalog(&self) -> Result<(), EngineError> {
        if self.inner.store.lease_ttl().is_none() {
            return Ok(());
        }
        let Some(changes) = self.inner.catalog_reads.fresh(&*self.inner.store).await? else {
            return Ok(());
        };
        // Changes only rise: one reload up to them is enough, whoever does
        // it. Read before the reload: a change committed during it is
        // taken in next time.
        let current = |seen: &Option<i64>| seen.is_some_and(|seen| seen >= changes);
        let mut seen = self.inner.catalog_seen.lock().await;
        if current(&seen) {
            return Ok(());
        }
        load_flows(&*self.inner.store, &self.inner.runner, &self.inner.registry).await?;
        load_orchestrations(&*self.inner.store, &self.inner.registry, &self.inner.limits).await?;
        *seen = Some(changes);
        // Runs parked for an orchestration version unknown until now.
        let _ = self.inner.commands.send(Command::CatalogChanged).await;
        Ok(())
    }

    /// Looks for catalog changes made through other nodes ten times per
    /// lease TTL, and for resume jobs whose node stopped twice per TTL,
    /// until the engine stops.
    fn follow_catalog(&self, ttl: std::time::Duration) {
        self.honour_cancels_as_asked(ttl);
        let engine = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(ttl / 10);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for round in 0u64.. {
                ticks.tick().await;
                let Some(inner) = engine.upgrade() else {
                    return;
                };
                let engine = Engine { inner };
                if let Err(error) = engine.sync_catalog().await {
                    tracing::warn!(%error, "cannot take in the catalog's changes");
                }

                if round % 5 == 4
                    && let Err(error) = engine.resume_jobs().await
                {
                    tracing::warn!(%error, "cannot look for resume jobs of stopped nodes");
                }
            }
        });
    }

    /// The store underneath, for queries the engine does not wrap.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// How many runs the engine holds in memory: those with work in flight
    /// (a flow, an evaluation, an external action or an assignee check
    /// under way) or a commit pending. Runs that wait on a person, an event
    /// or an operator stay in the store until a command comes for them.
    /// Counted once every command sent before this call is durable, so a
    /// run that just settled is not counted while its commit finishes.
    pub async fn held_runs(&self) -> Result<usize, EngineError> {
        self.settle().await?;
        Ok(self.inner.held.load(std::sync::atomic::Ordering::Relaxed))
    }

    // ---- flows ---------------------------------------------------------------

    /// Deploys a new version of a flow: validates the component as `kind`,
    /// compiles it, stores it and makes it active. Steps that start from now
    /// on use it; steps already running finish on the version they started
    /// with (a hot swap).
    pub async fn deploy_flow(
        &self,
        name: &str,
        kind: FlowKind,
        bytes: Vec<u8>,
        by: &str,
    ) -> Result<FlowRecord, EngineError> {
        self.deploy_flow_with(name, kind, bytes, None, by).await
    }

    /// [`Self::deploy_flow`], the version's invocations limited to
    /// `memory_mib` of memory instead of the default (up to the most the
    /// host allows).
    pub async fn deploy_flow_with(
        &self,
        name: &str,
        kind: FlowKind,
        bytes: Vec<u8>,
        memory_mib: Option<u32>,
        by: &str,
    ) -> Result<FlowRecord, EngineError> {
        let audit = self.audit_record(by, AuditAction::FlowDeploy, target::flow(name));
        self.audited(audit.clone(), async {
            check_name("flow", name)?;
            let memory_bytes =
                memory_mib.map(|mib| usize::try_from(mib).unwrap_or(usize::MAX) << 20);
            if let (Some(mib), Some(bytes)) = (memory_mib, memory_bytes) {
                let most = self.inner.runner.max_memory_bytes().unwrap_or(usize::MAX);
                if mib == 0 || bytes > most {
                    return Err(EngineError::BadRequest(format!(
                        "a flow's memory limit is from 1 MiB to {} MiB (the server's \
                         --flow-memory-max-mib), not {mib} MiB",
                        most >> 20
                    )));
                }
            }
            if let Some(existing) = self.inner.registry.kind(name)
                && existing != kind
            {
                return Err(EngineError::BadRequest(format!(
                    "flow {name:?} is {} {existing} flow; a new version cannot be {} {kind} flow",
                    article(existing),
                    article(kind)
                )));
            }
            let (flow, bytes) = self.compile(name, kind, bytes).await?;
            let audit = audit.with_detail(serde_json::json!({
                "kind": kind.as_str(),
                "digest": flow.digest(),
                "size": bytes.len(),
                "memory_mib": memory_mib,
            }));
            let record = self
                .inner
                .store
                .insert_flow(
                    NewFlow {
                        name: name.to_owned(),
                        kind,
                        digest: flow.digest().to_owned(),
                        bytes,
                        deployed_by: by.to_owned(),
                        deployed_at: self.inner.clock.now(),
                        memory_mib,
                    },
                    audit,
                )
                .await?;
            self.inner
                .registry
                .set_memory_limit(name, record.version, memory_bytes);
            self.inner.registry.activate_flow(
                name,
                ActiveFlow {
                    version: record.version,
                    flow,
                },
            );
            tracing::info!(flow = name, version = record.version, by, "flow deployed");
            Ok(record)
        })
        .await
    }

    /// Makes an older (or newer) stored version of a flow active again.
    pub async fn activate_flow(
        &self,
        name: &str,
        version: u32,
        by: &str,
    ) -> Result<FlowRecord, EngineError> {
        let audit = self
            .audit_record(by, AuditAction::FlowActivate, target::flow(name))
            .with_detail(serde_json::json!({ "version": version }));
        self.audited(audit.clone(), async {
            let bytes = self
                .inner
                .store
                .flow_bytes(name, version)
                .await?
                .ok_or_else(|| EngineError::NotFound(format!("flow {name:?} v{version}")))?;
            let kind = self
                .inner
                .registry
                .kind(name)
                .ok_or_else(|| EngineError::NotFound(format!("flow {name:?}")))?;
            let expected = self.stored_digest(name, version).await?;
            let found = crate::versions::digest(&bytes);
            if found != expected {
                return Err(EngineError::Unavailable(crate::versions::mismatch(
                    name, version, &expected, &found,
                )));
            }
            let (flow, _) = self.compile(name, kind, bytes).await?;
            let record = self.inner.store.activate_flow(name, version, audit).await?;
            self.inner
                .registry
                .activate_flow(name, ActiveFlow { version, flow });
            tracing::info!(flow = name, version, by, "flow version activated");
            Ok(record)
        })
        .await
    }

    /// Lifts the quarantine of `version` of `name`: its steps run again
    /// (resume the runs they put in Error). Conflict if it is not
    /// quarantined.
    pub async fn lift_quarantine(
        &self,
        name: &str,
        version: u32,
        by: &str,
    ) -> Result<FlowRecord, EngineError> {
        let audit = self
            .audit_record(by, AuditAction::FlowLiftQuarantine, target::flow(name))
            .with_detail(serde_json::json!({ "version": version }));
        self.audited(audit.clone(), async {
            self.sync_catalog().await?;
            let flows = self.inner.store.flows().await?;
            let record = flows
                .iter()
                .find(|r| r.name == name && r.version == version)
                .ok_or_else(|| EngineError::NotFound(format!("flow {name:?} v{version}")))?;
            if record.quarantine.is_none() {
                return Err(EngineError::Conflict(format!(
                    "flow {name:?} v{version} is not quarantined"
                )));
            }
            let record = self
                .inner
                .store
                .lift_quarantine(name, version, audit)
                .await?
                .ok_or_else(|| EngineError::NotFound(format!("flow {name:?} v{version}")))?;
            self.inner.registry.set_quarantine(name, version, None);
            self.inner.breaker.forget(name, version);
            tracing::info!(flow = name, version, by, "flow version's quarantine lifted");
            Ok(record)
        })
        .await
    }

    /// The SHA-256 recorded when `version` of `name` was deployed.
    async fn stored_digest(&self, name: &str, version: u32) -> Result<String, EngineError> {
        self.inner
            .store
            .flows()
            .await?
            .into_iter()
            .find(|record| record.name == name && record.version == version)
            .map(|record| record.digest)
            .ok_or_else(|| EngineError::NotFound(format!("flow {name:?} v{version}")))
    }

    /// Every version of every flow.
    pub async fn flows(&self) -> Result<Vec<FlowRecord>, EngineError> {
        Ok(self.inner.store.flows().await?)
    }

    async fn compile(
        &self,
        name: &str,
        kind: FlowKind,
        bytes: Vec<u8>,
    ) -> Result<(LoadedFlow, Vec<u8>), EngineError> {
        let runner = Arc::clone(&self.inner.runner);
        let result = tokio::task::spawn_blocking(move || {
            let flow = runner.load(kind, &bytes);
            (flow, bytes)
        })
        .await
        .map_err(|_| EngineError::ShuttingDown)?;
        match result {
            (Ok(flow), bytes) => Ok((flow, bytes)),
            (Err(source), _) => Err(EngineError::FlowRejected {
                name: name.to_owned(),
                source,
            }),
        }
    }

    // ---- orchestrations --------------------------------------------------------

    /// Deploys a new version of an orchestration from its JSON definition,
    /// after validating it against the deployed flows and registered actions.
    /// Runs already started keep the version they started with.
    pub async fn deploy_orchestration(
        &self,
        definition: Value,
        by: &str,
    ) -> Result<OrchestrationRecord, EngineError> {
        let named = definition.get("name").and_then(Value::as_str).unwrap_or("");
        let audit = self.audit_record(
            by,
            AuditAction::OrchestrationDeploy,
            target::orchestration(named),
        );
        self.audited(audit.clone(), async {
            // Parsing and validating a large definition is CPU work: keep it
            // off the async workers that serve every other request.
            let registry = Arc::clone(&self.inner.registry);
            let (parsed, plan, definition) = tokio::task::spawn_blocking(move || {
                let parsed: Orchestration = serde_json::from_value(definition.clone())
                    .map_err(|e| EngineError::DefinitionSyntax(e.to_string()))?;
                check_name("orchestration", &parsed.name)?;
                let plan = stagecraft_core::validate(&parsed, &*registry)
                    .map_err(EngineError::DefinitionInvalid)?;
                Ok::<_, EngineError>((parsed, plan, definition))
            })
            .await
            .map_err(|_| EngineError::ShuttingDown)??;
            let record = self
                .inner
                .store
                .insert_orchestration(
                    NewOrchestration {
                        name: parsed.name.clone(),
                        definition,
                        deployed_by: by.to_owned(),
                        deployed_at: self.inner.clock.now(),
                    },
                    audit,
                )
                .await?;
            self.inner.registry.add_plan(
                plan.with_version(record.version)
                    .with_limits(self.inner.limits.clone()),
                true,
            );
            tracing::info!(orchestration = %record.name, version = record.version, by, "orchestration deployed");
            Ok(record)
        })
        .await
    }

    /// Every version of every orchestration.
    pub async fn orchestrations(&self) -> Result<Vec<OrchestrationRecord>, EngineError> {
        Ok(self.inner.store.orchestrations().await?)
    }

    // ---- runs ----------------------------------------------------------------

    /// Starts a run of the active version of `orchestration` on behalf of
    /// `by`. Returns once the start is durable, with the run's state at that
    /// point.
    pub async fn start_run(
        &self,
        orchestration: &str,
        inputs: Value,
        by: &str,
    ) -> Result<Arc<Run>, EngineError> {
        let plan = self.plan_to_start(orchestration, by).await?;
        self.start_as(plan, new_run_id(), inputs, by).await
    }

    /// The active plan of `orchestration`, to start a run of; a refusal,
    /// audited, if there is none.
    async fn plan_to_start(
        &self,
        orchestration: &str,
        by: &str,
    ) -> Result<Arc<stagecraft_core::Plan>, EngineError> {
        self.sync_catalog().await?;
        if let Some(plan) = self.inner.registry.active_plan(orchestration) {
            return Ok(plan);
        }
        let error = EngineError::NotFound(format!("orchestration {orchestration:?}"));
        let audit = self.audit_record(
            by,
            AuditAction::RunStart,
            target::orchestration(orchestration),
        );
        self.record_refusal(audit, None, &error).await;
        Err(error)
    }

    /// Starts run `id` of `plan`.
    async fn start_as(
        &self,
        plan: Arc<stagecraft_core::Plan>,
        id: RunId,
        inputs: Value,
        by: &str,
    ) -> Result<Arc<Run>, EngineError> {
        // No detail: the run names its orchestration, and this is the hot path.
        let audit = self.audit_record(by, AuditAction::RunStart, target::run(&id));
        self.request(|reply| Command::Start {
            plan,
            id,
            inputs,
            reply,
            trail: Trail::audit(audit),
        })
        .await
    }

    /// A run's current state.
    pub async fn run(&self, id: &RunId) -> Result<Arc<Run>, EngineError> {
        self.inner
            .store
            .run(id)
            .await?
            .map(Arc::new)
            .ok_or_else(|| EngineError::NotFound(format!("run {id}")))
    }

    /// What each step's flow printed and logged, per attempt.
    pub async fn step_logs(&self, run: &RunId) -> Result<Vec<StepLog>, EngineError> {
        Ok(self.inner.store.step_logs(run).await?)
    }

    /// Runs by status and orchestration, newest first.
    pub async fn runs(&self, filter: RunFilter) -> Result<Vec<RunSummary>, EngineError> {
        Ok(self.inner.store.runs(filter).await?)
    }

    /// How many runs there are per status, of one orchestration if given.
    pub async fn run_counts(
        &self,
        orchestration: Option<String>,
    ) -> Result<Vec<(RunStatus, u64)>, EngineError> {
        Ok(self.inner.store.run_counts(orchestration).await?)
    }

    /// Publishes an orchestration event to a run on behalf of `by`: its
    /// conditions are evaluated again.
    pub async fn publish_event(
        &self,
        run: &RunId,
        name: &str,
        by: &str,
    ) -> Result<Arc<Run>, EngineError> {
        let audit = self
            .audit_record(by, AuditAction::RunPublish, target::run(run))
            .with_detail(serde_json::json!({ "event": name }));
        let event = Event::EventPublished {
            name: name.to_owned(),
        };
        self.event(run, event, Trail::audit(audit)).await
    }

    /// Suspends a run (SPEC §4).
    pub async fn suspend(&self, run: &RunId, by: &str) -> Result<Arc<Run>, EngineError> {
        let audit = self.audit_record(by, AuditAction::RunSuspend, target::run(run));
        let event = Event::Suspend { by: by.to_owned() };
        self.event(run, event, Trail::audit(audit)).await
    }

    /// Resumes a suspended run, or a run in recoverable Error within its
    /// recovery window. Restarted steps run the flow version active now.
    pub async fn resume(&self, run: &RunId, by: &str) -> Result<Arc<Run>, EngineError> {
        self.sync_catalog().await?;
        let audit = self.audit_record(by, AuditAction::RunResume, target::run(run));
        let event = Event::Resume { by: by.to_owned() };
        self.event(run, event, Trail::audit(audit)).await
    }

    /// Cancels a run; it cannot be resumed afterwards.
    pub async fn cancel(&self, run: &RunId, by: &str) -> Result<Arc<Run>, EngineError> {
        let audit = self.audit_record(by, AuditAction::RunCancel, target::run(run));
        let event = Event::Cancel { by: by.to_owned() };
        self.event(run, event, Trail::audit(audit)).await
    }

    /// Committed run changes, as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<RunUpdate> {
        self.inner.updates.subscribe()
    }

    /// Waits until `condition` holds for the run's committed state, and
    /// returns that state.
    pub async fn wait_for(
        &self,
        run: &RunId,
        condition: impl Fn(&Run) -> bool,
    ) -> Result<Arc<Run>, EngineError> {
        // Watch before reading, so no commit falls in between.
        let mut watcher = self.inner.watchers.watch(run);
        let current = self.run(run).await?;
        if condition(&current) {
            return Ok(current);
        }
        // With several nodes, another one may be the run's owner: its
        // commits are read from the store, every so often.
        let mut polls = self.inner.store.lease_ttl().map(|_| {
            let mut ticks = tokio::time::interval(CLUSTER_WAIT_POLL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks
        });
        loop {
            let polled = async {
                match polls.as_mut() {
                    Some(ticks) => ticks.tick().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = watcher.changed() => {
                    changed.map_err(|_| EngineError::ShuttingDown)?;
                    if let Some(state) = watcher.borrow_and_update().clone()
                        && condition(&state)
                    {
                        return Ok(state);
                    }
                }
                _ = polled => {
                    let current = self.run(run).await?;
                    if condition(&current) {
                        return Ok(current);
                    }
                }
            }
        }
    }

    /// Waits until the run is no longer In Progress.
    pub async fn wait_until_settled(&self, run: &RunId) -> Result<Arc<Run>, EngineError> {
        self.wait_for(run, |run| run.status != RunStatus::InProgress)
            .await
    }

    // ---- work items ------------------------------------------------------------

    /// Open work items that `user` may complete: assigned to them, or to a
    /// group or queue they belong to.
    pub async fn work_items_for(&self, user: &str) -> Result<Vec<WorkItemRecord>, EngineError> {
        let assignees = self.actor(user).await?.principals();
        Ok(self
            .inner
            .store
            .work_items(WorkItemFilter {
                assignees,
                open_only: true,
                run: None,
            })
            .await?)
    }

    /// One work item, whatever its status.
    pub async fn work_item(&self, id: &WorkItemId) -> Result<WorkItemRecord, EngineError> {
        self.inner
            .store
            .work_item(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("work item {id}")))
    }

    /// Every open work item, whoever it is assigned to (for watching).
    pub async fn open_work_items(&self) -> Result<Vec<WorkItemRecord>, EngineError> {
        Ok(self
            .inner
            .store
            .work_items(WorkItemFilter {
                assignees: Vec::new(),
                open_only: true,
                run: None,
            })
            .await?)
    }

    /// The form of a work item's screen flow, for `user`.
    pub async fn work_item_form(&self, id: &WorkItemId, user: &str) -> Result<Form, EngineError> {
        let (record, _, step) = self.open_item(id, user).await?;
        let flow = self
            .screen_flow(&record.item.screen_flow, step.pin.clone())
            .await?;
        let invocation = self
            .inner
            .slices
            .schedule(step.account, flow.render(&step.inputs))
            .await;
        invocation.outcome.map_err(|failure| {
            EngineError::FlowFailed(format!("the form cannot be shown: {failure}"))
        })
    }

    /// Completes a work item with `user`'s answers. The screen flow checks
    /// them; invalid answers leave the item open. Only the assignee, or a
    /// member of the assigned group or queue, may complete it.
    pub async fn complete_work_item(
        &self,
        id: &WorkItemId,
        user: &str,
        answers: Value,
    ) -> Result<Completion, EngineError> {
        let audit = self.audit_record(user, AuditAction::WorkItemComplete, target::work_item(id));
        let (record, actor, step) = match self.open_item(id, user).await {
            Ok(open) => open,
            Err(error) => {
                self.record_refusal(audit, None, &error).await;
                return Err(error);
            }
        };
        let audit = audit.with_detail(serde_json::json!({ "run": record.run }));
        let submitted = async {
            let flow = self
                .screen_flow(&record.item.screen_flow, step.pin.clone())
                .await?;
            let submission = flow.submit(&step.inputs, &answers);
            Ok(self
                .inner
                .slices
                .schedule(step.account, submission)
                .await
                .outcome)
        };
        let result = match submitted.await {
            Err(error) => {
                self.record_refusal(audit, None, &error).await;
                return Err(error);
            }
            Ok(Ok(Submission::Invalid(errors))) => {
                let refused = EngineError::BadRequest(format!(
                    "the screen flow found {} invalid answer(s); the work item stays open",
                    errors.len()
                ));
                self.record_refusal(audit, None, &refused).await;
                return Ok(Completion::Invalid(errors));
            }
            Ok(Ok(Submission::Accepted(outputs))) => Ok(outputs),
            Ok(Err(error)) => Err(stagecraft_core::FlowFailure::from(error)),
        };
        let step = record.item.step.clone();
        let event = Event::WorkItemCompleted {
            work_item: id.clone(),
            by: actor,
            answers,
            result,
        };
        let run = self.event(&record.run, event, Trail::audit(audit)).await?;
        // Whatever failed the step (the flow, or its outputs), the step says.
        let failed = run
            .stages
            .get(step.stage_run)
            .and_then(|stage| stage.steps.iter().find(|s| s.name == step.step))
            .filter(|s| s.status == stagecraft_core::run::StepStatus::Error)
            .map(|s| s.error.clone().unwrap_or_default());
        Ok(match failed {
            None => Completion::Completed(run),
            Some(error) => Completion::Failed { run, error },
        })
    }

    /// An open work item `user` may act on, with their memberships and what
    /// its step's screen flow needs.
    async fn open_item(
        &self,
        id: &WorkItemId,
        user: &str,
    ) -> Result<(WorkItemRecord, Actor, OpenStep), EngineError> {
        let record = self
            .inner
            .store
            .work_item(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("work item {id}")))?;
        if record.item.status != WorkItemStatus::Assigned {
            return Err(EngineError::Refused(
                stagecraft_core::EventError::WorkItemClosed {
                    work_item: id.clone(),
                },
            ));
        }
        let actor = self.actor(user).await?;
        if !actor.may_work_on(&record.item.assignee) {
            return Err(EngineError::Forbidden(format!(
                "{user} is not the assignee of work item {id} nor a member of its group or queue"
            )));
        }
        // The screen flow sees the inputs its step resolved when it started,
        // in the version pinned then.
        let run = self.run(&record.run).await?;
        let step_run = run
            .stages
            .get(record.item.step.stage_run)
            .and_then(|stage| stage.steps.iter().find(|s| s.name == record.item.step.step));
        let step = OpenStep {
            inputs: step_run
                .and_then(|step| step.inputs.clone())
                .unwrap_or(Value::Null),
            pin: step_run.and_then(|step| Some((step.flow_version?, step.flow_digest.clone()))),
            account: Account::new(&run.orchestration, &record.item.screen_flow),
        };
        Ok((record, actor, step))
    }

    /// The screen flow of a work item, in the version its step is pinned to.
    async fn screen_flow(
        &self,
        name: &str,
        pin: Option<(u32, Option<String>)>,
    ) -> Result<LoadedFlow, EngineError> {
        let versions = Versions {
            registry: &self.inner.registry,
            store: &*self.inner.store,
            runner: &self.inner.runner,
        };
        versions
            .flow(name, pin)
            .await
            .map(|(_, flow)| flow)
            .map_err(|message| EngineError::Unavailable(format!("screen flow: {message}")))
    }

    /// `user` of the directory with their groups and queues: who may work
    /// on what.
    pub async fn actor(&self, user: &str) -> Result<Actor, EngineError> {
        if self.inner.store.user(user).await?.is_none() {
            return Err(EngineError::NotFound(format!("user {user:?}")));
        }
        Ok(self.inner.store.memberships(user).await?.of(user))
    }

    // ---- directory -------------------------------------------------------------

    /// One user of the directory.
    pub async fn user(&self, id: &str) -> Result<Option<User>, EngineError> {
        Ok(self.inner.store.user(id).await?)
    }

    /// Records a token issued to `user` (its SHA-256: the token itself is
    /// never stored) on behalf of `by`, with its audit record.
    pub async fn issue_token(
        &self,
        user: &str,
        sha256: [u8; 32],
        by: &str,
    ) -> Result<(), EngineError> {
        let audit = self.audit_record(by, AuditAction::TokenIssue, format!("user:{user}"));
        self.audited(audit.clone(), async {
            if self.inner.store.user(user).await?.is_none() {
                return Err(EngineError::NotFound(format!("user {user:?}")));
            }
            let at = self.inner.clock.now();
            Ok(self
                .inner
                .store
                .issue_token(user, sha256, at, audit)
                .await?)
        })
        .await
    }

    /// Records a token that an earlier version of the server kept outside
    /// the store (`source`), as issued by the system.
    pub async fn import_token(
        &self,
        user: &str,
        sha256: [u8; 32],
        source: &str,
    ) -> Result<(), EngineError> {
        let audit = self
            .audit_record(
                stagecraft_core::run::SYSTEM_PRINCIPAL,
                AuditAction::TokenIssue,
                format!("user:{user}"),
            )
            .with_detail(serde_json::json!({ "imported_from": source }));
        let at = self.inner.clock.now();
        Ok(self
            .inner
            .store
            .issue_token(user, sha256, at, audit)
            .await?)
    }

    /// Revokes every token of `user` on behalf of `by`, with its audit
    /// record; how many there were.
    pub async fn revoke_tokens(&self, user: &str, by: &str) -> Result<u64, EngineError> {
        let audit = self.audit_record(by, AuditAction::TokenRevoke, format!("user:{user}"));
        self.audited(audit.clone(), async {
            Ok(self.inner.store.revoke_tokens(user, audit).await?)
        })
        .await
    }

    /// Every user token's holder and SHA-256.
    pub async fn tokens(&self) -> Result<Vec<(String, [u8; 32])>, EngineError> {
        Ok(self.inner.store.tokens().await?)
    }

    /// Creates or replaces a user, on behalf of `by`.
    pub async fn put_user(&self, user: User, by: &str) -> Result<(), EngineError> {
        let audit = self
            .audit_record(by, AuditAction::UserPut, format!("user:{}", user.id))
            .with_detail(serde_json::json!({ "name": user.name, "status": user.status }));
        self.audited(audit.clone(), async {
            check_name("user", &user.id)?;
            Ok(self.inner.store.put_user(user, audit).await?)
        })
        .await
    }

    /// Creates or replaces a group, on behalf of `by`.
    pub async fn put_group(&self, group: Group, by: &str) -> Result<(), EngineError> {
        let audit = self
            .audit_record(by, AuditAction::GroupPut, format!("group:{}", group.id))
            .with_detail(serde_json::json!({ "name": group.name, "members": group.members }));
        self.audited(audit.clone(), async {
            check_name("group", &group.id)?;
            Ok(self.inner.store.put_group(group, audit).await?)
        })
        .await
    }

    /// Creates or replaces a queue, on behalf of `by`.
    pub async fn put_queue(&self, queue: Queue, by: &str) -> Result<(), EngineError> {
        let audit = self
            .audit_record(by, AuditAction::QueuePut, format!("queue:{}", queue.id))
            .with_detail(serde_json::json!({ "name": queue.name, "members": queue.members }));
        self.audited(audit.clone(), async {
            check_name("queue", &queue.id)?;
            Ok(self.inner.store.put_queue(queue, audit).await?)
        })
        .await
    }

    // ---- lifecycle -------------------------------------------------------------

    /// Stops taking commands, finishes the queued ones and waits for the
    /// executor. Flow invocations still running are abandoned; they are
    /// re-run when the engine opens again.
    pub async fn shutdown(self) {
        let handle = self
            .inner
            .executor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(self);
        if let Some(handle) = handle {
            let _ = handle.await;
        }
    }

    /// Feeds a person's `event` to a run, recorded as `trail` says (also
    /// when it is refused).
    async fn event(
        &self,
        run: &RunId,
        event: Event,
        trail: Trail,
    ) -> Result<Arc<Run>, EngineError> {
        let id = run.clone();
        let refusal = trail.audit.clone();
        let job = trail.job.clone();
        let result = self
            .request(|reply| Command::Event {
                run: id,
                event,
                reply: Some(reply),
                log: None,
                trail: Some(Box::new(trail)),
            })
            .await;
        match result {
            // The executor records every other refusal with the command.
            Err(EngineError::NotFound(missing)) => {
                let error = self.not_held(run, missing).await;
                let recorded = match refusal {
                    Some(audit) => {
                        self.record_refusal(audit, job.as_ref().map(|job| (job, run)), &error)
                            .await
                    }
                    None => true,
                };
                if !recorded && job.is_some() {
                    // The job's row is still pending: its worker tries again.
                    return Err(EngineError::Store(StoreError::unavailable(
                        format!("the refusal of run {run} could not be recorded"),
                        error,
                    )));
                }
                Err(error)
            }
            other => other,
        }
    }

    /// Why the executor does not hold `run`. It only holds unfinished runs;
    /// a finished one exists but takes no more events. An unfinished one it
    /// does not hold was set aside at start (unreadable, or its
    /// orchestration could not load).
    async fn not_held(&self, run: &RunId, missing: String) -> EngineError {
        match self.inner.store.run(run).await {
            Ok(Some(stored)) if stored.status.is_final() => {
                EngineError::Refused(stagecraft_core::EventError::RunFinished {
                    status: stored.status,
                })
            }
            Ok(Some(stored)) => EngineError::Unavailable(format!(
                "run {run} of {} v{} was set aside when the engine started \
                 ({missing}); see the server log",
                stored.orchestration, stored.version
            )),
            Ok(None) => EngineError::NotFound(missing),
            Err(error) => EngineError::Unavailable(format!(
                "run {run} was set aside when the engine started: {error}"
            )),
        }
    }

    /// Waits until every command the executor applied so far is durable.
    pub(crate) async fn settle(&self) -> Result<(), EngineError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Barrier { reply })
            .await
            .map_err(|_| EngineError::ShuttingDown)?;
        answer.await.map_err(|_| EngineError::ShuttingDown)
    }

    async fn request(
        &self,
        command: impl FnOnce(crate::executor::Reply) -> Command,
    ) -> Result<Arc<Run>, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(command(reply))
            .await
            .map_err(|_| EngineError::ShuttingDown)?;
        answer.await.map_err(|_| EngineError::ShuttingDown)?
    }
}

/// "an" autolaunched flow, "a" screen flow.
fn article(kind: FlowKind) -> &'static str {
    match kind {
        FlowKind::Autolaunched | FlowKind::Evaluation => "an",
        FlowKind::Screen => "a",
    }
}

fn check_name(what: &str, name: &str) -> Result<(), EngineError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if valid {
        Ok(())
    } else {
        Err(EngineError::BadRequest(format!(
            "invalid {what} name {name:?}: use 1 to 128 letters, digits, '_', '-', '.' or '@'"
        )))
    }
}

/// Compiles the active version of every flow (from the compile cache when
/// it is there).
async fn load_flows(
    store: &impl Store,
    runner: &Arc<dyn FlowRunner>,
    registry: &Registry,
) -> Result<(), EngineError> {
    let records = store.flows().await?;
    for record in &records {
        let why = record.quarantine.as_ref().map(|q| q.reason.clone());
        registry.set_quarantine(&record.name, record.version, why);
        let memory_bytes = record
            .memory_mib
            .map(|mib| usize::try_from(mib).unwrap_or(usize::MAX) << 20);
        registry.set_memory_limit(&record.name, record.version, memory_bytes);
    }
    for record in records.into_iter().filter(|r| r.active) {
        if registry
            .flow(&record.name)
            .is_some_and(|active| active.version == record.version)
        {
            continue;
        }
        let bytes = store
            .flow_bytes(&record.name, record.version)
            .await?
            .ok_or_else(|| {
                EngineError::NotFound(format!(
                    "bytes of flow {:?} v{}",
                    record.name, record.version
                ))
            })?;
        let kind = record.kind;
        // A component is checked against its deploy record before it is
        // compiled: one that fails (altered, or no longer loadable) is set
        // aside with the reason, and the engine serves the rest.
        let found = crate::versions::digest(&bytes);
        if found != record.digest {
            let why =
                crate::versions::mismatch(&record.name, record.version, &record.digest, &found);
            tracing::error!(flow = %record.name, version = record.version, "{why}");
            registry.set_unavailable(&record.name, record.version, kind, why);
            continue;
        }
        let runner = Arc::clone(runner);
        let loaded = tokio::task::spawn_blocking(move || runner.load(kind, &bytes))
            .await
            .map_err(|_| EngineError::ShuttingDown)?;
        match loaded {
            Ok(flow) => registry.activate_flow(
                &record.name,
                ActiveFlow {
                    version: record.version,
                    flow,
                },
            ),
            Err(source) => {
                let why = format!(
                    "flow {:?} v{} cannot be loaded: {source}",
                    record.name, record.version
                );
                tracing::error!(flow = %record.name, version = record.version, "{why}");
                registry.set_unavailable(&record.name, record.version, kind, why);
            }
        }
    }
    Ok(())
}

/// The catalog a stored orchestration version is loaded against: it was
/// validated when it was deployed, and must never become unloadable because
/// of the host's configuration since. An external action that is no longer
/// registered fails its step when it runs (a non-recoverable external action
/// error, SPEC §3), so its runs can still be listed, shown and canceled.
/// Flows are known by the kinds they were stored with, so a version that
/// cannot be loaded now does not unload the orchestrations that use it.
struct AsDeployed(HashMap<String, stagecraft_core::FlowKind>);

impl stagecraft_core::Catalog for AsDeployed {
    fn flow_kind(&self, name: &str) -> Option<stagecraft_core::FlowKind> {
        self.0.get(name).copied()
    }

    fn has_action(&self, _: &str) -> bool {
        true
    }
}

/// Rebuilds the plan of every stored orchestration version.
async fn load_orchestrations(
    store: &impl Store,
    registry: &Registry,
    limits: &Limits,
) -> Result<(), EngineError> {
    let catalog = AsDeployed(
        store
            .flows()
            .await?
            .into_iter()
            .map(|flow| (flow.name, flow.kind))
            .collect(),
    );
    for record in store.orchestrations().await? {
        let parsed: Orchestration = serde_json::from_value(record.definition).map_err(|e| {
            EngineError::DefinitionSyntax(format!(
                "stored {} v{}: {e}",
                record.name, record.version
            ))
        })?;
        match stagecraft_core::validate(&parsed, &catalog) {
            Ok(plan) => registry.add_plan(
                plan.with_version(record.version)
                    .with_limits(limits.clone()),
                record.active,
            ),
            Err(errors) => {
                tracing::error!(orchestration = %record.name, version = record.version, %errors, "stored orchestration no longer validates")
            }
        }
    }
    Ok(())
}
