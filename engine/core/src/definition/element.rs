//! Elements of the orchestration graph: stages, decisions, ends and fault paths.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{EvaluationFlowCall, Requirements, Step};

/// A node of the orchestration graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Element {
    /// A phase of steps.
    Stage(Stage),
    /// A choice of the next element.
    Decision(Decision),
    /// The end of a path: the run completes.
    End(End),
}

impl Element {
    /// The element's name, unique across the orchestration.
    pub fn name(&self) -> &str {
        match self {
            Self::Stage(stage) => &stage.name,
            Self::Decision(decision) => &decision.name,
            Self::End(end) => &end.name,
        }
    }
}

/// A stage groups steps into a phase; stages run one at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Unique element name.
    pub name: String,
    /// Display label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The stage's steps.
    pub steps: Vec<Step>,
    /// When the stage completes; all steps completed when absent.
    #[serde(default)]
    pub exit: StageExit,
    /// The element that runs after the stage completes; none ends the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// What runs when the stage errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_path: Option<FaultPath>,
}

/// When a stage completes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StageExit {
    /// Every step is Completed.
    #[default]
    AllStepsCompleted,
    /// The requirements are met.
    Requirements(Requirements),
    /// The evaluation flow returns true.
    EvaluationFlow(EvaluationFlowCall),
}

/// The elements that run when a stage errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultPath {
    /// Where the fault outlet leads: an element of this fault path, a main-path element
    /// (Go To), or none (the run completes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Stages, decisions and ends of the fault path.
    #[serde(default)]
    pub elements: Vec<Element>,
}

/// Chooses the next element: the first outcome whose requirements are met, else the default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Unique element name.
    pub name: String,
    /// Display label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Outcomes, tested in order.
    #[serde(default)]
    pub outcomes: Vec<Outcome>,
    /// Taken when no outcome matches; required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<DefaultOutcome>,
}

/// One outcome of a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// Outcome name, unique within the decision.
    pub name: String,
    /// When this outcome is taken.
    pub when: Requirements,
    /// The element that runs next; none ends the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The default outcome of a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultOutcome {
    /// Display label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The element that runs next; none ends the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// An explicit end of a path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct End {
    /// Unique element name.
    pub name: String,
}
