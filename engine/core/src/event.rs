//! Events the engine feeds to a run: results of the actions it performed, and manual actions.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::run::{EvalRequestId, Principal, StepKey, WorkItemId};

/// Something that happened to a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A background step's flow finished ([`crate::Action::RunFlow`]).
    FlowFinished {
        /// The step, as in the action.
        step: StepKey,
        /// The attempt, as in the action.
        attempt: u32,
        /// The flow version the engine ran.
        flow_version: u32,
        /// The flow's outputs or its failure.
        result: Result<Value, FlowFailure>,
    },
    /// An evaluation flow finished ([`crate::Action::Evaluate`]).
    EvaluationFinished {
        /// The request, as in the action.
        request: EvalRequestId,
        /// "Condition met", or the flow's failure.
        result: Result<bool, FlowFailure>,
    },
    /// An external action finished ([`crate::Action::CallAction`]).
    ActionFinished {
        /// The step, as in the action.
        step: StepKey,
        /// The attempt, as in the action.
        attempt: u32,
        /// The action's outputs or its error message.
        result: Result<Value, String>,
    },
    /// Someone completed a work item's screen flow.
    WorkItemCompleted {
        /// The work item.
        work_item: WorkItemId,
        /// Who completed it, with their memberships.
        by: Actor,
        /// The answers they submitted, kept on the work item so that a fix
        /// of the screen flow can be dry-run against them.
        #[serde(default)]
        answers: Value,
        /// The screen flow's outputs or its failure.
        result: Result<Value, FlowFailure>,
    },
    /// The engine found a work item's assignee unusable.
    AssigneeUnavailable {
        /// The work item.
        work_item: WorkItemId,
        /// Why.
        reason: Unavailability,
    },
    /// An orchestration event was published to the run: conditions are re-evaluated.
    EventPublished {
        /// The event name (informational).
        name: String,
    },
    /// A user suspends the run.
    Suspend {
        /// The user.
        by: String,
    },
    /// A user resumes the run.
    Resume {
        /// The user.
        by: String,
    },
    /// A user cancels the run.
    Cancel {
        /// The user.
        by: String,
    },
}

/// A user acting on a work item, with the groups and queues they belong to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Actor {
    /// The user id.
    pub user: String,
    /// Groups the user is a member of.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Queues the user is a member of.
    #[serde(default)]
    pub queues: Vec<String>,
}

impl Actor {
    /// Every principal whose work this user may take: themselves, their
    /// groups and their queues.
    pub fn principals(&self) -> Vec<Principal> {
        std::iter::once(Principal::User(self.user.clone()))
            .chain(self.groups.iter().cloned().map(Principal::Group))
            .chain(self.queues.iter().cloned().map(Principal::Queue))
            .collect()
    }

    /// Whether this user may see and complete work assigned to `assignee`:
    /// it is them, or a group or queue of theirs.
    pub fn may_work_on(&self, assignee: &Principal) -> bool {
        match assignee {
            Principal::User(user) => &self.user == user,
            Principal::Group(group) => self.groups.contains(group),
            Principal::Queue(queue) => self.queues.contains(queue),
        }
    }
}

/// Why a flow invocation failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowFailure {
    /// The kind of failure.
    pub kind: FlowFailureKind,
    /// Details for people.
    pub message: String,
}

/// Kinds of flow failure; all are recoverable errors of the step (or stage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowFailureKind {
    /// The component trapped (panic, unreachable, stack overflow).
    Trap,
    /// It exhausted its CPU budget.
    CpuBudget,
    /// It exceeded its memory limit.
    MemoryLimit,
    /// It ran out of wall-clock time.
    Timeout,
    /// It returned an error result.
    FlowError,
    /// Its output could not be decoded.
    BadOutput,
    /// Its version is quarantined (its invocations kept ending in a
    /// resource limit), so it was not run.
    Quarantined,
}

/// Why an assignee cannot receive work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unavailability {
    /// A frozen user (recoverable).
    Frozen,
    /// An inactive user (recoverable).
    Inactive,
    /// No such user, group or queue (fatal: misconfigured).
    Unresolvable,
}

/// In a person's words: "trap", "CPU budget exhausted"…
impl std::fmt::Display for FlowFailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Trap => "trap",
            Self::CpuBudget => "CPU budget exhausted",
            Self::MemoryLimit => "memory limit exceeded",
            Self::Timeout => "timeout",
            Self::FlowError => "error result",
            Self::BadOutput => "undecodable output",
            Self::Quarantined => "quarantined",
        })
    }
}

/// "frozen", "inactive", "unresolvable".
impl std::fmt::Display for Unavailability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Frozen => "frozen",
            Self::Inactive => "inactive",
            Self::Unresolvable => "unresolvable",
        })
    }
}
