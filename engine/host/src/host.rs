//! The host: one wasmtime engine and linker, shared by every flow.

use crate::bindings::{autolaunched, evaluation, log, screen};
use crate::config::{HostConfig, SandboxLimits};
use crate::failure::FlowFailure;
use crate::flow::{Flow, FlowKind, FlowPre, Stage};
use crate::invocation::Invocation;
use crate::load::{self, LoadError};
use crate::sandbox::FlowState;
use crate::slice::{Ticker, end_of_slice};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Instant;
use thiserror::Error;
use tokio::sync::Semaphore;
use tokio::time::error::Elapsed;
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Cache, CacheConfig, Config, Enabled, Engine, InstanceAllocationStrategy,
    PoolingAllocationConfig, Store, Trap, UpdateDeadline, WasmBacktrace,
};

/// The host could not be set up.
#[derive(Debug, Error)]
pub enum HostError {
    /// The configuration is unusable.
    #[error("invalid host configuration: {0}")]
    Config(String),
    /// wasmtime refused the engine or cache setup.
    #[error("cannot start the WebAssembly engine: {0}")]
    Engine(String),
}

/// Runs flows. Create one per process and share it: it owns the compiler,
/// the instance pool and the concurrency limit.
#[derive(Clone)]
pub struct FlowHost {
    inner: Arc<HostInner>,
}

/// The compile cache's size past which its least recently used files go.
const CACHE_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// The compile cache's file count past which its least recently used go.
const CACHE_MAX_FILES: u64 = 4096;

pub(crate) struct HostInner {
    engine: Engine,
    linker: Linker<FlowState>,
    pub(crate) limits: SandboxLimits,
    pub(crate) max_memory_bytes: usize,
    pub(crate) permits: Semaphore,
    /// Ends each running invocation's slice.
    pub(crate) ticker: Ticker,
}

