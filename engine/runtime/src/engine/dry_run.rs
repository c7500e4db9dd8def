//! Dry-runs: a candidate flow version tried against the inputs a recorded
//! invocation was given, in the same sandbox and limits as a real
//! invocation, committing nothing to any run.

use super::Engine;
use super::audit::target;
use crate::error::EngineError;
use crate::runner::LoadedFlow;
use crate::versions::Versions;
use serde::Serialize;
use serde_json::Value;
use stagecraft_core::run::{EvalTarget, Run, RunId, StepStatus};
use stagecraft_core::{FlowFailure, FlowKind, Plan};
use stagecraft_host::Submission;
use stagecraft_store::{AuditAction, StepLogLine, Store};

/// The flow version a dry-run tries.
#[derive(Debug, Clone)]
pub enum Candidate {
    /// A deployed version of the flow; the active one when `None`.
    Deployed(Option<u32>),
    /// A component that is not deployed (it stays that way).
    Component(Vec<u8>),
}

/// What a dry-run found: the candidate's result next to the original's.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    /// The run.
    pub run: RunId,
    /// The stage.
    pub stage: String,
    /// The step: the one whose flow was tried, or whose condition the
    /// evaluation flow decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The flow tried.
    pub flow: String,
    /// For an evaluation flow, the condition it decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<EvalTarget>,
    /// What the candidate did.
    pub candidate: Tried,
    /// What the recorded invocation did.
    pub original: Original,
}

impl DryRun {
    /// Whether the candidate succeeded (outputs, a form, a decision).
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
    /// An interactive step's screen flow rendered this form (and, when
    /// its work item was completed, took the recorded answers so).
    Rendered {
        /// The form.
        form: Value,
        /// What it made of the answers the work item was completed with.
        #[serde(skip_serializing_if = "Option::is_none")]
        submitted: Option<Submitted>,
    },
    /// An evaluation flow decided its condition.
    Decided {
        /// Whether the condition is met.
        met: bool,
    },
    /// The flow failed.
    Failed {
        /// How.
        failure: FlowFailure,
    },
}

/// A candidate screen flow's answer to recorded answers.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Submitted {
    /// It accepted them: the step's outputs.
    Accepted {
        /// The outputs.
        outputs: Value,
    },
    /// It found them invalid (the person would be asked again).
    Invalid {
        /// What is wrong with which answer.
        errors: Value,
    },
}

/// The recorded invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Original {
    /// The step's attempt (steps only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// The step's status (steps only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StepStatus>,
    /// The flow version it ran (or is pinned to), when known.
    pub flow_version: Option<u32>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// What its flow printed and logged (steps only: evaluation flows keep
    /// no log).
    pub logs: Vec<StepLogLine>,
}

/// One recorded invocation to try a candidate on.
#[derive(Debug, Clone)]
pub(crate) struct Trial {
    pub(crate) stage_run: usize,
    pub(crate) stage: String,
    pub(crate) step: Option<String>,
    pub(crate) kind: FlowKind,
    pub(crate) flow: String,
    pub(crate) inputs: Value,
    /// A screen step's recorded answers, to submit after rendering.
    pub(crate) answers: Option<Value>,
    pub(crate) evaluation: Option<EvalTarget>,
    pub(crate) original: Original,
}

impl Trial {
    /// The last attempt of step `step` of the latest run of stage `stage`.
    pub(crate) fn step(run: &Run, plan: &Plan, stage: &str, step: &str) -> Result<Self, String> {
        let not_run = || format!("run {} has no step {stage}.{step}", run.id);
        let (stage_run, step_run) = run
            .stages
            .iter()
            .enumerate()
            .rev()
            .find(|(_, s)| s.stage == stage)
            .and_then(|(index, s)| Some((index, s.steps.iter().find(|s| s.name == step)?)))
            .ok_or_else(not_run)?;
        let inputs = step_run.inputs.clone().ok_or_else(|| {
            format!("step {stage}.{step} has not started: there are no inputs to try")
        })?;
        let (kind, flow) = plan.step_flow(stage, step).ok_or_else(|| {
            format!("step {stage}.{step} calls an external action; only flows can be dry-run")
        })?;
        let answers = step_run.work_item.as_ref().and_then(|id| {
            run.work_items
                .iter()
                .find(|item| &item.id == id && item.attempt == step_run.attempt)?
                .answers
                .clone()
        });
        Ok(Self {
            stage_run,
            stage: stage.to_owned(),
            step: Some(step.to_owned()),
            kind,
            flow: flow.to_owned(),
            inputs,
            answers,
            evaluation: None,
            original: Original {
                attempt: Some(step_run.attempt),
                status: Some(step_run.status),
                flow_version: step_run.flow_version,
                error: step_run.error.clone(),
                logs: Vec::new(),
            },
        })
    }

