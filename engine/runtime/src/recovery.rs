//! Picking up unfinished runs from the store: at startup, and when the
//! executor reloads after a failed commit. The same code for both, so that
//! what a restart does and what a reload does cannot drift apart.
//!
//! Only the runs with work in flight are kept in memory; the others wait in
//! the store until a command comes for them.

use std::collections::HashMap;
use std::sync::Arc;

use stagecraft_core::Action;
use stagecraft_core::run::{Run, RunId};
use stagecraft_store::{Store, StoreResult};

use crate::dispatch::Dispatcher;
use crate::registry::Registry;

/// What [`recover`] found.
#[derive(Default)]
pub(crate) struct Recovered {
    /// Runs with work in flight, held in memory.
    pub(crate) held: HashMap<RunId, Arc<Run>>,
    /// Runs with nothing in flight (to release, on a store shared by
    /// several nodes).
    pub(crate) let_go: Vec<RunId>,
    /// Runs whose orchestration version this node does not know yet: kept
    /// (owned, not released) until the catalog is read again.
    pub(crate) parked: HashMap<RunId, Arc<Run>>,
}

/// Reads every unfinished run and performs its in-flight work again (flows
/// run at least once; the state machine records each result once). A run
/// whose record cannot be read is logged and set aside; one whose
/// orchestration version is not known here is parked; the others go on.
pub(crate) async fn recover<S: Store>(
    store: &S,
    registry: &Registry,
    dispatcher: &Dispatcher<S>,
) -> StoreResult<Recovered> {
    let unfinished = store.unfinished_runs().await?;
    for (id, error) in &unfinished.unreadable {
        tracing::error!(run = %id, error = %error.report(), "run set aside: its stored record cannot be read; the other runs go on");
    }
    let mut recovered = Recovered::default();
    for run in unfinished.runs {
        let Some(plan) = registry.plan(&run.orchestration, run.version) else {
            tracing::warn!(
                run = %run.id,
                "orchestration {} v{} is not known here; the run waits for the catalog to be read again",
                run.orchestration,
                run.version
            );
            recovered.parked.insert(run.id.clone(), Arc::new(run));
            continue;
        };
        let actions = stagecraft_core::outstanding_actions(&run, &plan);
        if actions.is_empty() {
            recovered.let_go.push(run.id);
            continue;
        }
        tracing::debug!(run = %run.id, actions = actions.len(), "resuming in-flight work");
        let held = actions.iter().any(keeps_held);
        let run = Arc::new(run);
        dispatcher.perform(&run, actions);
        if held {
            recovered.held.insert(run.id.clone(), run);
        } else {
            recovered.let_go.push(run.id.clone());
        }
    }
    Ok(recovered)
}

/// Whether a run whose `action` is under way stays in memory: a flow, an
/// evaluation or an external action answers soon, with the run's next
/// transition. A work item's assignee check does not hold it: it answers
/// only when the assignee cannot take the item, and that answer reads the
/// run back like any command for a run not held.
pub(crate) fn keeps_held(action: &Action) -> bool {
    match action {
        Action::RunFlow { .. } | Action::Evaluate { .. } | Action::CallAction { .. } => true,
        Action::CreateWorkItem { .. } | Action::CloseWorkItem { .. } => false,
    }
}
