//! The work guide: a person's inbox of open work items, and a work item's
//! form, rendered from its screen flow and submitted back to it.

use super::super::AppState;
use super::form;
use super::page::{Page, encode, layout, refusal, time};
use super::session::Signed;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use stagecraft_core::run::{Principal, RunStatus, WorkItemId, WorkItemStatus};
use stagecraft_engine::{Completion, EngineError, FieldError};
use stagecraft_store::WorkItemRecord;
use std::collections::{BTreeMap, HashMap};

/// Items listed in an inbox, at most.
const MAX_ITEMS: usize = 500;

/// `GET /`: where a person starts: the admin at the runs, a user at
/// their inbox.
pub async fn home(signed: Signed) -> Redirect {
    Redirect::to(&if signed.is_admin() {
        signed.urls().runs()
    } else {
        signed.urls().inbox()
    })
}

/// The query of the inbox.
#[derive(Debug, Deserialize)]
pub struct InboxQuery {
    orchestration: Option<String>,
    done: Option<String>,
}

/// An item with what the inbox shows of its run.
struct Entry {
    record: WorkItemRecord,
    orchestration: String,
    applicant: Option<String>,
}

/// `GET inbox?orchestration=&done=`: the open work items assigned to
/// me, my groups and my queues, newest first (for the admin, every open
/// item, to watch), with counts per source.
pub async fn inbox(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<InboxQuery>,
) -> Response {
    let items = match signed.user() {
        Some(user) => state.engine.work_items_for(user).await,
        None => state.engine.open_work_items().await,
    };
    let mut items = match items {
        Ok(items) => items,
        Err(error) => return engine_refusal(&signed, &error).into_response(),
    };
    items.sort_by_key(|record| std::cmp::Reverse(record.item.created_at));
    items.truncate(MAX_ITEMS);
    let mut entries = Vec::with_capacity(items.len());
    for record in items {
        let (orchestration, applicant) = match state.engine.run(&record.run).await {
            Ok(run) => (
                run.orchestration.clone(),
                run.inputs
                    .get("applicant")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
            ),
            Err(_) => (String::new(), None),
        };
        entries.push(Entry {
            record,
            orchestration,
            applicant,
        });
    }
    let mut sources: BTreeMap<String, usize> = BTreeMap::new();
    let mut orchestrations: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &entries {
        *sources
            .entry(source(&entry.record.item.assignee))
            .or_default() += 1;
        *orchestrations
            .entry(entry.orchestration.clone())
            .or_default() += 1;
    }
    let shown: Vec<&Entry> = entries
        .iter()
        .filter(|e| {
            query
                .orchestration
                .as_deref()
                .is_none_or(|o| o.is_empty() || e.orchestration == o)
        })
        .collect();
    let body = html! {
        div #live data-every="10" {}
        h1 { @if signed.is_admin() { "Open work items" } @else { "My work" } }
        @if let Some(done) = &query.done {
            p.notice.ok role="status" { "Work item " code { (done) } " completed." }
        }
        p.counts {
            (entries.len()) " open"
            @for (source, count) in &sources { " · " (source) ": " (count) }
        }
        form.filters method="get" action=(signed.urls().inbox()) {
            label for="orchestration" { "Orchestration" }
            select #orchestration name="orchestration" {
                option value="" { "all" }
                @for (name, count) in &orchestrations {
                    option value=(name) selected[query.orchestration.as_deref() == Some(name.as_str())] {
                        (name) " (" (count) ")"
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        @if shown.is_empty() {
            p.empty { "Nothing waits for you." }
        } @else {
            table.items {
                thead { tr { th { "Work item" } th { "Orchestration" } th { "Step" } th { "Assigned to" } th { "Since" } } }
                tbody {
                    @for entry in &shown {
                        tr {
                            td { a href=(signed.urls().work(&entry.record.item.id)) {
                                (entry.record.item.id.0.rsplit('/').next().unwrap_or_default())
                                @if let Some(applicant) = &entry.applicant { " · " (applicant) }
                            } }
                            td { (entry.orchestration) }
                            td { (entry.record.item.step.stage) "." (entry.record.item.step.step) }
                            td { (source(&entry.record.item.assignee)) }
                            td { (time(&entry.record.item.created_at)) }
                        }
                    }
                }
            }
        }
    };
    Page::ok(layout(signed.urls(), "Inbox", Some(&signed), body)).into_response()
}

fn source(principal: &Principal) -> String {
    match principal {
        Principal::User(_) => "me".to_owned(),
        Principal::Group(group) => format!("group {group}"),
        Principal::Queue(queue) => format!("queue {queue}"),
    }
}

/// `GET work/{run}/{item}`: the item and, for its assignee while it is
/// open, its screen flow's form.
pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path((run, item)): Path<(String, String)>,
) -> Response {
    let id = WorkItemId(format!("{run}/{item}"));
    render(&state, &signed, &id, &HashMap::new(), &[])
        .await
        .into_response()
}

/// The work item page, with `values` in its fields and `errors` by them.
async fn render(
    state: &AppState,
    signed: &Signed,
    id: &WorkItemId,
    values: &HashMap<String, String>,
    errors: &[FieldError],
) -> Page {
    let record = match state.engine.work_item(id).await {
        Ok(record) => record,
        Err(error) => return engine_refusal(signed, &error),
    };
    let run = match state.engine.run(&record.run).await {
        Ok(run) => run,
        Err(error) => return engine_refusal(signed, &error),
    };
    let heading = html! {
        h1 { "Work item " code { (id) } }
        p.meta {
            (run.orchestration) " · step " (record.item.step.stage) "." (record.item.step.step)
            " · assigned to " (record.item.assignee) " · since " (time(&record.item.created_at))
        }
    };
    if record.item.status != WorkItemStatus::Assigned {
        let why = match run.status {
            RunStatus::Canceled => "Its run was canceled: there is nothing left to do.".to_owned(),
            _ => format!(
                "It is {}: its run moved on (the run is {}).",
                format!("{:?}", record.item.status).to_lowercase(),
                run.status
            ),
        };
        let body = html! { (heading) p.notice role="status" { (why) } p { a href=(signed.urls().inbox()) { "Back to the inbox" } } };
        return Page::ok(layout(signed.urls(), "Work item", Some(signed), body));
    }
    let Some(user) = signed.user() else {
        let body = html! {
            (heading)
            p.notice role="status" { "Work items are completed by their assignees, signed in with their own token." }
        };
        return Page::ok(layout(signed.urls(), "Work item", Some(signed), body));
    };
    let form = match state.engine.work_item_form(id, user).await {
        Ok(form) => form,
        Err(error) => return engine_refusal(signed, &error),
    };
    let body = html! {
        (heading)
        h2 { (form.title) }
        form.work method="post" action=(signed.urls().work(id)) novalidate {
            input type="hidden" name="_csrf" value=(signed.csrf());
            (form::fields(&form, values, errors))
            button type="submit" { "Submit" }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Page::ok(layout(signed.urls(), &form.title, Some(signed), body)).with_status(status)
}

/// `POST work/{run}/{item}`: submits the answers to the screen flow.
/// Invalid answers come back inline, next to their fields; accepted ones
/// lead back to the inbox with a confirmation.
pub async fn complete(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path((run, item)): Path<(String, String)>,
    Form(posted): Form<HashMap<String, String>>,
) -> Response {
    if let Err(refused) = signed.check_post(&headers, &posted) {
        return refused.into_response();
    }
    let id = WorkItemId(format!("{run}/{item}"));
    let Some(user) = signed.user() else {
        return refusal(
            signed.urls(),
            StatusCode::FORBIDDEN,
            Some(&signed),
            "Work items are completed by their assignees, signed in with their own token.",
        )
        .into_response();
    };
    let form = match state.engine.work_item_form(&id, user).await {
        Ok(form) => form,
        Err(error) => return engine_refusal(&signed, &error).into_response(),
    };
    let answers = form::answers(&form, &posted);
    match state.engine.complete_work_item(&id, user, answers).await {
        Ok(Completion::Completed(_)) => {
            Redirect::to(&format!("{}?done={}", signed.urls().inbox(), encode(&id.0)))
                .into_response()
        }
        Ok(Completion::Invalid(errors)) => render(&state, &signed, &id, &posted, &errors)
            .await
            .into_response(),
        Ok(Completion::Failed { run, error }) => {
            let body = html! {
                h1 { "The submission failed" }
                p.notice.error role="alert" {
                    "The screen flow failed on your answers, so the step failed: "
                    (error.lines().next().unwrap_or_default())
                    ". The run is " (run.status) "; an operator can fix the flow and resume it."
                }
                p { a href=(signed.urls().inbox()) { "Back to the inbox" } }
            };
            Page::ok(layout(
                signed.urls(),
                "Submission failed",
                Some(&signed),
                body,
            ))
            .with_status(StatusCode::BAD_GATEWAY)
            .into_response()
        }
        Err(error) => engine_refusal(&signed, &error).into_response(),
    }
}

/// An engine error as a page, with the status the API would answer.
pub fn engine_refusal(signed: &Signed, error: &EngineError) -> Page {
    let status = match error {
        EngineError::NotFound(_) => StatusCode::NOT_FOUND,
        EngineError::Forbidden(_) => StatusCode::FORBIDDEN,
        EngineError::Refused(_) | EngineError::Conflict(_) | EngineError::KeyInUse(_) => {
            StatusCode::CONFLICT
        }
        EngineError::KeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        EngineError::BadRequest(_) => StatusCode::BAD_REQUEST,
        EngineError::FlowFailed(_) => StatusCode::BAD_GATEWAY,
        EngineError::Unavailable(_) | EngineError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    refusal(signed.urls(), status, Some(signed), &error.to_string())
}
