//! The event loop: the only place run state changes.
//!
//! Commands queue on a channel. The loop takes every queued command at once,
//! applies each to the pure state machine (chaining commands on the same run
//! within and across batches), and hands the new states to the store as one
//! group commit. It does not wait for that commit to apply the next batch:
//! up to [`MAX_IN_FLIGHT`] commits are pending at once, finished in order.
//! Callers are answered and actions performed only when their batch's
//! commit is durable, so nothing is acknowledged or acted on before it is on
//! disk.
//!
//! If a commit fails, the in-memory states built on it are not durable: the
//! executor reloads every unfinished run from the store and re-derives its
//! in-flight work, exactly as after a crash. A failed commit's outcome is
//! reported as a failure but is, strictly, unknown: a later batch already
//! handed to the store may carry a newer state of the same run and commit.
//!
//! Commits are handed to the store in the order they began, by polling each
//! one's future as soon as it exists; [`Store::commit`] starts its write on
//! the first poll, so the store sees them in that order.

use crate::clock::Clock;
use crate::dispatch::Dispatcher;
use crate::error::EngineError;
use crate::recovery::{keeps_held, recover};
use crate::registry::Registry;
use crate::watch::Watchers;
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, StreamExt};
use stagecraft_core::run::{Run, RunId};
use stagecraft_core::{Action, Event, Plan, Transition};
use stagecraft_store::{
    AuditRecord, Claim, Commit as Write, JobId, JobRunOutcome, StepLog, Store, StoreError,
    StoreResult,
};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};

/// Commands taken per batch, at most.
const MAX_BATCH: usize = 1024;
/// Commits pending at once; the loop stops taking commands beyond that.
const MAX_IN_FLIGHT: usize = 4;
/// Wait between attempts to reload state from a failing store.
const RELOAD_RETRY: Duration = Duration::from_millis(500);

/// Reply channel of a command.
pub(crate) type Reply = oneshot::Sender<Result<Arc<Run>, EngineError>>;

/// A change to run state, requested by the API or by a finished action.
pub(crate) enum Command {
    Start {
        plan: Arc<Plan>,
        id: RunId,
        inputs: serde_json::Value,
        reply: Reply,
        trail: Trail,
    },
    Event {
        run: RunId,
        event: Event,
        /// `None` for results of actions: nobody waits for them, and a stale
        /// one is dropped quietly.
        reply: Option<Reply>,
        /// The log of the invocation that produced this result, committed
        /// with the transition that accepts it. Boxed: most events carry none.
        log: Option<Box<StepLog>>,
        /// Who asked, for a person's action. Boxed: results carry none.
        trail: Option<Box<Trail>>,
    },
    /// Answered once every command applied before it is durable (or its
    /// commit failed): what was applied earlier is settled by then.
    Barrier { reply: oneshot::Sender<()> },
    /// A run the executor does not hold (it waits on a person, an event or
    /// an operator), claimed from the store for the commands queued on it.
    Loaded {
        run: RunId,
        /// Boxed: a run is large, the other commands small.
        state: Box<StoreResult<Claim>>,
    },
    /// Runs taken over from nodes that stopped, as the store holds them.
    Adopt { runs: Vec<Run> },
    /// The catalog was read again: parked runs may be carried on now.
    CatalogChanged,
}

/// What is recorded with a person's command, in the commit of its effect:
/// its audit record, and the resume job it is part of. A refused command is
/// recorded too (refused), and answered only once that is durable.
#[derive(Debug, Default)]
pub(crate) struct Trail {
    /// The action, as done; marked refused if it is.
    pub(crate) audit: Option<AuditRecord>,
    /// The resume job whose run this is.
    pub(crate) job: Option<JobId>,
}

impl Trail {
    /// A person's action.
    pub(crate) fn audit(record: AuditRecord) -> Self {
        Self {
            audit: Some(record),
            job: None,
        }
    }
}

/// A committed change, broadcast to subscribers.
#[derive(Debug, Clone)]
pub struct RunUpdate {
    /// The run that changed.
    pub run: Arc<Run>,
}

