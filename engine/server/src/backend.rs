//! The store the server runs on: the embedded SQLite file in the
//! data directory (the default), or a PostgreSQL database (`--database`).

use std::future::Future;
use std::time::Duration;

use futures_util::future::Either;
use stagecraft_core::run::{Run, RunId, RunStatus, WorkItemId};
use stagecraft_engine::{EngineBuilder, EngineError, SqliteStore};
use stagecraft_store::{Abandoned, Claim, RouteState, Routed};
use stagecraft_store::{
    AuditEntry, AuditFilter, AuditRecord, Commit, FlowRecord, Group, JobId, JobRecord, JobRun,
    JobRunState, JobStatus, LivePins, Memberships, NewFlow, NewJob, NewOrchestration,
    OrchestrationRecord, Quarantine, Queue, RunFilter, RunSummary, StartKey, StepLog, Store,
    StoreResult, UnfinishedRuns, User, WorkItemFilter, WorkItemRecord,
};
use stagecraft_store_postgres::{PostgresConfig, PostgresStore};

/// The engine the server drives.
pub type Engine = stagecraft_engine::Engine<Backend>;

/// One of the stores, chosen at start.
#[derive(Clone, Debug)]
pub enum Backend {
    /// The embedded default.
    Sqlite(SqliteStore),
    /// A PostgreSQL database.
    Postgres(PostgresStore),
}

impl Backend {
    /// Opens the engine on PostgreSQL at `database`'s URL if given (as one
    /// node of the cluster on that database, with leases of its duration),
    /// else on SQLite in the data directory.
    pub async fn open(
        builder: EngineBuilder,
        database: Option<(&str, Duration)>,
    ) -> Result<Engine, EngineError> {
        let store = match database {
            None => Self::Sqlite(builder.sqlite_store()?),
            Some((url, lease_ttl)) => {
                let mut config = PostgresConfig::from_url(url)?;
                config.lease_ttl = lease_ttl;
                Self::Postgres(PostgresStore::open(config).await?)
            }
        };
        builder.open_on(store).await
    }

    /// Leaves the cluster once the engine has stopped, so that the other
    /// nodes take over at once (nothing to do on SQLite).
    pub async fn leave(&self) {
        if let Self::Postgres(store) = self
            && let Err(error) = store.leave().await
        {
            tracing::warn!(error = %error.report(), "could not leave the cluster; the other nodes take over when the lease runs out");
        }
    }
}

/// Each method of [`Store`], passed to the chosen backend. `Either` keeps
/// the backend's own future: a commit takes its place in the write order
/// when first polled, as the trait requires.
macro_rules! delegate {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(
            fn $name(&self $(, $arg: $ty)*) -> impl Future<Output = StoreResult<$ret>> + Send {
                match self {
                    Self::Sqlite(store) => Either::Left(store.$name($($arg),*)),
                    Self::Postgres(store) => Either::Right(store.$name($($arg),*)),
                }
            }
        )*
    };
}

