//! The form a screen flow shows the assignee of a work item, and the
//! problems it finds in their answers. A Rust flow builds it (through
//! `stagecraft-sdk`), the host reads it back from the component and the
//! console and the API show it: one model for both sides of the WIT
//! boundary, serialized as the API answers it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The form a work item's assignee fills in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Form {
    /// Title shown above the fields.
    pub title: String,
    /// Fields in display order.
    pub fields: Vec<Field>,
}

impl Form {
    /// An empty form with a title; add fields with [`Form::field`].
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            fields: Vec::new(),
        }
    }

    /// Appends a field.
    #[must_use]
    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }
}

/// How a field is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// A calendar date (`YYYY-MM-DD`).
    Date,
    /// One of [`Field::choices`].
    Choice,
}

/// One option of a [`FieldType::Choice`] field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// The submitted value.
    pub value: String,
    /// What the assignee sees.
    pub label: String,
}

/// One field of a [`Form`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Key of the answer in the submitted object.
    pub name: String,
    /// Label shown to the assignee.
    pub label: String,
    /// How the field is entered.
    pub field_type: FieldType,
    /// Whether an answer is required.
    pub required: bool,
    /// Options of a choice field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    /// Help text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Pre-filled answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<Value>,
}

impl Field {
    /// An optional field of the given type; refine it with the builder methods.
    pub fn new(name: impl Into<String>, label: impl Into<String>, field_type: FieldType) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            field_type,
            required: false,
            choices: Vec::new(),
            help: None,
            default_value: None,
        }
    }

    /// Marks the field as required.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Adds an option (for choice fields).
    #[must_use]
    pub fn choice(mut self, value: impl Into<String>, label: impl Into<String>) -> Self {
        self.choices.push(Choice {
            value: value.into(),
            label: label.into(),
        });
        self
    }

    /// Sets the help text.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Pre-fills the answer.
    #[must_use]
    pub fn default_value(mut self, value: Value) -> Self {
        self.default_value = Some(value);
        self
    }
}

/// A problem with one submitted answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's name; empty for a problem with the form as a whole.
    pub field: String,
    /// What the assignee must fix.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The form as the API answers it: snake_case types, empty parts left
    /// out; and it reads back the same.
    #[test]
    fn a_form_serializes_as_the_api_answers_it_and_reads_back() {
        let form = Form::new("Review").field(
            Field::new("decision", "Decision", FieldType::Choice)
                .required()
                .choice("approve", "Approve"),
        );
        let json = serde_json::to_value(&form).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"title": "Review", "fields": [{
                "name": "decision", "label": "Decision", "field_type": "choice",
                "required": true, "choices": [{"value": "approve", "label": "Approve"}]
            }]})
        );
        assert_eq!(serde_json::from_value::<Form>(json).ok(), Some(form));
    }
}
