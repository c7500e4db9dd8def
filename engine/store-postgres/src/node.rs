//! This process as a node of the cluster: its lease, the runs it owns and
//! the epochs it owns them at, and the commands routed between nodes.
//!
//! Times are the database's (`now()`), never the node's clock. A node's
//! lease is one row it renews every third of the TTL; a run is owned
//! through its node's lease, so renewal costs one statement whatever the
//! number of runs. A node whose lease ran out loses nothing at once: its
//! runs are taken when another node claims them, which raises their epoch
//! and so fences every later write of the old owner.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use deadpool_postgres::{Client, Pool};
use stagecraft_core::run::RunId;
use stagecraft_store::encoding::state::{self, StoredState};
use stagecraft_store::encoding::unfinished_statuses;
use stagecraft_store::{Abandoned, Claim, RouteState, Routed, StoreResult, UnfinishedRuns};
use tokio_postgres::Row;

use crate::error::{read_error, write_error};

/// The channel on which nodes say that they routed or answered a command.
const ROUTES_CHANNEL: &str = "stagecraft_routes";
/// Wait before listening again after the listening connection failed.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// Runs taken over per statement; the rest at the next round.
const TAKE_OVER_LIMIT: i64 = 500;
/// Routed commands taken per statement.
const ROUTED_LIMIT: i64 = 256;

/// The epochs this node owns its runs at, and which commit last wrote each
/// (so that letting a run go does not forget an epoch a later commit, still
/// pending, needs).
#[derive(Debug, Default)]
pub(crate) struct Leases {
    epochs: HashMap<String, (i64, u64)>,
    commits: u64,
}

impl Leases {
    /// The epochs of `runs` for a new commit, and the commit's number; a run
    /// seen for the first time is new (epoch 1).
    pub(crate) fn stage<'a>(
        &mut self,
        runs: impl Iterator<Item = &'a str>,
        released: impl Iterator<Item = &'a str>,
    ) -> (Vec<i64>, Vec<(String, i64)>, u64) {
        self.commits += 1;
        let commit = self.commits;
        let epochs = runs
            .map(|id| {
                let entry = self.epochs.entry(id.to_owned()).or_insert((1, commit));
                entry.1 = commit;
                entry.0
            })
            .collect();
        let released = released
            .filter_map(|id| {
                self.epochs
                    .get(id)
                    .map(|(epoch, _)| (id.to_owned(), *epoch))
            })
            .collect();
        (epochs, released, commit)
    }

    /// After commit `commit` is durable: forgets the runs it let go, unless
    /// a later commit wrote them again or the run was claimed again since
    /// (at a new epoch, which this release does not end).
    pub(crate) fn committed(&mut self, released: &[(String, i64)], commit: u64) {
        for (id, released_at) in released {
            if self
                .epochs
                .get(id)
                .is_some_and(|(epoch, last)| *last <= commit && epoch == released_at)
            {
                self.epochs.remove(id);
            }
        }
    }

    /// After `batches` are durable.
    pub(crate) fn committed_all(&mut self, batches: &[crate::committer::Batch]) {
        for batch in batches {
            self.committed(&batch.released, batch.number);
        }
    }

    /// Runs another node claimed: this node no longer owns them.
    pub(crate) fn lost(&mut self, runs: &[String]) {
        for id in runs {
            self.epochs.remove(id);
        }
    }

    fn owned(&mut self, id: String, epoch: i64) {
        let commit = self.commits;
        self.epochs.insert(id, (epoch, commit));
    }
}

/// This process's identity and lease in the database.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) id: String,
    pub(crate) ttl: Duration,
    pub(crate) leases: Mutex<Leases>,
    /// Woken when a node says it routed or answered a command.
    pub(crate) hint: Arc<tokio::sync::Notify>,
}

