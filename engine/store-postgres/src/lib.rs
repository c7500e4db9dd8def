//! Stagecraft's store on PostgreSQL.
//!
//! Several engine nodes share one database (see `node`: leases, claims
//! fenced by epochs, commands routed to a run's owner). The schema is the SQLite
//! store's, with the same encoding of records (`stagecraft_store::encoding`),
//! so the two backends answer alike; the conformance suite checks it.
//!
//! Run commits go through one committer task per store, which takes every
//! commit waiting when it starts a transaction and writes them together
//! (group commit): a handful of statements per batch, whatever its size,
//! each run's row written once with its latest state, arrays bound to one
//! `UNNEST` insert per table. Other writes are transactions of their own on
//! a pooled connection. Schema migrations run when a store opens, under an
//! advisory lock, so nodes starting together migrate once; a database whose
//! schema is newer than this build is refused.

mod catalog;
mod committer;
mod directory;
mod error;
mod jobs;
mod node;
mod retention;
mod runs;
mod schema;
mod start_keys;
mod text;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use stagecraft_core::run::{Run, RunId, RunStatus, WorkItemId};
use stagecraft_store::encoding::EncodedCommit;
use stagecraft_store::{Abandoned, Claim, RouteState, Routed};
use stagecraft_store::{
    AuditEntry, AuditFilter, AuditRecord, Commit, FlowRecord, Group, JobId, JobRecord, JobRun,
    JobRunState, JobStatus, LivePins, Memberships, NewFlow, NewJob, NewOrchestration,
    OrchestrationRecord, Quarantine, Queue, RunFilter, RunSummary, StartKey, StepLog, Store,
    StoreError, StoreResult, UnfinishedRuns, User, WorkItemFilter, WorkItemRecord,
};
use tokio_postgres::NoTls;

use committer::{Batch, Committer};
use error::{read_error, unavailable};
use node::Node;
pub use schema::latest_version as latest_schema_version;

/// How long a node's lease lasts without renewal, unless configured.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(5);

/// How to reach the database, and how hard to use it.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// The connection settings (host, port, user, password, database...).
    pub connection: tokio_postgres::Config,
    /// Pooled connections for reads and for writes other than run commits.
    pub pool_size: usize,
    /// Most run states, step logs and records one group commit writes.
    pub max_batch: usize,
    /// How long this node's lease lasts without renewal: after it, other
    /// nodes take over its runs. Renewed every third of it.
    pub lease_ttl: Duration,
}

impl PostgresConfig {
    /// Settings from a URL such as `postgres://user:password@host:5432/db`
    /// (or key-value pairs: `host=… user=…`), with default pool and batch
    /// sizes.
    pub fn from_url(url: &str) -> StoreResult<Self> {
        let connection = tokio_postgres::Config::from_str(url).map_err(|e| {
            StoreError::Incompatible(format!("not a PostgreSQL connection URL: {e}"))
        })?;
        Ok(Self {
            connection,
            pool_size: 16,
            max_batch: 512,
            lease_ttl: DEFAULT_LEASE_TTL,
        })
    }
}

/// The longest a statement may run before PostgreSQL cancels it: a stuck
/// statement fails its caller instead of holding a connection for ever.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a caller waits for a connection of the pool (or for a new
/// one): then it is told the store is unavailable, and may retry.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// `connection` with [`STATEMENT_TIMEOUT`] added to its options.
fn bounded(connection: &tokio_postgres::Config) -> tokio_postgres::Config {
    let timeout = format!("-c statement_timeout={}", STATEMENT_TIMEOUT.as_millis());
    let mut connection = connection.clone();
    let options = match connection.get_options() {
        Some(options) if !options.trim().is_empty() => format!("{options} {timeout}"),
        _ => timeout,
    };
    connection.options(options);
    connection
}

/// The PostgreSQL store: one node of the cluster. Cheap to clone; clones
/// share the pool, the committer and the node's lease, which is renewed
/// until the last clone is dropped.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    committer: Committer,
    node: Arc<Node>,
    _tasks: Arc<AbortOnDrop>,
}

