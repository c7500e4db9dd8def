//! Integration tests of the orchestration model and state machine, named by SPEC conformance id.

mod decision;
mod definition;
mod errors;
mod exit;
mod fault;
mod history;
mod manual;
mod properties;
mod recovery;
mod resume;
mod sequencing;
mod step;
mod support;
mod validation;
mod version;
