//! The admin's runs: a filtered, paged list with counts per status; a run's
//! page (diagram, timeline, each step's attempts with inputs, outputs,
//! errors and logs); its actions, each confirmed; and "try a version", a
//! dry-run of a fix against the input that failed.

use super::super::AppState;
use super::diagram;
use super::page::{Page, encode, layout, refusal, time};
use super::session::{AdminForm, AdminPage, Signed};
use super::urls::Urls;
use super::work::engine_refusal;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use stagecraft_core::Orchestration;
use stagecraft_core::run::{MilestoneRecord, Run, RunId, RunStatus};
use stagecraft_engine::{Candidate, DryRun, Outcome, RepairFilter, RunFilter};
use std::collections::HashMap;

/// Runs per page.
const PAGE: u32 = 50;
const STATUSES: [RunStatus; 5] = [
    RunStatus::InProgress,
    RunStatus::Completed,
    RunStatus::Suspended,
    RunStatus::Error,
    RunStatus::Canceled,
];

fn status_name(status: RunStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A run status, coloured as everywhere in the console.
pub fn badge(status: RunStatus) -> Markup {
    html! { span.status class=(status_name(status)) { (status) } }
}

/// The query of the runs list.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    orchestration: Option<String>,
    version: Option<String>,
    flow: Option<String>,
    stage: Option<String>,
    /// Started on or after this day (`YYYY-MM-DD`, UTC).
    from: Option<String>,
    /// Started before the end of this day (`YYYY-MM-DD`, UTC).
    to: Option<String>,
    /// The next page: `<started_at>|<run id>` of the last run shown.
    after: Option<String>,
}

