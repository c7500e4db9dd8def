//! The writer thread: the only connection that writes, and group commit.
//!
//! Requests arrive on a channel. The thread blocks for the first one, then
//! drains whatever else is already queued (up to `max_batch` runs) and
//! writes every queued run commit in ONE transaction: one fsync for the
//! whole batch. Every caller of the batch gets the same outcome, `Ok` or the
//! error; a failed transaction is rolled back whole, so nothing of it is
//! visible. Other writes (flows, directory...) run after the batch, each in
//! its own transaction.
//!
//! Requests queued together were all unacknowledged, so committing them in
//! any order is linearizable; within a batch, the latest queued state of a
//! run wins and is the only one written.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::codec::{EncodedCommit, EncodedRun, db};
use super::{audit, jobs, runs, step_logs};
use stagecraft_store::lineage::FailedLineage;
use stagecraft_store::{StoreError, StoreResult};

#[cfg(test)]
mod tests;

/// A write for the writer thread.
enum Request {
    /// Runs to group-commit, and where to answer.
    Commit {
        batch: Batch,
        reply: oneshot::Sender<StoreResult<()>>,
    },
    /// Any other write: runs its own transaction, counts it if it committed,
    /// and answers its caller itself.
    Job(Job),
}

/// A write other than a run commit, given the connection and the counter of
/// committed transactions.
type Job = Box<dyn FnOnce(&mut Connection, &AtomicU64) + Send>;

/// The handle to the writer thread. Dropping it lets the thread drain its
/// queue and waits for it to exit.
pub(super) struct Writer {
    requests: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    committed: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the thread that owns `conn`.
    pub fn start(conn: Connection, max_batch: usize) -> StoreResult<Self> {
        let (requests, queue) = mpsc::channel();
        let committed = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&committed);
        let thread = std::thread::Builder::new()
            .name("stagecraft-store-writer".to_owned())
            .spawn(move || run(conn, &queue, max_batch, &counter))
            .map_err(|e| StoreError::unavailable("the writer thread cannot start", e))?;
        Ok(Self {
            requests: Some(requests),
            thread: Some(thread),
            committed,
        })
    }

    /// Write transactions committed so far.
    pub fn transactions_committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// Durably commits `batch`, possibly together with concurrent calls.
    pub async fn commit(&self, batch: Batch) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Commit { batch, reply })?;
        answer.await.map_err(|_| stopped())?
    }

    /// Runs `write` in its own transaction on the writer thread.
    pub async fn write<T, F>(&self, write: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Job(Box::new(
            move |conn: &mut Connection, counter: &AtomicU64| {
                let result = in_transaction(conn, write);
                if result.is_ok() {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                // The caller may have given up waiting; the write stands.
                let _ = reply.send(result);
            },
        )))?;
        answer.await.map_err(|_| stopped())?
    }

    fn send(&self, request: Request) -> StoreResult<()> {
        self.requests
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(request)
            .map_err(|_| StoreError::Closed)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop once the queue is empty.
        drop(self.requests.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the store's writer thread panicked");
        }
    }
}

fn stopped() -> StoreError {
    StoreError::write(
        "the database",
        "the store's writer stopped before answering",
    )
}

/// The writer thread's loop; returns when every sender is gone and the queue
/// is drained.
fn run(
    mut conn: Connection,
    queue: &mpsc::Receiver<Request>,
    max_batch: usize,
    counter: &AtomicU64,
) {
    let mut lineage = FailedLineage::default();
    while let Ok(first) = queue.recv() {
        let mut commits = Vec::new();
        let mut jobs = Vec::new();
        let mut size = 0;
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Commit { batch, reply } => {
                    size += batch.size();
                    commits.push((batch, reply));
                }
                Request::Job(job) => {
                    size += 1;
                    jobs.push(job);
                }
            }
            if size < max_batch {
                next = queue.try_recv().ok();
            }
        }
        if !commits.is_empty() {
            commit_batch(&mut conn, commits, counter, &mut lineage);
        }
        for job in jobs {
            job(&mut conn, counter);
        }
    }
    tracing::debug!("the store's writer thread is done");
}

/// Writes every run of `commits` in one transaction, counts it if it
/// committed (before anyone hears of it), and answers each caller.
fn commit_batch(
    conn: &mut Connection,
    commits: Vec<(Batch, oneshot::Sender<StoreResult<()>>)>,
    counter: &AtomicU64,
    lineage: &mut FailedLineage,
) {
    // A commit built on one that failed fails unwritten.
    let commits: Vec<_> = commits
        .into_iter()
        .filter_map(|(batch, reply)| match lineage.built_on_failure(&batch) {
            Some(error) => {
                let _ = reply.send(Err(error.with_context("commit failed")));
                None
            }
            None => Some((batch, reply)),
        })
        .collect();
    if commits.is_empty() {
        return;
    }
    let (batch, replies): (Vec<_>, Vec<_>) = commits.into_iter().unzip();
    let result = write_batch(conn, &batch);
    if result.is_ok() {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    if let Err(error) = &result {
        let runs: usize = batch.iter().map(|b| b.runs.len()).sum();
        // The engine reports failing commits (once, then periodically).
        tracing::debug!(runs, callers = replies.len(), %error, "group commit failed");
        for commit in &batch {
            lineage.failed(commit);
        }
    }
    for reply in replies {
        let answer = match &result {
            Ok(()) => Ok(()),
            Err(error) => Err(error.with_context("commit failed")),
        };
        // A caller that stopped waiting still had its runs committed.
        let _ = reply.send(answer);
    }
}

/// One caller's share of a group commit.
pub(super) type Batch = EncodedCommit;

/// Writes the batch in one transaction. A run queued several times (several
/// transitions committed while the writer was busy) is written once, in its
/// latest state: the earlier states would be overwritten inside the same
/// transaction, so no reader could ever see them. Step logs, audit and job
/// records follow the runs they belong to.
fn write_batch(conn: &mut Connection, batch: &[Batch]) -> StoreResult<()> {
    let runs: Vec<&EncodedRun> = batch.iter().flat_map(|b| &b.runs).collect();
    let latest: HashMap<&str, usize> = runs
        .iter()
        .enumerate()
        .map(|(index, run)| (run.id.as_str(), index))
        .collect();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    for (index, run) in runs.iter().enumerate() {
        if latest.get(run.id.as_str()) == Some(&index) {
            runs::write(&tx, run).map_err(db)?;
        }
    }
    for log in batch.iter().flat_map(|b| &b.step_logs) {
        step_logs::put(&tx, log)?;
    }
    for record in batch.iter().flat_map(|b| &b.audit) {
        audit::put(&tx, record)?;
    }
    for b in batch.iter().filter(|b| !b.job_runs.is_empty()) {
        jobs::record(&tx, &b.job_runs)?;
    }
    tx.commit().map_err(db)
}

fn in_transaction<T>(
    conn: &mut Connection,
    write: impl FnOnce(&Transaction<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let value = write(&tx)?;
    tx.commit().map_err(db)?;
    Ok(value)
}
