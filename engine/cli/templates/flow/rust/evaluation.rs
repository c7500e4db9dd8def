//! {{name}}: an evaluation flow, a condition (a stage's exit, a step's
//! entry). Returns true when the condition is met.

use serde::Deserialize;
use stagecraft_sdk::FlowError;

/// The condition's inputs. Missing fields take their defaults, so `{}` works.
#[derive(Deserialize)]
#[serde(default)]
pub struct Inputs {
    /// The value to check.
    pub score: f64,
    /// The lowest score that meets the condition.
    pub threshold: f64,
}

impl Default for Inputs {
    fn default() -> Self {
        Self {
            score: 0.0,
            threshold: 50.0,
        }
    }
}

/// Met when the score reaches the threshold.
pub fn met(inputs: Inputs) -> Result<bool, FlowError> {
    if !inputs.score.is_finite() {
        return Err(FlowError::invalid_input("score must be a number"));
    }
    Ok(inputs.score >= inputs.threshold)
}

stagecraft_sdk::evaluation_flow!(met);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_met_without_inputs() {
        assert!(!met(Inputs::default()).expect("evaluates"));
    }

    #[test]
    fn met_at_the_threshold() {
        let inputs = Inputs {
            score: 50.0,
            ..Inputs::default()
        };
        assert!(met(inputs).expect("evaluates"));
    }
}
