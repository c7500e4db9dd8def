//! A screen flow's form as HTML, and an HTML form's fields back as the
//! answers the screen flow takes.

use maud::{Markup, html};
use serde_json::{Map, Value};
use stagecraft_engine::{FieldError, FieldType, Form};
use std::collections::HashMap;

/// The fields of `form`, filled with `values` (what was submitted, or the
/// defaults), each with its errors next to it.
pub fn fields(form: &Form, values: &HashMap<String, String>, errors: &[FieldError]) -> Markup {
    html! {
        @for error in errors.iter().filter(|e| e.field.is_empty()) {
            p.notice.error role="alert" { (error.message) }
        }
        @for field in &form.fields {
            @let id = format!("field-{}", field.name);
            @let help_id = format!("{id}-help");
            @let error_id = format!("{id}-error");
            @let mine: Vec<&FieldError> = errors.iter().filter(|e| e.field == field.name).collect();
            @let value = values.get(&field.name).cloned().or_else(|| default(field.default_value.as_ref())).unwrap_or_default();
            @let described = describedby(field.help.is_some(), !mine.is_empty(), &help_id, &error_id);
            div.field.invalid[!mine.is_empty()] {
                @if field.field_type == FieldType::Boolean {
                    label.check for=(id) {
                        input #(id) type="checkbox" name=(field.name) value="true"
                            checked[value == "true"] aria-describedby=[described.as_deref()];
                        " " (field.label)
                        @if field.required { span.required aria-label="required" { " *" } }
                    }
                } @else {
                    label for=(id) {
                        (field.label)
                        @if field.required { span.required aria-label="required" { " *" } }
                    }
                    @match field.field_type {
                        FieldType::LongText => {
                            textarea #(id) name=(field.name) rows="4" required[field.required]
                                aria-invalid=[(!mine.is_empty()).then_some("true")]
                                aria-describedby=[described.as_deref()] { (value) }
                        }
                        FieldType::Choice => {
                            select #(id) name=(field.name) required[field.required]
                                aria-invalid=[(!mine.is_empty()).then_some("true")]
                                aria-describedby=[described.as_deref()] {
                                @if !field.required || value.is_empty() {
                                    option value="" { "—" }
                                }
                                @for choice in &field.choices {
                                    option value=(choice.value) selected[choice.value == value] { (choice.label) }
                                }
                            }
                        }
                        kind => {
                            input #(id) name=(field.name) type=(input_type(kind))
                                step=[(kind == FieldType::Number).then_some("any")]
                                value=(value) required[field.required]
                                aria-invalid=[(!mine.is_empty()).then_some("true")]
                                aria-describedby=[described.as_deref()];
                        }
                    }
                }
                @if let Some(help) = &field.help {
                    p.help #(help_id) { (help) }
                }
                @for error in &mine {
                    p.field-error #(error_id) { (error.message) }
                }
            }
        }
    }
}

fn describedby(help: bool, error: bool, help_id: &str, error_id: &str) -> Option<String> {
    let ids: Vec<&str> = [(help, help_id), (error, error_id)]
        .into_iter()
        .filter_map(|(on, id)| on.then_some(id))
        .collect();
    (!ids.is_empty()).then(|| ids.join(" "))
}

fn input_type(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Integer | FieldType::Number => "number",
        FieldType::Date => "date",
        _ => "text",
    }
}

/// A default answer as the text of an input.
fn default(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The answers in `posted` for `form`, typed as its fields say. An empty
/// optional field is left out; a number that does not parse is passed on
/// as text, for the screen flow to refuse with its own message. A checkbox
/// that is not ticked is `false`.
pub fn answers(form: &Form, posted: &HashMap<String, String>) -> Value {
    let mut answers = Map::new();
    for field in &form.fields {
        let raw = posted
            .get(&field.name)
            .map(|v| v.trim())
            .unwrap_or_default();
        let value = match field.field_type {
            FieldType::Boolean => Value::Bool(raw == "true"),
            _ if raw.is_empty() => continue,
            FieldType::Integer => raw
                .parse::<i64>()
                .map_or_else(|_| Value::String(raw.to_owned()), Value::from),
            FieldType::Number => raw
                .parse::<f64>()
                .ok()
                .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
                .unwrap_or_else(|| Value::String(raw.to_owned())),
            FieldType::Text | FieldType::LongText | FieldType::Date | FieldType::Choice => {
                Value::String(raw.to_owned())
            }
        };
        answers.insert(field.name.clone(), value);
    }
    Value::Object(answers)
}