    /// The invocation whose failure stopped `run`: a step's flow, or an
    /// evaluation flow with the inputs it was given.
    pub(crate) fn failure(run: &Run, plan: &Plan) -> Result<Self, String> {
        let error = run
            .error
            .as_ref()
            .ok_or_else(|| format!("run {} is {}, not stopped by an error", run.id, run.status))?;
        let evaluation = error
            .flow
            .as_ref()
            .and_then(|flow| Some((flow.name.clone(), flow.evaluation.as_ref()?)));
        if let Some((flow, evaluation)) = evaluation {
            return Ok(Self {
                stage_run: error.stage_run,
                stage: error.stage.clone(),
                step: error.step.clone(),
                kind: FlowKind::Evaluation,
                flow,
                inputs: evaluation.inputs.clone(),
                answers: None,
                evaluation: Some(evaluation.target.clone()),
                original: Original {
                    attempt: None,
                    status: None,
                    flow_version: None,
                    error: Some(error.message.clone()),
                    logs: Vec::new(),
                },
            });
        }
        let step = match (&error.kind, &error.step) {
            (stagecraft_core::run::ErrorKind::Flow(_), Some(step)) => step,
            (kind, _) => return Err(format!("its error is not a flow's ({kind})")),
        };
        let mut trial = Self::step(run, plan, &error.stage, step)?;
        trial.stage_run = error.stage_run;
        Ok(trial)
    }

    /// Runs `component` on the recorded inputs.
    pub(crate) async fn try_on(&self, component: &LoadedFlow) -> (Outcome, Vec<StepLogLine>) {
        let (outcome, log) = match self.kind {
            FlowKind::Screen => {
                let invocation = component.render(&self.inputs).await;
                let mut log = invocation.log;
                let form = match invocation.outcome {
                    Ok(form) => serde_json::to_value(form).unwrap_or(Value::Null),
                    Err(error) => {
                        let failure = FlowFailure::from(error);
                        return (Outcome::Failed { failure }, lines(&log));
                    }
                };
                let Some(answers) = &self.answers else {
                    let outcome = Outcome::Rendered {
                        form,
                        submitted: None,
                    };
                    return (outcome, lines(&log));
                };
                let submission = component.submit(&self.inputs, answers).await;
                log.extend(submission.log);
                let outcome = match submission.outcome {
                    Ok(Submission::Accepted(outputs)) => Outcome::Rendered {
                        form,
                        submitted: Some(Submitted::Accepted { outputs }),
                    },
                    Ok(Submission::Invalid(errors)) => Outcome::Rendered {
                        form,
                        submitted: Some(Submitted::Invalid {
                            errors: serde_json::to_value(errors).unwrap_or(Value::Null),
                        }),
                    },
                    Err(error) => Outcome::Failed {
                        failure: FlowFailure::from(error),
                    },
                };
                (outcome, log)
            }
            FlowKind::Evaluation => {
                let invocation = component.evaluate(&self.inputs).await;
                let outcome = match invocation.outcome {
                    Ok(met) => Outcome::Decided { met },
                    Err(error) => Outcome::Failed {
                        failure: FlowFailure::from(error),
                    },
                };
                (outcome, invocation.log)
            }
            FlowKind::Autolaunched => {
                let invocation = component.run(&self.inputs).await;
                let outcome = match invocation.outcome {
                    Ok(outputs) => Outcome::Succeeded { outputs },
                    Err(error) => Outcome::Failed {
                        failure: FlowFailure::from(error),
                    },
                };
                (outcome, invocation.log)
            }
        };
        (outcome, lines(&log))
    }
}

fn lines(log: &[stagecraft_host::LogLine]) -> Vec<StepLogLine> {
    log.iter().map(crate::dispatch::log_line).collect()
}

