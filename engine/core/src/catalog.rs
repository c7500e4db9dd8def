//! What the deployment knows about flows and actions, as validation needs it.

use serde::{Deserialize, Serialize};

/// The kind of a deployed flow component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// Inputs to outputs; run by background steps.
    Autolaunched,
    /// Inputs to a boolean "condition met"; run by entry and exit conditions.
    Evaluation,
    /// A form an assignee completes; run by interactive steps.
    Screen,
}

impl std::fmt::Display for FlowKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Autolaunched => "autolaunched",
            Self::Evaluation => "evaluation",
            Self::Screen => "screen",
        })
    }
}

/// The flows and external actions a definition may name, as deployed right now.
pub trait Catalog {
    /// The kind of the flow with this name, if one is deployed.
    fn flow_kind(&self, name: &str) -> Option<FlowKind>;
    /// Whether the host registered an external action with this name.
    fn has_action(&self, name: &str) -> bool;
}
