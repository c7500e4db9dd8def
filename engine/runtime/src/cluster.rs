//! The engine as one node of several on a shared store: commands for a run
//! another node owns are routed to it through the store, and this node
//! takes over the runs of nodes that stopped. Nothing here runs on a store
//! that serves one node ([`Store::lease_ttl`] is `None`).
//!
//! Routing goes through the store: the owner looks for commands routed to
//! it when the store hints that one was ([`Store::route_hint`]; LISTEN/
//! NOTIFY on PostgreSQL) and every [`INTAKE_EVERY`] in any case; the node
//! that routed one looks for its answer likewise, with a short back-off. A
//! command is taken by one node and answered once; one withdrawn before any
//! node took it (its run was let go meanwhile) is applied here instead.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stagecraft_core::Event;
use stagecraft_core::run::{Run, RunId};
use stagecraft_store::{Abandoned, AuditRecord, JobId, RouteState, StepLog, Store};
use tokio::sync::{mpsc, oneshot};

use crate::error::EngineError;
use crate::executor::{Command, Reply, Trail};

/// How often a node looks for commands routed to it without a hint.
const INTAKE_EVERY: Duration = Duration::from_millis(250);
/// The longest wait between two looks at a routed command's answer
/// without a hint.
const ANSWER_POLL_MAX: Duration = Duration::from_millis(250);
/// How many lease TTLs a node waits for the answer of a command it routed
/// before it gives up on it (and tells its caller what is known).
const ANSWER_PATIENCE_TTLS: u32 = 6;
/// How many times an owner tries to write a routed command's answer.
const ANSWER_WRITES: u32 = 6;

/// A command as it travels to its run's owner.
#[derive(Debug, Serialize, Deserialize)]
struct Routed {
    event: Event,
    log: Option<StepLog>,
    audit: Option<AuditRecord>,
    job: Option<JobId>,
}

/// An owner's answer: the run's new state, or why the command failed.
#[derive(Debug, Serialize, Deserialize)]
enum Answer {
    Applied(Box<Run>),
    NotFound(String),
    Refused(String),
    Forbidden(String),
    Conflict(String),
    BadRequest(String),
    FlowFailed(String),
    Unavailable(String),
}

impl Answer {
    fn of(result: Result<Arc<Run>, EngineError>) -> Self {
        match result {
            Ok(run) => Self::Applied(Box::new(Run::clone(&run))),
            Err(EngineError::NotFound(what)) => Self::NotFound(what),
            Err(error @ EngineError::Refused(_)) => Self::Refused(error.to_string()),
            Err(EngineError::Forbidden(why)) => Self::Forbidden(why),
            Err(EngineError::Conflict(why)) => Self::Conflict(why),
            Err(EngineError::BadRequest(why)) => Self::BadRequest(why),
            Err(EngineError::FlowFailed(why)) => Self::FlowFailed(why),
            Err(EngineError::Store(error)) => Self::Unavailable(error.report()),
            Err(other) => Self::Unavailable(other.to_string()),
        }
    }

    fn into_result(self) -> Result<Arc<Run>, EngineError> {
        match self {
            Self::Applied(run) => Ok(Arc::new(*run)),
            Self::NotFound(what) => Err(EngineError::NotFound(what)),
            // The state machine's refusal, as its owner worded it.
            Self::Refused(why) | Self::Conflict(why) => Err(EngineError::Conflict(why)),
            Self::Forbidden(why) => Err(EngineError::Forbidden(why)),
            Self::BadRequest(why) => Err(EngineError::BadRequest(why)),
            Self::FlowFailed(why) => Err(EngineError::FlowFailed(why)),
            Self::Unavailable(why) => Err(EngineError::Unavailable(why)),
        }
    }
}

/// Sends `event` for `run` to the node that owns it, and answers `reply`
/// (if any) with that node's answer. Withdrawn (the owner let the run go
/// first), the command comes back to this node's executor.
pub(crate) fn route<S: Store>(
    store: Arc<S>,
    commands: mpsc::WeakSender<Command>,
    run: RunId,
    event: Event,
    reply: Option<Reply>,
    log: Option<Box<StepLog>>,
    trail: Option<Box<Trail>>,
) {
    tokio::spawn(async move {
        let (audit, job) = match &trail {
            Some(trail) => (trail.audit.clone(), trail.job.clone()),
            None => (None, None),
        };
        let routed = Routed {
            event,
            log: log.map(|log| *log),
            audit,
            job,
        };
        let encoded = match serde_json::to_string(&routed) {
            Ok(encoded) => encoded,
            Err(error) => {
                answer(
                    reply,
                    Err(EngineError::Unavailable(format!(
                        "cannot route a command: {error}"
                    ))),
                );
                return;
            }
        };
        let Routed { event, log, .. } = routed;
        let mut hint = store.route_hint();
        let id = match store.route(&run, encoded).await {
            Ok(id) => id,
            Err(error) => {
                answer(reply, Err(EngineError::Store(error)));
                return;
            }
        };
        let mut wait = Duration::from_millis(5);
        // A bound on the wait: an answer whose write failed, or a take
        // whose reply was lost, must not keep the caller for ever.
        let patience = store.lease_ttl().unwrap_or(Duration::from_secs(5)) * ANSWER_PATIENCE_TTLS;
        let started = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = hint => {}
                () = tokio::time::sleep(wait) => wait = (wait * 2).min(ANSWER_POLL_MAX),
            }
            hint = store.route_hint();
            match store.route_state(id).await {
                Ok(RouteState::Waiting) if started.elapsed() < patience => continue,
                Ok(RouteState::Waiting) => match store.abandon_route(id).await {
                    Ok(Abandoned::Ended) => continue,
                    Ok(Abandoned::NotTaken) => answer(
                        reply,
                        Err(EngineError::Unavailable(format!(
                            "the node owning run {run} did not take the request within \
                             {patience:?}; it was not applied: try again"
                        ))),
                    ),
                    Ok(Abandoned::Unanswered { node }) => answer(
                        reply,
                        Err(EngineError::Unavailable(format!(
                            "node {node}, which owns run {run}, took the request but did not \
                             answer within {patience:?}: whether it was applied is unknown; \
                             read the run before trying again"
                        ))),
                    ),
                    Err(error) if error.is_retryable() => continue,
                    Err(error) => answer(reply, Err(EngineError::Store(error))),
                },
                Ok(RouteState::Answered(encoded)) => {
                    let result = serde_json::from_str::<Answer>(&encoded)
                        .map_err(|e| {
                            EngineError::Unavailable(format!(
                                "the answer of the node owning run {run} cannot be read: {e}"
                            ))
                        })
                        .and_then(Answer::into_result);
                    answer(reply, result);
                }
                Ok(RouteState::Withdrawn) => {
                    let Some(commands) = commands.upgrade() else {
                        return;
                    };
                    let _ = commands
                        .send(Command::Event {
                            run,
                            event,
                            reply,
                            log: log.map(Box::new),
                            trail,
                        })
                        .await;
                }
                Ok(RouteState::Lost { node }) => answer(
                    reply,
                    Err(EngineError::Unavailable(format!(
                        "node {node}, which owned run {run}, stopped while applying the request: \
                         whether it was applied is unknown; read the run before trying again"
                    ))),
                ),
                // The store cannot tell now: look again.
                Err(error) if error.is_retryable() => continue,
                Err(error) => answer(reply, Err(EngineError::Store(error))),
            }
            return;
        }
    });
}

