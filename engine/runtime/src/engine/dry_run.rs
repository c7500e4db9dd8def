//! Dry-runs: a candidate flow version tried against the inputs a step
//! attempt recorded, in the same sandbox and limits as a real invocation,
//! committing nothing to any run (issue: repair at scale).

use super::Engine;
use crate::dispatch::failure;
use crate::error::EngineError;
use crate::registry::host_kind;
use crate::versions::Versions;
use serde::Serialize;
use serde_json::Value;
use stagecraft_core::run::{RunId, StepStatus};
use stagecraft_core::{FlowFailure, FlowKind};
use stagecraft_host::Flow;
use stagecraft_store::{StepLogLine, Store};

/// The flow version a dry-run tries.
#[derive(Debug, Clone)]
pub enum Candidate {
    /// A deployed version of the step's flow; the active one when `None`.
    Deployed(Option<u32>),
    /// A component that is not deployed (it stays that way).
    Component(Vec<u8>),
}

/// What a dry-run found: the candidate's result next to the attempt's.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    /// The run.
    pub run: RunId,
    /// The stage of the step.
    pub stage: String,
    /// The step.
    pub step: String,
    /// The step's flow.
    pub flow: String,
    /// What the candidate did.
    pub candidate: Tried,
    /// What the step's last attempt did.
    pub original: Original,
}

impl DryRun {
    /// Whether the candidate succeeded (outputs, or a form for a screen flow).
    pub fn succeeded(&self) -> bool {
        !matches!(self.candidate.outcome, Outcome::Failed { .. })
    }
}

/// The candidate's side of a dry-run.
#[derive(Debug, Clone, Serialize)]
pub struct Tried {
    /// The deployed version tried, or `None` for an uploaded component.
    pub version: Option<u32>,
    /// Its SHA-256, hex.
    pub digest: String,
    /// Its result.
    pub outcome: Outcome,
    /// What it printed and logged.
    pub logs: Vec<StepLogLine>,
}

/// A candidate's result.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// A background step's flow returned these outputs.
    Succeeded {
        /// The outputs.
        outputs: Value,
    },
    /// An interactive step's screen flow rendered this form.
    Rendered {
        /// The form.
        form: Value,
    },
    /// The flow failed.
    Failed {
        /// How.
        failure: FlowFailure,
    },
}

/// The step's last attempt, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Original {
    /// The attempt.
    pub attempt: u32,
    /// The step's status.
    pub status: StepStatus,
    /// The flow version it ran (or is pinned to).
    pub flow_version: Option<u32>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// What its flow printed and logged.
    pub logs: Vec<StepLogLine>,
}

impl<S: Store> Engine<S> {
    /// Tries `candidate` against the inputs the last attempt of step `step`
    /// of stage `stage` (its latest stage run) was started with. Nothing is
    /// committed: the run, its history and its attempts stay as they are.
    pub async fn dry_run(
        &self,
        id: &RunId,
        stage: &str,
        step: &str,
        candidate: Candidate,
    ) -> Result<DryRun, EngineError> {
        let run = self.run(id).await?;
        let not_run = || EngineError::NotFound(format!("step {stage}.{step} of run {id}"));
        let (stage_run, step_run) = run
            .stages
            .iter()
            .enumerate()
            .rev()
            .find(|(_, s)| s.stage == stage)
            .and_then(|(index, s)| Some((index, s.steps.iter().find(|s| s.name == step)?)))
            .ok_or_else(not_run)?;
        let inputs = step_run.inputs.clone().ok_or_else(|| {
            EngineError::BadRequest(format!(
                "step {stage}.{step} of run {id} has not started: there are no inputs to try"
            ))
        })?;
        let plan = self
            .inner
            .registry
            .plan(&run.orchestration, run.version)
            .ok_or_else(|| {
                EngineError::Unavailable(format!(
                    "orchestration {} v{} is not loaded",
                    run.orchestration, run.version
                ))
            })?;
        let (kind, flow) = plan.step_flow(stage, step).ok_or_else(|| {
            EngineError::BadRequest(format!(
                "step {stage}.{step} calls an external action; only flows can be dry-run"
            ))
        })?;
        let flow = flow.to_owned();
        let (version, component) = self.candidate(&flow, kind, candidate).await?;
        let (outcome, log) = match kind {
            FlowKind::Screen => {
                let invocation = component.render(&inputs).await;
                let outcome = match invocation.outcome {
                    Ok(form) => Outcome::Rendered {
                        form: serde_json::to_value(form).unwrap_or(Value::Null),
                    },
                    Err(error) => Outcome::Failed {
                        failure: failure(error),
                    },
                };
                (outcome, invocation.log)
            }
            _ => {
                let invocation = component.run(&inputs).await;
                let outcome = match invocation.outcome {
                    Ok(outputs) => Outcome::Succeeded { outputs },
                    Err(error) => Outcome::Failed {
                        failure: failure(error),
                    },
                };
                (outcome, invocation.log)
            }
        };
        let logs = self
            .inner
            .store
            .step_logs(id)
            .await?
            .into_iter()
            .filter(|log| {
                log.step.stage_run == stage_run
                    && log.step.step == step
                    && log.attempt == step_run.attempt
            })
            .flat_map(|log| log.lines)
            .collect();
        Ok(DryRun {
            run: id.clone(),
            stage: stage.to_owned(),
            step: step.to_owned(),
            flow,
            candidate: Tried {
                version,
                digest: component.digest().to_owned(),
                outcome,
                logs: log.iter().map(crate::dispatch::log_line).collect(),
            },
            original: Original {
                attempt: step_run.attempt,
                status: step_run.status,
                flow_version: step_run.flow_version,
                error: step_run.error.clone(),
                logs,
            },
        })
    }

    /// The candidate, compiled as the step's kind of flow.
    async fn candidate(
        &self,
        flow: &str,
        kind: FlowKind,
        candidate: Candidate,
    ) -> Result<(Option<u32>, Flow), EngineError> {
        match candidate {
            Candidate::Deployed(version) => {
                let pin = match version {
                    Some(version) => {
                        Some((version, Some(self.stored_digest(flow, version).await?)))
                    }
                    None => None,
                };
                let versions = Versions {
                    registry: &self.inner.registry,
                    store: &*self.inner.store,
                    host: &self.inner.host,
                };
                let (version, component) = versions
                    .flow(flow, pin)
                    .await
                    .map_err(EngineError::BadRequest)?;
                Ok((Some(version), component))
            }
            Candidate::Component(bytes) => {
                let (component, _) = self.compile(flow, host_kind(kind), bytes).await?;
                Ok((None, component))
            }
        }
    }
}
