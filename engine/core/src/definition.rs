//! The orchestration definition: the JSON document authors write and deploy.
//!
//! These types mirror the file format one to one; [`crate::validate`] turns a definition into
//! a [`crate::Plan`], the checked and indexed form the state machine runs.

mod condition;
mod element;
mod step;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use condition::{Condition, EvaluationFlowCall, Expr, Logic, Operator, Requirements};
pub use element::{Decision, DefaultOutcome, Element, End, FaultPath, Outcome, Stage, StageExit};
pub use step::{Assignee, InteractiveExit, OutputSpec, Step, StepEntry, StepKind};

/// The only definition format version this crate understands.
pub const FORMAT_VERSION: u32 = 1;

/// A named orchestration: its input variables and its graph of elements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Orchestration {
    /// Path or URL of the JSON Schema, for editors; ignored by the engine.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Definition format version, so the format can evolve; must be 1.
    pub format: u32,
    /// Name the orchestration is deployed and started under.
    pub name: String,
    /// Free text for people reading the definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Variables a run is started with.
    #[serde(default)]
    pub inputs: Vec<InputVariable>,
    /// The main path; it starts at the first element.
    pub elements: Vec<Element>,
}

/// An input variable of the orchestration, given when a run starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputVariable {
    /// Name used in references: `input.<name>`.
    pub name: String,
    /// JSON type the value must have.
    #[serde(rename = "type")]
    pub r#type: ValueType,
    /// Whether a run may start without it.
    #[serde(default)]
    pub required: bool,
}

/// The JSON type of an input variable or a flow output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// A JSON string.
    Text,
    /// A JSON number without fraction.
    Integer,
    /// Any JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A JSON object.
    Object,
    /// A JSON array.
    List,
    /// Any JSON value.
    Any,
}

impl ValueType {
    /// Whether `value` has this type (`null` only fits `any`).
    pub fn admits(self, value: &serde_json::Value) -> bool {
        match self {
            Self::Text => value.is_string(),
            Self::Integer => value.is_i64() || value.is_u64(),
            Self::Number => value.is_number(),
            Self::Boolean => value.is_boolean(),
            Self::Object => value.is_object(),
            Self::List => value.is_array(),
            Self::Any => true,
        }
    }
}

impl std::fmt::Display for ValueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Text => "text",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Object => "object",
            Self::List => "list",
            Self::Any => "any",
        })
    }
}
