//! Building and starting an engine: its data directory, its store, its
//! flow host, the catalog it loads and the tasks it runs.

use super::catalog::{load_flows, load_orchestrations};
use super::{Engine, Inner, QUEUE_DEPTH};
use crate::action::ExternalAction;
use crate::clock::{Clock, SystemClock};
use crate::config::EngineConfig;
use crate::dispatch::Dispatcher;
use crate::error::EngineError;
use crate::executor::Executor;
use crate::fairness::FlowShares;
use crate::quarantine::Breaker;
use crate::registry::Registry;
use crate::runner::FlowRunner;
use crate::slices::Slices;
use crate::watch::Watchers;
use stagecraft_core::Limits;
use stagecraft_host::{FlowHost, HostConfig};
use stagecraft_store::Store;
#[cfg(feature = "sqlite")]
use stagecraft_store_sqlite::{SqliteConfig, SqliteStore};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Semaphore, broadcast, mpsc};

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
                flow_versions_kept: std::sync::Mutex::default(),
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
}
