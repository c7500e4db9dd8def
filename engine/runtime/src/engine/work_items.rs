//! Work items: listing, rendering and completing them, and who may.

use super::Engine;
use super::audit::target;
use crate::error::EngineError;
use crate::executor::Trail;
use crate::runner::LoadedFlow;
use crate::slices::Account;
use crate::versions::Versions;
use serde_json::Value;
use stagecraft_core::run::{Run, WorkItemId, WorkItemStatus};
use stagecraft_core::{Actor, Event};
use stagecraft_host::{FieldError, Form, Submission};
use stagecraft_store::{AuditAction, Store, WorkItemFilter, WorkItemRecord};
use std::sync::Arc;

/// What a work item's screen flow works with.
struct OpenStep {
    /// The inputs its step resolved when it started.
    inputs: Value,
    /// The version its step is pinned to, with its digest.
    pin: Option<(u32, Option<String>)>,
    /// Whose CPU its screen flow uses.
    account: Account,
}

/// What became of a work item submission.
#[derive(Debug, Clone)]
pub enum Completion {
    /// The screen flow accepted the answers; the run moved on.
    Completed(Arc<Run>),
    /// The answers are invalid; the work item stays open.
    Invalid(Vec<FieldError>),
    /// The submission failed the step: the screen flow failed (trapped, ran
    /// out of budget...) on the answers, or its outputs were refused (not
    /// the declared ones, nested too deeply). The step failed as SPEC §3
    /// says, and so did the run unless a fault path took over.
    Failed {
        /// The run after the failure.
        run: Arc<Run>,
        /// Why the step failed, as the step records it.
        error: String,
    },
}

impl<S: Store> Engine<S> {
    /// Open work items that `user` may complete: assigned to them, or to a
    /// group or queue they belong to.
    pub async fn work_items_for(&self, user: &str) -> Result<Vec<WorkItemRecord>, EngineError> {
        let assignees = self.actor(user).await?.principals();
        Ok(self
            .inner
            .store
            .work_items(WorkItemFilter {
                assignees,
                open_only: true,
                run: None,
            })
            .await?)
    }

