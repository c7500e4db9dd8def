//! The circuit breaker per flow version: a version whose invocations keep
//! ending in a resource limit (CPU budget, memory, time) is quarantined, so
//! that a runaway deploy stops burning the node's CPU and memory on every
//! step that reaches it. Its steps then fail at once, recoverably, with a
//! failure that names the quarantine, until an operator lifts it or a fixed
//! version is deployed. The quarantine is stored with the catalog, so every
//! node honours it and it outlives restarts; the streaks that lead to one are
//! counted per node.

use stagecraft_core::FlowFailureKind;
use stagecraft_store::{AuditAction, AuditRecord, Quarantine, Store};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};

use crate::clock::Clock;
use crate::registry::Registry;

/// Who quarantines, in the audit log.
const ACTOR: &str = "stagecraft";

/// Counts each flow version's resource failures in a row.
pub(crate) struct Breaker {
    after: Option<NonZeroU32>,
    streaks: Mutex<HashMap<(String, u32), u32>>,
}

impl Breaker {
    /// Trips after `after` resource failures in a row; never with `None`.
    pub(crate) fn new(after: Option<NonZeroU32>) -> Self {
        Self {
            after,
            streaks: Mutex::default(),
        }
    }

    /// Records how an invocation of `version` of `flow` ended (`None`: it
    /// succeeded); the reason for a quarantine when this one trips it.
    pub(crate) fn record(
        &self,
        flow: &str,
        version: u32,
        failure: Option<FlowFailureKind>,
    ) -> Option<String> {
        let after = self.after?;
        let key = (flow.to_owned(), version);
        let mut streaks = self.streaks.lock().unwrap_or_else(PoisonError::into_inner);
        let kind = match failure {
            Some(
                kind @ (FlowFailureKind::CpuBudget
                | FlowFailureKind::MemoryLimit
                | FlowFailureKind::Timeout),
            ) => kind,
            _ => {
                streaks.remove(&key);
                return None;
            }
        };
        let streak = streaks.entry(key.clone()).or_default();
        *streak += 1;
        if *streak < after.get() {
            return None;
        }
        streaks.remove(&key);
        Some(match after.get() {
            1 => format!("an invocation ended in a resource limit: {kind}"),
            n => format!("{n} invocations in a row ended in a resource limit, the last in: {kind}"),
        })
    }

    /// Forgets the streak of `version` of `flow` (its quarantine was lifted).
    pub(crate) fn forget(&self, flow: &str, version: u32) {
        self.streaks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(flow.to_owned(), version));
    }
}

/// Quarantines `version` of `flow` for `reason`, in the store (audited) and
/// here.
pub(crate) async fn quarantine(
    store: &impl Store,
    registry: &Registry,
    clock: &dyn Clock,
    flow: &str,
    version: u32,
    reason: String,
) {
    let now = clock.now();
    let audit = AuditRecord::done(
        now,
        ACTOR,
        AuditAction::FlowQuarantine,
        crate::engine::audit::target::flow(flow),
    )
    .with_detail(serde_json::json!({ "version": version, "reason": reason }));
    let quarantine = Quarantine {
        reason: reason.clone(),
        since: now,
    };
    match store
        .quarantine_flow(flow, version, quarantine, audit)
        .await
    {
        Ok(_) => tracing::warn!(flow, version, %reason, "flow version quarantined"),
        // Still quarantined here; the next trip tries the store again.
        Err(error) => tracing::error!(flow, version, %error, "cannot store a flow's quarantine"),
    }
    registry.set_quarantine(flow, version, Some(reason));
}

/// The failure of a step whose flow version is quarantined.
pub(crate) fn refusal(flow: &str, version: u32, why: &str) -> stagecraft_core::FlowFailure {
    stagecraft_core::FlowFailure {
        kind: FlowFailureKind::Quarantined,
        message: format!(
            "flow {flow:?} version {version} is quarantined ({why}); lift it \
             (stagecraft flow lift-quarantine {flow} {version}) or deploy a fixed version, \
             then resume the run"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_failures_in_a_row_trip_it_and_anything_else_resets_the_streak() {
        let breaker = Breaker::new(NonZeroU32::new(3));
        let cpu = Some(FlowFailureKind::CpuBudget);
        assert_eq!(breaker.record("f", 1, cpu), None);
        assert_eq!(breaker.record("f", 1, Some(FlowFailureKind::Timeout)), None);
        // A trap is the flow's own fault, not a runaway: the streak restarts.
        assert_eq!(breaker.record("f", 1, Some(FlowFailureKind::Trap)), None);
        assert_eq!(breaker.record("f", 1, cpu), None);
        assert_eq!(breaker.record("f", 1, None), None);
        assert_eq!(breaker.record("f", 1, cpu), None);
        assert_eq!(breaker.record("f", 1, cpu), None);
        // Another version and another flow count on their own.
        assert_eq!(breaker.record("f", 2, cpu), None);
        assert_eq!(breaker.record("g", 1, cpu), None);
        let reason = breaker
            .record("f", 1, Some(FlowFailureKind::MemoryLimit))
            .expect("the third in a row trips it");
        assert!(reason.contains("3 invocations in a row"), "{reason}");
        assert!(reason.contains("memory limit exceeded"), "{reason}");
        assert_eq!(Breaker::new(None).record("f", 1, cpu), None);
    }
}