/// Stops the node's tasks (lease renewal, listening for routed commands)
/// when the last store clone goes.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects, migrates the schema to this build's, and starts the
    /// committer. Must be called inside a Tokio runtime.
    ///
    /// Fails with [`StoreError::Unavailable`] if the database cannot be
    /// reached, and with [`StoreError::Incompatible`] if its schema is newer
    /// than this build knows.
    pub async fn open(config: PostgresConfig) -> StoreResult<Self> {
        let connection = bounded(&config.connection);
        let manager = Manager::from_config(
            connection.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(2))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| StoreError::Incompatible(format!("PostgreSQL pool: {e}")))?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| unavailable("cannot connect to PostgreSQL", e))?;
        schema::migrate(&mut client).await?;
        if config.lease_ttl < Duration::from_millis(300) {
            return Err(StoreError::Incompatible(format!(
                "a lease TTL of {:?} is too short to renew; use 300 ms or more",
                config.lease_ttl
            )));
        }
        let node = Arc::new(Node::new(config.lease_ttl));
        node.renew(&client).await?;
        drop(client);
        tracing::info!(node = %node.id, lease_ttl = ?config.lease_ttl, "joined the cluster");
        let keep_alive = node::keep_alive(Arc::clone(&node), connection.clone(), pool.clone());
        let listen = node::listen(Arc::clone(&node), connection);
        let committer = Committer::start(pool.clone(), Arc::clone(&node), config.max_batch.max(1));
        Ok(Self {
            pool,
            committer,
            node,
            _tasks: Arc::new(AbortOnDrop(vec![keep_alive, listen])),
        })
    }

    /// This node's id in the cluster.
    pub fn node_id(&self) -> &str {
        &self.node.id
    }

    /// Leaves the cluster: ends this node's lease now, so the other nodes
    /// take over its runs at once rather than after the TTL. Call it once
    /// the engine has stopped.
    pub async fn leave(&self) -> StoreResult<()> {
        self.node.leave(&self.client().await?).await
    }

    /// Group commits made so far (for tests and benchmarks).
    pub fn transactions_committed(&self) -> u64 {
        self.committer.transactions_committed()
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool
            .get()
            .await
            .map_err(|e| unavailable("no connection to PostgreSQL", e))
    }
}

impl Store for PostgresStore {
    async fn commit(&self, commit: Commit) -> StoreResult<()> {
        // Encoded on the caller's task; the committer only talks to the
        // database. Queued before the first await: the order of calls is
        // the order of commits.
        let Some(commit) = EncodedCommit::new(commit)? else {
            return Ok(());
        };
        let (epochs, released, number) = self.node.leases().stage(
            commit.runs.iter().map(|run| run.id.as_str()),
            commit.released.iter().map(|id| id.0.as_str()),
        );
        let batch = Batch {
            commit,
            epochs,
            released,
            number,
        };
        self.committer.commit(batch).await
    }

    async fn unfinished_runs(&self) -> StoreResult<UnfinishedRuns> {
        self.node.owned(&self.client().await?).await
    }

    async fn runs_with_status(
        &self,
        status: RunStatus,
        orchestration: Option<(String, Option<u32>)>,
    ) -> StoreResult<UnfinishedRuns> {
        runs::with_status(&self.client().await?, status, orchestration).await
    }

    async fn run(&self, id: &RunId) -> StoreResult<Option<Run>> {
        runs::one(&self.client().await?, id).await
    }

    async fn runs(&self, filter: RunFilter) -> StoreResult<Vec<RunSummary>> {
        runs::list(&self.client().await?, &filter).await
    }

    async fn run_counts(
        &self,
        orchestration: Option<String>,
    ) -> StoreResult<Vec<(RunStatus, u64)>> {
        runs::counts(&self.client().await?, orchestration.as_deref()).await
    }

    async fn work_items(&self, filter: WorkItemFilter) -> StoreResult<Vec<WorkItemRecord>> {
        runs::work_items(&self.client().await?, &filter).await
    }

    async fn work_item(&self, id: &WorkItemId) -> StoreResult<Option<WorkItemRecord>> {
        runs::work_item(&self.client().await?, id).await
    }

    async fn step_logs(&self, run: &RunId) -> StoreResult<Vec<StepLog>> {
        runs::step_logs(&self.client().await?, run).await
    }

