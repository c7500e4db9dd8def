//! A resume job's page, with its progress (refreshed every second while it
//! runs: bounded polling that needs no script), and the audit log.

use super::super::AppState;
use super::page::{Page, layout, time};
use super::session::AdminPage;
use super::work::engine_refusal;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use stagecraft_engine::{AuditAction, AuditFilter, AuditOutcome, JobId, JobStatus};

/// `GET jobs/{id}`.
pub async fn show(
    State(state): State<AppState>,
    AdminPage(signed): AdminPage,
    Path(id): Path<String>,
) -> Response {
    let job = match state.engine.job(&JobId(id)).await {
        Ok(job) => job,
        Err(error) => return engine_refusal(&signed, &error).into_response(),
    };
    let handled = job.counts.resumed + job.counts.refused;
    let running = job.status == JobStatus::Running;
    let body = html! {
        @if running { meta http-equiv="refresh" content="1"; }
        h1 { "Resume job " code { (job.id) } }
        p.meta { "Started by " (job.created_by) " " (time(&job.created_at)) " · " (format!("{:?}", job.status).to_lowercase()) }
        label for="progress" { (handled) " of " (job.counts.total) " runs handled" }
        progress #progress value=(handled) max=(job.counts.total.max(1)) { (handled) "/" (job.counts.total) }
        p.counts { (job.counts.resumed) " resumed · " (job.counts.refused) " refused · " (job.counts.pending) " pending" }
        @if !job.refusals.is_empty() {
            h2 { "Refused" }
            table {
                thead { tr { th { "Why" } th { "Runs" } th { "For example" } } }
                tbody {
                    @for refusal in &job.refusals {
                        tr {
                            td { (refusal.reason) }
                            td { (refusal.count) }
                            td { a href=(signed.urls().run(&refusal.example)) { code { (refusal.example) } } }
                        }
                    }
                }
            }
        }
        p { a href=(signed.urls().runs_where("status=error")) { "Runs in Error" } }
    };
    Page::ok(layout(signed.urls(), "Resume job", Some(&signed), body)).into_response()
}

/// The query of the audit page.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    before: Option<u64>,
}

/// `GET audit`: who did what, newest first, a page at a time.
pub async fn audit(
    State(state): State<AppState>,
    AdminPage(signed): AdminPage,
    Query(query): Query<AuditQuery>,
) -> Response {
    let some = |v: &Option<String>| {
        v.as_ref()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let action = some(&query.action).and_then(|a| AuditAction::parse(&a));
    let filter = AuditFilter {
        actor: some(&query.actor),
        action,
        target: some(&query.target),
        before: query.before,
        limit: Some(100),
        ..AuditFilter::default()
    };
    let records = match state.engine.audit(filter).await {
        Ok(records) => records,
        Err(error) => return engine_refusal(&signed, &error).into_response(),
    };
    let next = (records.len() == 100)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    let body = html! {
        h1 { "Audit log" }
        form.filters method="get" action=(signed.urls().audit()) {
            label for="actor" { "Actor" } input #actor name="actor" value=[some(&query.actor)];
            label for="action" { "Action" }
            select #action name="action" {
                option value="" { "any" }
                @for a in AuditAction::ALL { option value=(a.name()) selected[action == Some(a)] { (a.name()) } }
            }
            label for="target" { "Target" } input #target name="target" value=[some(&query.target)] placeholder="run:<id>";
            button type="submit" { "Filter" }
        }
        @if records.is_empty() { p.empty { "No records match." } } @else {
            table.audit {
                thead { tr { th { "When" } th { "Who" } th { "What" } th { "Target" } th { "Outcome" } } }
                tbody {
                    @for entry in &records {
                        tr {
                            td { (time(&entry.record.at)) }
                            td { (entry.record.actor) }
                            td { (entry.record.action.name()) }
                            td { code { (entry.record.target) } }
                            td { @match &entry.record.outcome {
                                AuditOutcome::Done => span.status.completed { "done" },
                                AuditOutcome::Refused { reason } => span.status.error { "refused: " (reason.lines().next().unwrap_or_default()) },
                            } }
                        }
                    }
                }
            }
            @if let Some(before) = next { p { a href=(format!("{}?before={before}", signed.urls().audit())) { "Older records →" } } }
        }
    };
    Page::ok(layout(signed.urls(), "Audit log", Some(&signed), body)).into_response()
}