/// The start of a day (`YYYY-MM-DD`, UTC), or of the day after with `next`.
fn day(text: &Option<String>, next: bool) -> Option<jiff::Timestamp> {
    let date: jiff::civil::Date = nonempty(text)?.parse().ok()?;
    let date = if next { date.tomorrow().ok()? } else { date };
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

fn nonempty(value: &Option<String>) -> Option<String> {
    value
        .as_ref()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `GET runs`: runs newest first, with filters and counts per status.
/// The stage filter keeps the live runs in that stage (in progress, in error
/// or suspended); with status `error`, the failed flow narrows it too, and
/// every run shown can be resumed as one job.
pub async fn list(
    State(state): State<AppState>,
    AdminPage(signed): AdminPage,
    Query(query): Query<ListQuery>,
) -> Response {
    let status: Option<RunStatus> = nonempty(&query.status)
        .and_then(|s| serde_json::from_value(serde_json::Value::String(s)).ok());
    let orchestration = nonempty(&query.orchestration);
    let version = nonempty(&query.version).and_then(|v| v.parse::<u32>().ok());
    let (flow, stage) = (nonempty(&query.flow), nonempty(&query.stage));
    let (from, to) = (day(&query.from, false), day(&query.to, true));
    let counts = match state.engine.run_counts(orchestration.clone()).await {
        Ok(counts) => counts,
        Err(error) => return engine_refusal(&signed, &error).into_response(),
    };
    let names: Vec<String> = match state.engine.orchestrations().await {
        Ok(records) => {
            let mut names: Vec<String> = records.into_iter().map(|r| r.name).collect();
            names.dedup();
            names
        }
        Err(error) => return engine_refusal(&signed, &error).into_response(),
    };
    let by_failure = status == Some(RunStatus::Error) && flow.is_some();
    let rows: Vec<(RunId, String, u32, RunStatus, jiff::Timestamp)> = if by_failure {
        let filter = RepairFilter {
            orchestration: orchestration.clone(),
            version: version.filter(|_| orchestration.is_some()),
            flow: flow.clone(),
            stage: stage.clone(),
            started_after: from,
            started_before: to,
            ..RepairFilter::default()
        };
        match state.engine.select(&filter).await {
            Ok(runs) => runs
                .into_iter()
                .rev()
                .take(PAGE as usize)
                .map(|run| {
                    let started = run.started_at().unwrap_or_default();
                    (run.id, run.orchestration, run.version, run.status, started)
                })
                .collect(),
            Err(error) => return engine_refusal(&signed, &error).into_response(),
        }
    } else {
        let after = query.after.as_deref().and_then(|cursor| {
            let (at, id) = cursor.split_once('|')?;
            Some((at.parse().ok()?, RunId(id.to_owned())))
        });
        let filter = RunFilter {
            status,
            orchestration: orchestration.clone(),
            version,
            stage: stage.clone(),
            started_after: from,
            started_before: to,
            after,
            limit: Some(PAGE),
        };
        match state.engine.runs(filter).await {
            Ok(runs) => runs
                .into_iter()
                .map(|r| (r.id, r.orchestration, r.version, r.status, r.started_at))
                .collect(),
            Err(error) => return engine_refusal(&signed, &error).into_response(),
        }
    };
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let next = (!by_failure && rows.len() == PAGE as usize)
        .then(|| rows.last())
        .flatten()
        .map(|(id, _, _, _, at)| {
            let mut params = vec![("after".to_owned(), format!("{at}|{id}"))];
            for (key, value) in [
                ("status", &query.status),
                ("orchestration", &query.orchestration),
                ("version", &query.version),
                ("stage", &query.stage),
                ("from", &query.from),
                ("to", &query.to),
            ] {
                if let Some(value) = nonempty(value) {
                    params.push((key.to_owned(), value));
                }
            }
            signed.urls().runs_where(encode_query(&params))
        });
    let body = html! {
        div #live data-every="5" {}
        h1 { "Runs" }
        p.counts {
            a href=(signed.urls().runs()) { (total) " in all" }
            @for status in STATUSES {
                @let count = counts.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
                " · " a href=(signed.urls().runs_where(format_args!("status={}", status_name(status)))) { (badge(status)) ": " (count) }
            }
        }
        form.filters method="get" action=(signed.urls().runs()) {
            label for="status" { "Status" }
            select #status name="status" {
                option value="" { "any" }
                @for s in STATUSES {
                    option value=(status_name(s)) selected[status == Some(s)] { (s) }
                }
            }
            label for="orchestration" { "Orchestration" }
            select #orchestration name="orchestration" {
                option value="" { "any" }
                @for name in &names {
                    option value=(name) selected[orchestration.as_deref() == Some(name.as_str())] { (name) }
                }
            }
            label for="version" { "Version" }
            input #version name="version" type="number" min="1" value=[version];
            label for="flow" { "Failed flow" }
            input #flow name="flow" value=[flow.as_deref()] placeholder="with status error";
            label for="stage" { "Stage in progress or in error" }
            input #stage name="stage" value=[stage.as_deref()];
            label for="from" { "Started from" }
            input #from name="from" type="date" value=[nonempty(&query.from)];
            label for="to" { "to" }
            input #to name="to" type="date" value=[nonempty(&query.to)];
            button type="submit" { "Filter" }
        }
        @if rows.is_empty() {
            p.empty { "No runs match." }
        } @else {
            table.runs {
                thead { tr { th { "Run" } th { "Orchestration" } th { "Status" } th { "Started" } } }
                tbody {
                    @for (id, name, v, s, at) in &rows {
                        tr {
                            td { a href=(signed.urls().run(id)) { code { (id) } } }
                            td { (name) " v" (v) }
                            td { (badge(*s)) }
                            td { (time(at)) }
                        }
                    }
                }
            }
            @if let Some(next) = &next { p { a href=(next) { "Older runs →" } } }
        }
        @if status == Some(RunStatus::Error) && !rows.is_empty() {
            form.resume-all method="post" action=(signed.urls().resume_all()) {
                input type="hidden" name="_csrf" value=(signed.csrf());
                input type="hidden" name="orchestration" value=[orchestration.as_deref()];
                input type="hidden" name="version" value=[version];
                input type="hidden" name="flow" value=[flow.as_deref()];
                input type="hidden" name="stage" value=[stage.as_deref()];
                input type="hidden" name="from" value=[nonempty(&query.from)];
                input type="hidden" name="to" value=[nonempty(&query.to)];
                label.check {
                    input type="checkbox" name="only_if_dry_run_passes" value="true";
                    " only where the active version gets through the failed input (dry-run first)"
                }
                button type="submit" { "Resume every run in Error matching this filter" }
            }
        }
    };
    Page::ok(layout(signed.urls(), "Runs", Some(&signed), body)).into_response()
}

