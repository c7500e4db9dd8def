//! Where in a definition a validation problem is, e.g. `stage "review" › step "approve" › entry`.

use std::fmt;

/// One step down into a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A stage, decision or end, by name.
    Element {
        /// `stage`, `decision` or `end`.
        kind: &'static str,
        /// The element name.
        name: String,
    },
    /// The fault path of the enclosing stage.
    FaultPath,
    /// A step, by name.
    Step(String),
    /// A decision outcome, by name.
    Outcome(String),
    /// An orchestration input variable, by name.
    Variable(String),
    /// A named input of a step or evaluation flow.
    Input(String),
    /// A declared output, by name.
    Output(String),
    /// A condition, numbered from 1.
    Condition(usize),
    /// A field such as `entry`, `exit`, `next` or `assignee`.
    Field(&'static str),
}

/// A path from the orchestration root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Path(pub Vec<Segment>);

impl Path {
    /// The orchestration itself.
    pub fn root() -> Self {
        Self::default()
    }

    /// This path extended by one segment.
    #[must_use]
    pub fn join(&self, segment: Segment) -> Self {
        let mut segments = self.0.clone();
        segments.push(segment);
        Self(segments)
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Element { kind, name } => write!(f, "{kind} {name:?}"),
            Self::FaultPath => f.write_str("fault path"),
            Self::Step(name) => write!(f, "step {name:?}"),
            Self::Outcome(name) => write!(f, "outcome {name:?}"),
            Self::Variable(name) => write!(f, "input variable {name:?}"),
            Self::Input(name) => write!(f, "input {name:?}"),
            Self::Output(name) => write!(f, "output {name:?}"),
            Self::Condition(number) => write!(f, "condition {number}"),
            Self::Field(field) => f.write_str(field),
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("orchestration");
        }
        for (i, segment) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" › ")?;
            }
            write!(f, "{segment}")?;
        }
        Ok(())
    }
}