    async fn insert_flow(&self, flow: NewFlow, audit: AuditRecord) -> StoreResult<FlowRecord> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let record = catalog::insert_flow(&tx, &flow).await?;
        committer::put_audit(&tx, &[audit.with_version(record.version)]).await?;
        commit(tx).await?;
        Ok(record)
    }

    async fn activate_flow(
        &self,
        name: &str,
        version: u32,
        audit: AuditRecord,
    ) -> StoreResult<FlowRecord> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let record = catalog::activate_flow(&tx, name, version).await?;
        committer::put_audit(&tx, &[audit]).await?;
        commit(tx).await?;
        Ok(record)
    }

    async fn flows(&self) -> StoreResult<Vec<FlowRecord>> {
        catalog::flows(&self.client().await?).await
    }

    async fn quarantine_flow(
        &self,
        name: &str,
        version: u32,
        quarantine: Quarantine,
        audit: AuditRecord,
    ) -> StoreResult<Option<FlowRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let quarantined = catalog::quarantine_flow(&tx, name, version, &quarantine).await?;
        if let Some((_, true)) = quarantined {
            committer::put_audit(&tx, &[audit]).await?;
        }
        commit(tx).await?;
        Ok(quarantined.map(|(record, _)| record))
    }

    async fn lift_quarantine(
        &self,
        name: &str,
        version: u32,
        audit: AuditRecord,
    ) -> StoreResult<Option<FlowRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let record = catalog::lift_quarantine(&tx, name, version).await?;
        if record.is_some() {
            committer::put_audit(&tx, &[audit]).await?;
        }
        commit(tx).await?;
        Ok(record)
    }

    async fn flow_bytes(&self, name: &str, version: u32) -> StoreResult<Option<Vec<u8>>> {
        catalog::flow_bytes(&self.client().await?, name, version).await
    }

    async fn insert_orchestration(
        &self,
        orchestration: NewOrchestration,
        audit: AuditRecord,
    ) -> StoreResult<OrchestrationRecord> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let record = catalog::insert_orchestration(&tx, &orchestration).await?;
        committer::put_audit(&tx, &[audit.with_version(record.version)]).await?;
        commit(tx).await?;
        Ok(record)
    }

    async fn orchestrations(&self) -> StoreResult<Vec<OrchestrationRecord>> {
        catalog::orchestrations(&self.client().await?).await
    }

    async fn put_user(&self, user: User, audit: AuditRecord) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        directory::put_user(&tx, &user).await?;
        committer::put_audit(&tx, &[audit]).await?;
        commit(tx).await
    }

    async fn put_group(&self, group: Group, audit: AuditRecord) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let set = directory::Set::Group;
        directory::put_set(&tx, set, &group.id, &group.name, &group.members).await?;
        committer::put_audit(&tx, &[audit]).await?;
        commit(tx).await
    }

    async fn put_queue(&self, queue: Queue, audit: AuditRecord) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let set = directory::Set::Queue;
        directory::put_set(&tx, set, &queue.id, &queue.name, &queue.members).await?;
        committer::put_audit(&tx, &[audit]).await?;
        commit(tx).await
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        directory::user(&self.client().await?, id).await
    }

    async fn group(&self, id: &str) -> StoreResult<Option<Group>> {
        let set = directory::set(&self.client().await?, directory::Set::Group, id).await?;
        Ok(set.map(|(id, name, members)| Group { id, name, members }))
    }

    async fn queue(&self, id: &str) -> StoreResult<Option<Queue>> {
        let set = directory::set(&self.client().await?, directory::Set::Queue, id).await?;
        Ok(set.map(|(id, name, members)| Queue { id, name, members }))
    }

    async fn directory(&self) -> StoreResult<(Vec<User>, Vec<Group>, Vec<Queue>)> {
        let mut client = self.client().await?;
        // One snapshot for the three lists.
        let tx = client
            .build_transaction()
            .read_only(true)
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .start()
            .await
            .map_err(read_error("the directory"))?;
        let all = directory::all(&tx).await?;
        tx.commit().await.map_err(read_error("the directory"))?;
        Ok(all)
    }

    async fn memberships(&self, user: &str) -> StoreResult<Memberships> {
        directory::memberships(&self.client().await?, user).await
    }

    async fn hold_start_key(
        &self,
        key: StartKey,
        replacing: Option<RunId>,
    ) -> StoreResult<Option<StartKey>> {
        start_keys::hold(&self.client().await?, &key, replacing.as_ref()).await
    }

    async fn release_start_key(&self, caller: &str, key: &str, run: &RunId) -> StoreResult<()> {
        start_keys::release(&self.client().await?, caller, key, run).await
    }

    async fn prune_runs(&self, before: jiff::Timestamp, limit: u32) -> StoreResult<u64> {
        retention::runs(&self.client().await?, before, limit).await
    }

    async fn prune_jobs(&self, before: jiff::Timestamp, limit: u32) -> StoreResult<u64> {
        retention::jobs(&self.client().await?, before, limit).await
    }

    async fn prune_start_keys(&self, before: jiff::Timestamp, limit: u32) -> StoreResult<u64> {
        retention::start_keys(&self.client().await?, before, limit).await
    }

    async fn prune_flow_versions(
        &self,
        superseded_before: jiff::Timestamp,
        pins: Arc<LivePins>,
        limit: u32,
    ) -> StoreResult<Vec<(String, u32)>> {
        let mut client = self.client().await?;
        retention::flow_versions(&mut client, superseded_before, &pins, limit).await
    }

    async fn oldest_audit(
        &self,
        before: jiff::Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        retention::oldest_audit(&self.client().await?, before, limit).await
    }

    async fn prune_audit(&self, through: u64, before: jiff::Timestamp) -> StoreResult<u64> {
        retention::prune_audit(&self.client().await?, through, before).await
    }

    async fn claim_retention(&self, hold: Duration) -> StoreResult<bool> {
        retention::claim(&self.client().await?, &self.node.id, hold).await
    }

    async fn issue_token(
        &self,
        user: &str,
        sha256: [u8; 32],
        at: jiff::Timestamp,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        directory::issue_token(&tx, user, &sha256, at).await?;
        committer::put_audit(&tx, &[audit]).await?;
        commit(tx).await
    }

    async fn revoke_tokens(&self, user: &str, mut audit: AuditRecord) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let revoked = directory::revoke_tokens(&tx, user).await?;
        audit.detail = serde_json::json!({ "revoked": revoked });
        committer::put_audit(&tx, &[audit]).await?;
        commit(tx).await?;
        Ok(revoked)
    }

    async fn tokens(&self) -> StoreResult<Vec<(String, [u8; 32])>> {
        directory::tokens(&self.client().await?).await
    }

    async fn record_audit(&self, records: Vec<AuditRecord>) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        committer::put_audit(&tx, &records).await?;
        commit(tx).await
    }

    async fn audit(&self, filter: AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        jobs::audit(&self.client().await?, &filter).await
    }

    async fn create_job(&self, job: NewJob, audit: AuditRecord) -> StoreResult<JobRecord> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let record = jobs::create(&tx, &job).await?;
        // Driven by the node that creates it.
        tx.execute(
            "UPDATE jobs SET owner = $2 WHERE id = $1",
            &[&job.id.0, &self.node.id],
        )
        .await
        .map_err(error::write_error("a job"))?;
        committer::put_audit(&tx, &[audit]).await?;
        commit(tx).await?;
        Ok(record)
    }

    async fn job(&self, id: &JobId) -> StoreResult<Option<JobRecord>> {
        jobs::one(&self.client().await?, id).await
    }

    async fn jobs(&self, status: Option<JobStatus>, limit: u32) -> StoreResult<Vec<JobRecord>> {
        jobs::list(&self.client().await?, status, limit).await
    }

    async fn job_runs(
        &self,
        id: &JobId,
        state: Option<JobRunState>,
        limit: u32,
    ) -> StoreResult<Vec<JobRun>> {
        jobs::runs(&self.client().await?, id, state, limit).await
    }

    async fn finish_job(
        &self,
        id: &JobId,
        status: JobStatus,
        at: jiff::Timestamp,
        audit: Option<AuditRecord>,
    ) -> StoreResult<JobRecord> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let record = jobs::finish(&tx, id, status, at).await?;
        if let Some(audit) = audit {
            committer::put_audit(&tx, &[audit]).await?;
        }
        commit(tx).await?;
        Ok(record)
    }

    fn lease_ttl(&self) -> Option<Duration> {
        Some(self.node.ttl)
    }

    async fn claim_job(&self, id: &JobId) -> StoreResult<bool> {
        self.node.claim_job(&self.client().await?, id).await
    }

    async fn request_job_cancel(&self, id: &JobId, by: &str) -> StoreResult<bool> {
        self.node
            .request_job_cancel(&self.client().await?, id, by)
            .await
    }

    async fn cancels_requested(&self, ids: Vec<JobId>) -> StoreResult<Vec<(JobId, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        jobs::cancels_requested(&self.client().await?, &ids).await
    }

    async fn catalog_changes(&self) -> StoreResult<Option<i64>> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT changes FROM catalog_changes WHERE id = 1", &[])
            .await
            .map_err(read_error("the catalog's changes"))?;
        row.try_get(0)
            .map(Some)
            .map_err(read_error("the catalog's changes"))
    }

    async fn claim(&self, id: &RunId) -> StoreResult<Claim> {
        self.node.claim(&self.client().await?, id).await
    }

    async fn take_over(&self) -> StoreResult<UnfinishedRuns> {
        self.node.take_over(&self.client().await?).await
    }

    async fn route(&self, run: &RunId, command: String) -> StoreResult<i64> {
        self.node.route(&self.client().await?, run, &command).await
    }

    async fn route_state(&self, id: i64) -> StoreResult<RouteState> {
        self.node.route_state(&self.client().await?, id).await
    }

    async fn abandon_route(&self, id: i64) -> StoreResult<Abandoned> {
        self.node.abandon_route(&self.client().await?, id).await
    }

    fn route_hint(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        Arc::clone(&self.node.hint).notified_owned()
    }

    async fn take_routed(&self) -> StoreResult<Vec<Routed>> {
        self.node.take_routed(&self.client().await?).await
    }

    async fn answer_routed(&self, id: i64, answer: String) -> StoreResult<()> {
        self.node.answer(&self.client().await?, id, &answer).await
    }
}

