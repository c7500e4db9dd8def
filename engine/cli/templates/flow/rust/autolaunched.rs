//! {{name}}: an autolaunched flow, the work of a background step.
//!
//! The step's inputs arrive as [`Inputs`]; the returned [`Outputs`] are the
//! step's outputs. Return a `FlowError` for a failure on purpose.

use serde::{Deserialize, Serialize};
use stagecraft_sdk::{FlowError, log};

/// The step's inputs. Missing fields take their defaults, so `{}` works.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Inputs {
    /// Who to greet.
    pub name: Option<String>,
}

/// The step's outputs.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Outputs {
    /// The greeting.
    pub greeting: String,
}

/// Greets `name`, or the world.
pub fn run(inputs: Inputs) -> Result<Outputs, FlowError> {
    let name = inputs.name.unwrap_or_else(|| "world".into());
    if name.trim().is_empty() {
        return Err(FlowError::invalid_input("name must not be blank"));
    }
    log::info(&format!("greeting {name}"));
    Ok(Outputs {
        greeting: format!("Hello, {name}!"),
    })
}

stagecraft_sdk::autolaunched_flow!(run);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_the_world_without_inputs() {
        let outputs = run(Inputs::default()).expect("runs");
        assert_eq!(outputs.greeting, "Hello, world!");
    }

    #[test]
    fn refuses_a_blank_name() {
        let name = Some(" ".into());
        assert!(run(Inputs { name }).is_err());
    }
}
