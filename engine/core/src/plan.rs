//! The validated, indexed form of an orchestration that the state machine runs.

mod node;

use std::collections::BTreeMap;

use crate::catalog::FlowKind;
use crate::definition::Orchestration;
use crate::limits::Limits;

pub(crate) use node::{
    Exit, FaultOutlet, Operand, PlanAssignee, PlanDecision, PlanElement, PlanEntry, PlanEvaluation,
    PlanNode, PlanStage, PlanStep, PlanStepKind,
};

/// Index of an element in [`Plan`].
pub(crate) type ElementId = usize;

/// A validated orchestration version, ready to run. Built by [`crate::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    orchestration: Orchestration,
    version: u32,
    limits: Limits,
    elements: Vec<PlanElement>,
    index: BTreeMap<String, ElementId>,
}

impl Plan {
    /// Assembles a plan; `elements` is non-empty and its first element starts the main path.
    pub(crate) fn new(orchestration: Orchestration, elements: Vec<PlanElement>) -> Self {
        let index = elements
            .iter()
            .enumerate()
            .map(|(id, element)| (element.name.clone(), id))
            .collect();
        Self {
            orchestration,
            version: 1,
            limits: Limits::default(),
            elements,
            index,
        }
    }

    /// The same plan as version `version` of its orchestration (runs are pinned to it).
    #[must_use]
    pub fn with_version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// The same plan running under other limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The definition this plan was validated from, for display.
    pub fn orchestration(&self) -> &Orchestration {
        &self.orchestration
    }

    /// The orchestration name.
    pub fn name(&self) -> &str {
        &self.orchestration.name
    }

    /// The orchestration version (1 unless set by [`Plan::with_version`]).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The limits runs of this plan obey.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The element at `id`.
    pub(crate) fn element(&self, id: ElementId) -> Option<&PlanElement> {
        self.elements.get(id)
    }

    /// The stage element called `name`.
    /// The flow step `step` of stage `stage` runs, with its kind: a background step's
    /// autolaunched flow, an interactive step's screen flow; `None` for an external step or
    /// a step the plan does not have.
    pub fn step_flow(&self, stage: &str, step: &str) -> Option<(FlowKind, &str)> {
        let step = self.stage(stage)?.steps.iter().find(|s| s.name == step)?;
        match &step.kind {
            PlanStepKind::Background { flow } => Some((FlowKind::Autolaunched, flow)),
            PlanStepKind::Interactive { flow, .. } => Some((FlowKind::Screen, flow)),
            PlanStepKind::External { .. } => None,
        }
    }

    pub(crate) fn stage(&self, name: &str) -> Option<&PlanStage> {
        let id = self.index.get(name)?;
        match &self.element(*id)?.node {
            PlanNode::Stage(stage) => Some(stage),
            PlanNode::Decision(_) | PlanNode::End => None,
        }
    }

    /// Number of elements, including those of fault paths.
    pub(crate) fn element_count(&self) -> usize {
        self.elements.len()
    }
}
