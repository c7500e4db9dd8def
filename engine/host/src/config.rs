use std::path::PathBuf;
use std::time::Duration;

/// Bounds on one flow invocation. Every invocation gets the full budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxLimits {
    /// CPU budget in fuel units (about one per WebAssembly instruction).
    /// Deterministic: the same flow on the same inputs stops at the same point.
    pub fuel: u64,
    /// Total linear memory and table space, in bytes, across the instance.
    pub memory_bytes: usize,
    /// Wall-clock deadline, for time a flow spends blocked in host calls
    /// (sleeping, for instance) where fuel does not burn.
    pub timeout: Duration,
    /// Bytes of stdout, stderr and log records kept per invocation; output
    /// past this is dropped and the log says so.
    pub max_log_bytes: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            fuel: 2_000_000_000,
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(30),
            max_log_bytes: 64 << 10,
        }
    }
}

/// The default [`HostConfig::slice`]: a waiting invocation of an ordinary
/// flow starts within about a millisecond even when runaway flows fill
/// every CPU.
pub const DEFAULT_SLICE: Duration = Duration::from_millis(1);

/// The default [`HostConfig::max_memory_bytes`]: 1 GiB.
pub const DEFAULT_MAX_MEMORY: usize = 1 << 30;

/// How the host is set up.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Limits applied to each invocation.
    pub limits: SandboxLimits,
    /// Invocations that may run at once; further calls wait for a slot. Also
    /// sizes the pooling allocator, so memory is reserved up front.
    pub max_concurrent_invocations: u32,
    /// Where compiled components are cached, so a restart does not recompile
    /// them. `None` disables the cache. The directory must be private to the
    /// host: its contents are loaded as native code.
    pub cache_dir: Option<PathBuf>,
    /// The most memory a flow version may be given (its own limit, set at
    /// deploy, above [`SandboxLimits::memory_bytes`]); sizes the instance
    /// pool's memories.
    pub max_memory_bytes: usize,
    /// How long a flow runs before it yields, so that the invocations that
    /// wait can be scheduled fairly (and timers fire). Shorter slices mean
    /// fairer sharing at a little more switching.
    pub slice: Duration,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            limits: SandboxLimits::default(),
            max_concurrent_invocations: 64,
            cache_dir: None,
            max_memory_bytes: DEFAULT_MAX_MEMORY,
            slice: DEFAULT_SLICE,
        }
    }
}
