//! Evaluation flow: is the applicant's risk acceptable for automatic approval?

use serde::Deserialize;
use stagecraft_sdk::FlowError;

/// The condition's inputs.
#[derive(Deserialize)]
pub struct Inputs {
    /// The risk from `risk-score`, 0 to 100.
    pub risk: i64,
    /// Highest acceptable risk; defaults to 40.
    #[serde(default = "default_threshold")]
    pub threshold: i64,
}

fn default_threshold() -> i64 {
    40
}

/// True when the risk is at or below the threshold.
pub fn acceptable(inputs: Inputs) -> Result<bool, FlowError> {
    if !(0..=100).contains(&inputs.risk) {
        return Err(FlowError::invalid_input(format!(
            "risk must be between 0 and 100, got {}",
            inputs.risk
        )));
    }
    Ok(inputs.risk <= inputs.threshold)
}

stagecraft_sdk::evaluation_flow!(acceptable);