impl Node {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            ttl,
            leases: Mutex::default(),
            hint: Arc::default(),
        }
    }

    pub(crate) fn leases(&self) -> std::sync::MutexGuard<'_, Leases> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ttl_millis(&self) -> f64 {
        self.ttl.as_secs_f64() * 1000.0
    }

    /// Registers the node, or renews its lease (re-registering it if another
    /// node removed it as dead meanwhile).
    pub(crate) async fn renew(&self, client: &tokio_postgres::Client) -> StoreResult<()> {
        client
            .execute(
                "INSERT INTO nodes (id, lease_until)
                 VALUES ($1, now() + $2 * interval '1 millisecond')
                 ON CONFLICT (id) DO UPDATE SET lease_until = excluded.lease_until",
                &[&self.id, &self.ttl_millis()],
            )
            .await
            .map_err(write_error("the node's lease"))?;
        Ok(())
    }

    /// Leaves the cluster: the node's lease ends now, so its runs are taken
    /// over at once.
    pub(crate) async fn leave(&self, client: &Client) -> StoreResult<()> {
        client
            .execute("DELETE FROM nodes WHERE id = $1", &[&self.id])
            .await
            .map_err(write_error("the node's lease"))?;
        Ok(())
    }

    /// Removes what dead nodes left: their rows once they own no run, and
    /// routes nobody reads.
    async fn tidy(&self, client: &Client) -> StoreResult<()> {
        client
            .batch_execute(
                "DELETE FROM nodes n WHERE n.lease_until < now() - interval '10 minutes'
                     AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.owner = n.id);
                 DELETE FROM routed_commands WHERE created_at < now() - interval '1 hour';",
            )
            .await
            .map_err(write_error("dead nodes' rows"))
    }

    /// Takes `id` for a command, unless a live node owns it.
    pub(crate) async fn claim(&self, client: &Client, id: &RunId) -> StoreResult<Claim> {
        let failed = || write_error("a run's claim");
        let statuses = unfinished_statuses()?;
        let claim = client
            .prepare_cached(
                "UPDATE runs r SET owner = $2, epoch = r.epoch + 1
                 WHERE r.id = $1 AND r.status = ANY($3::text[])
                   AND (r.owner IS NULL OR r.owner = $2 OR NOT EXISTS (
                        SELECT 1 FROM nodes n WHERE n.id = r.owner AND n.lease_until > now()))
                 RETURNING r.epoch, r.state",
            )
            .await
            .map_err(failed())?;
        let read = client
            .prepare_cached("SELECT owner, status = ANY($2::text[]), state FROM runs WHERE id = $1")
            .await
            .map_err(read_error("a run"))?;
        // Twice at most: the owner may let the run go between the two reads.
        for _ in 0..2 {
            if let Some(row) = client
                .query_opt(&claim, &[&id.0, &self.id, &statuses])
                .await
                .map_err(failed())?
            {
                let epoch: i64 = row.try_get(0).map_err(failed())?;
                let run = decode(&id.0, &row, 1)?;
                self.leases().owned(id.0.clone(), epoch);
                return Ok(Claim::Claimed(Box::new(run)));
            }
            let Some(row) = client
                .query_opt(&read, &[&id.0, &statuses])
                .await
                .map_err(read_error("a run"))?
            else {
                return Ok(Claim::Missing);
            };
            let owner: Option<String> = row.try_get(0).map_err(read_error("a run"))?;
            let unfinished: bool = row.try_get(1).map_err(read_error("a run"))?;
            match owner {
                Some(owner) if unfinished => return Ok(Claim::OwnedBy(owner)),
                // Finished: read only, nothing to own.
                _ if !unfinished => return Ok(Claim::Claimed(Box::new(decode(&id.0, &row, 2)?))),
                _ => {}
            }
        }
        Err(stagecraft_store::StoreError::unavailable(
            format!("run {id}"),
            "its owner keeps changing; try again",
        ))
    }

    /// Makes running job `id` this node's, unless a live node drives it.
    pub(crate) async fn claim_job(
        &self,
        client: &Client,
        id: &stagecraft_store::JobId,
    ) -> StoreResult<bool> {
        let claimed = client
            .execute(
                "UPDATE jobs j SET owner = $2
                 WHERE j.id = $1 AND j.status = 'running'
                   AND (j.owner IS NULL OR j.owner = $2 OR NOT EXISTS (
                        SELECT 1 FROM nodes n WHERE n.id = j.owner AND n.lease_until > now()))",
                &[&id.0, &self.id],
            )
            .await
            .map_err(write_error("a job's claim"))?;
        Ok(claimed == 1)
    }

    /// Asks the driver of running job `id` to cancel it; whether it runs.
    pub(crate) async fn request_job_cancel(
        &self,
        client: &Client,
        id: &stagecraft_store::JobId,
        by: &str,
    ) -> StoreResult<bool> {
        let asked = client
            .execute(
                "UPDATE jobs SET cancel_requested_by = $2 WHERE id = $1 AND status = 'running'",
                &[&id.0, &crate::text::text(by)],
            )
            .await
            .map_err(write_error("a job's cancel"))?;
        // Wakes the driver's look at its jobs sooner.
        notify(client).await;
        Ok(asked == 1)
    }

    /// Claims the unfinished runs of nodes whose lease ran out.
    pub(crate) async fn take_over(&self, client: &Client) -> StoreResult<UnfinishedRuns> {
        let failed = || write_error("runs of stopped nodes");
        let stmt = client
            .prepare_cached(
                "UPDATE runs r SET owner = $1, epoch = r.epoch + 1
                 FROM (SELECT o.id FROM runs o
                       WHERE o.owner IS NOT NULL AND o.owner <> $1
                         AND o.status = ANY($3::text[])
                         AND NOT EXISTS (SELECT 1 FROM nodes n
                                         WHERE n.id = o.owner AND n.lease_until > now())
                       ORDER BY o.started_at LIMIT $2
                       FOR UPDATE SKIP LOCKED) orphan
                 WHERE r.id = orphan.id
                 RETURNING r.id, r.epoch, r.state, r.started_at",
            )
            .await
            .map_err(failed())?;
        let mut rows = client
            .query(
                &stmt,
                &[&self.id, &TAKE_OVER_LIMIT, &unfinished_statuses()?],
            )
            .await
            .map_err(failed())?;
        rows.sort_by_key(|row| row.try_get::<_, i64>(3).unwrap_or(i64::MAX));
        if !rows.is_empty() {
            tracing::info!(runs = rows.len(), node = %self.id, "took over runs of stopped nodes");
        }
        self.own(&rows)
    }

    /// The runs this node owns now, after taking over those of stopped nodes.
    pub(crate) async fn owned(&self, client: &Client) -> StoreResult<UnfinishedRuns> {
        let mut found = self.take_over(client).await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, epoch, state, started_at FROM runs
                 WHERE owner = $1 AND status = ANY($2::text[])
                 ORDER BY started_at, id",
            )
            .await
            .map_err(read_error("the node's runs"))?;
        let rows = client
            .query(&stmt, &[&self.id, &unfinished_statuses()?])
            .await
            .map_err(read_error("the node's runs"))?;
        let taken: std::collections::HashSet<RunId> =
            found.runs.iter().map(|run| run.id.clone()).collect();
        let mine = self.own(&rows)?;
        found
            .runs
            .extend(mine.runs.into_iter().filter(|run| !taken.contains(&run.id)));
        found.unreadable.extend(mine.unreadable);
        found.runs.sort_by_key(|run| run.started_at());
        Ok(found)
    }

    /// Decodes rows of (id, epoch, state) this node owns, remembering their
    /// epochs.
    fn own(&self, rows: &[Row]) -> StoreResult<UnfinishedRuns> {
        let mut found = UnfinishedRuns::default();
        let mut leases = self.leases();
        for row in rows {
            let id: String = row.try_get(0).map_err(read_error("a run"))?;
            let epoch: i64 = row.try_get(1).map_err(read_error("a run"))?;
            leases.owned(id.clone(), epoch);
            match decode(&id, row, 2) {
                Ok(run) => found.runs.push(run),
                Err(error) => found.unreadable.push((RunId(id), error)),
            }
        }
        Ok(found)
    }

    /// Queues a command for the owner of `run`.
    pub(crate) async fn route(
        &self,
        client: &Client,
        run: &RunId,
        command: &str,
    ) -> StoreResult<i64> {
        let failed = || write_error("a routed command");
        let stmt = client
            .prepare_cached(
                "INSERT INTO routed_commands (run_id, command) VALUES ($1, $2) RETURNING id",
            )
            .await
            .map_err(failed())?;
        let id = client
            .query_one(&stmt, &[&run.0, &command])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(failed())?;
        notify(client).await;
        Ok(id)
    }

    /// Where route `id` stands; ends it if it is over.
    pub(crate) async fn route_state(&self, client: &Client, id: i64) -> StoreResult<RouteState> {
        let failed = || read_error("a routed command");
        let stmt = client
            .prepare_cached(
                "SELECT c.taken_by, c.answer, r.owner,
                        EXISTS (SELECT 1 FROM nodes n
                                WHERE n.id = COALESCE(c.taken_by, r.owner)
                                  AND n.lease_until > now())
                 FROM routed_commands c LEFT JOIN runs r ON r.id = c.run_id
                 WHERE c.id = $1",
            )
            .await
            .map_err(failed())?;
        let Some(row) = client.query_opt(&stmt, &[&id]).await.map_err(failed())? else {
            return Ok(RouteState::Lost {
                node: "unknown".to_owned(),
            });
        };
        let taken_by: Option<String> = row.try_get(0).map_err(failed())?;
        let answer: Option<String> = row.try_get(1).map_err(failed())?;
        let owner: Option<String> = row.try_get(2).map_err(failed())?;
        let live: bool = row.try_get(3).map_err(failed())?;
        let state = match (answer, taken_by) {
            (Some(answer), _) => RouteState::Answered(answer),
            (None, Some(node)) if !live => RouteState::Lost { node },
            (None, None) if !live || owner.as_deref().is_none_or(|o| o == self.id) => {
                // Nobody will take it: withdrawn, unless taken meanwhile.
                let withdrawn = client
                    .execute(
                        "DELETE FROM routed_commands WHERE id = $1 AND taken_by IS NULL",
                        &[&id],
                    )
                    .await
                    .map_err(write_error("a routed command"))?;
                return Ok(if withdrawn == 1 {
                    RouteState::Withdrawn
                } else {
                    RouteState::Waiting
                });
            }
            _ => return Ok(RouteState::Waiting),
        };
        client
            .execute("DELETE FROM routed_commands WHERE id = $1", &[&id])
            .await
            .map_err(write_error("a routed command"))?;
        Ok(state)
    }

    /// Gives up on route `id`: removes it unless it was answered.
    pub(crate) async fn abandon_route(&self, client: &Client, id: i64) -> StoreResult<Abandoned> {
        let row = client
            .query_opt(
                "DELETE FROM routed_commands WHERE id = $1 AND answer IS NULL RETURNING taken_by",
                &[&id],
            )
            .await
            .map_err(write_error("a routed command"))?;
        let Some(row) = row else {
            return Ok(Abandoned::Ended);
        };
        let taken_by: Option<String> = row.try_get(0).map_err(read_error("a routed command"))?;
        Ok(match taken_by {
            Some(node) => Abandoned::Unanswered { node },
            None => Abandoned::NotTaken,
        })
    }

    /// Takes the commands routed to this node's runs.
    pub(crate) async fn take_routed(&self, client: &Client) -> StoreResult<Vec<Routed>> {
        let failed = || write_error("routed commands");
        let stmt = client
            .prepare_cached(
                "UPDATE routed_commands c SET taken_by = $1
                 FROM (SELECT o.id FROM routed_commands o JOIN runs r ON r.id = o.run_id
                       WHERE o.taken_by IS NULL AND r.owner = $1
                       ORDER BY o.id LIMIT $2
                       FOR UPDATE OF o SKIP LOCKED) mine
                 WHERE c.id = mine.id
                 RETURNING c.id, c.run_id, c.command",
            )
            .await
            .map_err(failed())?;
        let rows = client
            .query(&stmt, &[&self.id, &ROUTED_LIMIT])
            .await
            .map_err(failed())?;
        let mut routed = rows
            .iter()
            .map(|row| {
                Ok(Routed {
                    id: row.try_get(0)?,
                    run: RunId(row.try_get(1)?),
                    command: row.try_get(2)?,
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(read_error("routed commands"))?;
        routed.sort_by_key(|routed| routed.id);
        Ok(routed)
    }

    /// Answers a routed command this node took.
    pub(crate) async fn answer(&self, client: &Client, id: i64, answer: &str) -> StoreResult<()> {
        client
            .execute(
                "UPDATE routed_commands SET answer = $2 WHERE id = $1 AND taken_by = $3",
                &[&id, &answer, &self.id],
            )
            .await
            .map_err(write_error("a routed command's answer"))?;
        notify(client).await;
        Ok(())
    }
}

/// Renews the node's lease every third of its TTL, until the store is
/// dropped (the task is aborted then), on a connection of its own: a
/// renewal never waits behind the pool's users, however busy, and one that
/// takes longer than a third of the TTL is given up and tried again on a
/// new connection. Every 600 rounds, tidies what dead nodes left (on the
/// pool, beside the renewals).
pub(crate) fn keep_alive(
    node: Arc<Node>,
    config: tokio_postgres::Config,
    pool: Pool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let patience = node.ttl / 3;
        let mut ticks = tokio::time::interval(patience);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut lease: Option<tokio_postgres::Client> = None;
        let mut rounds: u64 = 0;
        loop {
            ticks.tick().await;
            let renewed = tokio::time::timeout(patience, async {
                let client = match lease.take() {
                    Some(client) if !client.is_closed() => client,
                    _ => connect(&config).await?,
                };
                node.renew(&client).await?;
                lease = Some(client);
                Ok::<_, stagecraft_store::StoreError>(())
            })
            .await;
            match renewed {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(node = %node.id, error = %error.report(), "cannot renew the node's lease");
                }
                Err(_) => {
                    tracing::warn!(node = %node.id, ?patience, "renewing the node's lease took too long; trying again on a new connection");
                }
            }
            if rounds.is_multiple_of(600) {
                let (node, pool) = (Arc::clone(&node), pool.clone());
                tokio::spawn(async move {
                    let tidied = async {
                        let client = pool.get().await.map_err(|e| {
                            stagecraft_store::StoreError::unavailable("no connection", e)
                        })?;
                        node.tidy(&client).await
                    };
                    if let Err(error) = tidied.await {
                        tracing::warn!(error = %error.report(), "cannot tidy what dead nodes left");
                    }
                });
            }
            rounds += 1;
        }
    })
}

