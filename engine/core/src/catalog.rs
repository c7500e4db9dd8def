//! What the deployment knows about flows and actions, as validation needs it.

use serde::{Deserialize, Serialize};

/// The kind of a deployed flow component: one WIT world each. The one
/// definition of the kinds, for validation, the store and the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// Inputs to outputs; run by background steps.
    Autolaunched,
    /// Inputs to a boolean "condition met"; run by entry and exit conditions.
    Evaluation,
    /// A form an assignee completes; run by interactive steps.
    Screen,
}

impl FlowKind {
    /// Every kind.
    pub const ALL: [FlowKind; 3] = [
        FlowKind::Autolaunched,
        FlowKind::Evaluation,
        FlowKind::Screen,
    ];

    /// The kind's name as used in definitions and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowKind::Autolaunched => "autolaunched",
            FlowKind::Evaluation => "evaluation",
            FlowKind::Screen => "screen",
        }
    }
}

impl std::fmt::Display for FlowKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FlowKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FlowKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| {
                format!("unknown flow kind {s:?}: expected autolaunched, evaluation or screen")
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
