//! A screen flow's form and submission outcome, as the host exposes them.

use crate::bindings::screen::exports::stagecraft::flow::screen as wit;
use crate::failure::FlowFailure;
use serde::Serialize;
use serde_json::Value;
pub use stagecraft_form::{Choice, Field, FieldError, FieldType, Form};

/// What a screen flow made of a submission.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result", content = "value")]
pub enum Submission {
    /// Accepted: the step's outputs.
    Accepted(Value),
    /// Rejected: the assignee fixes these and submits again.
    Invalid(Vec<FieldError>),
}

/// The form a component returned, in the one model.
pub(crate) fn form_from_wit(form: wit::Form) -> Result<Form, FlowFailure> {
    let fields = form
        .fields
        .into_iter()
        .map(field_from_wit)
        .collect::<Result<_, _>>()?;
    Ok(Form {
        title: form.title,
        fields,
    })
}

fn field_from_wit(field: wit::Field) -> Result<Field, FlowFailure> {
    let default_value = field
        .default_value
        .map(|json| {
            serde_json::from_str(&json).map_err(|e| FlowFailure::BadOutput {
                reason: format!("default value of field {:?} is not JSON: {e}", field.name),
            })
        })
        .transpose()?;
    Ok(Field {
        field_type: match field.field_type {
            wit::FieldType::Text => FieldType::Text,
            wit::FieldType::LongText => FieldType::LongText,
            wit::FieldType::Integer => FieldType::Integer,
            wit::FieldType::Number => FieldType::Number,
            wit::FieldType::Boolean => FieldType::Boolean,
            wit::FieldType::Date => FieldType::Date,
            wit::FieldType::Choice => FieldType::Choice,
        },
        name: field.name,
        label: field.label,
        required: field.required,
        choices: field
            .choices
            .into_iter()
            .map(|c| Choice {
                value: c.value,
                label: c.label,
            })
            .collect(),
        help: field.help,
        default_value,
    })
}

/// A problem the component found, in the one model.
pub(crate) fn field_error_from_wit(error: wit::FieldError) -> FieldError {
    FieldError {
        field: error.field,
        message: error.message,
    }
}
