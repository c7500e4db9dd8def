//! Fair sharing of the flow invocation slots: each flow may hold at most a
//! share of them at once, so that one flow's invocations (a hostile or
//! runaway flow, or just a flood of one kind of work) cannot take every
//! slot while other flows' steps wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Per-flow caps on invocations running at once.
pub(crate) struct FlowShares {
    cap: usize,
    flows: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl FlowShares {
    /// At most `cap` invocations of any one flow at once (at least 1).
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            flows: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for one of `flow`'s shares; held until the permit is dropped.
    /// `None` only if the engine is shutting down.
    pub(crate) async fn acquire(&self, flow: &str) -> Option<OwnedSemaphorePermit> {
        let semaphore = {
            let mut flows = self.flows.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(
                flows
                    .entry(flow.to_owned())
                    .or_insert_with(|| Arc::new(Semaphore::new(self.cap))),
            )
        };
        semaphore.acquire_owned().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_flow_cannot_take_more_than_its_share() {
        let shares = FlowShares::new(2);
        let a1 = shares.acquire("a").await;
        let a2 = shares.acquire("a").await;
        assert!(a1.is_some() && a2.is_some());
        // A third invocation of `a` waits; `b` does not.
        let third = tokio::time::timeout(std::time::Duration::ZERO, shares.acquire("a")).await;
        assert!(third.is_err(), "a third invocation of a must wait");
        assert!(shares.acquire("b").await.is_some());
        drop(a1);
        assert!(shares.acquire("a").await.is_some());
    }
}
