//! Pinning a step to the flow version active when it starts (SPEC §5, C-VERSION-PIN).

use crate::action::Action;
use crate::run::{Run, StepKey, StepRun};

use super::Transition;

/// One deployed version of a flow, as a step pins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowPin {
    /// The version number.
    pub version: u32,
    /// The SHA-256 of the component, hex.
    pub digest: String,
}

/// Records in `transition`'s run, for every step it starts (a background step's
/// [`Action::RunFlow`], an interactive step's [`Action::CreateWorkItem`]), the flow version
/// `active` names now, so that the pin is committed with the start.
///
/// The engine then runs, renders and submits exactly that version for the step's attempt,
/// crash recovery included; a resume that restarts the step starts it again and pins the version
/// active then. A flow that `active` does not know leaves the step unpinned (its invocation
/// fails as a missing flow).
pub fn pin_flows(transition: &mut Transition, active: impl Fn(&str) -> Option<FlowPin>) {
    for action in &transition.actions {
        let (step, flow) = match action {
            Action::RunFlow { step, flow, .. } => (step, flow),
            Action::CreateWorkItem {
                step, screen_flow, ..
            } => (step, screen_flow),
            _ => continue,
        };
        if let Some(step_run) = step_run_mut(&mut transition.run, step) {
            let pin = active(flow);
            step_run.flow_version = pin.as_ref().map(|pin| pin.version);
            step_run.flow_digest = pin.map(|pin| pin.digest);
        }
    }
}

/// The version `step` of `run` is pinned to, if any (with its digest when
/// it was pinned with one).
pub fn pinned_flow(run: &Run, step: &StepKey) -> Option<(u32, Option<String>)> {
    let step = run.step(step)?;
    Some((step.flow_version?, step.flow_digest.clone()))
}

/// The version (and digest, when pinned with one) of every pinned step of
/// `run`, in every stage it entered.
pub fn flow_pins(run: &Run) -> impl Iterator<Item = (u32, Option<&str>)> {
    run.stages
        .iter()
        .flat_map(|stage| &stage.steps)
        .filter_map(|step| Some((step.flow_version?, step.flow_digest.as_deref())))
}

fn step_run_mut<'r>(run: &'r mut Run, step: &StepKey) -> Option<&'r mut StepRun> {
    run.stages
        .get_mut(step.stage_run)
        .filter(|stage| stage.stage == step.stage)?
        .steps
        .iter_mut()
        .find(|s| s.name == step.step)
}
