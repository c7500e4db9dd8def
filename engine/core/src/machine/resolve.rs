//! Resolving references against a run: step inputs, condition resources and assignees.

use serde_json::{Map, Value};

use crate::plan::{Operand, PlanAssignee};
use crate::reference::Reference;
use crate::run::{Principal, Run, StepStatus};

/// The value of a resource now, or `None` when it is not available (yet).
pub(super) fn resolve(run: &Run, reference: &Reference) -> Option<Value> {
    match reference {
        Reference::Input { variable, path } => walk(run.inputs.get(variable)?, path),
        Reference::StageStatus { stage } => {
            serde_json::to_value(run.latest_stage_run(stage)?.status).ok()
        }
        Reference::StepStatus { stage, step } => {
            let stage_run = run.latest_stage_run(stage)?;
            let step_run = stage_run.steps.iter().find(|s| &s.name == step)?;
            serde_json::to_value(step_run.status).ok()
        }
        Reference::StepOutputs { stage, step, path } => {
            let stage_run = run.latest_stage_run(stage)?;
            let step_run = stage_run.steps.iter().find(|s| &s.name == step)?;
            if step_run.status != StepStatus::Completed {
                return None;
            }
            walk(step_run.outputs.as_ref()?, path)
        }
    }
}

fn walk(mut value: &Value, path: &[String]) -> Option<Value> {
    for field in path {
        value = match value {
            Value::Object(map) => map.get(field)?,
            Value::Array(items) => items.get(field.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value.clone())
}

/// Builds the input object of a flow or action; a reference that does not resolve is an
/// input-mapping error, described by the returned message.
pub(super) fn map_inputs(run: &Run, inputs: &[(String, Operand)]) -> Result<Value, String> {
    let mut object = Map::new();
    for (name, operand) in inputs {
        let value = match operand {
            Operand::Value(value) => value.clone(),
            Operand::Ref(reference) => resolve(run, reference).ok_or_else(|| {
                format!("input {name:?}: reference `{reference}` does not resolve")
            })?,
        };
        object.insert(name.clone(), value);
    }
    Ok(Value::Object(object))
}

/// The principal an assignee names; a reference must resolve to `"user:<id>"`,
/// `"group:<id>"`, `"queue:<id>"` or `{"user"|"group"|"queue": "<id>"}`.
pub(super) fn assignee(run: &Run, assignee: &PlanAssignee) -> Result<Principal, String> {
    let reference = match assignee {
        PlanAssignee::Fixed(principal) => return Ok(principal.clone()),
        PlanAssignee::Ref(reference) => reference,
    };
    let value = resolve(run, reference)
        .ok_or_else(|| format!("assignee reference `{reference}` does not resolve"))?;
    let parsed = match &value {
        Value::String(text) => text
            .split_once(':')
            .and_then(|(kind, id)| principal(kind, id)),
        Value::Object(map) if map.len() == 1 => map
            .iter()
            .next()
            .and_then(|(kind, id)| principal(kind, id.as_str()?)),
        _ => None,
    };
    parsed.ok_or_else(|| {
        format!("assignee reference `{reference}` resolved to {value}, not a user, group or queue")
    })
}

fn principal(kind: &str, id: &str) -> Option<Principal> {
    if id.is_empty() {
        return None;
    }
    match kind {
        "user" => Some(Principal::User(id.to_owned())),
        "group" => Some(Principal::Group(id.to_owned())),
        "queue" => Some(Principal::Queue(id.to_owned())),
        _ => None,
    }
}
