//! Work items: what an interactive step asks of its assignee.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::StepKey;

/// Identifies a work item: `<run id>/wi-<n>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkItemId(pub String);

impl std::fmt::Display for WorkItemId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user, group or queue a work item is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Principal {
    /// One user.
    User(String),
    /// Any member of a group.
    Group(String),
    /// Any member of a queue.
    Queue(String),
}

/// Status of a work item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkItemStatus {
    /// Waiting for its assignee.
    Assigned,
    /// Done: completed by its assignee or closed by the system.
    Completed,
}

/// Who closed a work item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Closure {
    /// The assignee (or a member) completed the screen flow.
    User {
        /// The user.
        user: String,
    },
    /// The engine closed it.
    System {
        /// Why, e.g. "stage completed".
        reason: String,
    },
}

/// A work item of an interactive step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkItem {
    /// Its id.
    pub id: WorkItemId,
    /// The step it belongs to.
    pub step: StepKey,
    /// The step attempt that created it.
    pub attempt: u32,
    /// Who may complete it.
    pub assignee: Principal,
    /// The screen flow to complete.
    pub screen_flow: String,
    /// Its status.
    pub status: WorkItemStatus,
    /// When it was created.
    #[serde(with = "crate::time::fixed")]
    pub created_at: Timestamp,
    /// When it was closed.
    #[serde(
        with = "crate::time::fixed_option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub closed_at: Option<Timestamp>,
    /// Who closed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<Closure>,
    /// The work item this one replaces (created on resume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement_of: Option<WorkItemId>,
    /// The answers it was completed with (left out when nested deeper than
    /// a run may hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<serde_json::Value>,
}

/// "user ada", "group underwriters", "queue intake".
impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User(id) => write!(f, "user {id}"),
            Self::Group(id) => write!(f, "group {id}"),
            Self::Queue(id) => write!(f, "queue {id}"),
        }
    }
}
