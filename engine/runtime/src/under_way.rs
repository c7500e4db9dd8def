//! The work this node has under way: flows, evaluations and external
//! actions performed and not yet answered.
//!
//! Recovery re-derives a run's outstanding work from its state (after a
//! failed commit, a claim or a take-over); what is already under way here
//! is not performed a second time, since its result is still to come. An
//! entry ends when its result reaches the executor, not when the task
//! finishes: a reload in between would otherwise see the step still
//! outstanding and perform it again while its result waits in the queue.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use stagecraft_core::run::{EvalRequestId, RunId, StepKey};
use stagecraft_core::{Action, Event};

/// One piece of work, as the state machine names its result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Work {
    /// A step's flow or external action, at one attempt.
    Step {
        run: RunId,
        step: StepKey,
        attempt: u32,
    },
    /// An evaluation flow's request.
    Evaluation { run: RunId, request: EvalRequestId },
}

impl Work {
    /// The work `action` asks for, if its result comes back as an event.
    pub(crate) fn of_action(run: &RunId, action: &Action) -> Option<Self> {
        match action {
            Action::RunFlow { step, attempt, .. } | Action::CallAction { step, attempt, .. } => {
                Some(Self::Step {
                    run: run.clone(),
                    step: step.clone(),
                    attempt: *attempt,
                })
            }
            Action::Evaluate { request, .. } => Some(Self::Evaluation {
                run: run.clone(),
                request: *request,
            }),
            Action::CreateWorkItem { .. } | Action::CloseWorkItem { .. } => None,
        }
    }

    fn of_result(run: &RunId, event: &Event) -> Option<Self> {
        match event {
            Event::FlowFinished { step, attempt, .. }
            | Event::ActionFinished { step, attempt, .. } => Some(Self::Step {
                run: run.clone(),
                step: step.clone(),
                attempt: *attempt,
            }),
            Event::EvaluationFinished { request, .. } => Some(Self::Evaluation {
                run: run.clone(),
                request: *request,
            }),
            _ => None,
        }
    }
}

/// Shared by the dispatcher (which begins work) and the executor (which
/// takes in its results).
#[derive(Debug, Default)]
pub(crate) struct UnderWay(Mutex<HashSet<Work>>);

impl UnderWay {
    /// A ticket for `work`, or `None` when the same work is already under
    /// way on this node (its result is still to come).
    pub(crate) fn begin(self: &Arc<Self>, work: Work) -> Option<Ticket> {
        self.lock().insert(work.clone()).then(|| Ticket {
            under_way: Arc::clone(self),
            work: Some(work),
        })
    }

    /// The executor took in `event`, the result of work under way.
    pub(crate) fn ended(&self, run: &RunId, event: &Event) {
        if let Some(work) = Work::of_result(run, event) {
            self.lock().remove(&work);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Work>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Work begun: handed over with its result, or, dropped without one (its
/// task panicked, or the engine is stopping), no longer under way, so that
/// the next recovery performs it again.
pub(crate) struct Ticket {
    under_way: Arc<UnderWay>,
    work: Option<Work>,
}

impl Ticket {
    /// The result is on its way to the executor, which ends the work.
    pub(crate) fn handed_over(mut self) {
        self.work = None;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(work) = self.work.take() {
            self.under_way.lock().remove(&work);
        }
    }
}
