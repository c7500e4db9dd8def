//! The embedded SQLite store of Stagecraft, its default backend.
//!
//! One SQLite file in WAL mode. All writes go through a single writer thread
//! that owns the only write connection; [`Store::commit_runs`] calls that
//! arrive while it is busy are committed together in one transaction (group
//! commit), so throughput is not bounded by one fsync per transition. Reads
//! use a small pool of read-only connections, which WAL lets run while the
//! writer writes.
//!
//! Every timestamp column holds integer nanoseconds since the Unix epoch: it
//! sorts correctly and round-trips a [`jiff::Timestamp`] exactly (years 1678
//! to 2261; anything outside is refused on write). A run's state is stored
//! whole as LZ4-compressed JSON (see `state`), the source of truth; the other
//! run and work-item columns are projections of it for queries. (The column
//! was declared `TEXT` by the first schema and held plain JSON; it now holds
//! BLOBs, which SQLite's flexible typing allows, and old text rows still
//! read.) SQLite syncs
//! with fdatasync when built with `HAVE_FDATASYNC` (this workspace's
//! `.cargo/config.toml` sets it).

mod audit;
mod catalog;
mod codec;
mod directory;
mod jobs;
mod readers;
mod retention;
mod runs;
mod schema;
mod start_keys;
mod step_logs;
mod tokens;
mod work_items;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, Transaction};
use stagecraft_core::run::{Run, RunId, RunStatus, WorkItemId};

use readers::Readers;
use stagecraft_store::{
    AuditEntry, AuditFilter, AuditRecord, Commit, FlowRecord, Group, JobId, JobRecord, JobRun,
    JobRunState, JobStatus, LivePins, Memberships, NewFlow, NewJob, NewOrchestration,
    OrchestrationRecord, Quarantine, Queue, RunFilter, RunSummary, StartKey, StepLog, Store,
    StoreError, StoreResult, UnfinishedRuns, User, WorkItemFilter, WorkItemRecord,
};
use writer::Writer;

/// When SQLite flushes a commit to stable storage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// fsync on every commit (`PRAGMA synchronous = FULL`): an acknowledged
    /// commit survives a power loss. With group commit that is one fsync per
    /// batch, not per run.
    #[default]
    Full,
    /// fsync only at WAL checkpoints (`PRAGMA synchronous = NORMAL`): commits
    /// survive a crash of the process (kill -9) but the latest ones may be lost
    /// on a power loss or an OS crash.
    Normal,
}

/// How to open a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// The database file; created with its parent directories if missing.
    pub path: PathBuf,
    /// Durability of commits.
    pub synchronous: Synchronous,
    /// Most runs written in one group-commit transaction (at least 1). A
    /// single [`Store::commit_runs`] call is never split, so a batch may
    /// exceed this by the runs of its last call.
    pub max_batch: usize,
    /// Number of read-only connections (at least 1).
    pub readers: usize,
    /// How long a connection waits for a lock held by another process (or a
    /// checkpoint) before the operation fails.
    pub busy_timeout: Duration,
    /// How the database is checked before it is served.
    pub integrity_check: IntegrityCheck,
}

/// How [`SqliteStore::open`] checks the database file before serving it: a
/// store whose pages fail SQLite's checks is refused rather than served
/// with errors (or, worse, answers that miss records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntegrityCheck {
    /// `PRAGMA quick_check`: every page and record is well formed; O(size).
    #[default]
    Quick,
    /// `PRAGMA integrity_check`: also that every index matches its table.
    Full,
    /// No check.
    Off,
}

impl SqliteConfig {
    /// The defaults for `path`: [`Synchronous::Full`], batches of up to 512
    /// runs, 4 readers, a 5 s busy timeout.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            synchronous: Synchronous::Full,
            max_batch: 512,
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            integrity_check: IntegrityCheck::Quick,
        }
    }
}

/// The embedded [`Store`]: one SQLite file, one writer thread, a pool of
/// readers.
///
/// Cheap to clone (the clones share the same database). When the last clone
/// is dropped, the writer thread commits whatever is still queued and exits;
/// the drop waits for it, so the file can be reopened right after.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

