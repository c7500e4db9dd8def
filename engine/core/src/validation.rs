//! Deploy-time validation: every problem of a definition, each pointing at its element.

mod condition;
mod flatten;
mod graph;
mod path;
mod problem;
mod stage;

use std::collections::BTreeMap;
use std::fmt;

pub use path::{Path, Segment};
pub use problem::Problem;

use crate::catalog::Catalog;
use crate::definition::{Element, FORMAT_VERSION, Orchestration};
use crate::plan::{ElementId, Plan, PlanElement, PlanNode};
use flatten::Flat;

/// One problem of a definition and where it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ValidationError {
    /// The element (and part of it) the problem is in.
    pub path: Path,
    /// What is wrong and how to fix it.
    pub problem: Problem,
}

/// Every problem found in a definition (never empty).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the orchestration has {} problem(s):", self.0.len())?;
        self.0.iter().try_for_each(|error| write!(f, "\n- {error}"))
    }
}

impl std::error::Error for ValidationErrors {}

/// Most elements a definition may have, fault paths' included.
pub const MAX_ELEMENTS: usize = 1_000;
/// Most steps one stage may have.
pub const MAX_STEPS_PER_STAGE: usize = 1_000;
/// How deeply fault paths may nest (a stage in a fault path with a fault path of its own…).
pub const MAX_FAULT_PATH_NESTING: usize = 8;

/// Checks a definition against the deployed flows and actions, reporting every problem;
/// on success returns the [`Plan`] the state machine runs.
pub fn validate(def: &Orchestration, catalog: &impl Catalog) -> Result<Plan, ValidationErrors> {
    let mut validator = Validator {
        def,
        catalog,
        flat: flatten::flatten(&def.elements),
        index: BTreeMap::new(),
        errors: Vec::new(),
    };
    validator.run();
    match validator.finish() {
        Ok(elements) => Ok(Plan::new(def.clone(), elements)),
        Err(errors) => Err(ValidationErrors(errors)),
    }
}

/// The working state of one validation.
struct Validator<'a, C> {
    def: &'a Orchestration,
    catalog: &'a C,
    /// Every element, fault paths included, in pre-order: the main path's first element is 0.
    flat: Vec<Flat<'a>>,
    /// Element name to id (first occurrence).
    index: BTreeMap<&'a str, ElementId>,
    errors: Vec<ValidationError>,
    // Nodes are built into `Flat::node` by the stage and decision checks.
}

impl<'a, C: Catalog> Validator<'a, C> {
    fn report(&mut self, path: &Path, problem: Problem) {
        self.errors.push(ValidationError {
            path: path.clone(),
            problem,
        });
    }

    /// Checks the documented size limits; a definition past them is not
    /// checked further, so its cost stays bounded.
    fn within_limits(&mut self) -> bool {
        let before = self.errors.len();
        if self.flat.len() > MAX_ELEMENTS {
            let count = self.flat.len();
            self.report(
                &Path::root(),
                Problem::TooLarge {
                    what: "elements, fault paths included",
                    count,
                    max: MAX_ELEMENTS,
                },
            );
        }
        let mut nesting = vec![0usize; self.flat.len()];
        let mut problems = Vec::new();
        for (id, flat) in self.flat.iter().enumerate() {
            let depth = flat
                .scope
                .and_then(|scope| nesting.get(scope))
                .map_or(0, |parent| parent + 1);
            if let Some(slot) = nesting.get_mut(id) {
                *slot = depth;
            }
            if depth > MAX_FAULT_PATH_NESTING {
                problems.push((
                    flat.path.clone(),
                    Problem::TooLarge {
                        what: "fault paths nested in fault paths",
                        count: depth,
                        max: MAX_FAULT_PATH_NESTING,
                    },
                ));
            }
            if let Element::Stage(stage) = flat.element
                && stage.steps.len() > MAX_STEPS_PER_STAGE
            {
                problems.push((
                    flat.path.clone(),
                    Problem::TooLarge {
                        what: "steps in this stage",
                        count: stage.steps.len(),
                        max: MAX_STEPS_PER_STAGE,
                    },
                ));
            }
        }
        for (path, problem) in problems {
            self.report(&path, problem);
        }
        self.errors.len() == before
    }

    fn run(&mut self) {
        if !self.within_limits() {
            return;
        }
        if self.def.format != FORMAT_VERSION {
            self.report(
                &Path::root(),
                Problem::UnsupportedFormat {
                    found: self.def.format,
                },
            );
        }
        if !self
            .def
            .elements
            .iter()
            .any(|element| matches!(element, Element::Stage(_)))
        {
            self.report(&Path::root(), Problem::NoStage);
        }
        self.check_inputs();
        self.check_names();
        for id in 0..self.flat.len() {
            let node = self.build_node(id);
            if let Some(flat) = self.flat.get_mut(id) {
                flat.node = node;
            }
        }
        self.check_graph();
    }

    fn finish(self) -> Result<Vec<PlanElement>, Vec<ValidationError>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let mut elements = Vec::with_capacity(self.flat.len());
        for flat in self.flat {
            match flat.node {
                Some(node) => elements.push(PlanElement {
                    name: flat.element.name().to_owned(),
                    node,
                }),
                None => {
                    return Err(vec![ValidationError {
                        path: flat.path,
                        problem: Problem::Unbuildable,
                    }]);
                }
            }
        }
        Ok(elements)
    }

    fn build_node(&mut self, id: ElementId) -> Option<PlanNode> {
        let flat = self.flat.get(id)?;
        let (element, path, scope) = (flat.element, flat.path.clone(), flat.scope);
        match element {
            Element::Stage(stage) => self.stage(stage, id, &path, scope).map(PlanNode::Stage),
            Element::Decision(decision) => self
                .decision(decision, &path, scope)
                .map(PlanNode::Decision),
            Element::End(_) => Some(PlanNode::End),
        }
    }
}
