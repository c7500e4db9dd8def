//! Durable storage for Stagecraft: the contract, not a database.
//!
//! [`Store`] is what the engine relies on, with its plain records and
//! [`StoreError`]; the backends live in crates of their own
//! (`stagecraft-store-sqlite`, the embedded default, and
//! `stagecraft-store-postgres`), so an embedder compiles only the one it
//! uses. Every method is async, and the hot path is a single call,
//! [`Store::commit`], that a backend is free to group-commit with
//! concurrent calls. [`encoding`] holds what every backend stores the same
//! way (a run's compressed state, its projections).
//!
//! A run's state is the [`Run`] of `stagecraft-core`, stored whole as the
//! source of truth (milestones and pending outputs included); the backend
//! also keeps projections of it (status, orchestration, work items) for
//! queries.

mod audit;
mod cluster;
pub mod encoding;
mod error;
mod jobs;
pub mod lineage;
mod records;

pub use audit::{AuditAction, AuditEntry, AuditFilter, AuditOutcome, AuditRecord};
pub use cluster::{Abandoned, Claim, RouteState, Routed};
pub use error::{Source, StoreError, StoreResult, report};
pub use jobs::{
    JobCounts, JobId, JobRecord, JobRefusals, JobRun, JobRunOutcome, JobRunState, JobStatus, NewJob,
};
pub use records::{
    FlowRecord, Group, Memberships, NewFlow, NewOrchestration, OrchestrationRecord, Quarantine,
    Queue, RunFilter, RunSummary, StartKey, StepLog, StepLogLine, User, UserStatus, WorkItemFilter,
    WorkItemRecord,
};

use stagecraft_core::run::{Run, RunId, RunStatus, WorkItemId};

/// The flow versions the steps of live runs are pinned to: what retention
/// must keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LivePins {
    /// The components' digests (SHA-256, hex).
    pub digests: std::collections::BTreeSet<String>,
    /// Version numbers of steps pinned before pins carried a digest: every
    /// flow's version with such a number is kept.
    pub versions: std::collections::BTreeSet<u32>,
}

impl LivePins {
    /// The pins of every step of `runs`.
    pub fn of<'r>(runs: impl IntoIterator<Item = &'r Run>) -> Self {
        let mut pins = Self::default();
        for (version, digest) in runs.into_iter().flat_map(stagecraft_core::flow_pins) {
            match digest {
                Some(digest) => pins.digests.insert(digest.to_owned()),
                None => pins.versions.insert(version),
            };
        }
        pins
    }

    /// Whether a version with `digest` and number `version` is pinned.
    pub fn holds(&self, digest: &str, version: u32) -> bool {
        self.digests.contains(digest) || self.versions.contains(&version)
    }
}

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

/// What one [`Store::commit`] writes, atomically: new run states, the step
/// logs of the invocations they record, and the records of the actions that
/// caused them.
#[derive(Debug, Default)]
pub struct Commit {
    /// New run states (insert or replace).
    pub runs: Vec<Arc<Run>>,
    /// Step logs of the results these states accept.
    pub step_logs: Vec<StepLog>,
    /// Audit records of the actions that made these states (or were refused).
    pub audit: Vec<AuditRecord>,
    /// Runs of resume jobs leaving Pending with these states.
    pub job_runs: Vec<JobRunOutcome>,
    /// Runs this node lets go once this commit is durable (nothing in
    /// flight), written in `runs` or only read for a command it refused: a
    /// store shared by several nodes gives up their ownership with the
    /// write. Others ignore it.
    pub released: Vec<RunId>,
    /// The lineage of commits this one was built on: it fails unwritten if
    /// an earlier commit of the same lineage that carried one of its runs
    /// failed ([`lineage`]). `None`: built on nothing uncommitted.
    pub lineage: Option<u64>,
}

impl Commit {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
            && self.step_logs.is_empty()
            && self.audit.is_empty()
            && self.job_runs.is_empty()
            && self.released.is_empty()
    }
}