pub(crate) struct Executor<S> {
    pub(crate) store: Arc<S>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) dispatcher: Dispatcher<S>,
    pub(crate) updates: broadcast::Sender<RunUpdate>,
    pub(crate) watchers: Arc<Watchers>,
    /// The runs with work in flight (a flow, an evaluation, an external
    /// action or an assignee check under way) or a commit pending, at their
    /// latest state. A run that waits on a person, an event or an operator
    /// is not held: it is read from the store when a command comes for it.
    pub(crate) runs: HashMap<RunId, Arc<Run>>,
    /// Commands waiting for their run to be read from the store, in order.
    pub(crate) loading: HashMap<RunId, Vec<Command>>,
    /// How many runs `runs` holds, for [`crate::Engine::held_runs`].
    pub(crate) held: Arc<AtomicUsize>,
    /// Whether commits are failing, for back-off and reporting.
    pub(crate) failing: Failing,
    /// Resume jobs canceled: their runs' commands are dropped unapplied.
    pub(crate) canceled: CanceledJobs,
    /// Whether the store is shared by several nodes: runs let go are then
    /// released in the store, and commands for runs another node owns are
    /// routed there.
    pub(crate) clustered: bool,
    /// Runs owned but not held (read back, or taken over, with nothing in
    /// flight), released with the next commit.
    pub(crate) releasing: Vec<RunId>,
    /// Runs claimed whose orchestration version this node does not know
    /// yet (deployed through another node a moment ago): kept, neither held
    /// nor released, and carried on once the catalog is read again
    /// ([`Command::CatalogChanged`]).
    pub(crate) parked: HashMap<RunId, Arc<Run>>,
    /// The lineage of this executor's commits: each may be built on the
    /// states of those before it, so once one fails the store fails the
    /// later ones of its runs; a reload starts a new lineage.
    pub(crate) lineage: u64,
}

/// What became of a run claimed from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CarriedOn {
    /// Its work under way keeps it in memory.
    Held,
    /// Nothing under way holds it: it is let go.
    Idle,
    /// Its orchestration version is not known here yet.
    Parked,
}

/// Resume jobs canceled since the engine started, shared by the engine
/// (which cancels) and the executor (which drops their commands not yet
/// applied, so a cancel stops a job mid-batch).
pub(crate) type CanceledJobs = Arc<std::sync::Mutex<std::collections::HashSet<JobId>>>;

/// First wait after a failed commit; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait between attempts while commits fail.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often a continuing failure is reported again.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Commits failing in a row: the executor backs off exponentially, and the
/// condition is logged when it starts, every [`REPORT_EVERY`] while it lasts
/// (not on every attempt: the log may be on the same full disk), and when
/// it ends.
#[derive(Debug, Default)]
pub(crate) struct Failing {
    /// Failures in a row, when the first one happened and the last report.
    streak: Option<(u64, Instant, Instant)>,
    backoff: Duration,
}

