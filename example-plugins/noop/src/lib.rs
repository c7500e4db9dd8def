//! The smallest useful flow: returns its inputs. Used to measure the host's
//! per-invocation overhead.

use serde_json::Value;
use stagecraft_sdk::FlowError;

/// Echoes the inputs.
pub fn echo(inputs: Value) -> Result<Value, FlowError> {
    Ok(inputs)
}

stagecraft_sdk::autolaunched_flow!(echo);