fn encode_query(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The query of a run's page: a notice to show after an action.
#[derive(Debug, Deserialize)]
pub struct ShowQuery {
    notice: Option<String>,
}

/// `GET runs/{id}`: everything about one run.
pub async fn show(
    State(state): State<AppState>,
    AdminPage(signed): AdminPage,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Response {
    let id = RunId(id);
    let run = match state.engine.run(&id).await {
        Ok(run) => run,
        Err(error) => return engine_refusal(&signed, &error).into_response(),
    };
    let definition = definition(&state, &run).await;
    let logs = state.engine.step_logs(&id).await.unwrap_or_default();
    let versions = match run.error.as_ref().and_then(|e| e.flow.as_ref()) {
        Some(failed) => state
            .engine
            .flows()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f.name == failed.name)
            .map(|f| (f.version, f.active))
            .collect(),
        None => Vec::new(),
    };
    let live = !run.status.is_final();
    let body = html! {
        @if live { div #live data-every="3" {} }
        h1 { "Run " code { (run.id) } " " (badge(run.status)) }
        p.meta { (run.orchestration) " v" (run.version) @if let Some(at) = run.started_at() { " · started " (time(&at)) } }
        @if let Some(notice) = &query.notice { p.notice.ok role="status" { (notice) } }
        @if let Some(error) = &run.error {
            section.error {
                h2 { "Error" }
                p.notice.error role="alert" {
                    (error.kind) " in stage " (error.stage)
                    @if let Some(step) = &error.step { ", step " (step) }
                    ": " (error.message.lines().next().unwrap_or_default())
                }
                p {
                    @if error.recoverable() { "Recoverable: fix the cause, then resume the run." }
                    @else { "Not recoverable: the run cannot be resumed." }
                    @if let Some(flow) = &error.flow {
                        " The flow that failed: " code { (flow.name) } @if let Some(v) = flow.version { " v" (v) } "."
                    }
                }
                @if !versions.is_empty() {
                    form.try method="post" action=(signed.urls().run_dry_run(&run.id)) enctype="multipart/form-data" {
                        input type="hidden" name="_csrf" value=(signed.csrf());
                        label for="try-version" { "Try a version against the input that failed" }
                        select #try-version name="version" {
                            @for (v, active) in &versions {
                                option value=(v) selected[*active] { "v" (v) @if *active { " (active)" } }
                            }
                        }
                        label for="try-file" { "or a component, not deployed" }
                        input #try-file type="file" name="file" accept=".wasm,application/wasm";
                        button type="submit" { "Try it" }
                        p.help { "A dry-run: the run is not changed." }
                    }
                }
            }
        }
        (actions(&signed, &run))
        h2 { "Diagram" }
        @match &definition {
            Some(definition) => (diagram::draw(definition, Some(&run))),
            None => p.empty { "The definition of this version cannot be read." },
        }
        h2 { "History" }
        table.timeline {
            thead { tr { th { "When" } th { "What" } th { "Of" } th { "Who" } } }
            tbody {
                @for milestone in &run.history {
                    tr {
                        td { (time(&milestone.at)) }
                        td { (format!("{:?}", milestone.kind)) }
                        td { (record(&milestone.record)) }
                        td { (milestone.actor_name()) }
                    }
                }
            }
        }
        h2 { "Steps" }
        @for (index, stage) in run.stages.iter().enumerate() {
            h3 { "Stage " (stage.stage) " — " (stage.status) }
            @for step in &stage.steps {
                details.step open[step.error.is_some()] {
                    summary { (step.name) " — " (step.status) " · attempt " (step.attempt)
                        @if let Some(v) = step.flow_version { " · flow v" (v) } }
                    @if let Some(inputs) = &step.inputs { h4 { "Inputs" } pre { (pretty(inputs)) } }
                    @if let Some(outputs) = &step.outputs { h4 { "Outputs" } pre { (pretty(outputs)) } }
                    @if let Some(pending) = &step.pending { h4 { "Pending result" } pre { (pretty(&serde_json::to_value(pending).unwrap_or_default())) } }
                    @if let Some(error) = &step.error { h4 { "Error" } pre.error { (error) } }
                    @for log in logs.iter().filter(|l| l.step.stage_run == index && l.step.step == step.name) {
                        h4 { "Log of attempt " (log.attempt) " (flow v" (log.flow_version) ")" }
                        pre.log {
                            @for line in &log.lines { "[" (line.stream) "] " (line.message) "\n" }
                        }
                    }
                }
            }
        }
    };
    Page::ok(layout(
        signed.urls(),
        &format!("Run {}", run.id),
        Some(&signed),
        body,
    ))
    .into_response()
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn record(record: &MilestoneRecord) -> String {
    match record {
        MilestoneRecord::Run => "run".to_owned(),
        MilestoneRecord::Stage { name } => format!("stage {name}"),
        MilestoneRecord::Step { stage, step } => format!("step {stage}.{step}"),
    }
}

/// The run's orchestration version, as deployed.
async fn definition(state: &AppState, run: &Run) -> Option<Orchestration> {
    let records = state.engine.orchestrations().await.ok()?;
    let record = records
        .into_iter()
        .find(|r| r.name == run.orchestration && r.version == run.version)?;
    serde_json::from_value(record.definition).ok()
}

/// The actions the run's status allows; the engine has the last word.
fn actions(signed: &Signed, run: &Run) -> Markup {
    let possible: Vec<(&str, &str)> = match run.status {
        RunStatus::InProgress => vec![("suspend", "Suspend"), ("cancel", "Cancel")],
        RunStatus::Suspended | RunStatus::Error => vec![("resume", "Resume"), ("cancel", "Cancel")],
        RunStatus::Completed | RunStatus::Canceled => Vec::new(),
    };
    html! {
        @if !possible.is_empty() || run.status == RunStatus::InProgress {
            section.actions {
                h2 { "Actions" }
                @for (action, label) in &possible {
                    form.inline method="post" action=(signed.urls().run_act(&run.id)) {
                        input type="hidden" name="_csrf" value=(signed.csrf());
                        input type="hidden" name="action" value=(action);
                        button type="submit" { (label) }
                    }
                }
                @if run.status == RunStatus::InProgress {
                    form.inline method="post" action=(signed.urls().run_act(&run.id)) {
                        input type="hidden" name="_csrf" value=(signed.csrf());
                        input type="hidden" name="action" value="publish";
                        label for="event" { "Event" }
                        input #event name="event" required;
                        button type="submit" { "Publish" }
                    }
                }
            }
        }
    }
}

/// `POST runs/{id}/act`: suspend, resume, cancel or publish. Without
/// `confirmed`, a confirmation page; with it, the action, then back to the
/// run with a notice, or the engine's refusal.
pub async fn act(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { signed, form }: AdminForm,
) -> Response {
    let id = RunId(id);
    let action = form.get("action").map(String::as_str).unwrap_or_default();
    let event = form
        .get("event")
        .map(|e| e.trim().to_owned())
        .unwrap_or_default();
    let what = match action {
        "suspend" => "Suspend this run?".to_owned(),
        "resume" => {
            "Resume this run? A restarted step runs the active version of its flow.".to_owned()
        }
        "cancel" => "Cancel this run for good? It cannot be resumed afterwards.".to_owned(),
        "publish" if !event.is_empty() => format!("Publish the event {event:?} to this run?"),
        "publish" => {
            return refusal(
                signed.urls(),
                StatusCode::BAD_REQUEST,
                Some(&signed),
                "Name the event to publish.",
            )
            .into_response();
        }
        _ => {
            return refusal(
                signed.urls(),
                StatusCode::BAD_REQUEST,
                Some(&signed),
                "No such action.",
            )
            .into_response();
        }
    };
    if form.get("confirmed").map(String::as_str) != Some("yes") {
        let body = html! {
            h1 { "Confirm" }
            p { (what) " (run " code { (id) } ")" }
            form method="post" action=(signed.urls().run_act(&id)) {
                input type="hidden" name="_csrf" value=(signed.csrf());
                input type="hidden" name="action" value=(action);
                input type="hidden" name="event" value=(event);
                input type="hidden" name="confirmed" value="yes";
                button type="submit" { "Yes, " (action) }
                " " a href=(signed.urls().run(&id)) { "No, back to the run" }
            }
        };
        return Page::ok(layout(signed.urls(), "Confirm", Some(&signed), body)).into_response();
    }
    let by = signed.name();
    let result = match action {
        "suspend" => state.engine.suspend(&id, by).await,
        "resume" => state.engine.resume(&id, by).await,
        "cancel" => state.engine.cancel(&id, by).await,
        _ => state.engine.publish_event(&id, &event, by).await,
    };
    match result {
        Ok(run) => Redirect::to(&format!(
            "{}?notice={}",
            signed.urls().run(&id),
            encode(&format!("Done: {action}. The run is {}.", run.status))
        ))
        .into_response(),
        Err(error) => engine_refusal(&signed, &error).into_response(),
    }
}

/// `POST runs/{id}/dry-run` (multipart: a deployed `version`, or a
/// component `file`): tried against the input that failed, beside the
/// failure. Nothing changes.
pub async fn dry_run(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Response {
    let mut form: HashMap<String, String> = HashMap::new();
    let mut file = Vec::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let Ok(bytes) = field.bytes().await else {
                    return refusal(
                        signed.urls(),
                        StatusCode::BAD_REQUEST,
                        Some(&signed),
                        "The upload broke off.",
                    )
                    .into_response();
                };
                if name == "file" {
                    file = bytes.to_vec();
                } else {
                    form.insert(name, String::from_utf8_lossy(&bytes).into_owned());
                }
            }
            Ok(None) => break,
            Err(error) => {
                return refusal(
                    signed.urls(),
                    StatusCode::BAD_REQUEST,
                    Some(&signed),
                    &error.body_text(),
                )
                .into_response();
            }
        }
    }
    if let Err(refused) = signed.admin_post(&headers, &form) {
        return refused.into_response();
    }
    let id = RunId(id);
    let candidate = if file.is_empty() {
        Candidate::Deployed(form.get("version").and_then(|v| v.parse::<u32>().ok()))
    } else {
        Candidate::Component(file)
    };
    let tried = match state
        .engine
        .dry_run(&id, None, candidate, signed.name())
        .await
    {
        Ok(tried) => tried,
        Err(error) => return engine_refusal(&signed, &error).into_response(),
    };
    Page::ok(layout(
        signed.urls(),
        "Dry-run",
        Some(&signed),
        dry_run_result(signed.urls(), &tried),
    ))
    .into_response()
}

