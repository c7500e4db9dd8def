//! References to resources: input variables, stage status, step status and step outputs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A parsed resource reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reference {
    /// `input.<variable>[.<field>...]`
    Input {
        /// The input variable.
        variable: String,
        /// Fields (or list indices) inside its value.
        path: Vec<String>,
    },
    /// `stage.<stage>.status`: available once the stage started.
    StageStatus {
        /// The stage element.
        stage: String,
    },
    /// `step.<stage>.<step>.status`
    StepStatus {
        /// The stage element.
        stage: String,
        /// The step in that stage.
        step: String,
    },
    /// `step.<stage>.<step>.outputs[.<field>...]`: available once the step completed.
    StepOutputs {
        /// The stage element.
        stage: String,
        /// The step in that stage.
        step: String,
        /// Fields (or list indices) inside the outputs.
        path: Vec<String>,
    },
}

/// Why a reference string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a reference: {problem}; write `input.<var>[.<field>...]`, \
     `stage.<stage>.status`, `step.<stage>.<step>.status` or `step.<stage>.<step>.outputs[.<field>...]`"
)]
pub struct ReferenceError {
    /// The text that failed to parse.
    pub text: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl Reference {
    /// Parses a reference such as `step.intake.risk.outputs.score`.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        let fail = |problem| ReferenceError {
            text: text.to_owned(),
            problem,
        };
        let parts: Vec<&str> = text.split('.').collect();
        if parts.iter().any(|part| part.is_empty()) {
            return Err(fail("it has an empty segment"));
        }
        let owned = |parts: &[&str]| parts.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
        match parts.as_slice() {
            ["input", variable, path @ ..] => Ok(Self::Input {
                variable: (*variable).to_owned(),
                path: owned(path),
            }),
            ["stage", stage, "status"] => Ok(Self::StageStatus {
                stage: (*stage).to_owned(),
            }),
            ["step", stage, step, "status"] => Ok(Self::StepStatus {
                stage: (*stage).to_owned(),
                step: (*step).to_owned(),
            }),
            ["step", stage, step, "outputs", path @ ..] => Ok(Self::StepOutputs {
                stage: (*stage).to_owned(),
                step: (*step).to_owned(),
                path: owned(path),
            }),
            ["input"] => Err(fail("it names no input variable")),
            ["stage", ..] => Err(fail("a stage offers only `.status`")),
            ["step", ..] => Err(fail("a step offers `.status` and `.outputs`")),
            _ => Err(fail("it starts with neither `input`, `stage` nor `step`")),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = |f: &mut fmt::Formatter<'_>, path: &[String]| {
            path.iter().try_for_each(|field| write!(f, ".{field}"))
        };
        match self {
            Self::Input { variable, path: p } => {
                write!(f, "input.{variable}")?;
                path(f, p)
            }
            Self::StageStatus { stage } => write!(f, "stage.{stage}.status"),
            Self::StepStatus { stage, step } => write!(f, "step.{stage}.{step}.status"),
            Self::StepOutputs {
                stage,
                step,
                path: p,
            } => {
                write!(f, "step.{stage}.{step}.outputs")?;
                path(f, p)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_prints_it_back() {
        for text in [
            "input.amount",
            "input.customer.address.city",
            "stage.intake.status",
            "step.intake.risk.status",
            "step.intake.risk.outputs",
            "step.intake.risk.outputs.score",
        ] {
            let reference = Reference::parse(text).unwrap();
            assert_eq!(reference.to_string(), text);
        }
    }

    #[test]
    fn rejects_malformed_references_with_a_hint() {
        for text in [
            "",
            "input",
            "input..x",
            "stage.intake",
            "stage.intake.outputs",
            "step.intake.risk",
            "step.intake.risk.outcome",
            "var.x",
        ] {
            let error = Reference::parse(text).unwrap_err();
            assert!(error.to_string().contains("write `input."), "{error}");
        }
    }
}
