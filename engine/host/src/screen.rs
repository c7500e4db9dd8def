//! A screen flow's form and submission outcome, as the host exposes them.

use crate::bindings::screen::exports::stagecraft::flow::screen as wit;
use crate::failure::FlowFailure;
use serde::Serialize;
use serde_json::Value;

/// The form a work item's assignee fills in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Form {
    /// Title shown above the fields.
    pub title: String,
    /// Fields in display order.
    pub fields: Vec<FormField>,
}

/// How a field is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// One line of text.
    Text,
    /// Several lines of text.
    LongText,
    /// A whole number.
    Integer,
    /// A decimal number.
    Number,
    /// Yes or no.
    Boolean,
    /// A calendar date.
    Date,
    /// One of the field's choices.
    Choice,
}

/// One option of a choice field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Choice {
    /// Submitted value.
    pub value: String,
    /// Displayed label.
    pub label: String,
}

/// One field of a [`Form`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormField {
    /// Key of the answer.
    pub name: String,
    /// Label.
    pub label: String,
    /// How it is entered.
    pub field_type: FieldType,
    /// Whether an answer is required.
    pub required: bool,
    /// Options of a choice field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    /// Help text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Pre-filled answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_value: Option<Value>,
}

/// A problem with one submitted answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field, or empty for the form as a whole.
    pub field: String,
    /// What to fix.
    pub message: String,
}

/// What a screen flow made of a submission.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result", content = "value")]
pub enum Submission {
    /// Accepted: the step's outputs.
    Accepted(Value),
    /// Rejected: the assignee fixes these and submits again.
    Invalid(Vec<FieldError>),
}

impl Form {
    pub(crate) fn from_wit(form: wit::Form) -> Result<Self, FlowFailure> {
        let fields = form
            .fields
            .into_iter()
            .map(FormField::from_wit)
            .collect::<Result<_, _>>()?;
        Ok(Form {
            title: form.title,
            fields,
        })
    }
}

impl FormField {
    fn from_wit(field: wit::Field) -> Result<Self, FlowFailure> {
        let default_value = field
            .default_value
            .map(|json| {
                serde_json::from_str(&json).map_err(|e| FlowFailure::BadOutput {
                    reason: format!("default value of field {:?} is not JSON: {e}", field.name),
                })
            })
            .transpose()?;
        Ok(FormField {
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
}

impl FieldError {
    pub(crate) fn from_wit(error: wit::FieldError) -> Self {
        FieldError {
            field: error.field,
            message: error.message,
        }
    }
}