impl Store for Backend {
    delegate! {
        fn commit(&self, commit: Commit) -> ();
        fn commit_runs(&self, runs: Vec<std::sync::Arc<Run>>) -> ();
        fn unfinished_runs(&self) -> UnfinishedRuns;
        fn runs_with_status(&self, status: RunStatus, orchestration: Option<(String, Option<u32>)>) -> UnfinishedRuns;
        fn run(&self, id: &RunId) -> Option<Run>;
        fn runs(&self, filter: RunFilter) -> Vec<RunSummary>;
        fn run_counts(&self, orchestration: Option<String>) -> Vec<(RunStatus, u64)>;
        fn work_items(&self, filter: WorkItemFilter) -> Vec<WorkItemRecord>;
        fn work_item(&self, id: &WorkItemId) -> Option<WorkItemRecord>;
        fn step_logs(&self, run: &RunId) -> Vec<StepLog>;
        fn insert_flow(&self, flow: NewFlow, audit: AuditRecord) -> FlowRecord;
        fn activate_flow(&self, name: &str, version: u32, audit: AuditRecord) -> FlowRecord;
        fn flows(&self) -> Vec<FlowRecord>;
        fn quarantine_flow(&self, name: &str, version: u32, quarantine: Quarantine, audit: AuditRecord) -> Option<FlowRecord>;
        fn lift_quarantine(&self, name: &str, version: u32, audit: AuditRecord) -> Option<FlowRecord>;
        fn flow_bytes(&self, name: &str, version: u32) -> Option<Vec<u8>>;
        fn insert_orchestration(&self, orchestration: NewOrchestration, audit: AuditRecord) -> OrchestrationRecord;
        fn orchestrations(&self) -> Vec<OrchestrationRecord>;
        fn put_user(&self, user: User, audit: AuditRecord) -> ();
        fn put_group(&self, group: Group, audit: AuditRecord) -> ();
        fn put_queue(&self, queue: Queue, audit: AuditRecord) -> ();
        fn user(&self, id: &str) -> Option<User>;
        fn group(&self, id: &str) -> Option<Group>;
        fn queue(&self, id: &str) -> Option<Queue>;
        fn directory(&self) -> (Vec<User>, Vec<Group>, Vec<Queue>);
        fn memberships(&self, user: &str) -> Memberships;
        fn hold_start_key(&self, key: StartKey, replacing: Option<RunId>) -> Option<StartKey>;
        fn release_start_key(&self, caller: &str, key: &str, run: &RunId) -> ();
        fn prune_runs(&self, before: jiff::Timestamp, limit: u32) -> u64;
        fn prune_jobs(&self, before: jiff::Timestamp, limit: u32) -> u64;
        fn prune_start_keys(&self, before: jiff::Timestamp, limit: u32) -> u64;
        fn prune_flow_versions(&self, superseded_before: jiff::Timestamp, pins: std::sync::Arc<LivePins>, limit: u32) -> Vec<(String, u32)>;
        fn oldest_audit(&self, before: jiff::Timestamp, limit: u32) -> Vec<AuditEntry>;
        fn prune_audit(&self, through: u64, before: jiff::Timestamp) -> u64;
        fn claim_retention(&self, hold: Duration) -> bool;
        fn issue_token(&self, user: &str, sha256: [u8; 32], at: jiff::Timestamp, audit: AuditRecord) -> ();
        fn revoke_tokens(&self, user: &str, audit: AuditRecord) -> u64;
        fn tokens(&self) -> Vec<(String, [u8; 32])>;
        fn record_audit(&self, records: Vec<AuditRecord>) -> ();
        fn audit(&self, filter: AuditFilter) -> Vec<AuditEntry>;
        fn create_job(&self, job: NewJob, audit: AuditRecord) -> JobRecord;
        fn job(&self, id: &JobId) -> Option<JobRecord>;
        fn jobs(&self, status: Option<JobStatus>, limit: u32) -> Vec<JobRecord>;
        fn job_runs(&self, id: &JobId, state: Option<JobRunState>, limit: u32) -> Vec<JobRun>;
        fn finish_job(&self, id: &JobId, status: JobStatus, at: jiff::Timestamp, audit: Option<AuditRecord>) -> JobRecord;
        fn claim(&self, id: &RunId) -> Claim;
        fn catalog_changes(&self) -> Option<i64>;
        fn claim_job(&self, id: &JobId) -> bool;
        fn request_job_cancel(&self, id: &JobId, by: &str) -> bool;
        fn cancels_requested(&self, ids: Vec<JobId>) -> Vec<(JobId, String)>;
        fn take_over(&self) -> UnfinishedRuns;
        fn route(&self, run: &RunId, command: String) -> i64;
        fn route_state(&self, id: i64) -> RouteState;
        fn abandon_route(&self, id: i64) -> Abandoned;
        fn take_routed(&self) -> Vec<Routed>;
        fn answer_routed(&self, id: i64, answer: String) -> ();
    }

    fn route_hint(&self) -> impl Future<Output = ()> + Send + 'static {
        match self {
            Self::Sqlite(store) => Either::Left(store.route_hint()),
            Self::Postgres(store) => Either::Right(store.route_hint()),
        }
    }

    fn lease_ttl(&self) -> Option<Duration> {
        match self {
            Self::Sqlite(store) => store.lease_ttl(),
            Self::Postgres(store) => store.lease_ttl(),
        }
    }
}