impl Failing {
    fn failed(&mut self, error: &StoreError) {
        let now = Instant::now();
        match &mut self.streak {
            None => {
                tracing::error!(error = %error.report(), "commit failed; backing off, reloading state from the store");
                self.streak = Some((1, now, now));
                self.backoff = FIRST_BACKOFF;
            }
            Some((count, since, reported)) => {
                *count += 1;
                if now.duration_since(*reported) >= REPORT_EVERY {
                    tracing::error!(error = %error.report(), failures = *count, for_secs = now.duration_since(*since).as_secs(), "commits are still failing");
                    *reported = now;
                }
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    fn backoff(&self) -> Duration {
        self.backoff
    }

    fn succeeded(&mut self) {
        if let Some((count, since, _)) = self.streak.take() {
            tracing::info!(
                failures = count,
                after_secs = since.elapsed().as_secs(),
                "commits succeed again"
            );
        }
        self.backoff = Duration::ZERO;
    }
}

/// One command's effect, waiting for its batch's commit.
struct Applied {
    reply: Option<Reply>,
    /// The run's state right after this command.
    state: Arc<Run>,
    actions: Vec<Action>,
    log: Option<Box<StepLog>>,
}

/// A batch whose commit is under way.
struct Pending {
    applied: Vec<Applied>,
    states: Vec<Arc<Run>>,
    /// Refused commands whose refusal is recorded in this commit, answered
    /// when it finishes.
    refused: Vec<(Reply, EngineError)>,
    /// Barriers, answered when it finishes.
    barriers: Vec<oneshot::Sender<()>>,
}

/// A batch being applied: the latest state of each run it changes, and
/// what is recorded with them.
#[derive(Default)]
struct Staged {
    runs: HashMap<RunId, Arc<Run>>,
    /// Runs read from the store for this batch's commands; neither written
    /// nor held unless a command changes them.
    visiting: HashMap<RunId, Arc<Run>>,
    audit: Vec<AuditRecord>,
    job_runs: Vec<JobRunOutcome>,
    refused: Vec<(Reply, EngineError)>,
}

/// A batch's commit, resolving to its outcome and the batch.
type Commit = Pin<Box<dyn Future<Output = (StoreResult<()>, Pending)> + Send>>;

/// The commits under way, polled by the executor itself (no task per
/// commit, and the store's answer wakes the executor directly), all at once
/// so that the store can group them, and finished in the order they began.
type InFlight = FuturesOrdered<Commit>;

impl<S: Store> Executor<S> {
    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut in_flight = InFlight::new();
        loop {
            tokio::select! {
                biased;
                Some((result, pending)) = in_flight.next(), if !in_flight.is_empty() => {
                    self.finish(pending, result, &mut in_flight).await;
                }
                taken = commands.recv_many(&mut batch, MAX_BATCH), if in_flight.len() < MAX_IN_FLIGHT => {
                    if taken == 0 {
                        break;
                    }
                    if let Some(commit) = self.process(&mut batch) {
                        in_flight.push_back(commit);
                    }
                }
            }
        }
        // Shutting down: let what is pending become durable and answered.
        while let Some((result, pending)) = in_flight.next().await {
            self.finish(pending, result, &mut in_flight).await;
        }
    }

    /// Applies a batch and returns its commit.
    fn process(&mut self, batch: &mut Vec<Command>) -> Option<Commit> {
        let mut staged = Staged::default();
        let mut applied: Vec<Applied> = Vec::with_capacity(batch.len());
        let mut barriers = Vec::new();
        for command in batch.drain(..) {
            match command {
                Command::Barrier { reply } => barriers.push(reply),
                Command::Adopt { runs } => self.adopt(runs, &staged),
                Command::CatalogChanged => self.unpark(),
                Command::Loaded { run, state } => {
                    for command in self.loaded(&run, *state, &mut staged) {
                        if let Some(done) = self.apply(command, &mut staged) {
                            applied.push(done);
                        }
                    }
                }
                command => {
                    if let Some(done) = self.apply(command, &mut staged) {
                        applied.push(done);
                    }
                }
            }
        }
        let Staged {
            runs,
            audit,
            job_runs,
            refused,
            visiting,
        } = staged;
        let released = self.released(&runs, visiting);
        if runs.is_empty() && audit.is_empty() && job_runs.is_empty() && released.is_empty() {
            if barriers.is_empty() {
                return None;
            }
            // Nothing to write: an empty commit, finished in order after the
            // ones under way.
            let pending = Pending {
                applied,
                states: Vec::new(),
                refused,
                barriers,
            };
            return Some(Box::pin(std::future::ready((Ok(()), pending))));
        }
        let states: Vec<Arc<Run>> = runs.into_values().collect();
        // Held until the commit is durable, finished runs too: a command
        // that came meanwhile would otherwise read the run's last durable
        // state from the store and be applied to it a second time (two
        // people completing one work item would both be told they did).
        for state in &states {
            self.runs.insert(state.id.clone(), Arc::clone(state));
        }
        self.held.store(self.runs.len(), Ordering::Relaxed);
        let store = Arc::clone(&self.store);
        let to_write = states.clone();
        let logs: Vec<StepLog> = applied
            .iter_mut()
            .filter_map(|a| a.log.take().map(|log| *log))
            .collect();
        let pending = Pending {
            applied,
            states,
            refused,
            barriers,
        };
        let write = Write {
            runs: to_write,
            step_logs: logs,
            audit,
            job_runs,
            released,
            lineage: Some(self.lineage),
        };
        Some(Box::pin(async move {
            // A store that panics fails this commit, not the executor.
            let result = AssertUnwindSafe(store.commit(write))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::write(
                        "a commit",
                        "the store panicked during it",
                    ))
                });
            (result, pending)
        }))
    }

    /// Answers and acts on a batch whose commit finished.
    async fn finish(
        &mut self,
        pending: Pending,
        result: StoreResult<()>,
        in_flight: &mut InFlight,
    ) {
        let Pending {
            applied,
            states,
            refused,
            barriers,
        } = pending;
        answer_refused(refused, &result);
        if let Err(error) = result {
            self.failing.failed(&error);
            for Applied { reply, .. } in applied {
                if let Some(reply) = reply {
                    let _ =
                        reply.send(Err(EngineError::Store(error.with_context("not committed"))));
                }
            }
            self.reload(in_flight).await;
            answer_barriers(barriers);
            // Not at once: the reloaded work would fail the same way, as
            // fast as the store answers (a full disk answers at once).
            tokio::time::sleep(self.failing.backoff()).await;
            return;
        }
        self.failing.succeeded();
        // Actions first: the runs' next transitions wait on them, while
        // callers and watchers only learn what is already durable.
        let mut replies = Vec::new();
        for Applied {
            reply,
            state,
            actions,
            ..
        } in applied
        {
            self.dispatcher.perform(&state, actions);
            if let Some(reply) = reply {
                replies.push((reply, state));
            }
        }
        // Durable now: a run with nothing in flight is let go, before anyone
        // hears of it, so whoever learns of the commit sees the run let go.
        for state in &states {
            if self
                .runs
                .get(&state.id)
                .is_some_and(|held| Arc::ptr_eq(held, state))
                && !self.in_flight(state)
            {
                self.runs.remove(&state.id);
            }
        }
        self.held.store(self.runs.len(), Ordering::Relaxed);
        for (reply, state) in replies {
            let _ = reply.send(Ok(state));
        }
        answer_barriers(barriers);
        self.watchers.notify(states.iter());
        for state in states {
            // Subscribers may have gone; that is fine.
            let _ = self.updates.send(RunUpdate { run: state });
        }
    }

    /// Replaces the in-memory states with the durable ones and performs
    /// their in-flight work again. Commits still pending are finished first:
    /// their states may or may not have become durable.
    async fn reload(&mut self, in_flight: &mut InFlight) {
        while let Some((result, pending)) = in_flight.next().await {
            answer_refused(pending.refused, &result);
            for barrier in pending.barriers {
                let _ = barrier.send(());
            }
            for Applied { reply, state, .. } in pending.applied {
                if let Some(reply) = reply {
                    let answer = match &result {
                        Ok(()) => Ok(state),
                        Err(error) => Err(EngineError::Store(error.with_context("not committed"))),
                    };
                    let _ = reply.send(answer);
                }
            }
        }
        // What is built from now on is built on what is durable.
        self.lineage += 1;
        self.runs = loop {
            match recover(&*self.store, &self.registry, &self.dispatcher).await {
                Ok(recovered) => {
                    self.held.store(recovered.held.len(), Ordering::Relaxed);
                    self.releasing = recovered.let_go;
                    self.parked = recovered.parked;
                    break recovered.held;
                }
                Err(error) => {
                    tracing::error!(error = %error.report(), "cannot reload runs; retrying");
                    tokio::time::sleep(RELOAD_RETRY).await;
                }
            }
        };
    }

    /// The canceled resume job `command` belongs to, if any.
    fn canceled_job(&self, command: &Command) -> Option<JobId> {
        let Command::Event {
            trail: Some(trail), ..
        } = command
        else {
            return None;
        };
        let job = trail.job.as_ref()?;
        let canceled = self
            .canceled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        canceled.contains(job).then(|| job.clone())
    }

    /// Takes in runs taken over from stopped nodes: their in-flight work is
    /// performed again, as after a restart; those with nothing in flight
    /// that keeps them are released.
    fn adopt(&mut self, runs: Vec<Run>, staged: &Staged) {
        for run in runs {
            if self.runs.contains_key(&run.id) || staged.runs.contains_key(&run.id) {
                continue;
            }
            let run = Arc::new(run);
            if self.carry_on(&run, true) == CarriedOn::Idle {
                self.releasing.push(run.id.clone());
            }
        }
    }

    /// Carries on the parked runs whose orchestration version is known now.
    fn unpark(&mut self) {
        let parked = std::mem::take(&mut self.parked);
        for run in parked.into_values() {
            if self.carry_on(&run, true) == CarriedOn::Idle {
                self.releasing.push(run.id.clone());
            }
        }
    }

    /// Performs the outstanding work of `run`, just claimed from the store
    /// (taken over, or read for a command), and holds it if that work keeps
    /// it held; returns whether it does. Whichever path claims a run from a
    /// node that stopped, its flows in flight there run again here; work
    /// already under way on this node is not performed twice. Assignee
    /// checks are redone only `with_checks` (a take-over): a command's claim
    /// of a waiting run would otherwise cost a directory read each time.
    fn carry_on(&mut self, run: &Arc<Run>, with_checks: bool) -> CarriedOn {
        if run.status.is_final() {
            self.parked.remove(&run.id);
            return CarriedOn::Idle;
        }
        let Some(plan) = self.registry.plan(&run.orchestration, run.version) else {
            // Deployed through another node and not read here yet: kept
            // (its work is redone here, not stranded) until it is.
            tracing::warn!(run = %run.id, "orchestration {} v{} is not known here yet; the run waits for the catalog to be read again", run.orchestration, run.version);
            self.parked.insert(run.id.clone(), Arc::clone(run));
            return CarriedOn::Parked;
        };
        self.parked.remove(&run.id);
        let actions = stagecraft_core::outstanding_actions(run, &plan);
        let held = actions.iter().any(keeps_held);
        if held || with_checks {
            self.dispatcher.perform(run, actions);
        }
        if held {
            self.runs.insert(run.id.clone(), Arc::clone(run));
            self.held.store(self.runs.len(), Ordering::Relaxed);
            CarriedOn::Held
        } else {
            CarriedOn::Idle
        }
    }

    /// The runs a commit lets go, on a shared store: those it writes with
    /// nothing in flight, those read for commands and left unchanged, and
    /// those owned but not held.
    fn released(
        &mut self,
        runs: &HashMap<RunId, Arc<Run>>,
        visiting: HashMap<RunId, Arc<Run>>,
    ) -> Vec<RunId> {
        if !self.clustered {
            return Vec::new();
        }
        let mut released = std::mem::take(&mut self.releasing);
        released.extend(
            runs.values()
                .filter(|state| !self.in_flight(state))
                .map(|state| state.id.clone()),
        );
        released.extend(
            visiting
                .into_keys()
                .filter(|id| !runs.contains_key(id) && !self.runs.contains_key(id)),
        );
        released
    }

    /// Whether `run` has work under way that keeps it held (see
    /// [`keeps_held`]).
    fn in_flight(&self, run: &Run) -> bool {
        self.registry
            .plan(&run.orchestration, run.version)
            .is_some_and(|plan| {
                stagecraft_core::outstanding_actions(run, &plan)
                    .iter()
                    .any(keeps_held)
            })
    }

    /// Queues `command` until its run is read from the store; the first
    /// command queued starts the read.
    fn load(&mut self, run: RunId, command: Command) {
        let queue = self.loading.entry(run.clone()).or_default();
        queue.push(command);
        if queue.len() > 1 {
            return;
        }
        // Gone only when the engine is shutting down: the callers hear so
        // when their reply is dropped.
        let Some(commands) = self.dispatcher.commands.upgrade() else {
            return;
        };
        let store = Arc::clone(&self.store);
        tokio::spawn(async move {
            let state = Box::new(store.claim(&run).await);
            let _ = commands.send(Command::Loaded { run, state }).await;
        });
    }

    /// The commands that waited for `run`, ready to apply on the state read
    /// (or answered here, when there is none).
    fn loaded(
        &mut self,
        run: &RunId,
        state: StoreResult<Claim>,
        staged: &mut Staged,
    ) -> Vec<Command> {
        let waiting = self.loading.remove(run).unwrap_or_default();
        let retryable = match state {
            Ok(Claim::Claimed(state)) => {
                if !self.runs.contains_key(run) && !staged.runs.contains_key(run) {
                    let state = Arc::new(*state);
                    match self.carry_on(&state, false) {
                        CarriedOn::Held => {}
                        CarriedOn::Idle => {
                            staged.visiting.insert(run.clone(), state);
                        }
                        CarriedOn::Parked => {
                            let why = format!(
                                "run {run} is of orchestration {} v{}, not known on this node \
                                 yet; try again in a moment",
                                state.orchestration, state.version
                            );
                            for command in waiting {
                                if let Command::Event {
                                    reply: Some(reply), ..
                                } = command
                                {
                                    let _ = reply.send(Err(EngineError::Unavailable(why.clone())));
                                }
                            }
                            return Vec::new();
                        }
                    }
                }
                return waiting;
            }
            // Another node owns it: the commands go there.
            Ok(Claim::OwnedBy(_)) => {
                for command in waiting {
                    if let Command::Event {
                        run,
                        event,
                        reply,
                        log,
                        trail,
                    } = command
                    {
                        crate::cluster::route(
                            Arc::clone(&self.store),
                            self.dispatcher.commands.clone(),
                            run,
                            event,
                            reply,
                            log,
                            trail,
                        );
                    }
                }
                return Vec::new();
            }
            // The store cannot answer now: worth trying again later.
            Err(error) if error.is_retryable() => Some(error),
            // No such run, or one whose record cannot be read: the engine
            // tells the caller which (`Engine::not_held`).
            Ok(Claim::Missing) | Err(_) => None,
        };
        for command in waiting {
            if let Command::Event {
                reply: Some(reply), ..
            } = command
            {
                let _ = reply.send(Err(match &retryable {
                    Some(error) => EngineError::Store(error.clone()),
                    None => EngineError::NotFound(format!("run {run}")),
                }));
            }
        }
        Vec::new()
    }

    /// Applies one command on top of the latest states.
    fn apply(&mut self, command: Command, staged: &mut Staged) -> Option<Applied> {
        if let Some(job) = self.canceled_job(&command) {
            if let Command::Event {
                run,
                reply: Some(reply),
                ..
            } = command
            {
                let error = EngineError::Conflict(format!(
                    "job {job} was canceled; run {run} is left as it is"
                ));
                let _ = reply.send(Err(error));
            }
            return None;
        }
        if let Command::Event {
            run,
            event,
            reply: None,
            ..
        } = &command
        {
            self.dispatcher.under_way.ended(run, event);
        }
        // A command for a run not held (or already waiting for its read)
        // waits for the run to be read from the store: a person's action,
        // or an assignee check's answer. (A result that is stale is then
        // refused by the state machine and dropped.)
        if let Command::Event { run, .. } = &command
            && (self.loading.contains_key(run)
                || !(staged.runs.contains_key(run)
                    || self.runs.contains_key(run)
                    || staged.visiting.contains_key(run)))
        {
            let run = run.clone();
            self.load(run, command);
            return None;
        }
        let now = self.clock.now();
        let mut log = None;
        let (run_id, reply, transition, trail) = match command {
            Command::Start {
                plan,
                id,
                inputs,
                reply,
                trail,
            } => {
                let transition = stagecraft_core::start(&plan, id.clone(), inputs, now);
                (
                    id,
                    Some(reply),
                    transition.map_err(EngineError::from),
                    Some(trail),
                )
            }
            Command::Event {
                run,
                event,
                reply,
                log: step_log,
                trail,
            } => {
                log = step_log;
                let held = staged
                    .runs
                    .get(&run)
                    .or_else(|| self.runs.get(&run))
                    .or_else(|| staged.visiting.get(&run));
                let transition = match held {
                    None => Err(EngineError::NotFound(format!("run {run}"))),
                    Some(state) => match self.registry.plan(&state.orchestration, state.version) {
                        None => Err(EngineError::NotFound(format!(
                            "orchestration {} v{}",
                            state.orchestration, state.version
                        ))),
                        Some(plan) => stagecraft_core::handle(state, &plan, event, now)
                            .map_err(EngineError::from),
                    },
                };
                (run, reply, transition, trail.map(|trail| *trail))
            }
            // Taken out by `process`; answered at once if one gets here.
            Command::Barrier { reply } => {
                let _ = reply.send(());
                return None;
            }
            // Taken out by `process`.
            Command::Loaded { .. } | Command::Adopt { .. } | Command::CatalogChanged => {
                return None;
            }
        };
        let Trail { audit, job } = trail.unwrap_or_default();
        match transition {
            Ok(mut transition) => {
                // The versions the steps it starts run on are committed with it.
                stagecraft_core::pin_flows(&mut transition, |flow| self.registry.pin(flow));
                let Transition { run, actions } = transition;
                let state = Arc::new(run);
                staged.audit.extend(audit);
                if let Some(job) = job {
                    staged.job_runs.push(JobRunOutcome {
                        job,
                        run: run_id.clone(),
                        outcome: Ok(()),
                    });
                }
                staged.runs.insert(run_id, Arc::clone(&state));
                Some(Applied {
                    reply,
                    state,
                    actions,
                    log,
                })
            }
            // A run the executor does not hold may be finished or set
            // aside: the caller finds out which, and records that refusal.
            Err(error @ EngineError::NotFound(_)) => {
                match reply {
                    Some(reply) => {
                        let _ = reply.send(Err(error));
                    }
                    None => tracing::debug!(run = %run_id, %error, "result ignored"),
                }
                None
            }
            Err(error) => {
                let recorded = audit.is_some() || job.is_some();
                let reason = error.to_string();
                staged
                    .audit
                    .extend(audit.map(|record| record.refused(reason.clone())));
                if let Some(job) = job {
                    staged.job_runs.push(JobRunOutcome {
                        job,
                        run: run_id.clone(),
                        outcome: Err(reason),
                    });
                }
                match reply {
                    Some(reply) if recorded => staged.refused.push((reply, error)),
                    Some(reply) => {
                        let _ = reply.send(Err(error));
                    }
                    None => tracing::debug!(run = %run_id, %error, "result ignored"),
                }
                None
            }
        }
    }
}

/// Answers refused commands once their refusal's record committed; if it
/// did not, with the store's error: the caller must not take an unrecorded
/// refusal for a recorded one (a resume job tries such a run again).
fn answer_refused(refused: Vec<(Reply, EngineError)>, result: &StoreResult<()>) {
    for (reply, error) in refused {
        let answer = match result {
            Ok(()) => error,
            Err(failure) => EngineError::Store(failure.with_context("refusal not recorded")),
        };
        let _ = reply.send(Err(answer));
    }
}

/// Answers the barriers of a finished commit, once the executor has taken
/// in its outcome.
fn answer_barriers(barriers: Vec<oneshot::Sender<()>>) {
    for barrier in barriers {
        // The waiter may have gone; that is fine.
        let _ = barrier.send(());
    }
}
