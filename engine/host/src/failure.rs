use std::time::Duration;
use thiserror::Error;

/// Why a flow invocation failed. Every variant is the flow's own failure:
/// the host and other invocations are unaffected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FlowFailure {
    /// The flow trapped: a panic, `unreachable`, a stack overflow, an
    /// out-of-bounds access.
    #[error("flow trapped: {message}")]
    Trap {
        /// The trap and the guest backtrace.
        message: String,
    },
    /// The flow used up its CPU budget.
    #[error("flow exhausted its CPU budget of {budget} fuel units")]
    CpuBudgetExhausted {
        /// The budget it was given.
        budget: u64,
    },
    /// The flow tried to grow its memory past the limit.
    #[error("flow exceeded its memory limit of {limit_bytes} bytes")]
    MemoryLimit {
        /// The limit it was given.
        limit_bytes: usize,
    },
    /// The flow was still running at its wall-clock deadline.
    #[error("flow did not finish within {timeout:?}")]
    Timeout {
        /// The deadline it was given.
        timeout: Duration,
    },
    /// The flow returned an error on purpose.
    #[error("flow returned an error: {code}: {message}")]
    FlowError {
        /// The flow's error code.
        code: String,
        /// The flow's message.
        message: String,
    },
    /// The flow returned outputs that are not what its kind promises.
    #[error("flow outputs do not decode: {reason}")]
    BadOutput {
        /// What is wrong with them.
        reason: String,
    },
    /// The flow could not be instantiated (e.g. its start function failed).
    #[error("flow could not be instantiated: {reason}")]
    Instantiation {
        /// Why.
        reason: String,
    },
}

impl FlowFailure {
    /// A short stable name for the kind of failure, for storage and APIs.
    pub fn kind(&self) -> &'static str {
        match self {
            FlowFailure::Trap { .. } => "trap",
            FlowFailure::CpuBudgetExhausted { .. } => "cpu_budget",
            FlowFailure::MemoryLimit { .. } => "memory_limit",
            FlowFailure::Timeout { .. } => "timeout",
            FlowFailure::FlowError { .. } => "flow_error",
            FlowFailure::BadOutput { .. } => "bad_output",
            FlowFailure::Instantiation { .. } => "instantiation",
        }
    }
}
