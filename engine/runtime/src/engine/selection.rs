//! Selections of runs to repair, and a candidate fix dry-run against every
//! run of a selection at once: "how many of the runs in Error on flow X
//! would version N get through, and why would the others fail?"

use super::Engine;
use super::audit::target;
use super::dry_run::{Candidate, Outcome, Trial};
use crate::error::EngineError;
use futures_util::StreamExt;
use serde::Serialize;
use stagecraft_core::repair::{RepairFilter, Resumable};
use stagecraft_core::run::{Run, RunId};
use stagecraft_core::{FlowFailure, FlowFailureKind};
use stagecraft_store::{AuditAction, Store};
use std::collections::BTreeMap;

/// Runs named per group of a selection dry-run, at most.
const EXAMPLES: usize = 5;

/// A candidate tried against every run of a selection.
#[derive(Debug, Clone, Serialize)]
pub struct SelectionDryRun {
    /// The flow tried.
    pub flow: String,
    /// The deployed version tried, or `None` for an uploaded component.
    pub version: Option<u32>,
    /// Its SHA-256, hex.
    pub digest: String,
    /// Runs the filter selected.
    pub selected: usize,
    /// Runs on which the candidate succeeded: a resume would get past the
    /// failure (as far as this flow is concerned).
    pub succeeded: usize,
    /// Runs on which it failed.
    pub failed: usize,
    /// How it failed, most frequent first.
    pub failures: Vec<FailureGroup>,
    /// Selected runs it could not be tried on, and why.
    pub not_tried: Vec<NotTried>,
}

/// Runs on which the candidate failed the same way.
#[derive(Debug, Clone, Serialize)]
pub struct FailureGroup {
    /// The kind of failure.
    pub kind: FlowFailureKind,
    /// Its message (the first seen, when several messages share a kind and
    /// differ only in details such as addresses).
    pub message: String,
    /// How many runs.
    pub count: usize,
    /// A few of them.
    pub runs: Vec<RunId>,
}

/// Selected runs that could not be tried, for one reason.
#[derive(Debug, Clone, Serialize)]
pub struct NotTried {
    /// Why.
    pub reason: String,
    /// How many runs.
    pub count: usize,
    /// A few of them.
    pub runs: Vec<RunId>,
}

impl<S: Store> Engine<S> {
    /// The runs `filter` selects, oldest first. Runs whose record cannot be
    /// read are left out (they were reported when the engine started).
    pub async fn select(&self, filter: &RepairFilter) -> Result<Vec<Run>, EngineError> {
        filter.check().map_err(EngineError::BadRequest)?;
        let orchestration = filter
            .orchestration
            .clone()
            .map(|name| (name, filter.version));
        let found = self
            .inner
            .store
            .runs_with_status(filter.status.status(), orchestration)
            .await?;
        for (id, error) in &found.unreadable {
            tracing::warn!(run = %id, %error, "left out of a selection: its record cannot be read");
        }
        Ok(found
            .runs
            .into_iter()
            .filter(|run| {
                let plan = self.inner.registry.plan(&run.orchestration, run.version);
                filter.matches(run, plan.as_deref())
            })
            .collect())
    }

    /// Tries `candidate`, a version of `filter.flow`, against the failed
    /// invocation of every run `filter` selects, in the sandbox, changing
    /// nothing. Recorded in the audit log as `by`'s.
    pub async fn dry_run_selection(
        &self,
        filter: &RepairFilter,
        candidate: Candidate,
        by: &str,
    ) -> Result<SelectionDryRun, EngineError> {
        let flow = filter.flow.clone().unwrap_or_default();
        let audit = self.audit_record(by, AuditAction::DryRun, target::flow(&flow));
        let result = self.dry_run_selection_unaudited(filter, candidate).await;
        let record = match &result {
            Ok(done) => audit.with_detail(serde_json::json!({
                "filter": filter,
                "version": done.version,
                "digest": done.digest,
                "selected": done.selected,
                "succeeded": done.succeeded,
                "failed": done.failed,
            })),
            Err(error) => audit.refused(error.to_string()),
        };
        self.record_action(record).await?;
        result
    }

