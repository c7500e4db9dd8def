use stagecraft_core::FlowFailureKind;
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
    /// Its kind in the engine's one taxonomy of flow failures, which runs
    /// record, the API answers and `flow test` prints: an instance that
    /// cannot start is a trap.
    pub fn kind(&self) -> FlowFailureKind {
        match self {
            FlowFailure::Trap { .. } | FlowFailure::Instantiation { .. } => FlowFailureKind::Trap,
            FlowFailure::CpuBudgetExhausted { .. } => FlowFailureKind::CpuBudget,
            FlowFailure::MemoryLimit { .. } => FlowFailureKind::MemoryLimit,
            FlowFailure::Timeout { .. } => FlowFailureKind::Timeout,
            FlowFailure::FlowError { .. } => FlowFailureKind::FlowError,
            FlowFailure::BadOutput { .. } => FlowFailureKind::BadOutput,
        }
    }
}

/// The failure as the state machine records it: its kind and its message.
impl From<FlowFailure> for stagecraft_core::FlowFailure {
    fn from(failure: FlowFailure) -> Self {
        Self {
            kind: failure.kind(),
            message: failure.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One name for one failure: an instance that cannot start is recorded,
    /// answered and printed as a trap, as a run records it.
    #[test]
    fn every_host_failure_has_its_kind_in_the_one_taxonomy() {
        let instantiation = FlowFailure::Instantiation {
            reason: "its start function trapped".to_owned(),
        };
        assert_eq!(instantiation.kind(), FlowFailureKind::Trap);
        let recorded =
            stagecraft_core::FlowFailure::from(FlowFailure::CpuBudgetExhausted { budget: 10 });
        assert_eq!(recorded.kind, FlowFailureKind::CpuBudget);
        assert!(
            recorded.message.contains("10 fuel units"),
            "{}",
            recorded.message
        );
        assert_eq!(
            serde_json::to_value(instantiation.kind()).ok(),
            Some("trap".into())
        );
    }
}
