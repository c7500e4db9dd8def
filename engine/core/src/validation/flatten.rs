//! Lists every element, fault paths included, and checks names.

use std::collections::BTreeSet;

use crate::catalog::Catalog;
use crate::definition::Element;
use crate::plan::{ElementId, PlanNode};

use super::{Path, Problem, Segment, Validator};

/// An element with where it sits.
pub(super) struct Flat<'a> {
    pub element: &'a Element,
    /// The stage whose fault path holds this element; `None` on the main path.
    pub scope: Option<ElementId>,
    pub path: Path,
    /// The typed node, once built.
    pub node: Option<PlanNode>,
}

/// Lists `elements` and, after each stage, its fault path's elements (recursively).
pub(super) fn flatten(elements: &[Element]) -> Vec<Flat<'_>> {
    let mut flat = Vec::new();
    push_all(&mut flat, elements, None, &Path::root());
    flat
}

fn push_all<'a>(
    flat: &mut Vec<Flat<'a>>,
    elements: &'a [Element],
    scope: Option<ElementId>,
    base: &Path,
) {
    for element in elements {
        let path = base.join(element_segment(element));
        let id = flat.len();
        flat.push(Flat {
            element,
            scope,
            path: path.clone(),
            node: None,
        });
        if let Element::Stage(stage) = element
            && let Some(fault_path) = &stage.fault_path
        {
            push_all(
                flat,
                &fault_path.elements,
                Some(id),
                &path.join(Segment::FaultPath),
            );
        }
    }
}

/// The path segment naming `element`.
pub(super) fn element_segment(element: &Element) -> Segment {
    let kind = match element {
        Element::Stage(_) => "stage",
        Element::Decision(_) => "decision",
        Element::End(_) => "end",
    };
    Segment::Element {
        kind,
        name: element.name().to_owned(),
    }
}

/// Whether `name` can be used in references (non-empty, no dot).
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('.')
}

impl<'a, C: Catalog> Validator<'a, C> {
    /// Element names: valid and unique across the orchestration.
    pub(super) fn check_names(&mut self) {
        let mut problems = Vec::new();
        for (id, flat) in self.flat.iter().enumerate() {
            let name = flat.element.name();
            if !valid_name(name) {
                problems.push((
                    flat.path.clone(),
                    Problem::InvalidName { name: name.into() },
                ));
            }
            if self.index.contains_key(name) {
                problems.push((
                    flat.path.clone(),
                    Problem::DuplicateElement { name: name.into() },
                ));
            } else {
                self.index.insert(name, id);
            }
        }
        for (path, problem) in problems {
            self.report(&path, problem);
        }
    }

    /// Input variables: valid and unique names.
    pub(super) fn check_inputs(&mut self) {
        let mut seen = BTreeSet::new();
        let def = self.def;
        for variable in &def.inputs {
            let path = Path::root().join(Segment::Variable(variable.name.clone()));
            if !valid_name(&variable.name) {
                let name = variable.name.clone();
                self.report(&path, Problem::InvalidName { name });
            }
            if !seen.insert(variable.name.as_str()) {
                let name = variable.name.clone();
                self.report(&path, Problem::DuplicateInput { name });
            }
        }
    }
}