impl FlowHost {
    /// Sets up the engine, the instance pool and the sandbox's imports.
    pub fn new(config: HostConfig) -> Result<Self, HostError> {
        let HostConfig {
            limits,
            max_concurrent_invocations: slots,
            cache_dir,
            max_memory_bytes,
            slice,
        } = config;
        if slots == 0 {
            return Err(HostError::Config(
                "max_concurrent_invocations must be at least 1".into(),
            ));
        }
        if max_memory_bytes < limits.memory_bytes {
            return Err(HostError::Config(format!(
                "the most memory a flow may be given ({} MiB) is below the default limit ({} MiB)",
                max_memory_bytes >> 20,
                limits.memory_bytes >> 20
            )));
        }
        if slice.is_zero() {
            return Err(HostError::Config("the slice must be positive".into()));
        }
        if limits.fuel == 0 || limits.memory_bytes == 0 || limits.timeout.is_zero() {
            return Err(HostError::Config(
                "fuel, memory_bytes and timeout must all be positive".into(),
            ));
        }
        let engine_error = |e: wasmtime::Error| HostError::Engine(format!("{e:#}"));

        let mut config = Config::new();
        // Fuel bounds an invocation's CPU deterministically; the epoch ends its
        // slices.
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true);
        if let Some(dir) = cache_dir {
            // wasmtime wants an absolute cache directory; callers may give a relative one.
            let dir = std::path::absolute(&dir).map_err(|e| {
                HostError::Config(format!("cache directory {}: {e}", dir.display()))
            })?;
            let mut cache = CacheConfig::new();
            // Bounded: wasmtime's cache worker removes the least recently
            // used files past these, so the code of flow versions retention
            // removed (or no longer used) leaves the disk too.
            cache
                .with_directory(dir)
                .with_files_total_size_soft_limit(CACHE_MAX_BYTES)
                .with_file_count_soft_limit(CACHE_MAX_FILES);
            config.cache(Some(Cache::new(cache).map_err(engine_error)?));
        }
        // Instances come from a pool sized for `slots` concurrent invocations:
        // instantiation is a few slot assignments plus copy-on-write memory.
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_core_instances(slots.saturating_mul(16))
            .total_memories(slots.saturating_mul(4))
            .total_tables(slots.saturating_mul(16))
            .total_stacks(slots)
            .max_memory_size(max_memory_bytes)
            // Keep a slot's first pages mapped between invocations and reset
            // only the dirty ones (PAGEMAP_SCAN where the kernel has it):
            // page faults and madvise otherwise dominate a short call.
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(2 << 20)
            .async_stack_keep_resident(2 << 20)
            .pagemap_scan(Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(engine_error)?;

        let ticker = Ticker::start(&engine, slice)
            .map_err(|e| HostError::Engine(format!("cannot start the slice ticker: {e}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
        log::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |state| state)
            .map_err(engine_error)?;

        Ok(Self {
            inner: Arc::new(HostInner {
                engine,
                linker,
                permits: Semaphore::new(slots as usize),
                limits,
                max_memory_bytes,
                ticker,
            }),
        })
    }

    /// Ends the slice of every invocation running now: each yields at its
    /// next loop or call, within microseconds.
    pub fn end_slices(&self) {
        self.inner.engine.increment_epoch();
    }

    /// The most memory a flow version may be given at deploy.
    pub fn max_memory_bytes(&self) -> usize {
        self.inner.max_memory_bytes
    }

    /// The limits every invocation runs under.
    pub fn limits(&self) -> &SandboxLimits {
        &self.inner.limits
    }

    /// [`FlowHost::load`] of the component in the file at `path`.
    pub fn load_file(&self, kind: FlowKind, path: &std::path::Path) -> Result<Flow, LoadError> {
        let bytes = std::fs::read(path).map_err(|e| LoadError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        self.load(kind, &bytes)
    }

    /// Validates, compiles and pre-instantiates a component as a flow of
    /// `kind`. Compilation is CPU-heavy: call it from a blocking context
    /// (`tokio::task::spawn_blocking`) in async code.
    pub fn load(&self, kind: FlowKind, bytes: &[u8]) -> Result<Flow, LoadError> {
        load::check_header(bytes)?;
        let inner = &self.inner;
        let component = Component::new(&inner.engine, bytes).map_err(|e| LoadError::Invalid {
            reason: format!("{e:#}"),
        })?;
        load::check_exports(&inner.engine, &component, kind)?;
        let instance_pre =
            inner
                .linker
                .instantiate_pre(&component)
                .map_err(|e| LoadError::UnsupportedImport {
                    reason: format!("{e:#}"),
                })?;
        let incompatible = |e: wasmtime::Error| LoadError::Incompatible {
            expected: kind,
            reason: format!("{e:#}"),
        };
        let pre = match kind {
            FlowKind::Autolaunched => FlowPre::Autolaunched(
                autolaunched::AutolaunchedFlowPre::new(instance_pre).map_err(incompatible)?,
            ),
            FlowKind::Evaluation => FlowPre::Evaluation(
                evaluation::EvaluationFlowPre::new(instance_pre).map_err(incompatible)?,
            ),
            FlowKind::Screen => {
                FlowPre::Screen(screen::ScreenFlowPre::new(instance_pre).map_err(incompatible)?)
            }
        };
        Ok(Flow {
            host: Arc::clone(&self.inner),
            pre: Arc::new(pre),
            digest: hex::encode(Sha256::digest(bytes)).into(),
            memory_bytes: None,
        })
    }
}

impl HostInner {
    /// A store for one invocation, with its full budget and `memory_bytes`
    /// of memory.
    pub(crate) fn new_store(&self, memory_bytes: usize) -> Store<FlowState> {
        let mut store = Store::new(&self.engine, FlowState::new(&self.limits, memory_bytes));
        store.limiter(|state| &mut state.limiter);
        // Fuel is enabled on the engine, so neither call can fail.
        let _ = store.set_fuel(self.limits.fuel);
        // At the end of each slice, yield; then run to the end of the next.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| {
            Ok(UpdateDeadline::YieldCustom(1, Box::pin(end_of_slice())))
        });
        store
    }

    /// Turns the raw result of an invocation into an [`Invocation`].
    pub(crate) fn finish<R, T>(
        &self,
        mut store: Store<FlowState>,
        started: Instant,
        result: Result<Result<R, Stage>, Elapsed>,
        decode: impl FnOnce(R) -> Result<T, FlowFailure>,
    ) -> Invocation<T> {
        let elapsed = started.elapsed();
        let fuel_left = store.get_fuel().unwrap_or(0);
        let outcome = match result {
            Err(_) => Err(FlowFailure::Timeout {
                timeout: self.limits.timeout,
            }),
            Ok(Ok(raw)) => decode(raw),
            Ok(Err(stage)) => Err(self.classify(stage, &store)),
        };
        Invocation {
            outcome,
            log: store.data_mut().take_log(),
            fuel_consumed: self.limits.fuel.saturating_sub(fuel_left),
            memory_bytes: store.data().limiter.used,
            elapsed,
        }
    }

    fn classify(&self, stage: Stage, store: &Store<FlowState>) -> FlowFailure {
        let (error, instantiating) = match stage {
            Stage::Instantiate(error) => (error, true),
            Stage::Call(error) => (error, false),
        };
        if store.data().limiter.exceeded {
            return FlowFailure::MemoryLimit {
                limit_bytes: store.data().limiter.limit,
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => FlowFailure::CpuBudgetExhausted {
                budget: self.limits.fuel,
            },
            Some(trap) => FlowFailure::Trap {
                // The trap first, then where it happened in the guest.
                message: match error.downcast_ref::<WasmBacktrace>() {
                    Some(backtrace) => format!("{trap}\n{backtrace}"),
                    None => trap.to_string(),
                },
            },
            None if instantiating => FlowFailure::Instantiation {
                reason: format!("{error:#}"),
            },
            None => FlowFailure::Trap {
                message: format!("{error:#}"),
            },
        }
    }
}
