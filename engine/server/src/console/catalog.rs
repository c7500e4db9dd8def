//! Flows and orchestrations, for the admin: versions with the active one
//! marked; upload a flow version (optionally resuming the runs that failed
//! on the flow), activate an older one, lift a version's quarantine; an
//! orchestration's definition and diagram; deploy a definition, with every
//! validation problem shown.

use super::super::AppState;
use super::diagram;
use super::page::{Page, encode, layout, refusal, time};
use super::session::{AdminForm, AdminPage, Signed};
use super::work::engine_refusal;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use stagecraft_core::Orchestration;
use stagecraft_engine::{EngineError, FlowKind};
use std::collections::{BTreeMap, HashMap};

/// A notice to show after an action.
#[derive(Debug, Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

/// `GET flows`.
pub async fn flows(
    State(state): State<AppState>,
    AdminPage(signed): AdminPage,
    Query(query): Query<Notice>,
) -> Response {
    let records = match state.engine.flows().await {
        Ok(records) => records,
        Err(error) => return engine_refusal(&signed, &error).into_response(),
    };
    let mut by_name: BTreeMap<&str, Vec<&stagecraft_store::FlowRecord>> = BTreeMap::new();
    for record in &records {
        by_name.entry(&record.name).or_default().push(record);
    }
    let body = html! {
        h1 { "Flows" }
        @if let Some(notice) = &query.notice { p.notice.ok role="status" { (notice) } }
        @for (name, versions) in &by_name {
            h2 { (name) " " span.meta { "(" (versions.first().map(|v| v.kind.to_string()).unwrap_or_default()) ")" } }
            table {
                thead { tr { th { "Version" } th { "Size" } th { "SHA-256" } th { "Deployed" } th {} } }
                tbody {
                    @for v in versions.iter().rev() {
                        tr {
                            td {
                                "v" (v.version)
                                @if v.active { " " strong.status.completed { "active" } }
                                @if let Some(quarantine) = &v.quarantine {
                                    " " strong.status.error { "quarantined" }
                                    div.meta { "since " (time(&quarantine.since)) ": " (quarantine.reason) }
                                }
                            }
                            td {
                                (v.size / 1024) " KiB"
                                @if let Some(mib) = v.memory_mib { div.meta { "memory limit " (mib) " MiB" } }
                            }
                            td { code title=(v.digest) { (v.digest.get(..12).unwrap_or(&v.digest)) "…" } }
                            td { (time(&v.deployed_at)) " by " (v.deployed_by) }
                            td {
                                @if v.quarantine.is_some() {
                                    form.inline method="post" action=(signed.urls().flow_lift(name)) {
                                        input type="hidden" name="_csrf" value=(signed.csrf());
                                        input type="hidden" name="version" value=(v.version);
                                        button type="submit" { "Lift quarantine" }
                                    }
                                }
                                @if !v.active {
                                    form.inline method="post" action=(signed.urls().flow_activate(name)) {
                                        input type="hidden" name="_csrf" value=(signed.csrf());
                                        input type="hidden" name="version" value=(v.version);
                                        button type="submit" { "Activate v" (v.version) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Deploy a version" }
        form.upload method="post" action=(signed.urls().flows()) enctype="multipart/form-data" {
            input type="hidden" name="_csrf" value=(signed.csrf());
            div.field { label for="flow-name" { "Flow name" } input #flow-name name="name" required; }
            div.field {
                label for="flow-kind" { "Kind" }
                select #flow-kind name="kind" {
                    option value="autolaunched" { "autolaunched (background steps)" }
                    option value="evaluation" { "evaluation (conditions)" }
                    option value="screen" { "screen (work items)" }
                }
            }
            div.field { label for="flow-file" { "Component (.wasm)" } input #flow-file type="file" name="file" accept=".wasm,application/wasm" required; }
            div.field { label for="flow-memory" { "Memory limit, MiB (empty: the server's default)" } input #flow-memory name="memory_mib" type="number" min="1"; }
            div.field { label.check { input type="checkbox" name="resume_errored" value="true"; " then resume the runs in Error on this flow" } }
            div.field { label.check { input type="checkbox" name="only_if_dry_run_passes" value="true"; " only those the new version gets through (dry-run first)" } }
            button type="submit" { "Deploy" }
        }
    };
    Page::ok(layout(signed.urls(), "Flows", Some(&signed), body)).into_response()
}

/// `POST flows` (multipart): deploys a version; with `resume_errored`,
/// on to the resume job's page.
pub async fn deploy_flow(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut file = Vec::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let bytes = match field.bytes().await {
                    Ok(bytes) => bytes,
                    Err(error) => return bad(&signed, &error.body_text()),
                };
                if name == "file" {
                    file = bytes.to_vec();
                } else {
                    fields.insert(name, String::from_utf8_lossy(&bytes).into_owned());
                }
            }
            Ok(None) => break,
            Err(error) => return bad(&signed, &error.body_text()),
        }
    }
    if let Err(refused) = signed.admin_post(&headers, &fields) {
        return refused.into_response();
    }
    let name = fields
        .get("name")
        .map(|n| n.trim().to_owned())
        .unwrap_or_default();
    let kind: FlowKind = match fields.get("kind").map(|k| k.parse()) {
        Some(Ok(kind)) => kind,
        _ => return bad(&signed, "Choose the flow's kind."),
    };
    if file.is_empty() {
        return bad(&signed, "Choose the component's .wasm file.");
    }
    let memory_mib = match fields.get("memory_mib").map(|m| m.trim()) {
        None | Some("") => None,
        Some(mib) => match mib.parse::<u32>() {
            Ok(mib) => Some(mib),
            Err(_) => return bad(&signed, "The memory limit is a whole number of MiB."),
        },
    };
    let resume = fields.contains_key("resume_errored");
    let gated = resume && fields.contains_key("only_if_dry_run_passes");
    if resume {
        return match state
            .engine
            .deploy_and_resume(&name, kind, file, memory_mib, gated, signed.name())
            .await
        {
            Ok((_, Ok(job))) => Redirect::to(&signed.urls().job(&job.id)).into_response(),
            Ok((record, Err(error))) => flows_notice(
                &signed,
                &format!(
                    "Deployed {} v{}, but the resume job could not start: {error}",
                    record.name, record.version
                ),
            ),
            Err(error) => engine_refusal(&signed, &error).into_response(),
        };
    }
    match state
        .engine
        .deploy_flow_with(&name, kind, file, memory_mib, signed.name())
        .await
    {
        Ok(record) => flows_notice(
            &signed,
            &format!("Deployed {} v{}, now active.", record.name, record.version),
        ),
        Err(error) => engine_refusal(&signed, &error).into_response(),
    }
}

fn bad(signed: &Signed, message: &str) -> Response {
    refusal(
        signed.urls(),
        StatusCode::BAD_REQUEST,
        Some(signed),
        message,
    )
    .into_response()
}

fn flows_notice(signed: &Signed, notice: &str) -> Response {
    Redirect::to(&format!(
        "{}?notice={}",
        signed.urls().flows(),
        encode(notice)
    ))
    .into_response()
}

/// `POST flows/{name}/activate` (version): a rollback or roll forward.
pub async fn activate_flow(
    State(state): State<AppState>,
    Path(name): Path<String>,
    AdminForm { signed, form }: AdminForm,
) -> Response {
    let Some(version) = form.get("version").and_then(|v| v.parse::<u32>().ok()) else {
        return bad(&signed, "Which version?");
    };
    match state
        .engine
        .activate_flow(&name, version, signed.name())
        .await
    {
        Ok(record) => flows_notice(
            &signed,
            &format!("{} v{} is active.", record.name, record.version),
        ),
        Err(error) => engine_refusal(&signed, &error).into_response(),
    }
}

/// `POST flows/{name}/lift-quarantine` (version): its steps run again.
pub async fn lift_quarantine(
    State(state): State<AppState>,
    Path(name): Path<String>,
    AdminForm { signed, form }: AdminForm,
) -> Response {
    let Some(version) = form.get("version").and_then(|v| v.parse::<u32>().ok()) else {
        return bad(&signed, "Which version?");
    };
    match state
        .engine
        .lift_quarantine(&name, version, signed.name())
        .await
    {
        Ok(record) => flows_notice(
            &signed,
            &format!(
                "{} v{} is no longer quarantined: resume the runs it put in Error.",
                record.name, record.version
            ),
        ),
        Err(error) => engine_refusal(&signed, &error).into_response(),
    }
}

/// `GET orchestrations`: every version, and a form to deploy one.
pub async fn orchestrations(
    State(state): State<AppState>,
    AdminPage(signed): AdminPage,
    Query(query): Query<Notice>,
) -> Response {
    orchestrations_page(&state, &signed, query.notice.as_deref(), None, "")
        .await
        .into_response()
}

async fn orchestrations_page(
    state: &AppState,
    signed: &Signed,
    notice: Option<&str>,
    problems: Option<&EngineError>,
    pasted: &str,
) -> Page {
    let records = match state.engine.orchestrations().await {
        Ok(records) => records,
        Err(error) => return engine_refusal(signed, &error),
    };
    let body = html! {
        h1 { "Orchestrations" }
        @if let Some(notice) = notice { p.notice.ok role="status" { (notice) } }
        table {
            thead { tr { th { "Orchestration" } th { "Version" } th { "Deployed" } } }
            tbody {
                @for r in records.iter().rev() {
                    tr {
                        td { a href=(signed.urls().orchestration(&r.name, r.version)) { (r.name) } }
                        td { "v" (r.version) @if r.active { " " strong.status.completed { "active" } } }
                        td { (time(&r.deployed_at)) " by " (r.deployed_by) }
                    }
                }
            }
        }
        h2 { "Deploy a definition" }
        @if let Some(error) = problems {
            div.notice.error role="alert" {
                @match error {
                    EngineError::DefinitionInvalid(errors) => {
                        p { "The definition has " (errors.0.len()) " problem(s):" }
                        ul { @for problem in &errors.0 { li { (problem) } } }
                    }
                    other => p { (other) },
                }
            }
        }
        form.deploy method="post" action=(signed.urls().orchestrations()) enctype="multipart/form-data" {
            input type="hidden" name="_csrf" value=(signed.csrf());
            div.field {
                label for="definition" { "Definition (JSON)" }
                textarea #definition name="definition" rows="12" { (pasted) }
            }
            div.field { label for="definition-file" { "or a file" } input #definition-file type="file" name="file" accept=".json,application/json"; }
            button type="submit" { "Deploy" }
        }
    };
    let status = if problems.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Page::ok(layout(signed.urls(), "Orchestrations", Some(signed), body)).with_status(status)
}

/// `POST orchestrations` (multipart: pasted `definition` or `file`).
pub async fn deploy_orchestration(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let mut fields: HashMap<String, String> = HashMap::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                match field.text().await {
                    Ok(text) => {
                        fields.insert(name, text);
                    }
                    Err(error) => return bad(&signed, &error.body_text()),
                }
            }
            Ok(None) => break,
            Err(error) => return bad(&signed, &error.body_text()),
        }
    }
    if let Err(refused) = signed.admin_post(&headers, &fields) {
        return refused.into_response();
    }
    let text = fields
        .get("file")
        .filter(|f| !f.trim().is_empty())
        .or_else(|| fields.get("definition"))
        .cloned()
        .unwrap_or_default();
    let definition: serde_json::Value = match serde_json::from_str(&text) {
        Ok(definition) => definition,
        Err(error) => {
            let error = EngineError::DefinitionSyntax(error.to_string());
            return orchestrations_page(&state, &signed, None, Some(&error), &text)
                .await
                .into_response();
        }
    };
    match state
        .engine
        .deploy_orchestration(definition, signed.name())
        .await
    {
        Ok(record) => Redirect::to(&format!(
            "{}?notice={}",
            signed.urls().orchestrations(),
            encode(&format!(
                "Deployed {} v{}, now active.",
                record.name, record.version
            ))
        ))
        .into_response(),
        Err(error) => orchestrations_page(&state, &signed, None, Some(&error), &text)
            .await
            .into_response(),
    }
}

/// `GET orchestrations/{name}/{version}`: the definition and its
/// diagram.
pub async fn orchestration(
    State(state): State<AppState>,
    AdminPage(signed): AdminPage,
    Path((name, version)): Path<(String, u32)>,
) -> Response {
    let records = match state.engine.orchestrations().await {
        Ok(records) => records,
        Err(error) => return engine_refusal(&signed, &error).into_response(),
    };
    let Some(record) = records
        .into_iter()
        .find(|r| r.name == name && r.version == version)
    else {
        return refusal(
            signed.urls(),
            StatusCode::NOT_FOUND,
            Some(&signed),
            &format!("orchestration {name:?} v{version} not found"),
        )
        .into_response();
    };
    let parsed: Option<Orchestration> = serde_json::from_value(record.definition.clone()).ok();
    let body = html! {
        h1 { (record.name) " v" (record.version) @if record.active { " " strong.status.completed { "active" } } }
        @if let Some(description) = parsed.as_ref().and_then(|p| p.description.as_deref()) { p { (description) } }
        @if let Some(parsed) = &parsed { (diagram::draw(parsed, None)) }
        h2 { "Definition" }
        pre { (serde_json::to_string_pretty(&record.definition).unwrap_or_default()) }
    };
    Page::ok(layout(signed.urls(), &record.name, Some(&signed), body)).into_response()
}
