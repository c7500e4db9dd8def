//! Screen flow: an underwriter reviews a loan application.

use serde::{Deserialize, Serialize};
use stagecraft_sdk::{Field, FieldError, FieldType, FlowError, Form, SubmitError};

/// What the work item shows about the application.
#[derive(Deserialize)]
pub struct Inputs {
    /// Applicant's name.
    pub applicant: String,
    /// Requested amount.
    pub amount: u64,
    /// Risk from the scoring step.
    pub risk: u64,
}

/// The underwriter's answers.
#[derive(Deserialize)]
pub struct Answers {
    /// `approve` or `reject`.
    pub decision: String,
    /// Why; required when rejecting.
    #[serde(default)]
    pub comment: String,
}

/// The step's outputs.
#[derive(Serialize)]
pub struct Review {
    /// Whether the loan is approved.
    pub approved: bool,
    /// The underwriter's comment.
    pub comment: String,
}

/// Describes the review form.
pub fn form(inputs: Inputs) -> Result<Form, FlowError> {
    Ok(Form::new(format!(
        "Review {}'s loan of {} (risk {})",
        inputs.applicant, inputs.amount, inputs.risk
    ))
    .field(
        Field::new("decision", "Decision", FieldType::Choice)
            .required()
            .choice("approve", "Approve")
            .choice("reject", "Reject"),
    )
    .field(Field::new("comment", "Comment", FieldType::LongText).help("Required when rejecting.")))
}

/// Validates the answers and produces the review.
pub fn submit(_inputs: Inputs, answers: Answers) -> Result<Review, SubmitError> {
    let approved = match answers.decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(SubmitError::Invalid(vec![FieldError::new(
                "decision",
                format!("choose approve or reject, not {other:?}"),
            )]));
        }
    };
    if !approved && answers.comment.trim().is_empty() {
        return Err(SubmitError::Invalid(vec![FieldError::new(
            "comment",
            "say why the loan is rejected",
        )]));
    }
    Ok(Review {
        approved,
        comment: answers.comment,
    })
}

stagecraft_sdk::screen_flow!(render = form, submit = submit);
