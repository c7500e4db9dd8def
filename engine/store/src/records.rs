//! The records the store keeps besides runs.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use stagecraft_core::FlowKind;
use stagecraft_core::run::{Principal, RunId, RunStatus, StepKey, WorkItem};

/// A flow version to store.
#[derive(Debug, Clone)]
pub struct NewFlow {
    /// The flow's name, as orchestrations reference it.
    pub name: String,
    /// Its kind (it was validated as one by the host).
    pub kind: FlowKind,
    /// The component bytes.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`, hex.
    pub digest: String,
    /// Who deployed it.
    pub deployed_by: String,
    /// When.
    pub deployed_at: Timestamp,
    /// Its own memory limit in MiB, if not the server's default.
    pub memory_mib: Option<u32>,
}

/// A stored flow version (without its bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRecord {
    /// Flow name.
    pub name: String,
    /// Version, from 1.
    pub version: u32,
    /// Kind.
    pub kind: FlowKind,
    /// SHA-256 of the component bytes, hex.
    pub digest: String,
    /// Size of the component in bytes.
    pub size: u64,
    /// Who deployed it.
    pub deployed_by: String,
    /// When.
    #[serde(with = "stagecraft_core::time::fixed")]
    pub deployed_at: Timestamp,
    /// Whether this is the version new steps use.
    pub active: bool,
    /// Its own memory limit in MiB, if not the server's default.
    pub memory_mib: Option<u32>,
    /// Set while the version is quarantined: its steps fail at once.
    pub quarantine: Option<Quarantine>,
}

/// Why and since when a flow version is quarantined: its invocations kept
/// ending in a resource limit (CPU budget, memory, time), so its steps fail
/// at once, recoverably, until an operator lifts it or a fixed version is
/// deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantine {
    /// In an operator's words.
    pub reason: String,
    /// When it began.
    #[serde(with = "stagecraft_core::time::fixed")]
    pub since: Timestamp,
}

/// An orchestration version to store; the definition was validated.
#[derive(Debug, Clone)]
pub struct NewOrchestration {
    /// Orchestration name (the definition's `name`).
    pub name: String,
    /// The definition as deployed (JSON).
    pub definition: serde_json::Value,
    /// Who deployed it.
    pub deployed_by: String,
    /// When.
    pub deployed_at: Timestamp,
}

/// A stored orchestration version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrchestrationRecord {
    /// Name.
    pub name: String,
    /// Version, from 1.
    pub version: u32,
    /// The definition as deployed.
    pub definition: serde_json::Value,
    /// Who deployed it.
    pub deployed_by: String,
    /// When.
    #[serde(with = "stagecraft_core::time::fixed")]
    pub deployed_at: Timestamp,
    /// Whether new runs use this version.
    pub active: bool,
}

/// Which runs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// Only runs of this orchestration.
    pub orchestration: Option<String>,
    /// Only runs of this version of the orchestration.
    pub version: Option<u32>,
    /// Only live runs whose stage in progress (or in error, or suspended in)
    /// is this one.
    pub stage: Option<String>,
    /// Only runs started at or after this time.
    pub started_after: Option<Timestamp>,
    /// Only runs started before this time.
    pub started_before: Option<Timestamp>,
    /// Only runs listed after this one (started earlier, or at the same
    /// time with a smaller id): the next page.
    pub after: Option<(Timestamp, RunId)>,
    /// At most this many (the backend may cap it).
    pub limit: Option<u32>,
}

/// A run in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Run id.
    pub id: RunId,
    /// Orchestration name.
    pub orchestration: String,
    /// Orchestration version the run is pinned to.
    pub version: u32,
    /// Status.
    pub status: RunStatus,
    /// When the run started.
    #[serde(with = "stagecraft_core::time::fixed")]
    pub started_at: Timestamp,
    /// When its state last changed.
    #[serde(with = "stagecraft_core::time::fixed")]
    pub updated_at: Timestamp,
}

/// Which work items to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkItemFilter {
    /// Only items assigned to one of these principals (empty: any).
    pub assignees: Vec<Principal>,
    /// Only Assigned (open) items.
    pub open_only: bool,
    /// Only items of this run.
    pub run: Option<RunId>,
}

/// A work item with the run it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkItemRecord {
    /// The run.
    pub run: RunId,
    /// The item, as in the run's state.
    pub item: WorkItem,
}

/// Whether a user can be assigned work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Can be assigned work.
    Active,
    /// Temporarily blocked: assignment is a recoverable error.
    Frozen,
    /// Deactivated: assignment is a recoverable error.
    Inactive,
}

/// A person who completes work items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Status.
    pub status: UserStatus,
}

/// A set of users sharing work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Group id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// User ids.
    pub members: Vec<String>,
}

/// A queue of work picked up by its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queue {
    /// Queue id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// User ids.
    pub members: Vec<String>,
}

/// The groups and queues a user belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memberships {
    /// Group ids.
    pub groups: Vec<String>,
    /// Queue ids.
    pub queues: Vec<String>,
}

impl Memberships {
    /// `user` acting with these memberships.
    pub fn of(self, user: impl Into<String>) -> stagecraft_core::Actor {
        stagecraft_core::Actor {
            user: user.into(),
            groups: self.groups,
            queues: self.queues,
        }
    }
}

/// What one flow invocation of a step printed and logged (SPEC §6: a flow's
/// stdout and stderr go to its step's log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepLog {
    /// The run.
    pub run: RunId,
    /// The step run.
    pub step: StepKey,
    /// The attempt (restarts on resume count up).
    pub attempt: u32,
    /// The flow version that ran.
    pub flow_version: u32,
    /// When the invocation finished.
    #[serde(with = "stagecraft_core::time::fixed")]
    pub recorded_at: Timestamp,
    /// The lines, in order.
    pub lines: Vec<StepLogLine>,
}

/// One line of a step log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepLogLine {
    /// `stdout`, `stderr`, `host`, or the level of a structured record
    /// (`info`, `warn`...).
    pub stream: String,
    /// The text.
    pub message: String,
}

/// An idempotency key of `POST /runs`, held for the run its first request
/// started, so that a client's retry gets that run instead of a second one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartKey {
    /// Who sent it: keys are per caller.
    pub caller: String,
    /// The key the client chose.
    pub key: String,
    /// SHA-256 of the request it came with (orchestration and inputs), hex:
    /// the same key with another request is refused.
    pub request: String,
    /// The run it started (or is starting).
    pub run: RunId,
    /// When it was first held.
    #[serde(with = "stagecraft_core::time::fixed")]
    pub at: Timestamp,
}
