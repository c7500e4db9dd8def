//! Steps: the units of work inside a stage.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{EvaluationFlowCall, Expr, Requirements, ValueType};

/// A unit of work inside a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Name, unique within its stage.
    pub name: String,
    /// Display label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// When the step starts; when the stage starts if absent.
    #[serde(default)]
    pub entry: StepEntry,
    /// What the step does.
    pub kind: StepKind,
    /// Inputs passed to the flow or action, by name.
    #[serde(default)]
    pub inputs: BTreeMap<String, Expr>,
    /// Outputs the orchestration expects from the flow or action; empty accepts any object.
    #[serde(default)]
    pub outputs: Vec<OutputSpec>,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepKind {
    /// Runs an autolaunched flow.
    Background {
        /// Name of an autolaunched flow.
        flow: String,
    },
    /// Creates a work item; its assignee completes a screen flow.
    Interactive {
        /// Name of a screen flow.
        flow: String,
        /// Who gets the work item.
        assignee: Assignee,
        /// When the step completes; when the screen flow is completed if absent.
        #[serde(default)]
        exit: InteractiveExit,
    },
    /// Calls a host-registered external action.
    External {
        /// Name of the action.
        action: String,
    },
}

/// When a step starts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepEntry {
    /// When the stage starts; such steps run side by side.
    #[default]
    StageStart,
    /// When another step of the same stage is Completed.
    AfterStep {
        /// Name of that step.
        step: String,
    },
    /// When the requirements are met.
    Requirements(Requirements),
    /// When the evaluation flow returns true.
    EvaluationFlow(EvaluationFlowCall),
}

/// When an interactive step completes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InteractiveExit {
    /// The assignee completes the screen flow.
    #[default]
    ScreenCompleted,
    /// The requirements are met.
    Requirements(Requirements),
    /// The evaluation flow returns true.
    EvaluationFlow(EvaluationFlowCall),
}

/// Who receives an interactive step's work item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Assignee {
    /// A user id.
    User(String),
    /// A group id; any member may complete the work item.
    Group(String),
    /// A queue id; any member may complete the work item.
    Queue(String),
    /// A reference resolving at run time to `"user:<id>"`, `"group:<id>"`, `"queue:<id>"` or
    /// `{"user": id}` / `{"group": id}` / `{"queue": id}`.
    Ref(String),
}

/// One output the orchestration expects from a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Field name in the output object.
    pub name: String,
    /// JSON type the field must have.
    #[serde(rename = "type")]
    pub r#type: ValueType,
    /// Whether the field must be present (default true).
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}
