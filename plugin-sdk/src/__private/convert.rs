//! Conversions from the SDK's types to the generated WIT types.

use super::screen::exports::stagecraft::flow::screen as wit;
use crate::{FieldType, FlowError, Form, SubmitError};

macro_rules! flow_error_into {
    ($($module:ident),*) => {$(
        impl From<FlowError> for super::$module::stagecraft::flow::types::FlowError {
            fn from(e: FlowError) -> Self {
                Self { code: e.code, message: e.message }
            }
        }
    )*};
}

flow_error_into!(autolaunched, evaluation, screen);

/// Converts a [`Form`] into its WIT shape.
pub fn screen_form(form: Form) -> wit::Form {
    wit::Form {
        title: form.title,
        fields: form
            .fields
            .into_iter()
            .map(|f| wit::Field {
                name: f.name,
                label: f.label,
                field_type: match f.field_type {
                    FieldType::Text => wit::FieldType::Text,
                    FieldType::LongText => wit::FieldType::LongText,
                    FieldType::Integer => wit::FieldType::Integer,
                    FieldType::Number => wit::FieldType::Number,
                    FieldType::Boolean => wit::FieldType::Boolean,
                    FieldType::Date => wit::FieldType::Date,
                    FieldType::Choice => wit::FieldType::Choice,
                },
                required: f.required,
                choices: f
                    .choices
                    .into_iter()
                    .map(|c| wit::Choice {
                        value: c.value,
                        label: c.label,
                    })
                    .collect(),
                help: f.help,
                default_value: f.default_value.map(|v| v.to_string()),
            })
            .collect(),
    }
}

/// Converts a [`SubmitError`] into its WIT shape.
pub fn screen_submit_error(error: SubmitError) -> wit::SubmitError {
    match error {
        SubmitError::Invalid(errors) => wit::SubmitError::Invalid(
            errors
                .into_iter()
                .map(|e| wit::FieldError {
                    field: e.field,
                    message: e.message,
                })
                .collect(),
        ),
        SubmitError::Failed(e) => wit::SubmitError::Failed(e.into()),
    }
}
