//! Checks of requirements, expressions, references and evaluation-flow calls.

use std::collections::BTreeMap;

use crate::catalog::{Catalog, FlowKind};
use crate::definition::{Element, EvaluationFlowCall, Expr, Logic, Operator, Requirements};
use crate::plan::{Operand, PlanEvaluation};
use crate::reference::Reference;
use crate::requirement::{LogicExpr, MAX_CONDITIONS, PlanCondition, PlanRequirements, parse_logic};

use super::{Path, Problem, Segment, Validator};

impl<'a, C: Catalog> Validator<'a, C> {
    /// Checks a requirements block: 1 to 10 conditions, valid logic, valid references.
    pub(super) fn requirements(
        &mut self,
        requirements: &Requirements,
        path: &Path,
    ) -> Option<PlanRequirements> {
        let count = requirements.conditions.len();
        let count_ok = (1..=MAX_CONDITIONS).contains(&count);
        if !count_ok {
            self.report(path, Problem::RequirementCount { count });
        }
        let logic = match &requirements.logic {
            Logic::All => Some(LogicExpr::And(
                (0..count).map(LogicExpr::Condition).collect(),
            )),
            Logic::Any => Some(LogicExpr::Or(
                (0..count).map(LogicExpr::Condition).collect(),
            )),
            Logic::Custom(text) => match parse_logic(text, count) {
                Ok(expr) => Some(expr),
                Err(error) => {
                    self.report(
                        &path.join(Segment::Field("logic")),
                        Problem::BadLogic(error),
                    );
                    None
                }
            },
        };
        let mut conditions = Some(Vec::with_capacity(count));
        for (i, condition) in requirements.conditions.iter().enumerate() {
            let path = path.join(Segment::Condition(i + 1));
            let resource = self.reference(&condition.resource, &path);
            let value = self.condition_value(condition.operator, condition.value.as_ref(), &path);
            match (resource, value, conditions.as_mut()) {
                (Some(resource), Some(value), Some(list)) => list.push(PlanCondition {
                    resource,
                    operator: condition.operator,
                    value,
                }),
                _ => conditions = None,
            }
        }
        Some(PlanRequirements {
            logic: logic?,
            conditions: conditions.filter(|_| count_ok)?,
        })
    }

    /// The compared value: required except for `is_null`, whose value is a literal boolean.
    fn condition_value(
        &mut self,
        operator: Operator,
        value: Option<&Expr>,
        path: &Path,
    ) -> Option<Option<Operand>> {
        match (operator, value) {
            (Operator::IsNull, None) => Some(None),
            (Operator::IsNull, Some(Expr::Value(value))) if value.is_boolean() => {
                Some(Some(Operand::Value(value.clone())))
            }
            (Operator::IsNull, Some(_)) => {
                self.report(path, Problem::IsNullValue);
                None
            }
            (_, None) => {
                let operator = serde_json::to_value(operator)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                self.report(path, Problem::MissingValue { operator });
                None
            }
            (_, Some(expr)) => self.operand(expr, path).map(Some),
        }
    }

    /// Checks an expression.
    pub(super) fn operand(&mut self, expr: &Expr, path: &Path) -> Option<Operand> {
        match expr {
            Expr::Ref(text) => self.reference(text, path).map(Operand::Ref),
            Expr::Value(value) => Some(Operand::Value(value.clone())),
        }
    }

    /// Checks named inputs of a step or evaluation flow.
    pub(super) fn operands(
        &mut self,
        inputs: &BTreeMap<String, Expr>,
        path: &Path,
    ) -> Option<Vec<(String, Operand)>> {
        let mut all = Some(Vec::with_capacity(inputs.len()));
        for (name, expr) in inputs {
            let operand = self.operand(expr, &path.join(Segment::Input(name.clone())));
            match (operand, all.as_mut()) {
                (Some(operand), Some(list)) => list.push((name.clone(), operand)),
                _ => all = None,
            }
        }
        all
    }

    /// Checks an evaluation-flow call.
    pub(super) fn evaluation(
        &mut self,
        call: &EvaluationFlowCall,
        path: &Path,
    ) -> Option<PlanEvaluation> {
        let flow_ok = self.flow(&call.flow, FlowKind::Evaluation, path);
        let inputs = self.operands(&call.inputs, path);
        flow_ok.then_some(PlanEvaluation {
            flow: call.flow.clone(),
            inputs: inputs?,
        })
    }

    /// Checks that `flow` is deployed with the `expected` kind.
    pub(super) fn flow(&mut self, flow: &str, expected: FlowKind, path: &Path) -> bool {
        match self.catalog.flow_kind(flow) {
            Some(found) if found == expected => true,
            Some(found) => {
                let flow = flow.to_owned();
                self.report(
                    path,
                    Problem::WrongFlowKind {
                        flow,
                        expected,
                        found,
                    },
                );
                false
            }
            None => {
                let flow = flow.to_owned();
                self.report(path, Problem::UnknownFlow { flow });
                false
            }
        }
    }

    /// Parses a reference and checks that what it names exists.
    pub(super) fn reference(&mut self, text: &str, path: &Path) -> Option<Reference> {
        let reference = match Reference::parse(text) {
            Ok(reference) => reference,
            Err(error) => {
                self.report(path, Problem::BadReference(error));
                return None;
            }
        };
        let problem = match &reference {
            Reference::Input { variable, .. } => {
                (!self.def.inputs.iter().any(|input| &input.name == variable)).then(|| {
                    Problem::UnknownInput {
                        name: variable.clone(),
                    }
                })
            }
            Reference::StageStatus { stage } => self.stage_problem(stage),
            Reference::StepStatus { stage, step } => self.step_problem(stage, step, None),
            Reference::StepOutputs { stage, step, path } => {
                self.step_problem(stage, step, path.first().map(String::as_str))
            }
        };
        match problem {
            Some(problem) => {
                self.report(path, problem);
                None
            }
            None => Some(reference),
        }
    }

    fn stage_problem(&self, stage: &str) -> Option<Problem> {
        self.stage_def(stage)
            .is_none()
            .then(|| Problem::UnknownStage {
                name: stage.to_owned(),
            })
    }

    fn step_problem(&self, stage: &str, step: &str, output: Option<&str>) -> Option<Problem> {
        let Some(stage_def) = self.stage_def(stage) else {
            return self.stage_problem(stage);
        };
        let Some(step_def) = stage_def.steps.iter().find(|s| s.name == step) else {
            return Some(Problem::UnknownStep {
                stage: stage.to_owned(),
                step: step.to_owned(),
            });
        };
        match output {
            Some(output)
                if !step_def.outputs.is_empty()
                    && !step_def.outputs.iter().any(|o| o.name == output) =>
            {
                Some(Problem::UnknownOutput {
                    stage: stage.to_owned(),
                    step: step.to_owned(),
                    output: output.to_owned(),
                })
            }
            _ => None,
        }
    }

    fn stage_def(&self, name: &str) -> Option<&'a crate::definition::Stage> {
        let id = self.index.get(name)?;
        match self.flat.get(*id)?.element {
            Element::Stage(stage) => Some(stage),
            Element::Decision(_) | Element::End(_) => None,
        }
    }
}
