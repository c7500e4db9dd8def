//! The one nesting limit on values that enter a run from outside: start
//! inputs, flow and action outputs, screen outputs.
//!
//! Run states are stored as JSON, and JSON decoders bound how deeply they
//! nest (serde_json: 128 levels). A value nested close to that, wrapped in
//! a run's own structure, would be written but could never be read back. So
//! values are refused well below it, where they enter.

use serde_json::Value;

use crate::event::{Event, FlowFailure, FlowFailureKind};

/// How deeply a value from outside may nest: arrays and objects inside
/// each other. A run state adds about ten levels around its values.
pub const MAX_VALUE_DEPTH: usize = 64;

/// How deeply `value` nests (a scalar is 0, `[]` is 1, `[[1]]` is 2),
/// counted without recursion and stopping past [`MAX_VALUE_DEPTH`].
pub fn value_depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 0usize)];
    while let Some((value, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(fields) => Box::new(fields.values()),
            _ => continue,
        };
        let depth = depth + 1;
        deepest = deepest.max(depth);
        if deepest > MAX_VALUE_DEPTH {
            break;
        }
        pending.extend(children.map(|child| (child, depth)));
    }
    deepest
}

/// Whether `value` nests deeper than [`MAX_VALUE_DEPTH`].
pub(super) fn too_deep(value: &Value) -> bool {
    value_depth(value) > MAX_VALUE_DEPTH
}

fn message(what: &str) -> String {
    format!("{what} nest deeper than {MAX_VALUE_DEPTH} levels of arrays and objects")
}

/// A result whose value nests too deeply becomes a failure of its step, so
/// that nothing unreadable is kept in the run.
pub(super) fn bound(event: Event) -> Event {
    let bad_output = || FlowFailure {
        kind: FlowFailureKind::BadOutput,
        message: message("the outputs"),
    };
    match event {
        Event::FlowFinished {
            step,
            attempt,
            flow_version,
            result: Ok(outputs),
        } if too_deep(&outputs) => Event::FlowFinished {
            step,
            attempt,
            flow_version,
            result: Err(bad_output()),
        },
        Event::ActionFinished {
            step,
            attempt,
            result: Ok(outputs),
        } if too_deep(&outputs) => Event::ActionFinished {
            step,
            attempt,
            result: Err(message("the action's outputs")),
        },
        Event::WorkItemCompleted {
            work_item,
            by,
            answers,
            result: Ok(outputs),
        } if too_deep(&outputs) => Event::WorkItemCompleted {
            work_item,
            by,
            answers,
            result: Err(bad_output()),
        },
        other => other,
    }
}
