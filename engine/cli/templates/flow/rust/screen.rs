//! {{name}}: a screen flow, the form behind an interactive step's work item.
//!
//! `form` describes the form for the step's inputs; `submit` checks the
//! assignee's answers and returns the step's outputs, or field errors that
//! keep the work item open for a correction.

use serde::{Deserialize, Serialize};
use stagecraft_sdk::{Field, FieldError, FieldType, FlowError, Form, SubmitError};

/// The step's inputs. Missing fields take their defaults, so `{}` works.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Inputs {
    /// What is to be approved.
    pub subject: Option<String>,
}

/// The assignee's answers.
#[derive(Deserialize)]
pub struct Answers {
    /// `approve` or `reject`.
    pub decision: String,
    /// Why; required when rejecting.
    #[serde(default)]
    pub comment: String,
}

/// The step's outputs.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Outputs {
    /// Whether it is approved.
    pub approved: bool,
    /// The assignee's comment.
    pub comment: String,
}

/// The form.
pub fn form(inputs: Inputs) -> Result<Form, FlowError> {
    let subject = inputs.subject.unwrap_or_else(|| "the request".into());
    Ok(Form::new(format!("Approve {subject}?"))
        .field(
            Field::new("decision", "Decision", FieldType::Choice)
                .required()
                .choice("approve", "Approve")
                .choice("reject", "Reject"),
        )
        .field(Field::new("comment", "Comment", FieldType::LongText).help("Required when rejecting.")))
}

/// Checks the answers.
pub fn submit(_inputs: Inputs, answers: Answers) -> Result<Outputs, SubmitError> {
    let invalid = |field: &str, message: &str| {
        Err(SubmitError::Invalid(vec![FieldError::new(field, message)]))
    };
    let approved = match answers.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return invalid("decision", "choose approve or reject"),
    };
    if !approved && answers.comment.trim().is_empty() {
        return invalid("comment", "say why");
    }
    Ok(Outputs {
        approved,
        comment: answers.comment,
    })
}

stagecraft_sdk::screen_flow!(render = form, submit = submit);

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(decision: &str) -> Answers {
        Answers {
            decision: decision.into(),
            comment: String::new(),
        }
    }

    #[test]
    fn approves() {
        let outputs = submit(Inputs::default(), answers("approve")).expect("accepted");
        assert!(outputs.approved);
    }

    #[test]
    fn a_rejection_needs_a_comment() {
        assert!(submit(Inputs::default(), answers("reject")).is_err());
    }
}
