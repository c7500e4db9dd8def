//! The event loop: the only place run state changes.
//!
//! Commands queue on a channel. The loop takes every queued command at once,
//! applies each to the pure state machine (chaining commands on the same run
//! within the batch), writes all the new states in one group commit, and
//! only then answers callers and performs the resulting actions. So a
//! transition is never acknowledged or acted on before it is durable, and a
//! busy engine pays one fsync for many transitions.

use crate::clock::Clock;
use crate::dispatch::Dispatcher;
use crate::error::EngineError;
use crate::registry::Registry;
use crate::watch::Watchers;
use stagecraft_core::run::{Run, RunId, RunStatus};
use stagecraft_core::{Action, Event, Plan, Transition};
use stagecraft_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Commands taken per batch, at most.
const MAX_BATCH: usize = 1024;

/// Reply channel of a command.
pub(crate) type Reply = oneshot::Sender<Result<Arc<Run>, EngineError>>;

/// A change to run state, requested by the API or by a finished action.
pub(crate) enum Command {
    Start {
        plan: Arc<Plan>,
        id: RunId,
        inputs: serde_json::Value,
        reply: Reply,
    },
    Event {
        run: RunId,
        event: Event,
        /// `None` for results of actions: nobody waits for them, and a stale
        /// one is dropped quietly.
        reply: Option<Reply>,
    },
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
    /// Unfinished runs, as last committed.
    pub(crate) runs: HashMap<RunId, Arc<Run>>,
}

/// One command's effect within a batch, waiting for the commit.
struct Applied {
    reply: Option<Reply>,
    /// The run's state right after this command.
    state: Arc<Run>,
    actions: Vec<Action>,
    /// An action's result, kept to be applied again if the commit fails.
    retry: Option<(RunId, Event)>,
}

impl<S: Store> Executor<S> {
    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while commands.recv_many(&mut batch, MAX_BATCH).await > 0 {
            self.process(&mut batch).await;
        }
    }

    async fn process(&mut self, batch: &mut Vec<Command>) {
        let mut staged: HashMap<RunId, Arc<Run>> = HashMap::new();
        let mut applied = Vec::with_capacity(batch.len());
        for command in batch.drain(..) {
            if let Some(done) = self.apply(command, &mut staged) {
                applied.push(done);
            }
        }
        if staged.is_empty() {
            return;
        }
        let runs: Vec<Arc<Run>> = staged.values().cloned().collect();
        if let Err(error) = self.store.commit_runs(runs).await {
            self.commit_failed(&error, applied);
            return;
        }
        self.watchers.notify(staged.values());
        for (id, run) in staged {
            // Subscribers may have gone; that is fine.
            let _ = self.updates.send(RunUpdate {
                run: Arc::clone(&run),
            });
            if finished(run.status) {
                self.runs.remove(&id);
            } else {
                self.runs.insert(id, run);
            }
        }
        for Applied {
            reply,
            state,
            actions,
            ..
        } in applied
        {
            self.dispatcher.perform(&state, actions);
            if let Some(reply) = reply {
                let _ = reply.send(Ok(state));
            }
        }
    }

    /// Applies one command on top of this batch's staged states.
    fn apply(&self, command: Command, staged: &mut HashMap<RunId, Arc<Run>>) -> Option<Applied> {
        let now = self.clock.now();
        let mut retry = None;
        let (run_id, reply, transition) = match command {
            Command::Start {
                plan,
                id,
                inputs,
                reply,
            } => {
                let transition = stagecraft_core::start(&plan, id.clone(), inputs, now);
                (id, Some(reply), transition.map_err(EngineError::from))
            }
            Command::Event { run, event, reply } => {
                if reply.is_none() {
                    retry = Some((run.clone(), event.clone()));
                }
                let transition = match staged.get(&run).or_else(|| self.runs.get(&run)) {
                    None => Err(EngineError::NotFound(format!("unfinished run {run}"))),
                    Some(state) => match self.registry.plan(&state.orchestration, state.version) {
                        None => Err(EngineError::NotFound(format!(
                            "orchestration {} v{}",
                            state.orchestration, state.version
                        ))),
                        Some(plan) => stagecraft_core::handle(state, &plan, event, now)
                            .map_err(EngineError::from),
                    },
                };
                (run, reply, transition)
            }
        };
        match transition {
            Ok(Transition { run, actions }) => {
                let state = Arc::new(run);
                staged.insert(run_id, Arc::clone(&state));
                Some(Applied {
                    reply,
                    state,
                    actions,
                    retry,
                })
            }
            Err(error) => {
                match reply {
                    Some(reply) => {
                        let _ = reply.send(Err(error));
                    }
                    None => tracing::debug!(run = %run_id, %error, "result ignored"),
                }
                None
            }
        }
    }

    /// The batch did not become durable: nothing happened. Callers get the
    /// error; results of actions are queued again, so none is lost.
    fn commit_failed(&mut self, error: &StoreError, applied: Vec<Applied>) {
        tracing::error!(%error, "commit failed; the batch is not applied");
        let mut results = Vec::new();
        for Applied { reply, retry, .. } in applied {
            if let Some(reply) = reply {
                let _ = reply.send(Err(EngineError::Store(StoreError::Backend(
                    error.to_string(),
                ))));
            }
            results.extend(retry);
        }
        self.dispatcher.redeliver(results);
    }
}

fn finished(status: RunStatus) -> bool {
    matches!(status, RunStatus::Completed | RunStatus::Canceled)
}
