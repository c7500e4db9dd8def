//! The requests and answers of Stagecraft's HTTP API (`openapi.json`), as
//! the server reads and writes them and its clients (the `stagecraft`
//! command line among them) send and read them. Records the engine stores
//! (runs, flow versions, work items, jobs, audit entries) are answered as
//! they are; these are the shapes the API adds around them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use stagecraft_core::FlowFailureKind;
use stagecraft_core::repair::RepairFilter;
use stagecraft_core::run::{Run, RunStatus};
use stagecraft_store::{
    AuditEntry, FlowRecord, JobRecord, JobRunState, UserStatus, WorkItemRecord,
};

/// The header a client names a start with, so that its retry gets the first
/// request's run instead of a second one.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The header that marks an answer as the first request's, replayed.
pub const REPLAYED: &str = "idempotent-replayed";

/// The header that says whether a wait was met or timed out.
pub const WAIT_HEADER: &str = "stagecraft-wait";

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// The body of `POST /runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// The orchestration whose active version runs.
    pub orchestration: String,
    /// Its inputs (an object; empty if left out).
    #[serde(default = "empty_object")]
    pub inputs: Value,
}

/// The query of `GET /runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// Runs with this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    /// Runs of this orchestration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orchestration: Option<String>,
    /// Runs of this orchestration version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Live runs in this stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// At most this many, newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// The query of a step's or a run's logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// Only this attempt's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

/// `?wait_for=&timeout=` of `GET /runs/{id}`, `POST /runs` and
/// `GET /jobs/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// What to wait for (`settled`, a status…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for: Option<String>,
    /// For how long at most, e.g. `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// The body of `POST /runs/{id}/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishEvent {
    /// The event's name.
    pub name: String,
}

/// The query of `GET /work-items`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkItemsQuery {
    /// Only this run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

/// A work item with the form of its screen flow (`GET /work-items/…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShownWorkItem {
    /// The item.
    #[serde(flatten)]
    pub record: WorkItemRecord,
    /// The form, for its assignee while it is open; `null` otherwise.
    pub form: Value,
}

/// The body of `POST /work-items/{run}/{item}/complete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    /// The answers, by field name.
    pub answers: Value,
}

/// What a completion answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completed {
    /// The run after the completion.
    pub run: Run,
}

/// The query of `POST /flows/{name}` (the component is the body).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployFlowQuery {
    /// `autolaunched`, `evaluation` or `screen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Then resume every run whose Error came from this flow.
    #[serde(default)]
    pub resume_errored: bool,
    /// With `resume_errored`: only the runs on which the new version gets
    /// through the failed invocation, dry-run.
    #[serde(default)]
    pub only_if_dry_run_passes: bool,
    /// The version's own memory limit in MiB, instead of the server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u32>,
}

/// A deployed flow version, and the resume job its deploy started (or why
/// it could not start: the version is deployed either way).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployedFlow {
    /// The version.
    #[serde(flatten)]
    pub record: FlowRecord,
    /// The job resuming the runs in Error on this flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_job: Option<JobRecord>,
    /// Why that job could not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_error: Option<String>,
}

/// One orchestration version, without its definition (`GET
/// /orchestrations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrchestrationSummary {
    /// Its name.
    pub name: String,
    /// Its version, from 1.
    pub version: u32,
    /// Who deployed it.
    pub deployed_by: String,
    /// When (RFC 3339).
    pub deployed_at: String,
    /// Whether new runs use it.
    pub active: bool,
}

/// The query of a dry-run of one run (`?version=N`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunQuery {
    /// The deployed version to try; the active one, or the uploaded
    /// component, if left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

/// The query of a dry-run over a selection: the runs' filter (the failed
/// flow is required) and the candidate's version. Flat: a query string's
/// numbers would be read as strings through serde's `flatten`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectionQuery {
    /// The flow whose failures are tried.
    pub flow: String,
    /// The deployed version to try.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Runs of this orchestration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orchestration: Option<String>,
    /// Runs of this orchestration version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orchestration_version: Option<u32>,
    /// Runs whose failed stage is this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Runs whose failed step is this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Runs stopped by this version of the flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_version: Option<u32>,
    /// Runs stopped by the flow failing this way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FlowFailureKind>,
    /// Runs started at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_after: Option<jiff::Timestamp>,
    /// Runs started before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_before: Option<jiff::Timestamp>,
}

/// The body of `POST /runs/resume`: a resume job over a selection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeRuns {
    /// Which runs.
    #[serde(default)]
    pub filter: RepairFilter,
    /// Only those on which the active version gets through the failed
    /// invocation, dry-run.
    #[serde(default)]
    pub only_if_dry_run_passes: bool,
}

/// The query of `GET /jobs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsQuery {
    /// At most this many, newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// The query of `GET /jobs/{id}/runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRunsQuery {
    /// Only the runs in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobRunState>,
    /// At most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// The query of `GET /audit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Records of this actor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Records of this action (`run.resume`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Records about this target (`run:<id>`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Records at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<jiff::Timestamp>,
    /// Records before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<jiff::Timestamp>,
    /// Records older than this id: the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// At most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The records.
    pub records: Vec<AuditEntry>,
    /// The `before` of the next page, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<u64>,
}

fn active() -> UserStatus {
    UserStatus::Active
}

/// The body of `PUT /users/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutUser {
    /// Their name for people.
    pub name: String,
    /// Active (the default), frozen or inactive.
    #[serde(default = "active")]
    pub status: UserStatus,
}

/// The body of `PUT /groups/{id}` and `PUT /queues/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutMembers {
    /// Its name for people.
    pub name: String,
    /// Its members' user ids.
    #[serde(default)]
    pub members: Vec<String>,
}

/// `GET /me`: the caller, with their groups and queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Me {
    /// The holder of the admin token.
    Admin,
    /// A directory user.
    User {
        /// Their id.
        user: String,
        /// Their groups.
        groups: Vec<String>,
        /// Their queues.
        queues: Vec<String>,
    },
}

/// What `POST /users/{id}/tokens` answers: the token, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    /// Whose it is.
    pub user: String,
    /// The token itself; only its hash is kept.
    pub token: String,
}

/// What `DELETE /users/{id}/tokens` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedTokens {
    /// Whose tokens.
    pub user: String,
    /// How many there were.
    pub revoked: u64,
}