    /// One work item, whatever its status.
    pub async fn work_item(&self, id: &WorkItemId) -> Result<WorkItemRecord, EngineError> {
        self.inner
            .store
            .work_item(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("work item {id}")))
    }

    /// Every open work item, whoever it is assigned to (for watching).
    pub async fn open_work_items(&self) -> Result<Vec<WorkItemRecord>, EngineError> {
        Ok(self
            .inner
            .store
            .work_items(WorkItemFilter {
                assignees: Vec::new(),
                open_only: true,
                run: None,
            })
            .await?)
    }

    /// The form of a work item's screen flow, for `user`.
    pub async fn work_item_form(&self, id: &WorkItemId, user: &str) -> Result<Form, EngineError> {
        let (record, _, step) = self.open_item(id, user).await?;
        let flow = self
            .screen_flow(&record.item.screen_flow, step.pin.clone())
            .await?;
        let invocation = self
            .inner
            .slices
            .schedule(step.account, flow.render(&step.inputs))
            .await;
        invocation.outcome.map_err(|failure| {
            EngineError::FlowFailed(format!("the form cannot be shown: {failure}"))
        })
    }

    /// Completes a work item with `user`'s answers. The screen flow checks
    /// them; invalid answers leave the item open. Only the assignee, or a
    /// member of the assigned group or queue, may complete it.
    pub async fn complete_work_item(
        &self,
        id: &WorkItemId,
        user: &str,
        answers: Value,
    ) -> Result<Completion, EngineError> {
        let audit = self.audit_record(user, AuditAction::WorkItemComplete, target::work_item(id));
        let (record, actor, step) = match self.open_item(id, user).await {
            Ok(open) => open,
            Err(error) => {
                self.record_refusal(audit, None, &error).await;
                return Err(error);
            }
        };
        let audit = audit.with_detail(serde_json::json!({ "run": record.run }));
        let submitted = async {
            let flow = self
                .screen_flow(&record.item.screen_flow, step.pin.clone())
                .await?;
            let submission = flow.submit(&step.inputs, &answers);
            Ok(self
                .inner
                .slices
                .schedule(step.account, submission)
                .await
                .outcome)
        };
        let result = match submitted.await {
            Err(error) => {
                self.record_refusal(audit, None, &error).await;
                return Err(error);
            }
            Ok(Ok(Submission::Invalid(errors))) => {
                let refused = EngineError::BadRequest(format!(
                    "the screen flow found {} invalid answer(s); the work item stays open",
                    errors.len()
                ));
                self.record_refusal(audit, None, &refused).await;
                return Ok(Completion::Invalid(errors));
            }
            Ok(Ok(Submission::Accepted(outputs))) => Ok(outputs),
            Ok(Err(error)) => Err(stagecraft_core::FlowFailure::from(error)),
        };
        let step = record.item.step.clone();
        let event = Event::WorkItemCompleted {
            work_item: id.clone(),
            by: actor,
            answers,
            result,
        };
        let run = self.event(&record.run, event, Trail::audit(audit)).await?;
        // Whatever failed the step (the flow, or its outputs), the step says.
        let failed = run
            .stages
            .get(step.stage_run)
            .and_then(|stage| stage.steps.iter().find(|s| s.name == step.step))
            .filter(|s| s.status == stagecraft_core::run::StepStatus::Error)
            .map(|s| s.error.clone().unwrap_or_default());
        Ok(match failed {
            None => Completion::Completed(run),
            Some(error) => Completion::Failed { run, error },
        })
    }

    /// An open work item `user` may act on, with their memberships and what
    /// its step's screen flow needs.
    async fn open_item(
        &self,
        id: &WorkItemId,
        user: &str,
    ) -> Result<(WorkItemRecord, Actor, OpenStep), EngineError> {
        let record = self
            .inner
            .store
            .work_item(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("work item {id}")))?;
        if record.item.status != WorkItemStatus::Assigned {
            return Err(EngineError::Refused(
                stagecraft_core::EventError::WorkItemClosed {
                    work_item: id.clone(),
                },
            ));
        }
        let actor = self.actor(user).await?;
        if !actor.may_work_on(&record.item.assignee) {
            return Err(EngineError::Forbidden(format!(
                "{user} is not the assignee of work item {id} nor a member of its group or queue"
            )));
        }
        // The screen flow sees the inputs its step resolved when it started,
        // in the version pinned then.
        let run = self.run(&record.run).await?;
        let step = OpenStep {
            inputs: run
                .step(&record.item.step)
                .and_then(|step| step.inputs.clone())
                .unwrap_or(Value::Null),
            pin: stagecraft_core::pinned_flow(&run, &record.item.step),
            account: Account::new(&run.orchestration, &record.item.screen_flow),
        };
        Ok((record, actor, step))
    }

    /// The screen flow of a work item, in the version its step is pinned to.
    async fn screen_flow(
        &self,
        name: &str,
        pin: Option<(u32, Option<String>)>,
    ) -> Result<LoadedFlow, EngineError> {
        let versions = Versions {
            registry: &self.inner.registry,
            store: &*self.inner.store,
            runner: &self.inner.runner,
        };
        versions
            .flow(name, pin)
            .await
            .map(|(_, flow)| flow)
            .map_err(|message| EngineError::Unavailable(format!("screen flow: {message}")))
    }

    /// `user` of the directory with their groups and queues: who may work
    /// on what.
    pub async fn actor(&self, user: &str) -> Result<Actor, EngineError> {
        if self.inner.store.user(user).await?.is_none() {
            return Err(EngineError::NotFound(format!("user {user:?}")));
        }
        Ok(self.inner.store.memberships(user).await?.of(user))
    }
}
