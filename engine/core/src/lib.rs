//! Stagecraft core: orchestration definitions, their deploy-time validation, and the pure
//! state machine that runs them.
//!
//! Nothing here performs I/O, reads a clock or draws random numbers: [`start`] and [`handle`]
//! take the current time as an argument and return the new [`Run`] state plus the
//! [`Action`]s (run a flow, evaluate a condition, create a work item, ...) that the engine
//! performs after committing it. Results come back as [`Event`]s. After a crash,
//! [`outstanding_actions`] re-derives from a committed [`Run`] the actions still in flight.
//!
//! ```text
//! Orchestration ──validate──▶ Plan ──start──▶ Transition { Run, [Action] }
//!                                   ──handle(Run, Event, now)──▶ Transition { Run, [Action] }
//! ```

pub mod action;
pub mod catalog;
pub mod definition;
pub mod event;
pub mod limits;
mod machine;
mod plan;
pub mod reference;
pub mod repair;
pub mod requirement;
pub mod run;
mod schema;
pub mod time;
pub mod validation;

pub use action::Action;
pub use catalog::{Catalog, FlowKind};
pub use definition::Orchestration;
pub use event::{Actor, Event, FlowFailure, FlowFailureKind, Unavailability};
pub use limits::Limits;
pub use machine::{
    EventError, FlowPin, InputProblem, MAX_VALUE_DEPTH, Transition, flow_pins, handle,
    outstanding_actions, pin_flows, pinned_flow, start, value_depth,
};
pub use plan::Plan;
pub use run::{Run, RunId, RunStatus};
pub use schema::json_schema;
pub use validation::{ValidationError, ValidationErrors, validate};