/// A connection of its own, driven by a task that ends with it.
async fn connect(config: &tokio_postgres::Config) -> StoreResult<tokio_postgres::Client> {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(|e| {
        stagecraft_store::StoreError::unavailable("cannot connect to PostgreSQL", e)
    })?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "the lease's connection ended");
        }
    });
    Ok(client)
}

/// Tells the listening nodes to look at the routed commands. Only a hint:
/// they look every so often anyway, so a failure is logged and no more.
async fn notify(client: &Client) {
    if let Err(error) = client
        .execute("SELECT pg_notify($1, '')", &[&ROUTES_CHANNEL])
        .await
    {
        tracing::debug!(%error, "cannot notify the other nodes");
    }
}

/// Listens, on a connection of its own, for the other nodes' word that a
/// command was routed or answered, and wakes this node's waiters; connects
/// again when the connection fails. Aborted with the store.
pub(crate) fn listen(
    node: Arc<Node>,
    config: tokio_postgres::Config,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match config.connect(tokio_postgres::NoTls).await {
                Ok((client, mut connection)) => {
                    let heard = Arc::clone(&node);
                    let driver = tokio::spawn(async move {
                        while let Some(message) =
                            std::future::poll_fn(|cx| connection.poll_message(cx)).await
                        {
                            match message {
                                Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                                    heard.hint.notify_waiters();
                                }
                                Ok(_) => {}
                                Err(error) => {
                                    tracing::debug!(%error, "the listening connection failed");
                                    break;
                                }
                            }
                        }
                    });
                    let listen = format!("LISTEN {ROUTES_CHANNEL}");
                    match client.batch_execute(&listen).await {
                        // Whatever was said before is missed: look now.
                        Ok(()) => node.hint.notify_waiters(),
                        Err(error) => {
                            tracing::warn!(%error, "cannot listen for routed commands; polling only")
                        }
                    }
                    let _ = driver.await;
                    drop(client);
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot connect to listen for routed commands; polling only");
                }
            }
            node.hint.notify_waiters();
            tokio::time::sleep(LISTEN_RETRY).await;
        }
    })
}

