//! Checks of the element graph: connectors, reachability, ends and decision loops.

use std::collections::VecDeque;

use crate::catalog::Catalog;
use crate::definition::Element;
use crate::plan::ElementId;

use super::{Path, Problem, Validator};

impl<'a, C: Catalog> Validator<'a, C> {
    /// Resolves a connector from an element in `from_scope` (the stage owning its fault path,
    /// or `None` on the main path). `Some(None)` is an end of path; `None` an error reported.
    pub(super) fn connector(
        &mut self,
        from_scope: Option<ElementId>,
        target: Option<&str>,
        path: &Path,
    ) -> Option<Option<ElementId>> {
        let Some(name) = target else {
            return Some(None);
        };
        let Some(&id) = self.index.get(name) else {
            let name = name.to_owned();
            self.report(path, Problem::UnknownElement { name });
            return None;
        };
        let target_scope = self.flat.get(id).and_then(|flat| flat.scope);
        if target_scope.is_none() || target_scope == from_scope {
            return Some(Some(id));
        }
        let name = name.to_owned();
        let problem = if from_scope.is_none() {
            Problem::IntoFaultPath { name }
        } else {
            Problem::IntoOtherFaultPath { name }
        };
        self.report(path, problem);
        None
    }

    /// Successors of an element (`None` is the end). Unknown targets count as an end: they
    /// are reported by [`Self::connector`] and must not cascade into more problems.
    fn successors(&self, id: ElementId) -> Vec<Option<ElementId>> {
        let resolve = |target: &Option<String>| {
            target
                .as_deref()
                .and_then(|name| self.index.get(name).copied())
        };
        match self.flat.get(id).map(|flat| flat.element) {
            Some(Element::Stage(stage)) => {
                let mut next = vec![resolve(&stage.next)];
                if let Some(fault) = &stage.fault_path {
                    next.push(resolve(&fault.next));
                }
                next
            }
            Some(Element::Decision(decision)) => {
                let mut next: Vec<_> = decision.outcomes.iter().map(|o| resolve(&o.next)).collect();
                next.push(decision.default.as_ref().and_then(|d| resolve(&d.next)));
                next
            }
            Some(Element::End(_)) | None => vec![None],
        }
    }

    /// Reports unreachable elements, elements that cannot reach an end, and decision loops.
    pub(super) fn check_graph(&mut self) {
        let count = self.flat.len();
        if count == 0 {
            return;
        }
        let successors: Vec<Vec<Option<ElementId>>> =
            (0..count).map(|id| self.successors(id)).collect();
        let reached = forward(&successors, 0);
        let ends = reaches_end(&successors);
        let mut problems = Vec::new();
        for (id, flat) in self.flat.iter().enumerate() {
            let scope_reached = flat
                .scope
                .is_none_or(|owner| reached.get(owner).copied().unwrap_or(false));
            let here = reached.get(id).copied().unwrap_or(false);
            if !here && scope_reached {
                problems.push((flat.path.clone(), Problem::Unreachable));
            }
            if here && !ends.get(id).copied().unwrap_or(true) {
                problems.push((flat.path.clone(), Problem::NeverEnds));
            }
        }
        for id in 0..count {
            if let Some(cycle) = self.decision_cycle(&successors, id) {
                let path = self
                    .flat
                    .get(id)
                    .map(|f| f.path.clone())
                    .unwrap_or_default();
                problems.push((path, Problem::DecisionLoop { cycle }));
            }
        }
        for (path, problem) in problems {
            self.report(&path, problem);
        }
    }

    fn is_decision(&self, id: ElementId) -> bool {
        matches!(
            self.flat.get(id).map(|f| f.element),
            Some(Element::Decision(_))
        )
    }

    /// If `start` is the lowest-numbered decision of a loop made of decisions only, that loop.
    fn decision_cycle(
        &self,
        successors: &[Vec<Option<ElementId>>],
        start: ElementId,
    ) -> Option<String> {
        if !self.is_decision(start) {
            return None;
        }
        let mut parent: Vec<Option<ElementId>> = vec![None; successors.len()];
        let mut queue = VecDeque::from([start]);
        while let Some(id) = queue.pop_front() {
            for next in successors.get(id).into_iter().flatten().flatten().copied() {
                if !self.is_decision(next) || next < start {
                    continue;
                }
                if next == start {
                    let mut cycle = vec![start];
                    let mut at = id;
                    while at != start {
                        cycle.push(at);
                        at = parent.get(at).copied().flatten()?;
                    }
                    cycle.push(start);
                    cycle.reverse();
                    let names: Vec<&str> = cycle
                        .iter()
                        .filter_map(|id| self.flat.get(*id).map(|f| f.element.name()))
                        .collect();
                    return Some(names.join(" → "));
                }
                if parent.get(next).copied().flatten().is_none() {
                    if let Some(slot) = parent.get_mut(next) {
                        *slot = Some(id);
                    }
                    queue.push_back(next);
                }
            }
        }
        None
    }
}

/// Which elements are reachable from `start`.
fn forward(successors: &[Vec<Option<ElementId>>], start: ElementId) -> Vec<bool> {
    let mut reached = vec![false; successors.len()];
    let mut queue = VecDeque::from([start]);
    while let Some(id) = queue.pop_front() {
        match reached.get_mut(id) {
            Some(seen) if !*seen => *seen = true,
            _ => continue,
        }
        queue.extend(successors.get(id).into_iter().flatten().flatten().copied());
    }
    reached
}

/// Which elements have a path to an end (a backward search from the ends).
fn reaches_end(successors: &[Vec<Option<ElementId>>]) -> Vec<bool> {
    let mut predecessors: Vec<Vec<ElementId>> = vec![Vec::new(); successors.len()];
    let mut queue = VecDeque::new();
    for (id, next) in successors.iter().enumerate() {
        for target in next {
            match target {
                None => queue.push_back(id),
                Some(target) => {
                    if let Some(list) = predecessors.get_mut(*target) {
                        list.push(id);
                    }
                }
            }
        }
    }
    let mut ends = vec![false; successors.len()];
    while let Some(id) = queue.pop_front() {
        match ends.get_mut(id) {
            Some(seen) if !*seen => *seen = true,
            _ => continue,
        }
        queue.extend(predecessors.get(id).into_iter().flatten().copied());
    }
    ends
}
