use crate::FlowError;

pub use stagecraft_form::{Choice, Field, FieldError, FieldType, Form};

/// Why a submission was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitError {
    /// The answers are invalid; the work item stays open for a corrected submission.
    Invalid(Vec<FieldError>),
    /// The flow failed: a recoverable step error.
    Failed(FlowError),
}

impl From<FlowError> for SubmitError {
    fn from(error: FlowError) -> Self {
        SubmitError::Failed(error)
    }
}