fn answer(reply: Option<Reply>, result: Result<Arc<Run>, EngineError>) {
    match reply {
        Some(reply) => {
            let _ = reply.send(result);
        }
        None => {
            if let Err(error) = result {
                tracing::debug!(%error, "routed result not applied");
            }
        }
    }
}

/// Takes the commands other nodes route to this one, applies them, and
/// answers each; ends with the engine.
pub(crate) fn take_routed<S: Store>(store: Arc<S>, commands: mpsc::WeakSender<Command>) {
    tokio::spawn(async move {
        loop {
            let hint = store.route_hint();
            let taken = store.take_routed().await;
            let Some(sender) = commands.upgrade() else {
                return;
            };
            let routed = match taken {
                Ok(routed) => routed,
                Err(error) => {
                    tracing::warn!(error = %error.report(), "cannot take routed commands");
                    Vec::new()
                }
            };
            let idle = routed.is_empty();
            for command in routed {
                let (reply, answered) = oneshot::channel();
                let decoded: Result<Routed, _> = serde_json::from_str(&command.command);
                let outcome = match decoded {
                    Ok(Routed {
                        event,
                        log,
                        audit,
                        job,
                    }) => {
                        let trail = (audit.is_some() || job.is_some())
                            .then(|| Box::new(Trail { audit, job }));
                        let sent = sender
                            .send(Command::Event {
                                run: command.run.clone(),
                                event,
                                reply: Some(reply),
                                log: log.map(Box::new),
                                trail,
                            })
                            .await;
                        if sent.is_err() {
                            return;
                        }
                        None
                    }
                    Err(error) => Some(Err(EngineError::BadRequest(format!(
                        "a routed command cannot be read: {error}"
                    )))),
                };
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let result = match outcome {
                        Some(result) => result,
                        None => answered.await.unwrap_or(Err(EngineError::ShuttingDown)),
                    };
                    let encoded = serde_json::to_string(&Answer::of(result)).unwrap_or_else(|_| {
                        r#"{"Unavailable":"the answer cannot be encoded"}"#.to_owned()
                    });
                    // Tried again a few times: an answer not written leaves
                    // its sender waiting until its patience runs out.
                    let mut wait = Duration::from_millis(50);
                    for attempt in 1..=ANSWER_WRITES {
                        match store.answer_routed(command.id, encoded.clone()).await {
                            Ok(()) => break,
                            Err(error) if attempt < ANSWER_WRITES => {
                                tracing::debug!(route = command.id, error = %error.report(), "cannot answer a routed command; trying again");
                                tokio::time::sleep(wait).await;
                                wait *= 2;
                            }
                            Err(error) => {
                                tracing::warn!(route = command.id, error = %error.report(), "cannot answer a routed command");
                            }
                        }
                    }
                });
            }
            drop(sender);
            if idle {
                tokio::select! {
                    () = hint => {}
                    () = tokio::time::sleep(INTAKE_EVERY) => {}
                }
            }
        }
    });
}

/// Takes over the runs of stopped nodes every half lease TTL, and hands
/// them to the executor; ends with the engine.
pub(crate) fn take_over<S: Store>(
    store: Arc<S>,
    commands: mpsc::WeakSender<Command>,
    ttl: Duration,
) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(ttl / 2);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let taken = store.take_over().await;
            let Some(sender) = commands.upgrade() else {
                return;
            };
            match taken {
                Ok(found) => {
                    for (id, error) in &found.unreadable {
                        tracing::error!(run = %id, error = %error.report(), "run taken over but set aside: its stored record cannot be read");
                    }
                    if !found.runs.is_empty()
                        && sender
                            .send(Command::Adopt { runs: found.runs })
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error.report(), "cannot take over the runs of stopped nodes");
                }
            }
        }
    });
}