fn dry_run_result(urls: &Urls, tried: &DryRun) -> Markup {
    let which = match tried.candidate.version {
        Some(v) => format!("{} v{v}", tried.flow),
        None => format!("an uploaded component of {}", tried.flow),
    };
    html! {
        h1 { "Dry-run of " (which) }
        p.meta { "Run " a href=(urls.run(&tried.run)) { code { (tried.run) } }
            " · stage " (tried.stage) @if let Some(step) = &tried.step { ", step " (step) } " · nothing was changed" }
        div.side-by-side {
            section {
                h2 { "The fix" }
                @match &tried.candidate.outcome {
                    Outcome::Succeeded { outputs } => { p.notice.ok { "Succeeds." } pre { (pretty(outputs)) } }
                    Outcome::Rendered { form, submitted } => {
                        p.notice.ok { "Renders its form." }
                        pre { (pretty(form)) }
                        @if let Some(submitted) = submitted { pre { (pretty(&serde_json::to_value(submitted).unwrap_or_default())) } }
                    }
                    Outcome::Decided { met } => { p.notice.ok { "Decides: condition " @if *met { "met" } @else { "not met" } "." } }
                    Outcome::Failed { failure } => { p.notice.error { "Fails (" (format!("{:?}", failure.kind)) "): " (failure.message.lines().next().unwrap_or_default()) } }
                }
                @if !tried.candidate.logs.is_empty() {
                    pre.log { @for line in &tried.candidate.logs { "[" (line.stream) "] " (line.message) "\n" } }
                }
            }
            section {
                h2 { "What failed" }
                p.notice.error { (tried.original.error.as_deref().unwrap_or("no error recorded").lines().next().unwrap_or_default()) }
                @if !tried.original.logs.is_empty() {
                    pre.log { @for line in &tried.original.logs { "[" (line.stream) "] " (line.message) "\n" } }
                }
            }
        }
        p { a href=(urls.run(&tried.run)) { "Back to the run" } }
    }
}

/// `POST runs/resume`: every run in Error that the list's filter
/// selects, resumed as one job; then the job's page.
pub async fn resume_all(
    State(state): State<AppState>,
    AdminForm { signed, form }: AdminForm,
) -> Response {
    let get = |key: &str| {
        form.get(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let orchestration = get("orchestration");
    let filter = RepairFilter {
        version: get("version")
            .and_then(|v| v.parse().ok())
            .filter(|_| orchestration.is_some()),
        orchestration,
        flow: get("flow"),
        stage: get("stage"),
        started_after: day(&get("from"), false),
        started_before: day(&get("to"), true),
        ..RepairFilter::default()
    };
    let job = stagecraft_engine::ResumeJob {
        only_if_dry_run_passes: get("only_if_dry_run_passes").is_some() && filter.flow.is_some(),
        filter,
        deployed: None,
    };
    match state.engine.resume_many(job, signed.name()).await {
        Ok(job) => Redirect::to(&signed.urls().job(&job.id)).into_response(),
        Err(error) => engine_refusal(&signed, &error).into_response(),
    }
}
