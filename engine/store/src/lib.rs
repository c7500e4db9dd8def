//! Durable storage for Stagecraft.
//!
//! [`Store`] is the contract the engine relies on; [`SqliteStore`] is the
//! embedded default. The trait is shaped for a future networked backend
//! (Postgres) shared by several engine nodes: every method is async, and the
//! hot path is a single call, [`Store::commit_runs`], that a backend is free
//! to group-commit with concurrent calls.
//!
//! A run's state is the [`Run`] of `stagecraft-core`, stored whole as the
//! source of truth (milestones and pending outputs included); the backend
//! also keeps projections of it (status, orchestration, work items) for
//! queries.

mod error;
mod records;
mod sqlite;

pub use error::{StoreError, StoreResult};
pub use records::{
    FlowRecord, Group, Memberships, NewFlow, NewOrchestration, OrchestrationRecord, Queue,
    RunFilter, RunSummary, StepLog, StepLogLine, User, UserStatus, WorkItemFilter, WorkItemRecord,
};
pub use sqlite::{IntegrityCheck, SqliteConfig, SqliteStore, Synchronous};

use stagecraft_core::run::{Run, RunId, WorkItemId};

/// What [`Store::unfinished_runs`] found.
#[derive(Debug, Default)]
pub struct UnfinishedRuns {
    /// The runs, oldest first.
    pub runs: Vec<Run>,
    /// Runs whose stored record cannot be read, with why: one bad record
    /// must not keep the engine from serving the others.
    pub unreadable: Vec<(RunId, StoreError)>,
}
use std::future::Future;
use std::sync::Arc;

/// Everything the engine persists.
///
/// Implementations must be safe to call concurrently from many tasks.
/// Methods that write are atomic: they either happen entirely or not at all.
pub trait Store: Send + Sync + 'static {
    // ---- runs: the hot path ------------------------------------------------

    /// Durably writes the new state of each run (insert or replace), with its
    /// projections, and the step logs of the invocations whose results these
    /// states record, in one transaction. When this returns `Ok`, all of it
    /// is on stable storage; callers acknowledge and act only after that.
    /// Concurrent calls may be committed together (group commit).
    ///
    /// The engine calls it from one task, in order, and may have several
    /// calls pending; a later call may hold newer states of the same runs.
    /// So an implementation must take its place in the write order when its
    /// future is first polled (before it awaits anything) and commit calls
    /// in that order, never a later one before an earlier one.
    fn commit(
        &self,
        runs: Vec<Arc<Run>>,
        step_logs: Vec<StepLog>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// [`Store::commit`] of run states alone.
    fn commit_runs(&self, runs: Vec<Arc<Run>>) -> impl Future<Output = StoreResult<()>> + Send {
        self.commit(runs, Vec::new())
    }

    /// Runs that are not finished (In Progress, Suspended or Error), to be
    /// picked up after a restart. A run whose record cannot be read is set
    /// aside in [`UnfinishedRuns::unreadable`] rather than failing the rest.
    fn unfinished_runs(&self) -> impl Future<Output = StoreResult<UnfinishedRuns>> + Send;

    /// One run, whatever its status.
    fn run(&self, id: &RunId) -> impl Future<Output = StoreResult<Option<Run>>> + Send;

    /// Runs matching `filter`, newest first.
    fn runs(&self, filter: RunFilter) -> impl Future<Output = StoreResult<Vec<RunSummary>>> + Send;

    /// Work items matching `filter`, oldest first.
    fn work_items(
        &self,
        filter: WorkItemFilter,
    ) -> impl Future<Output = StoreResult<Vec<WorkItemRecord>>> + Send;

    /// One work item.
    fn work_item(
        &self,
        id: &WorkItemId,
    ) -> impl Future<Output = StoreResult<Option<WorkItemRecord>>> + Send;

    /// A run's step logs, oldest first.
    fn step_logs(&self, run: &RunId) -> impl Future<Output = StoreResult<Vec<StepLog>>> + Send;

    // ---- flows -------------------------------------------------------------

    /// Stores a new version of a flow (version = previous highest + 1, or 1)
    /// and makes it the active one, atomically.
    fn insert_flow(&self, flow: NewFlow) -> impl Future<Output = StoreResult<FlowRecord>> + Send;

    /// Makes an existing version active (rollback or roll forward).
    fn activate_flow(
        &self,
        name: &str,
        version: u32,
    ) -> impl Future<Output = StoreResult<FlowRecord>> + Send;

    /// Every version of every flow, by name then version.
    fn flows(&self) -> impl Future<Output = StoreResult<Vec<FlowRecord>>> + Send;

    /// A flow version's component bytes.
    fn flow_bytes(
        &self,
        name: &str,
        version: u32,
    ) -> impl Future<Output = StoreResult<Option<Vec<u8>>>> + Send;

    // ---- orchestrations ----------------------------------------------------

    /// Stores a new version of an orchestration definition and makes it
    /// active. Stored versions are never modified.
    fn insert_orchestration(
        &self,
        orchestration: NewOrchestration,
    ) -> impl Future<Output = StoreResult<OrchestrationRecord>> + Send;

    /// Every version of every orchestration, by name then version.
    fn orchestrations(&self) -> impl Future<Output = StoreResult<Vec<OrchestrationRecord>>> + Send;

    // ---- directory ---------------------------------------------------------

    /// Creates or replaces a user.
    fn put_user(&self, user: User) -> impl Future<Output = StoreResult<()>> + Send;
    /// Creates or replaces a group and its members.
    fn put_group(&self, group: Group) -> impl Future<Output = StoreResult<()>> + Send;
    /// Creates or replaces a queue and its members.
    fn put_queue(&self, queue: Queue) -> impl Future<Output = StoreResult<()>> + Send;
    /// One user.
    fn user(&self, id: &str) -> impl Future<Output = StoreResult<Option<User>>> + Send;
    /// One group.
    fn group(&self, id: &str) -> impl Future<Output = StoreResult<Option<Group>>> + Send;
    /// One queue.
    fn queue(&self, id: &str) -> impl Future<Output = StoreResult<Option<Queue>>> + Send;
    /// All users, groups and queues.
    fn directory(
        &self,
    ) -> impl Future<Output = StoreResult<(Vec<User>, Vec<Group>, Vec<Queue>)>> + Send;
    /// The groups and queues a user belongs to.
    fn memberships(&self, user: &str) -> impl Future<Output = StoreResult<Memberships>> + Send;
}
