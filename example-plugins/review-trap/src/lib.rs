//! Screen flow for tests: a broken version of a review. Its form is titled
//! "Broken review", and every submission traps, so a test can tell which
//! version of a screen flow a work item rendered and submitted with.

use serde_json::Value;
use stagecraft_sdk::{Field, FieldType, FlowError, Form, SubmitError};

/// A form that says which flow drew it.
pub fn form(_inputs: Value) -> Result<Form, FlowError> {
    Ok(Form::new("Broken review").field(Field::new("decision", "Decision", FieldType::Text)))
}

/// Traps, as a buggy flow would.
pub fn submit(_inputs: Value, _answers: Value) -> Result<Value, SubmitError> {
    panic!("review-trap: this version of the review is broken")
}

stagecraft_sdk::screen_flow!(render = form, submit = submit);
