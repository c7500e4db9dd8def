//! Selecting runs to repair: where a run's unhandled error came from, and the
//! filters an operator selects runs by ("every run in Error on flow
//! risk_score v1 that trapped"). Pure, so that the engine's selection and a
//! property test's oracle share nothing but this definition.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::event::FlowFailureKind;
use crate::plan::Plan;
use crate::run::{ErrorKind, Run, RunStatus};

/// Where a run's unhandled error came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureSite<'a> {
    /// The stage that failed.
    pub stage: &'a str,
    /// Its step, when the error is a step's.
    pub step: Option<&'a str>,
    /// The flow whose failure stopped the run (flow and evaluation-flow errors).
    pub flow: Option<&'a str>,
    /// The version of that flow that failed, when it is known (a step's pinned version).
    pub flow_version: Option<u32>,
    /// How the flow failed.
    pub failure: Option<FlowFailureKind>,
}

/// Where `run`'s unhandled error came from; `None` when it has none. The run's own record
/// says which flow failed; for records written before it did, `plan` (the run's
/// orchestration version) names a failed step's flow.
pub fn failure_site<'a>(run: &'a Run, plan: Option<&'a Plan>) -> Option<FailureSite<'a>> {
    let error = run.error.as_ref()?;
    let failure = match &error.kind {
        ErrorKind::Flow(kind) | ErrorKind::Evaluation(kind) => Some(*kind),
        _ => None,
    };
    let (flow, flow_version) = match (&error.flow, &error.kind, &error.step) {
        (Some(flow), _, _) => (Some(flow.name.as_str()), flow.version),
        (None, ErrorKind::Flow(_), Some(step)) => {
            let flow = plan.and_then(|plan| plan.step_flow(&error.stage, step));
            let version = run
                .stages
                .get(error.stage_run)
                .and_then(|stage| stage.steps.iter().find(|s| &s.name == step))
                .and_then(|step| step.flow_version);
            (flow.map(|(_, name)| name), version)
        }
        _ => (None, None),
    };
    Some(FailureSite {
        stage: &error.stage,
        step: error.step.as_deref(),
        flow,
        flow_version,
        failure,
    })
}

/// The runs a resume (or a dry-run over many runs) applies to. Every field that is set must
/// match; an empty filter selects every run in Error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepairFilter {
    /// Runs in Error (the default) or Suspended runs.
    #[serde(default)]
    pub status: Resumable,
    /// Runs of this orchestration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orchestration: Option<String>,
    /// Runs of this orchestration version (needs `orchestration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Runs whose failed stage is this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Runs whose failed step is this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Runs stopped by a failure of this flow (a step's flow or an evaluation flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// Runs stopped by a failure of this version of `flow` (needs `flow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_version: Option<u32>,
    /// Runs stopped by a flow failing this way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FlowFailureKind>,
    /// Runs started at or after this time.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::fixed_option"
    )]
    pub started_after: Option<Timestamp>,
    /// Runs started before this time.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::fixed_option"
    )]
    pub started_before: Option<Timestamp>,
}

/// The statuses a run can be resumed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resumable {
    /// Stopped by an unhandled error.
    #[default]
    Error,
    /// Suspended by someone.
    Suspended,
}

impl Resumable {
    /// The run status it stands for.
    pub fn status(self) -> RunStatus {
        match self {
            Self::Error => RunStatus::Error,
            Self::Suspended => RunStatus::Suspended,
        }
    }
}

impl RepairFilter {
    /// Refuses filters that cannot mean what they say, in a person's words.
    pub fn check(&self) -> Result<(), String> {
        if self.version.is_some() && self.orchestration.is_none() {
            return Err("an orchestration version needs the orchestration's name".to_owned());
        }
        if self.flow_version.is_some() && self.flow.is_none() {
            return Err("a flow version needs the flow's name".to_owned());
        }
        let by_failure = self.stage.is_some()
            || self.step.is_some()
            || self.flow.is_some()
            || self.failure.is_some();
        if self.status == Resumable::Suspended && by_failure {
            return Err(
                "suspended runs have no failure: stage, step, flow and failure select runs in Error"
                    .to_owned(),
            );
        }
        if let (Some(after), Some(before)) = (self.started_after, self.started_before)
            && after >= before
        {
            return Err(format!(
                "started_after ({after}) must be earlier than started_before ({before})"
            ));
        }
        Ok(())
    }

    /// Whether `run` is selected. `plan` is the run's orchestration version, for runs
    /// recorded before errors named their flow (see [`failure_site`]).
    pub fn matches(&self, run: &Run, plan: Option<&Plan>) -> bool {
        if run.status != self.status.status()
            || !same(&self.orchestration, &run.orchestration)
            || self.version.is_some_and(|v| v != run.version)
        {
            return false;
        }
        if self.started_after.is_some() || self.started_before.is_some() {
            let Some(started) = run.started_at() else {
                return false;
            };
            if self.started_after.is_some_and(|after| started < after)
                || self.started_before.is_some_and(|before| started >= before)
            {
                return false;
            }
        }
        if self.status == Resumable::Suspended {
            return true;
        }
        let Some(site) = failure_site(run, plan) else {
            return false;
        };
        same(&self.stage, site.stage)
            && self.step.as_deref().is_none_or(|s| site.step == Some(s))
            && self.flow.as_deref().is_none_or(|f| site.flow == Some(f))
            && self
                .flow_version
                .is_none_or(|v| site.flow_version == Some(v))
            && self.failure.is_none_or(|k| site.failure == Some(k))
    }
}

fn same(wanted: &Option<String>, found: &str) -> bool {
    wanted.as_deref().is_none_or(|w| w == found)
}
