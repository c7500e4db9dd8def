//! Actions: side effects the engine performs after committing a transition.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::run::{EvalRequestId, EvalTarget, Principal, StepKey, WorkItemId};

/// A side effect requested by a transition; its result comes back as an [`crate::Event`]
/// quoting the step and attempt (or request id), so stale and duplicate results are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Run the flow's version active now; answer with [`crate::Event::FlowFinished`].
    RunFlow {
        /// The step.
        step: StepKey,
        /// The attempt to quote back.
        attempt: u32,
        /// The autolaunched flow.
        flow: String,
        /// Its inputs (an object).
        inputs: Value,
    },
    /// Run an evaluation flow; answer with [`crate::Event::EvaluationFinished`].
    Evaluate {
        /// The request id to quote back.
        request: EvalRequestId,
        /// The condition it decides.
        target: EvalTarget,
        /// The evaluation flow.
        flow: String,
        /// Its inputs (an object).
        inputs: Value,
    },
    /// Create a work item; answer with [`crate::Event::WorkItemCompleted`] or
    /// [`crate::Event::AssigneeUnavailable`].
    CreateWorkItem {
        /// Its id.
        work_item: WorkItemId,
        /// The interactive step.
        step: StepKey,
        /// Who may complete it.
        assignee: Principal,
        /// The screen flow to present.
        screen_flow: String,
        /// The screen flow's inputs (an object).
        inputs: Value,
    },
    /// Withdraw a work item that is no longer wanted.
    CloseWorkItem {
        /// Its id.
        work_item: WorkItemId,
    },
    /// Call an external action; answer with [`crate::Event::ActionFinished`].
    CallAction {
        /// The step.
        step: StepKey,
        /// The attempt to quote back.
        attempt: u32,
        /// The action.
        action: String,
        /// Its inputs (an object).
        inputs: Value,
    },
}
