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

    fn run(&mut self) {
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
