//! Evaluation flow, the fix of `credit-check`: a risk outside 0 to 100 (a
//! scoring flow's bug upstream) is clamped into range instead of failing the
//! condition, so runs stopped by it can be dry-run and resumed.

use serde::Deserialize;
use stagecraft_sdk::FlowError;

/// The condition's inputs.
#[derive(Deserialize)]
pub struct Inputs {
    /// The risk from `risk-score`; clamped to 0 to 100.
    pub risk: i64,
    /// Highest acceptable risk; defaults to 40.
    #[serde(default = "default_threshold")]
    pub threshold: i64,
}

fn default_threshold() -> i64 {
    40
}

/// True when the (clamped) risk is at or below the threshold.
pub fn acceptable(inputs: Inputs) -> Result<bool, FlowError> {
    Ok(inputs.risk.clamp(0, 100) <= inputs.threshold)
}

stagecraft_sdk::evaluation_flow!(acceptable);
