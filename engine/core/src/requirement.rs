//! Requirements at run time: conditions over resources, combined by a logic expression.

mod compare;
mod logic;

use serde_json::Value;

pub use logic::{LogicError, LogicExpr, parse_logic};

use crate::definition::Operator;
use crate::plan::Operand;
use crate::reference::Reference;

/// The most conditions a requirements block may hold (C-EXIT-REQ).
pub const MAX_CONDITIONS: usize = 10;

/// Validated requirements: parsed references and logic.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlanRequirements {
    pub logic: LogicExpr,
    pub conditions: Vec<PlanCondition>,
}

/// One validated condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlanCondition {
    pub resource: Reference,
    pub operator: Operator,
    pub value: Option<Operand>,
}

impl PlanRequirements {
    /// Whether the requirements are met; `resolve` yields a resource's value, `None` when it
    /// is not available (yet), which compares like `null`.
    pub fn met(&self, resolve: &impl Fn(&Reference) -> Option<Value>) -> bool {
        let truths: Vec<bool> = self
            .conditions
            .iter()
            .map(|condition| {
                let left = resolve(&condition.resource);
                let right = condition.value.as_ref().map(|operand| match operand {
                    Operand::Ref(reference) => resolve(reference).unwrap_or(Value::Null),
                    Operand::Value(value) => value.clone(),
                });
                compare::holds(condition.operator, left.as_ref(), right.as_ref())
            })
            .collect();
        self.logic.holds(&truths)
    }
}