/// A compiled candidate.
pub(crate) struct Compiled {
    pub(crate) version: Option<u32>,
    pub(crate) flow: LoadedFlow,
}

impl<S: Store> Engine<S> {
    /// Tries `candidate` against what a recorded invocation of `run` was
    /// given: the last attempt of `step` (stage, step) when given, else the
    /// invocation whose failure stopped the run (a step's flow, or an
    /// evaluation flow). Nothing is committed: the run, its history and its
    /// attempts stay as they are. Recorded in the audit log as `by`'s.
    pub async fn dry_run(
        &self,
        id: &RunId,
        step: Option<(&str, &str)>,
        candidate: Candidate,
        by: &str,
    ) -> Result<DryRun, EngineError> {
        let audit = self.audit_record(by, AuditAction::DryRun, target::run(id));
        let result = self.dry_run_unaudited(id, step, candidate).await;
        let record = match &result {
            Ok(done) => audit.with_detail(serde_json::json!({
                "stage": done.stage,
                "step": done.step,
                "flow": done.flow,
                "version": done.candidate.version,
                "digest": done.candidate.digest,
                "succeeded": done.succeeded(),
            })),
            Err(error) => audit.refused(error.to_string()),
        };
        self.record_action(record).await?;
        result
    }

    async fn dry_run_unaudited(
        &self,
        id: &RunId,
        step: Option<(&str, &str)>,
        candidate: Candidate,
    ) -> Result<DryRun, EngineError> {
        let run = self.run(id).await?;
        let plan = self.plan_of(&run)?;
        let trial = match step {
            Some((stage, step)) => Trial::step(&run, &plan, stage, step),
            None => Trial::failure(&run, &plan),
        };
        let mut trial = trial.map_err(|why| match step {
            Some(_) if why.starts_with("run ") => EngineError::NotFound(why),
            _ => EngineError::BadRequest(why),
        })?;
        let compiled = self.candidate(&trial.flow, trial.kind, candidate).await?;
        let (outcome, logs) = trial.try_on(&compiled.flow).await;
        if let Some(step) = &trial.step
            && trial.evaluation.is_none()
        {
            trial.original.logs = self
                .inner
                .store
                .step_logs(id)
                .await?
                .into_iter()
                .filter(|log| {
                    log.step.stage_run == trial.stage_run
                        && &log.step.step == step
                        && Some(log.attempt) == trial.original.attempt
                })
                .flat_map(|log| log.lines)
                .collect();
        }
        Ok(DryRun {
            run: id.clone(),
            stage: trial.stage,
            step: trial.step,
            flow: trial.flow,
            evaluation: trial.evaluation,
            candidate: Tried {
                version: compiled.version,
                digest: compiled.flow.digest().to_owned(),
                outcome,
                logs,
            },
            original: trial.original,
        })
    }

    /// The plan of `run`'s orchestration version.
    pub(crate) fn plan_of(&self, run: &Run) -> Result<std::sync::Arc<Plan>, EngineError> {
        self.inner
            .registry
            .plan(&run.orchestration, run.version)
            .ok_or_else(|| {
                EngineError::Unavailable(format!(
                    "orchestration {} v{} is not loaded",
                    run.orchestration, run.version
                ))
            })
    }

    /// The candidate, compiled as `kind` of flow.
    pub(crate) async fn candidate(
        &self,
        flow: &str,
        kind: FlowKind,
        candidate: Candidate,
    ) -> Result<Compiled, EngineError> {
        match candidate {
            Candidate::Deployed(version) => {
                let pin = match version {
                    Some(version) => {
                        Some((version, Some(self.stored_digest(flow, version).await?)))
                    }
                    // The active version as of now, through any node.
                    None => {
                        self.sync_catalog().await?;
                        None
                    }
                };
                let versions = Versions {
                    registry: &self.inner.registry,
                    store: &*self.inner.store,
                    runner: &self.inner.runner,
                };
                let (version, flow) = versions
                    .flow(flow, pin)
                    .await
                    .map_err(EngineError::BadRequest)?;
                Ok(Compiled {
                    version: Some(version),
                    flow,
                })
            }
            Candidate::Component(bytes) => {
                let (flow, _) = self.compile(flow, kind, bytes).await?;
                Ok(Compiled {
                    version: None,
                    flow,
                })
            }
        }
    }
}
