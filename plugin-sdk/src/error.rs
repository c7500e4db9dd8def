use std::fmt;

/// A failure a flow reports on purpose.
///
/// The host records it on the step run and puts the step into a recoverable
/// Error: an operator deploys a fixed flow and resumes the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    /// Short machine-readable code, e.g. `invalid-input`.
    pub code: String,
    /// What went wrong, for the operator.
    pub message: String,
}

impl FlowError {
    /// A failure with a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The inputs did not have the shape the flow expects.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new("invalid-input", message)
    }
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for FlowError {}