fn decode(id: &str, row: &Row, column: usize) -> StoreResult<stagecraft_core::run::Run> {
    let stored: Vec<u8> = row.try_get(column).map_err(read_error("a run"))?;
    state::decode(id, &StoredState::Compressed(stored))
}

#[cfg(test)]
mod tests {
    use super::Leases;

    /// Issue 20, defect 12: a run let go by commit 1 and claimed again (at
    /// a new epoch) before commit 1 finished keeps its new epoch.
    #[test]
    fn an_older_release_does_not_forget_a_fresh_claim() {
        let mut leases = Leases::default();
        let (epochs, _, _) = leases.stage(["r"].into_iter(), std::iter::empty());
        assert_eq!(epochs, [1]);
        let (_, released, commit) = leases.stage(std::iter::empty(), ["r"].into_iter());
        assert_eq!(released, [("r".to_owned(), 1)]);
        leases.owned("r".to_owned(), 2);
        leases.committed(&released, commit);
        let (epochs, _, _) = leases.stage(["r"].into_iter(), std::iter::empty());
        assert_eq!(epochs, [2], "the claim's epoch is kept");

        // Without a new claim, the release forgets the run.
        let (_, released, commit) = leases.stage(std::iter::empty(), ["r"].into_iter());
        leases.committed(&released, commit);
        assert!(leases.epochs.is_empty());
    }
}