/// Starts a write transaction.
async fn begin(
    client: &mut deadpool_postgres::Object,
) -> StoreResult<deadpool_postgres::Transaction<'_>> {
    client
        .transaction()
        .await
        .map_err(error::write_error("a transaction"))
}

/// Commits a write transaction.
async fn commit(tx: deadpool_postgres::Transaction<'_>) -> StoreResult<()> {
    tx.commit()
        .await
        .map_err(error::write_error("a transaction"))
}

#[cfg(test)]
mod tests {
    use super::{PostgresConfig, PostgresStore};
    use std::time::Duration;

    /// Issue 20, defect 11: the lease was renewed on a connection of the
    /// pool, with no wait timeout, so a node whose pool was busy (commits,
    /// claims, reads under load) lost its lease and its runs. It is renewed
    /// on a connection of its own: with every pooled connection held, the
    /// lease stays alive for many TTLs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_lease_is_renewed_while_every_pooled_connection_is_busy() {
        let Some(server) = stagecraft_store_conformance::test_database("lease_starved") else {
            return;
        };
        let url = stagecraft_store_conformance::fresh_database(&server, "lease_starved").await;
        let ttl = Duration::from_millis(600);
        let mut config = PostgresConfig::from_url(&url).expect("a valid URL");
        config.pool_size = 2;
        config.lease_ttl = ttl;
        let store = PostgresStore::open(config).await.expect("the store opens");
        let held = (
            store.pool.get().await.expect("a connection"),
            store.pool.get().await.expect("a connection"),
        );
        let (watcher, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("the database accepts connections");
        tokio::spawn(connection);
        let until = tokio::time::Instant::now() + 5 * ttl;
        while tokio::time::Instant::now() < until {
            let alive: bool = watcher
                .query_one(
                    "SELECT lease_until > now() FROM nodes WHERE id = $1",
                    &[&store.node.id],
                )
                .await
                .expect("the node's row")
                .get(0);
            assert!(alive, "the lease ran out while the pool was busy");
            tokio::time::sleep(ttl / 6).await;
        }
        drop(held);
    }
}