    async fn dry_run_selection_unaudited(
        &self,
        filter: &RepairFilter,
        candidate: Candidate,
    ) -> Result<SelectionDryRun, EngineError> {
        let Some(flow) = filter.flow.clone() else {
            return Err(EngineError::BadRequest(
                "a dry-run over many runs needs the flow whose failures it tries (flow)".into(),
            ));
        };
        if filter.status != Resumable::Error {
            return Err(EngineError::BadRequest(
                "a dry-run over many runs tries runs in Error (status error)".into(),
            ));
        }
        let kind = self
            .inner
            .registry
            .kind(&flow)
            .ok_or_else(|| EngineError::NotFound(format!("flow {flow:?}")))?;
        let compiled = self.candidate(&flow, kind, candidate).await?;
        let runs = self.select(filter).await?;
        let selected = runs.len();
        let mut not_tried = Groups::default();
        let mut trials = Vec::with_capacity(runs.len());
        for run in &runs {
            let trial = self
                .plan_of(run)
                .map_err(|e| e.to_string())
                .and_then(|plan| Trial::failure(run, &plan));
            match trial {
                Ok(trial) => trials.push((run.id.clone(), trial)),
                Err(reason) => not_tried.add(reason, &run.id),
            }
        }
        drop(runs);
        // As many at once as the host runs flows at once: the sandbox's own
        // limit decides, as for real invocations.
        let parallel = std::thread::available_parallelism().map_or(2, usize::from) * 2;
        let component = &compiled.flow;
        let mut outcomes = futures_util::stream::iter(trials)
            .map(|(id, trial)| async move { (id, trial.try_on(component).await.0) })
            .buffer_unordered(parallel);
        let mut succeeded = 0;
        let mut failures: BTreeMap<(String, String), FailureGroup> = BTreeMap::new();
        while let Some((id, outcome)) = outcomes.next().await {
            match outcome {
                Outcome::Failed {
                    failure: FlowFailure { kind, message },
                } => {
                    let key = (format!("{kind:?}"), first_line(&message));
                    let group = failures.entry(key).or_insert_with(|| FailureGroup {
                        kind,
                        message: message.clone(),
                        count: 0,
                        runs: Vec::new(),
                    });
                    group.count += 1;
                    if group.runs.len() < EXAMPLES {
                        group.runs.push(id);
                    }
                }
                _ => succeeded += 1,
            }
        }
        let mut failures: Vec<FailureGroup> = failures.into_values().collect();
        failures.sort_by_key(|group| std::cmp::Reverse(group.count));
        let failed = failures.iter().map(|g| g.count).sum();
        Ok(SelectionDryRun {
            flow,
            version: compiled.version,
            digest: compiled.flow.digest().to_owned(),
            selected,
            succeeded,
            failed,
            failures,
            not_tried: not_tried.into_sorted(),
        })
    }
}

/// The first line of a failure message: traps carry a backtrace below it
/// that differs between otherwise identical failures.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().to_owned()
}

/// Runs grouped by reason.
#[derive(Default)]
struct Groups(BTreeMap<String, NotTried>);

impl Groups {
    fn add(&mut self, reason: String, run: &RunId) {
        let group = self.0.entry(reason.clone()).or_insert_with(|| NotTried {
            reason,
            count: 0,
            runs: Vec::new(),
        });
        group.count += 1;
        if group.runs.len() < EXAMPLES {
            group.runs.push(run.clone());
        }
    }

    fn into_sorted(self) -> Vec<NotTried> {
        let mut groups: Vec<NotTried> = self.0.into_values().collect();
        groups.sort_by_key(|group| std::cmp::Reverse(group.count));
        groups
    }
}
