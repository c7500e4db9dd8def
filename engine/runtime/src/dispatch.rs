//! Performing actions after their transition is committed: running flows
//! and evaluations in the sandbox, calling external actions, checking
//! assignees. Each result goes back to the executor as an event.
//!
//! Everything runs in its own task, bounded by the host's invocation slots
//! (flows) or a semaphore (external actions), so a slow or hostile flow
//! holds one slot and stalls nothing else.

use crate::action::ActionCall;
use crate::clock::Clock;
use crate::executor::Command;
use crate::fairness::FlowShares;
use crate::quarantine::{self, Breaker};
use crate::registry::Registry;
use crate::runner::FlowRunner;
use crate::slices::{Account, Slices};
use crate::under_way::{Ticket, UnderWay, Work};
use crate::versions::Versions;
use stagecraft_core::run::{Principal, Run, RunId, WorkItemId};
use stagecraft_core::{Action, Event, FlowFailure, FlowFailureKind, Unavailability};
use stagecraft_host::{LogLine, LogStream};
use stagecraft_store::{StepLog, StepLogLine, Store, StoreResult, UserStatus};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};

pub(crate) struct Dispatcher<S> {
    /// Weak, so that the executor's own handle does not keep its channel open.
    pub(crate) commands: mpsc::WeakSender<Command>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) store: Arc<S>,
    pub(crate) runner: Arc<dyn FlowRunner>,
    pub(crate) action_permits: Arc<Semaphore>,
    /// Each flow's share of the invocation slots.
    pub(crate) shares: Arc<FlowShares>,
    /// Fair slices of the CPU among orchestrations and flows.
    pub(crate) slices: Arc<Slices>,
    /// Quarantines flow versions that keep hitting resource limits.
    pub(crate) breaker: Arc<Breaker>,
    pub(crate) clock: Arc<dyn Clock>,
    /// The flows, evaluations and external actions under way here: work
    /// re-derived by a recovery is not performed twice.
    pub(crate) under_way: Arc<UnderWay>,
}

impl<S: Store> Dispatcher<S> {
    /// Performs `actions`, which a committed transition of `run` produced.
    pub(crate) fn perform(&self, run: &Run, actions: Vec<Action>) {
        for action in actions {
            self.perform_one(run, action);
        }
    }

    fn perform_one(&self, state: &Run, action: Action) {
        let run = state.id.clone();
        let ticket = match Work::of_action(&run, &action) {
            None => None,
            Some(work) => match self.under_way.begin(work) {
                Some(ticket) => Some(ticket),
                // Its result is still to come.
                None => return,
            },
        };
        match action {
            Action::RunFlow {
                step,
                attempt,
                flow,
                inputs,
            } => {
                let pinned = stagecraft_core::pinned_flow(state, &step);
                let pinned_version = pinned.as_ref().map_or(0, |(version, _)| *version);
                let registry = Arc::clone(&self.registry);
                let store = Arc::clone(&self.store);
                let runner = Arc::clone(&self.runner);
                let clock = Arc::clone(&self.clock);
                let shares = Arc::clone(&self.shares);
                let slices = Arc::clone(&self.slices);
                let breaker = Arc::clone(&self.breaker);
                let account = Account::new(&state.orchestration, &flow);
                let log_run = run.clone();
                self.spawn_result(run, ticket, async move {
                    let _share = shares.acquire(&flow).await;
                    let versions = Versions {
                        registry: &registry,
                        store: &*store,
                        runner: &runner,
                    };
                    let (version, flow_component) = match versions.flow(&flow, pinned).await {
                        Ok(found) => found,
                        Err(message) => {
                            let event = Event::FlowFinished {
                                step,
                                attempt,
                                flow_version: pinned_version,
                                result: Err(FlowFailure {
                                    kind: FlowFailureKind::Trap,
                                    message,
                                }),
                            };
                            return (event, None);
                        }
                    };
                    if let Some(why) = registry.quarantined(&flow, version) {
                        let event = Event::FlowFinished {
                            step,
                            attempt,
                            flow_version: version,
                            result: Err(quarantine::refusal(&flow, version, &why)),
                        };
                        return (event, None);
                    }
                    let call = async move { flow_component.run(&inputs).await };
                    let invocation = slices.schedule_movable(account, call).await;
                    log_invocation(&flow, version, &invocation.log);
                    let outcome = invocation.outcome.map_err(FlowFailure::from);
                    let failed = outcome.as_ref().err().map(|failure| failure.kind);
                    if let Some(reason) = breaker.record(&flow, version, failed) {
                        quarantine::quarantine(&*store, &registry, &*clock, &flow, version, reason)
                            .await;
                    }
                    let log = (!invocation.log.is_empty()).then(|| {
                        Box::new(StepLog {
                            run: log_run,
                            step: step.clone(),
                            attempt,
                            flow_version: version,
                            recorded_at: clock.now(),
                            lines: invocation.log.iter().map(log_line).collect(),
                        })
                    });
                    let event = Event::FlowFinished {
                        step,
                        attempt,
                        flow_version: version,
                        result: outcome,
                    };
                    (event, log)
                });
            }
            Action::Evaluate {
                request,
                flow,
                inputs,
                ..
            } => {
                let registry = Arc::clone(&self.registry);
                let shares = Arc::clone(&self.shares);
                let slices = Arc::clone(&self.slices);
                let breaker = Arc::clone(&self.breaker);
                let (store, clock) = (Arc::clone(&self.store), Arc::clone(&self.clock));
                let account = Account::new(&state.orchestration, &flow);
                self.spawn_result(run, ticket, async move {
                    let _share = shares.acquire(&flow).await;
                    let result = match registry.flow(&flow) {
                        None => Err(match registry.unavailable(&flow, None) {
                            Some(message) => FlowFailure {
                                kind: FlowFailureKind::Trap,
                                message,
                            },
                            None => missing_flow(&flow),
                        }),
                        Some(active) => match registry.quarantined(&flow, active.version) {
                            Some(why) => Err(quarantine::refusal(&flow, active.version, &why)),
                            None => {
                                let component = registry.limited(
                                    &flow,
                                    active.version,
                                    Arc::clone(&active.flow),
                                );
                                let call = async move { component.evaluate(&inputs).await };
                                let invocation = slices.schedule_movable(account, call).await;
                                log_invocation(&flow, active.version, &invocation.log);
                                let outcome = invocation.outcome.map_err(FlowFailure::from);
                                let failed = outcome.as_ref().err().map(|failure| failure.kind);
                                if let Some(reason) = breaker.record(&flow, active.version, failed)
                                {
                                    quarantine::quarantine(
                                        &*store,
                                        &registry,
                                        &*clock,
                                        &flow,
                                        active.version,
                                        reason,
                                    )
                                    .await;
                                }
                                outcome
                            }
                        },
                    };
                    (Event::EvaluationFinished { request, result }, None)
                });
            }
            Action::CallAction {
                step,
                attempt,
                action,
                inputs,
            } => {
                let handler = self.registry.actions.get(&action).cloned();
                let permits = Arc::clone(&self.action_permits);
                let call = ActionCall::new(inputs, run.clone(), step.clone(), attempt);
                self.spawn_result(run, ticket, async move {
                    let result = match handler {
                        None => Err(format!("no external action named {action:?} is registered")),
                        Some(handler) => match permits.acquire_owned().await {
                            Ok(_permit) => handler.call(call).await,
                            Err(_) => Err("the engine is shutting down".to_owned()),
                        },
                    };
                    let event = Event::ActionFinished {
                        step,
                        attempt,
                        result,
                    };
                    (event, None)
                });
            }
            Action::CreateWorkItem {
                work_item,
                assignee,
                ..
            } => self.check_assignee(run, work_item, assignee),
            // The work item's status is part of the committed run state.
            Action::CloseWorkItem { .. } => {}
        }
    }