/// Everything the engine persists.
///
/// Implementations must be safe to call concurrently from many tasks.
/// Methods that write are atomic: they either happen entirely or not at all.
pub trait Store: Send + Sync + 'static {
    // ---- runs: the hot path ------------------------------------------------

    /// Durably writes the new state of each run (insert or replace), with its
    /// projections, the step logs of the invocations whose results these
    /// states record, and the audit and job records of the actions behind
    /// them, in one transaction. When this returns `Ok`, all of it is on
    /// stable storage; callers acknowledge and act only after that.
    /// Concurrent calls may be committed together (group commit).
    ///
    /// The engine calls it from one task, in order, and may have several
    /// calls pending; a later call may hold newer states of the same runs,
    /// and fails unwritten if one it was built on failed
    /// ([`Commit::lineage`]).
    /// So an implementation must take its place in the write order when its
    /// future is first polled (before it awaits anything) and commit calls
    /// in that order, never a later one before an earlier one.
    fn commit(&self, commit: Commit) -> impl Future<Output = StoreResult<()>> + Send;

    /// [`Store::commit`] of run states alone.
    fn commit_runs(&self, runs: Vec<Arc<Run>>) -> impl Future<Output = StoreResult<()>> + Send {
        self.commit(Commit {
            runs,
            ..Commit::default()
        })
    }

    /// Runs that are not finished (In Progress, Suspended or Error), to be
    /// picked up after a restart. A run whose record cannot be read is set
    /// aside in [`UnfinishedRuns::unreadable`] rather than failing the rest.
    /// A store shared by several nodes returns the runs this node owns,
    /// after claiming those of nodes whose lease ran out.
    fn unfinished_runs(&self) -> impl Future<Output = StoreResult<UnfinishedRuns>> + Send;

    /// Every run with `status`, optionally of one orchestration (and
    /// version), oldest first: the candidates of a resume job's selection.
    fn runs_with_status(
        &self,
        status: RunStatus,
        orchestration: Option<(String, Option<u32>)>,
    ) -> impl Future<Output = StoreResult<UnfinishedRuns>> + Send;

    /// One run, whatever its status.
    fn run(&self, id: &RunId) -> impl Future<Output = StoreResult<Option<Run>>> + Send;

    /// Runs matching `filter`, newest first.
    fn runs(&self, filter: RunFilter) -> impl Future<Output = StoreResult<Vec<RunSummary>>> + Send;

    /// How many runs there are per status, of one orchestration if given.
    fn run_counts(
        &self,
        orchestration: Option<String>,
    ) -> impl Future<Output = StoreResult<Vec<(RunStatus, u64)>>> + Send;

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

    // ---- idempotent starts ---------------------------------------------------

    /// Holds `key` for its run, unless its caller already holds that key:
    /// then returns that holding, unchanged. With `replacing`, a holding of
    /// that run is replaced (it expired, or its start never committed); a
    /// holding of any other run is returned instead.
    fn hold_start_key(
        &self,
        key: StartKey,
        replacing: Option<RunId>,
    ) -> impl Future<Output = StoreResult<Option<StartKey>>> + Send;

    /// Lets go `caller`'s `key` if it is held for `run` (whose start failed
    /// before anything was written).
    fn release_start_key(
        &self,
        caller: &str,
        key: &str,
        run: &RunId,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    // ---- flows -------------------------------------------------------------

    /// Stores a new version of a flow (version = previous highest + 1, or 1)
    /// and makes it the active one, atomically, with `audit` (whose detail
    /// gains the new version).
    fn insert_flow(
        &self,
        flow: NewFlow,
        audit: AuditRecord,
    ) -> impl Future<Output = StoreResult<FlowRecord>> + Send;

    /// Makes an existing version active (rollback or roll forward), with
    /// `audit`.
    fn activate_flow(
        &self,
        name: &str,
        version: u32,
        audit: AuditRecord,
    ) -> impl Future<Output = StoreResult<FlowRecord>> + Send;

    /// Every version of every flow, by name then version.
    fn flows(&self) -> impl Future<Output = StoreResult<Vec<FlowRecord>>> + Send;

    /// Quarantines a flow version, with `audit`; one already quarantined
    /// keeps its first reason (and no audit record is added). `None`: no
    /// such version.
    fn quarantine_flow(
        &self,
        name: &str,
        version: u32,
        quarantine: Quarantine,
        audit: AuditRecord,
    ) -> impl Future<Output = StoreResult<Option<FlowRecord>>> + Send;

    /// Lifts a flow version's quarantine, with `audit`. `None`: no such
    /// version.
    fn lift_quarantine(
        &self,
        name: &str,
        version: u32,
        audit: AuditRecord,
    ) -> impl Future<Output = StoreResult<Option<FlowRecord>>> + Send;

    /// A flow version's component bytes.
    fn flow_bytes(
        &self,
        name: &str,
        version: u32,
    ) -> impl Future<Output = StoreResult<Option<Vec<u8>>>> + Send;

    // ---- orchestrations ----------------------------------------------------

    /// Stores a new version of an orchestration definition and makes it
    /// active, with `audit` (whose detail gains the new version). Stored
    /// versions are never modified.
    fn insert_orchestration(
        &self,
        orchestration: NewOrchestration,
        audit: AuditRecord,
    ) -> impl Future<Output = StoreResult<OrchestrationRecord>> + Send;

    /// Every version of every orchestration, by name then version.
    fn orchestrations(&self) -> impl Future<Output = StoreResult<Vec<OrchestrationRecord>>> + Send;

    // ---- directory ---------------------------------------------------------

    /// Creates or replaces a user, with `audit`.
    fn put_user(
        &self,
        user: User,
        audit: AuditRecord,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Creates or replaces a group and its members, with `audit`.
    fn put_group(
        &self,
        group: Group,
        audit: AuditRecord,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Creates or replaces a queue and its members, with `audit`.
    fn put_queue(
        &self,
        queue: Queue,
        audit: AuditRecord,
    ) -> impl Future<Output = StoreResult<()>> + Send;
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

    // ---- tokens ------------------------------------------------------------

    /// Stores the SHA-256 of a token issued to `user`, with `audit`.
    fn issue_token(
        &self,
        user: &str,
        sha256: [u8; 32],
        at: jiff::Timestamp,
        audit: AuditRecord,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Forgets every token of `user`, with `audit` (whose detail gains how
    /// many were revoked); how many there were.
    fn revoke_tokens(
        &self,
        user: &str,
        audit: AuditRecord,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Every token's holder and SHA-256.
    fn tokens(&self) -> impl Future<Output = StoreResult<Vec<(String, [u8; 32])>>> + Send;

    // ---- audit -------------------------------------------------------------

    /// Appends records of actions that have no effect of their own to write
    /// with them (refusals, dry-runs, token changes), in one transaction.
    fn record_audit(
        &self,
        records: Vec<AuditRecord>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Audit records matching `filter`, newest first.
    fn audit(
        &self,
        filter: AuditFilter,
    ) -> impl Future<Output = StoreResult<Vec<AuditEntry>>> + Send;

    // ---- resume jobs -------------------------------------------------------

    /// Creates a job with its selection of runs (all Pending), with `audit`.
    fn create_job(
        &self,
        job: NewJob,
        audit: AuditRecord,
    ) -> impl Future<Output = StoreResult<JobRecord>> + Send;

    /// One job, with its counts.
    fn job(&self, id: &JobId) -> impl Future<Output = StoreResult<Option<JobRecord>>> + Send;

    /// The latest `limit` jobs (only those with `status`, if given), newest
    /// first.
    fn jobs(
        &self,
        status: Option<JobStatus>,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<JobRecord>>> + Send;

    /// Up to `limit` runs of a job in selection order, only those in `state`
    /// if given.
    fn job_runs(
        &self,
        id: &JobId,
        state: Option<JobRunState>,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<JobRun>>> + Send;

    /// Ends a running job as Completed or Canceled, with `audit` if given;
    /// [`StoreError::Conflict`] if it already ended.
    fn finish_job(
        &self,
        id: &JobId,
        status: JobStatus,
        at: jiff::Timestamp,
        audit: Option<AuditRecord>,
    ) -> impl Future<Output = StoreResult<JobRecord>> + Send;

    // ---- retention ---------------------------------------------------------

    /// Removes up to `limit` finished runs (Completed or Canceled) that
    /// last changed before `before`, oldest first, with their work items and
    /// step logs; how many.
    fn prune_runs(
        &self,
        before: jiff::Timestamp,
        limit: u32,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Removes up to `limit` resume jobs that ended before `before`, with
    /// their runs' rows; how many.
    fn prune_jobs(
        &self,
        before: jiff::Timestamp,
        limit: u32,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Removes up to `limit` idempotency keys held before `before`; how many.
    fn prune_start_keys(
        &self,
        before: jiff::Timestamp,
        limit: u32,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Removes up to `limit` flow versions that a newer version of the
    /// same flow superseded before `superseded_before`, that are not
    /// active, and that no step of a live run is pinned to (`pins`), oldest
    /// first, with their quarantines; the versions removed.
    fn prune_flow_versions(
        &self,
        superseded_before: jiff::Timestamp,
        pins: Arc<LivePins>,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<(String, u32)>>> + Send;

    /// The oldest audit records recorded before `before`, up to `limit`,
    /// oldest first: to export before [`Store::prune_audit`] removes them.
    /// The newest record of the log is never among them (its id keeps the
    /// log's numbering going).
    fn oldest_audit(
        &self,
        before: jiff::Timestamp,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<AuditEntry>>> + Send;

    /// Removes the audit records up to id `through` recorded before
    /// `before`, the newest record of the log excepted; how many.
    fn prune_audit(
        &self,
        through: u64,
        before: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    // ---- several nodes (the defaults serve one) ----------------------------

    /// Makes this node the one that prunes, for `hold`, unless another live
    /// node does; whether it is. The default (one node) is always yes.
    fn claim_retention(
        &self,
        hold: std::time::Duration,
    ) -> impl Future<Output = StoreResult<bool>> + Send {
        let _ = hold;
        std::future::ready(Ok(true))
    }

    /// How long a node's lease lasts without renewal, if several nodes may
    /// share this store; `None` (the default) when it serves one node.
    fn lease_ttl(&self) -> Option<std::time::Duration> {
        None
    }

    /// Takes a run this node does not hold, for a command: reads it and,
    /// if it is unfinished and no live node owns it, makes it this node's.
    fn claim(&self, id: &RunId) -> impl Future<Output = StoreResult<Claim>> + Send {
        async move {
            Ok(match self.run(id).await? {
                Some(run) => Claim::Claimed(Box::new(run)),
                None => Claim::Missing,
            })
        }
    }

    /// Claims the unfinished runs of nodes whose lease ran out, and returns
    /// them, oldest first.
    fn take_over(&self) -> impl Future<Output = StoreResult<UnfinishedRuns>> + Send {
        std::future::ready(Ok(UnfinishedRuns::default()))
    }

    /// Makes a running resume job this node's to drive, unless a live
    /// node drives it; whether it is this node's now. The default (one
    /// node) is always yes.
    fn claim_job(&self, id: &JobId) -> impl Future<Output = StoreResult<bool>> + Send {
        let _ = id;
        std::future::ready(Ok(true))
    }

    /// Asks the node that drives running job `id` to cancel it on behalf
    /// of `by`; whether the job was still running. Only a store shared by
    /// several nodes has other drivers to ask.
    fn request_job_cancel(
        &self,
        id: &JobId,
        by: &str,
    ) -> impl Future<Output = StoreResult<bool>> + Send {
        let _ = (id, by);
        std::future::ready(Err(StoreError::Incompatible(
            "this store serves one node: every job is driven here".to_owned(),
        )))
    }

    /// Which of `ids` (jobs this node drives) another node was asked to
    /// cancel, with who asked.
    fn cancels_requested(
        &self,
        ids: Vec<JobId>,
    ) -> impl Future<Output = StoreResult<Vec<(JobId, String)>>> + Send {
        let _ = ids;
        std::future::ready(Ok(Vec::new()))
    }

    /// A number that changes whenever a flow or orchestration is deployed
    /// or activated through any node, if several nodes may share this
    /// store; `None` (the default) when it serves one node.
    fn catalog_changes(&self) -> impl Future<Output = StoreResult<Option<i64>>> + Send {
        std::future::ready(Ok(None))
    }

    /// Queues `command` for the node that owns `run`; returns the route's id.
    fn route(&self, run: &RunId, command: String) -> impl Future<Output = StoreResult<i64>> + Send {
        let _ = (run, command);
        std::future::ready(Err(StoreError::Incompatible(
            "this store serves one node: nothing is routed".to_owned(),
        )))
    }

    /// Where a route stands; a route that ended (answered, withdrawn or
    /// lost) is removed as it is reported.
    fn route_state(&self, id: i64) -> impl Future<Output = StoreResult<RouteState>> + Send {
        let _ = id;
        std::future::ready(Ok(RouteState::Withdrawn))
    }

    /// Gives up on route `id`, which its sender waited for too long: it is
    /// removed unless it ended meanwhile, and no node takes it any more.
    fn abandon_route(&self, id: i64) -> impl Future<Output = StoreResult<Abandoned>> + Send {
        let _ = id;
        std::future::ready(Ok(Abandoned::Ended))
    }

    /// Resolves when a command may have been routed to this node, or a
    /// routed command answered: a hint to look sooner, not a promise (the
    /// callers look every so often anyway). The default never resolves.
    fn route_hint(&self) -> impl Future<Output = ()> + Send + 'static {
        std::future::pending()
    }

    /// Takes the commands routed to this node (it owns their runs), oldest
    /// first.
    fn take_routed(&self) -> impl Future<Output = StoreResult<Vec<Routed>>> + Send {
        std::future::ready(Ok(Vec::new()))
    }

    /// Answers a routed command this node took.
    fn answer_routed(
        &self,
        id: i64,
        answer: String,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        let _ = (id, answer);
        std::future::ready(Ok(()))
    }
}
