//! Requirements, conditions and expressions: the declarative tests of entry and exit conditions.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Up to 10 conditions combined by a logic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// How the conditions combine; `all` when absent.
    #[serde(default)]
    pub logic: Logic,
    /// The conditions, numbered from 1 in custom logic (1 to 10 of them).
    #[schemars(length(min = 1, max = 10))]
    pub conditions: Vec<Condition>,
}

/// How the conditions of a [`Requirements`] combine.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Logic {
    /// Every condition holds (AND).
    #[default]
    All,
    /// At least one condition holds (OR).
    Any,
    /// A custom expression over condition numbers, e.g. `1 AND (2 OR NOT 3)`.
    Custom(String),
}

/// One test: `resource operator value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The reference tested, e.g. `input.amount` or `step.intake.risk.outputs.score`.
    pub resource: String,
    /// The comparison.
    pub operator: Operator,
    /// What the resource is compared with; for `is_null` a boolean (absent means true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Expr>,
}

/// Comparison of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// JSON equality (numbers compare by value).
    Equals,
    /// Negation of `equals`.
    NotEquals,
    /// Numbers, or strings in lexical order.
    GreaterThan,
    /// Numbers, or strings in lexical order.
    GreaterOrEqual,
    /// Numbers, or strings in lexical order.
    LessThan,
    /// Numbers, or strings in lexical order.
    LessOrEqual,
    /// A string containing a substring, or a list containing an element.
    Contains,
    /// A string starting with a prefix.
    StartsWith,
    /// The resource is null or unavailable (value `true`, the default) or is not (`false`).
    IsNull,
}

/// A value in the definition: a reference to a resource or a literal, explicitly tagged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// A resource reference, e.g. `{"ref": "input.customer"}`.
    Ref(String),
    /// A literal JSON value, e.g. `{"value": 42}`.
    Value(serde_json::Value),
}

/// A call of an evaluation flow, whose boolean answers "condition met".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluationFlowCall {
    /// Name of a deployed evaluation flow.
    pub flow: String,
    /// Inputs passed to the flow, by name.
    #[serde(default)]
    pub inputs: BTreeMap<String, Expr>,
}
