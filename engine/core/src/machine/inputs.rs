//! Checks the inputs a run is started with against the declared input variables.

use serde_json::Value;

use super::{EventError, InputProblem};
use crate::plan::Plan;

/// Reports every missing, mistyped or undeclared input.
pub(super) fn check(plan: &Plan, inputs: &Value) -> Result<(), EventError> {
    let Value::Object(given) = inputs else {
        return Err(EventError::InvalidInputs {
            problems: vec![InputProblem::NotAnObject],
        });
    };
    let declared = &plan.orchestration().inputs;
    let mut problems = Vec::new();
    for variable in declared {
        match given.get(&variable.name) {
            None | Some(Value::Null) if variable.required => problems.push(InputProblem::Missing {
                name: variable.name.clone(),
            }),
            None | Some(Value::Null) => {}
            Some(value) if !variable.r#type.admits(value) => {
                problems.push(InputProblem::WrongType {
                    name: variable.name.clone(),
                    expected: variable.r#type,
                });
            }
            Some(value) if super::depth::too_deep(value) => {
                problems.push(InputProblem::TooDeep {
                    name: variable.name.clone(),
                });
            }
            Some(_) => {}
        }
    }
    for name in given.keys() {
        if !declared.iter().any(|variable| &variable.name == name) {
            problems.push(InputProblem::Unknown { name: name.clone() });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(EventError::InvalidInputs { problems })
    }
}