    /// A work item is created by committing the run; what is left is to
    /// find out whether its assignee can take it.
    fn check_assignee(&self, run: RunId, work_item: WorkItemId, assignee: Principal) {
        let store = Arc::clone(&self.store);
        let commands = self.commands.clone();
        tokio::spawn(async move {
            let reason = match availability(&*store, &assignee).await {
                Ok(None) => return,
                Ok(Some(reason)) => reason,
                Err(error) => {
                    tracing::error!(%run, %error, "cannot check the assignee of {work_item}");
                    return;
                }
            };
            send(
                &commands,
                run,
                Event::AssigneeUnavailable { work_item, reason },
                None,
            )
            .await;
        });
    }

    /// Runs `task` and sends the event it produces (with the invocation's
    /// log, if any) to the executor, handing `ticket` over with it.
    fn spawn_result(
        &self,
        run: RunId,
        ticket: Option<Ticket>,
        task: impl std::future::Future<Output = (Event, Option<Box<StepLog>>)> + Send + 'static,
    ) {
        let commands = self.commands.clone();
        tokio::spawn(async move {
            let (event, log) = task.await;
            if send(&commands, run, event, log).await
                && let Some(ticket) = ticket
            {
                ticket.handed_over();
            }
        });
    }
}

/// Why `assignee` cannot take work, if it cannot.
async fn availability(
    store: &impl Store,
    assignee: &Principal,
) -> StoreResult<Option<Unavailability>> {
    Ok(match assignee {
        Principal::User(id) => match store.user(id).await? {
            None => Some(Unavailability::Unresolvable),
            Some(user) => match user.status {
                UserStatus::Active => None,
                UserStatus::Frozen => Some(Unavailability::Frozen),
                UserStatus::Inactive => Some(Unavailability::Inactive),
            },
        },
        Principal::Group(id) => store
            .group(id)
            .await?
            .is_none()
            .then_some(Unavailability::Unresolvable),
        Principal::Queue(id) => store
            .queue(id)
            .await?
            .is_none()
            .then_some(Unavailability::Unresolvable),
    })
}

/// Sends a result to the executor; `false` when it has gone.
async fn send(
    commands: &mpsc::WeakSender<Command>,
    run: RunId,
    event: Event,
    log: Option<Box<StepLog>>,
) -> bool {
    // After shutdown the result is dropped; recovery re-derives the work.
    let Some(commands) = commands.upgrade() else {
        return false;
    };
    commands
        .send(Command::Event {
            run,
            event,
            reply: None,
            log,
            trail: None,
        })
        .await
        .is_ok()
}

fn missing_flow(name: &str) -> FlowFailure {
    FlowFailure {
        kind: FlowFailureKind::Trap,
        message: format!("no flow named {name:?} is deployed"),
    }
}

/// A host log line as stored with the step.
pub(crate) fn log_line(line: &LogLine) -> StepLogLine {
    let stream = match line.stream {
        LogStream::Stdout => "stdout".to_owned(),
        LogStream::Stderr => "stderr".to_owned(),
        LogStream::Host => "host".to_owned(),
        LogStream::Log(level) => format!("{level:?}").to_lowercase(),
    };
    let mut message = line.message.clone();
    for (key, value) in &line.fields {
        message.push_str(&format!(" {key}={value}"));
    }
    StepLogLine { stream, message }
}

fn log_invocation(flow: &str, version: u32, log: &[stagecraft_host::LogLine]) {
    for line in log {
        tracing::info!(flow, version, stream = ?line.stream, "{}", line.message);
    }
}
