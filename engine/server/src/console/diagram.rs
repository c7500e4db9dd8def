//! An orchestration drawn as SVG by the server, with a run's live status on
//! each element: stages in definition order with their steps, decisions
//! with their outcomes, ends, and each stage's fault path with where it
//! leads. A plain top-to-bottom layout: no layout library, in the browser
//! or here. Shapes are closed explicitly (`{}`): inside HTML, an SVG
//! element written as an HTML void element would swallow what follows.

use maud::{Markup, html};
use stagecraft_core::Orchestration;
use stagecraft_core::definition::{Element, StepKind};
use stagecraft_core::run::Run;

const WIDTH: u32 = 680;
const ROW: u32 = 22;

/// The status word of a stage or step, as a CSS class suffix.
fn class(status: Option<String>) -> String {
    match status {
        Some(status) => format!("s-{}", status.replace(' ', "_")),
        None => "s-not_started".to_owned(),
    }
}

/// The diagram of `definition`, with the statuses of `run` if given.
pub fn draw(definition: &Orchestration, run: Option<&Run>) -> Markup {
    let mut shapes: Vec<(u32, Markup)> = Vec::new();
    let mut y = 10;
    draw_elements(&definition.elements, run, 10, &mut y, &mut shapes);
    let height = y + 10;
    html! {
        svg.diagram role="img" aria-label=(format!("Diagram of {}", definition.name))
            viewBox=(format!("0 0 {WIDTH} {height}")) width=(WIDTH) height=(height)
            xmlns="http://www.w3.org/2000/svg" {
            @for (_, shape) in &shapes { (shape) }
        }
    }
}

fn draw_elements(
    elements: &[Element],
    run: Option<&Run>,
    x: u32,
    y: &mut u32,
    shapes: &mut Vec<(u32, Markup)>,
) {
    let width = WIDTH - x - 10;
    for element in elements {
        match element {
            Element::Stage(stage) => {
                let stage_run = run.and_then(|run| run.latest_stage_run(&stage.name));
                let status = stage_run.map(|s| s.status.to_string());
                let steps = u32::try_from(stage.steps.len()).unwrap_or(u32::MAX);
                let height = 30 + steps * ROW + 8;
                let top = *y;
                let next = stage.next.as_deref().unwrap_or("End");
                shapes.push((
                    top,
                    html! {
                        g class=(format!("stage {}", class(status.clone()))) {
                            rect x=(x) y=(top) width=(width) height=(height) rx="6" {}
                            text.title x=(x + 10) y=(top + 20) {
                                "Stage " (stage.label.as_deref().unwrap_or(&stage.name))
                                @if run.is_some() { " — " (status.as_deref().unwrap_or("not started")) }
                            }
                            text.next x=(x + width - 10) y=(top + 20) text-anchor="end" { "then " (next) }
                        }
                    },
                ));
                for (index, step) in stage.steps.iter().enumerate() {
                    let step_status = stage_run
                        .and_then(|s| s.steps.iter().find(|r| r.name == step.name))
                        .map(|s| s.status.to_string());
                    let row = top + 30 + u32::try_from(index).unwrap_or(0) * ROW;
                    let what = match &step.kind {
                        StepKind::Background { flow } => format!("background · {flow}"),
                        StepKind::Interactive { flow, .. } => format!("interactive · {flow}"),
                        StepKind::External { action } => format!("action · {action}"),
                    };
                    shapes.push((
                        row,
                        html! {
                            g class=(format!("step {}", class(step_status.clone()))) {
                                rect x=(x + 16) y=(row) width=(width - 32) height=(ROW - 4) rx="3" {}
                                text x=(x + 24) y=(row + 14) {
                                    (step.label.as_deref().unwrap_or(&step.name)) " (" (what) ")"
                                    @if run.is_some() { " — " (step_status.as_deref().unwrap_or("not started")) }
                                }
                            }
                        },
                    ));
                }
                *y += height + 8;
                if let Some(fault) = &stage.fault_path {
                    let leads = fault.next.as_deref().unwrap_or("End");
                    let top = *y;
                    shapes.push((
                        top,
                        html! {
                            text.fault x=(x + 16) y=(top + 14) {
                                "Fault path of " (stage.name) " → then " (leads)
                            }
                        },
                    ));
                    *y += ROW;
                    draw_elements(&fault.elements, run, x + 24, y, shapes);
                }
            }
            Element::Decision(decision) => {
                let top = *y;
                let outcomes: Vec<String> = decision
                    .outcomes
                    .iter()
                    .map(|o| format!("{} → {}", o.name, o.next.as_deref().unwrap_or("End")))
                    .chain(
                        decision
                            .default
                            .iter()
                            .map(|d| format!("default → {}", d.next.as_deref().unwrap_or("End"))),
                    )
                    .collect();
                let height = 26 + u32::try_from(outcomes.len()).unwrap_or(0) * 18;
                shapes.push((
                    top,
                    html! {
                        g.decision {
                            polygon points=(format!("{x},{mid} {a},{top} {b},{top} {c},{mid} {b},{bottom} {a},{bottom}",
                                mid = top + height / 2, a = x + 14, b = x + width - 14, c = x + width, bottom = top + height)) {}
                            text.title x=(x + 24) y=(top + 18) {
                                "Decision " (decision.label.as_deref().unwrap_or(&decision.name))
                            }
                            @for (index, outcome) in outcomes.iter().enumerate() {
                                text x=(x + 36) y=(top + 36 + u32::try_from(index).unwrap_or(0) * 18) { (outcome) }
                            }
                        }
                    },
                ));
                *y += height + 8;
            }
            Element::End(end) => {
                let top = *y;
                shapes.push((
                    top,
                    html! {
                        g.end {
                            rect x=(x) y=(top) width="160" height="26" rx="13" {}
                            text x=(x + 12) y=(top + 18) { "End " (end.name) }
                        }
                    },
                ));
                *y += 34;
            }
        }
    }
}
