use jiff::SignedDuration;
use stagecraft_host::SandboxLimits;
#[cfg(feature = "sqlite")]
use stagecraft_store_sqlite::{IntegrityCheck, Synchronous};
use std::path::PathBuf;

/// The default [`EngineConfig::quarantine_after`].
pub const DEFAULT_QUARANTINE_AFTER: u32 = 5;

/// How an engine is set up. [`EngineConfig::new`] gives production defaults.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Holds the compiled-component cache (`compiled/`) and, on SQLite, the
    /// database (`stagecraft.db`). Must be private to the engine.
    pub data_dir: PathBuf,
    /// Limits of each flow invocation.
    pub limits: SandboxLimits,
    /// The most memory a flow version may be given at deploy, in bytes.
    pub max_flow_memory: usize,
    /// Flow invocations (background steps, evaluations, screens) running at
    /// once; more wait for a slot.
    pub max_concurrent_flows: u32,
    /// Invocations of any one flow running at once; `None`: a quarter of
    /// [`Self::max_concurrent_flows`], so that one flow (a hostile one, or a
    /// flood of one kind of work) cannot take every slot from the others.
    pub max_concurrent_per_flow: Option<u32>,
    /// How flow invocations share the CPU (fair slices).
    pub cpu: crate::CpuShares,
    /// A flow version whose invocations end this many times in a row in a
    /// resource limit (CPU budget, memory, time) is quarantined; `None`:
    /// never.
    pub quarantine_after: Option<std::num::NonZeroU32>,
    /// External action calls running at once.
    pub max_concurrent_actions: usize,
    /// How long after an error a run may still be resumed (SPEC: 14 days).
    pub recovery_window: SignedDuration,
    /// How long finished runs, ended jobs and audit records are kept.
    pub retention: crate::Retention,
    /// SQLite: whether every commit is fsynced (`Full`, the default) or only
    /// flushed to the OS (`Normal`: survives a process crash, not power loss).
    #[cfg(feature = "sqlite")]
    pub synchronous: Synchronous,
    /// SQLite: how the database is checked when the engine opens it (quick by
    /// default); a store that fails is refused.
    #[cfg(feature = "sqlite")]
    pub integrity_check: IntegrityCheck,
}

impl EngineConfig {
    /// Defaults, with data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            limits: SandboxLimits::default(),
            max_flow_memory: stagecraft_host::DEFAULT_MAX_MEMORY,
            max_concurrent_flows: 64,
            max_concurrent_per_flow: None,
            cpu: crate::CpuShares::default(),
            quarantine_after: std::num::NonZeroU32::new(DEFAULT_QUARANTINE_AFTER),
            max_concurrent_actions: 64,
            recovery_window: stagecraft_core::limits::DEFAULT_RECOVERY_WINDOW,
            retention: crate::Retention::default(),
            #[cfg(feature = "sqlite")]
            synchronous: Synchronous::Full,
            #[cfg(feature = "sqlite")]
            integrity_check: IntegrityCheck::Quick,
        }
    }
}

impl EngineConfig {
    /// The per-flow cap in force.
    pub(crate) fn flow_share(&self) -> usize {
        let share = self
            .max_concurrent_per_flow
            .unwrap_or(self.max_concurrent_flows / 4)
            .clamp(1, self.max_concurrent_flows.max(1));
        usize::try_from(share).unwrap_or(usize::MAX)
    }
}