/// What the clones share. Field order matters: the readers close first, so
/// the writer's connection is the last one and checkpoints the WAL into the
/// database file as it closes.
struct Inner {
    readers: Arc<Readers>,
    writer: Writer,
    path: PathBuf,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("transactions_committed", &self.transactions_committed())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the database, migrating its schema to the latest
    /// version, and starts the writer thread.
    ///
    /// Synchronous: it does file I/O (and may run migrations), so async code
    /// that cares about blocking should call it inside
    /// `tokio::task::spawn_blocking`. It needs no runtime itself, but the
    /// store's methods must be awaited inside a Tokio runtime.
    ///
    /// Fails with [`StoreError::Incompatible`] if the file is not a SQLite
    /// database, belongs to another application, or has a schema newer than
    /// this build knows, and with [`StoreError::Corrupt`] if it fails its
    /// integrity check.
    pub fn open(config: SqliteConfig) -> StoreResult<Self> {
        let path = config.path.clone();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::write(format!("the directory {}", parent.display()), e))?;
        }
        let conn = schema::open_writer(&config)?;
        let readers = Readers::open(&config)?;
        let writer = Writer::start(conn, config.max_batch.max(1))?;
        Ok(Self {
            inner: Arc::new(Inner {
                readers: Arc::new(readers),
                writer,
                path,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many write transactions the writer has committed since the store
    /// was opened (group commits and single writes alike). Far fewer than
    /// the number of [`Store::commit_runs`] calls under concurrency: that is
    /// what group commit buys.
    pub fn transactions_committed(&self) -> u64 {
        self.inner.writer.transactions_committed()
    }

    /// Runs `read` on a pooled read-only connection, off the async runtime.
    async fn read<T, F>(&self, read: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        Readers::read(&self.inner.readers, read).await
    }

    /// Runs `write` in its own transaction on the writer thread.
    async fn write<T, F>(&self, write: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.inner.writer.write(write).await
    }
}

impl Store for SqliteStore {
    async fn commit(&self, commit: Commit) -> StoreResult<()> {
        match codec::EncodedCommit::new(commit)? {
            Some(batch) => self.inner.writer.commit(batch).await,
            None => Ok(()),
        }
    }

    async fn runs_with_status(
        &self,
        status: RunStatus,
        orchestration: Option<(String, Option<u32>)>,
    ) -> StoreResult<UnfinishedRuns> {
        self.read(move |conn| runs::with_status(conn, status, orchestration.as_ref()))
            .await
    }

    async fn step_logs(&self, run: &RunId) -> StoreResult<Vec<StepLog>> {
        let run = run.clone();
        self.read(move |conn| step_logs::list(conn, &run)).await
    }

    async fn unfinished_runs(&self) -> StoreResult<UnfinishedRuns> {
        self.read(runs::unfinished).await
    }

    async fn run(&self, id: &RunId) -> StoreResult<Option<Run>> {
        let id = id.clone();
        self.read(move |conn| runs::run(conn, &id)).await
    }

    async fn runs(&self, filter: RunFilter) -> StoreResult<Vec<RunSummary>> {
        self.read(move |conn| runs::list(conn, &filter)).await
    }

    async fn run_counts(
        &self,
        orchestration: Option<String>,
    ) -> StoreResult<Vec<(RunStatus, u64)>> {
        self.read(move |conn| runs::counts(conn, orchestration.as_deref()))
            .await
    }

    async fn work_items(&self, filter: WorkItemFilter) -> StoreResult<Vec<WorkItemRecord>> {
        self.read(move |conn| work_items::list(conn, &filter)).await
    }

    async fn work_item(&self, id: &WorkItemId) -> StoreResult<Option<WorkItemRecord>> {
        let id = id.clone();
        self.read(move |conn| work_items::one(conn, &id)).await
    }

    async fn insert_flow(&self, flow: NewFlow, audit: AuditRecord) -> StoreResult<FlowRecord> {
        self.write(move |tx| {
            let record = catalog::insert_flow(tx, &flow)?;
            audit::put(tx, &audit.with_version(record.version))?;
            Ok(record)
        })
        .await
    }

    async fn activate_flow(
        &self,
        name: &str,
        version: u32,
        audit: AuditRecord,
    ) -> StoreResult<FlowRecord> {
        let name = name.to_owned();
        self.write(move |tx| {
            let record = catalog::activate_flow(tx, &name, version)?;
            audit::put(tx, &audit)?;
            Ok(record)
        })
        .await
    }

    async fn flows(&self) -> StoreResult<Vec<FlowRecord>> {
        self.read(catalog::flows).await
    }

    async fn quarantine_flow(
        &self,
        name: &str,
        version: u32,
        quarantine: Quarantine,
        audit: AuditRecord,
    ) -> StoreResult<Option<FlowRecord>> {
        let name = name.to_owned();
        self.write(move |tx| {
            let quarantined = catalog::quarantine_flow(tx, &name, version, &quarantine)?;
            if let Some((_, true)) = quarantined {
                audit::put(tx, &audit)?;
            }
            Ok(quarantined.map(|(record, _)| record))
        })
        .await
    }

    async fn lift_quarantine(
        &self,
        name: &str,
        version: u32,
        audit: AuditRecord,
    ) -> StoreResult<Option<FlowRecord>> {
        let name = name.to_owned();
        self.write(move |tx| {
            let record = catalog::lift_quarantine(tx, &name, version)?;
            if record.is_some() {
                audit::put(tx, &audit)?;
            }
            Ok(record)
        })
        .await
    }

    async fn flow_bytes(&self, name: &str, version: u32) -> StoreResult<Option<Vec<u8>>> {
        let name = name.to_owned();
        self.read(move |conn| catalog::flow_bytes(conn, &name, version))
            .await
    }

    async fn insert_orchestration(
        &self,
        orchestration: NewOrchestration,
        audit: AuditRecord,
    ) -> StoreResult<OrchestrationRecord> {
        self.write(move |tx| {
            let record = catalog::insert_orchestration(tx, &orchestration)?;
            audit::put(tx, &audit.with_version(record.version))?;
            Ok(record)
        })
        .await
    }

    async fn orchestrations(&self) -> StoreResult<Vec<OrchestrationRecord>> {
        self.read(catalog::orchestrations).await
    }

    async fn put_user(&self, user: User, audit: AuditRecord) -> StoreResult<()> {
        self.write(move |tx| {
            directory::put_user(tx, &user)?;
            audit::put(tx, &audit)
        })
        .await
    }

    async fn put_group(&self, group: Group, audit: AuditRecord) -> StoreResult<()> {
        self.write(move |tx| {
            directory::put_set(
                tx,
                directory::Set::Group,
                &group.id,
                &group.name,
                &group.members,
            )?;
            audit::put(tx, &audit)
        })
        .await
    }

    async fn put_queue(&self, queue: Queue, audit: AuditRecord) -> StoreResult<()> {
        self.write(move |tx| {
            directory::put_set(
                tx,
                directory::Set::Queue,
                &queue.id,
                &queue.name,
                &queue.members,
            )?;
            audit::put(tx, &audit)
        })
        .await
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        let id = id.to_owned();
        self.read(move |conn| directory::user(conn, &id)).await
    }

    async fn group(&self, id: &str) -> StoreResult<Option<Group>> {
        let id = id.to_owned();
        self.read(move |conn| directory::group(conn, &id)).await
    }

    async fn queue(&self, id: &str) -> StoreResult<Option<Queue>> {
        let id = id.to_owned();
        self.read(move |conn| directory::queue(conn, &id)).await
    }

    async fn directory(&self) -> StoreResult<(Vec<User>, Vec<Group>, Vec<Queue>)> {
        self.read(directory::all).await
    }

    async fn memberships(&self, user: &str) -> StoreResult<Memberships> {
        let user = user.to_owned();
        self.read(move |conn| directory::memberships(conn, &user))
            .await
    }

    async fn hold_start_key(
        &self,
        key: StartKey,
        replacing: Option<RunId>,
    ) -> StoreResult<Option<StartKey>> {
        self.write(move |tx| start_keys::hold(tx, &key, replacing.as_ref()))
            .await
    }

    async fn release_start_key(&self, caller: &str, key: &str, run: &RunId) -> StoreResult<()> {
        let (caller, key, run) = (caller.to_owned(), key.to_owned(), run.clone());
        self.write(move |tx| start_keys::release(tx, &caller, &key, &run))
            .await
    }

    async fn prune_runs(&self, before: jiff::Timestamp, limit: u32) -> StoreResult<u64> {
        self.write(move |tx| retention::runs(tx, before, limit))
            .await
    }

    async fn prune_jobs(&self, before: jiff::Timestamp, limit: u32) -> StoreResult<u64> {
        self.write(move |tx| retention::jobs(tx, before, limit))
            .await
    }

    async fn prune_start_keys(&self, before: jiff::Timestamp, limit: u32) -> StoreResult<u64> {
        self.write(move |tx| retention::start_keys(tx, before, limit))
            .await
    }

    async fn prune_flow_versions(
        &self,
        superseded_before: jiff::Timestamp,
        pins: Arc<LivePins>,
        limit: u32,
    ) -> StoreResult<Vec<(String, u32)>> {
        self.write(move |tx| retention::flow_versions(tx, superseded_before, &pins, limit))
            .await
    }

    async fn oldest_audit(
        &self,
        before: jiff::Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        self.read(move |conn| audit::oldest(conn, before, limit))
            .await
    }

    async fn prune_audit(&self, through: u64, before: jiff::Timestamp) -> StoreResult<u64> {
        self.write(move |tx| audit::prune(tx, through, before))
            .await
    }

    async fn issue_token(
        &self,
        user: &str,
        sha256: [u8; 32],
        at: jiff::Timestamp,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let user = user.to_owned();
        self.write(move |tx| {
            tokens::issue(tx, &user, &sha256, at)?;
            audit::put(tx, &audit)
        })
        .await
    }

    async fn revoke_tokens(&self, user: &str, mut audit: AuditRecord) -> StoreResult<u64> {
        let user = user.to_owned();
        self.write(move |tx| {
            let revoked = tokens::revoke(tx, &user)?;
            audit.detail = serde_json::json!({ "revoked": revoked });
            audit::put(tx, &audit)?;
            Ok(revoked)
        })
        .await
    }

    async fn tokens(&self) -> StoreResult<Vec<(String, [u8; 32])>> {
        self.read(tokens::all).await
    }

    async fn record_audit(&self, records: Vec<AuditRecord>) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.write(move |tx| records.iter().try_for_each(|record| audit::put(tx, record)))
            .await
    }

    async fn audit(&self, filter: AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        self.read(move |conn| audit::list(conn, &filter)).await
    }

    async fn create_job(&self, job: NewJob, audit: AuditRecord) -> StoreResult<JobRecord> {
        self.write(move |tx| {
            let record = jobs::create(tx, &job)?;
            audit::put(tx, &audit)?;
            Ok(record)
        })
        .await
    }

    async fn job(&self, id: &JobId) -> StoreResult<Option<JobRecord>> {
        let id = id.clone();
        self.read(move |conn| jobs::one(conn, &id)).await
    }

    async fn jobs(&self, status: Option<JobStatus>, limit: u32) -> StoreResult<Vec<JobRecord>> {
        self.read(move |conn| jobs::list(conn, status, limit)).await
    }

    async fn job_runs(
        &self,
        id: &JobId,
        state: Option<JobRunState>,
        limit: u32,
    ) -> StoreResult<Vec<JobRun>> {
        let id = id.clone();
        self.read(move |conn| jobs::runs(conn, &id, state, limit))
            .await
    }

    async fn finish_job(
        &self,
        id: &JobId,
        status: JobStatus,
        at: jiff::Timestamp,
        audit: Option<AuditRecord>,
    ) -> StoreResult<JobRecord> {
        let id = id.clone();
        self.write(move |tx| {
            let record = jobs::finish(tx, &id, status, at)?;
            if let Some(audit) = &audit {
                audit::put(tx, audit)?;
            }
            Ok(record)
        })
        .await
    }
}
