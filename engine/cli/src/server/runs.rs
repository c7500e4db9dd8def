//! Runs: start, list, show, history, suspend, resume, cancel, publish.

use super::AppState;
use super::auth::Caller;
use super::error::ApiResult;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use stagecraft_core::run::{Milestone, Run, RunId, RunStatus};
use stagecraft_engine::RunFilter;
use stagecraft_store::RunSummary;
use std::sync::Arc;

/// The body of `POST /runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    orchestration: String,
    #[serde(default = "empty_object")]
    inputs: Value,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// `POST /runs`: starts a run of the active orchestration version.
pub async fn start(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<StartRun>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Run>)> {
    caller.admin()?;
    let Json(body) = body?;
    let run = state
        .engine
        .start_run(&body.orchestration, body.inputs)
        .await?;
    Ok((StatusCode::CREATED, Json(Arc::unwrap_or_clone(run))))
}

/// The query of `GET /runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<RunStatus>,
    orchestration: Option<String>,
    limit: Option<u32>,
}

/// `GET /runs?status=&orchestration=&limit=`: newest first.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<RunSummary>>> {
    caller.admin()?;
    let Query(query) = query?;
    let runs = state
        .engine
        .runs(RunFilter {
            status: query.status,
            orchestration: query.orchestration,
            limit: query.limit,
        })
        .await?;
    Ok(Json(runs))
}

/// `GET /runs/{id}`: the run with its stages, steps, outputs and work items.
pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Run>> {
    caller.admin()?;
    let Path(id) = id?;
    Ok(Json(Arc::unwrap_or_clone(
        state.engine.run(&RunId(id)).await?,
    )))
}

/// `GET /runs/{id}/history`: the run's milestones, oldest first.
pub async fn history(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Vec<Milestone>>> {
    caller.admin()?;
    let Path(id) = id?;
    let run = state.engine.run(&RunId(id)).await?;
    Ok(Json(run.history.clone()))
}

/// `POST /runs/{id}/suspend`.
pub async fn suspend(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Run>> {
    control(&state, &caller, id, Control::Suspend).await
}

/// `POST /runs/{id}/resume`: a suspended run, or one in recoverable Error.
pub async fn resume(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Run>> {
    control(&state, &caller, id, Control::Resume).await
}

/// `POST /runs/{id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Run>> {
    control(&state, &caller, id, Control::Cancel).await
}

/// A manual action on a run.
#[derive(Debug, Clone, Copy)]
enum Control {
    Suspend,
    Resume,
    Cancel,
}

/// Performs `action` on the run as the admin, who alone may control runs.
async fn control(
    state: &AppState,
    caller: &Caller,
    id: Result<Path<String>, PathRejection>,
    action: Control,
) -> ApiResult<Json<Run>> {
    caller.admin()?;
    let Path(id) = id?;
    let id = RunId(id);
    let engine = &state.engine;
    let run = match action {
        Control::Suspend => engine.suspend(&id, "admin").await,
        Control::Resume => engine.resume(&id, "admin").await,
        Control::Cancel => engine.cancel(&id, "admin").await,
    }?;
    Ok(Json(Arc::unwrap_or_clone(run)))
}

/// The body of `POST /runs/{id}/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishEvent {
    name: String,
}

/// `POST /runs/{id}/events`: publishes an orchestration event to the run.
pub async fn publish(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<PublishEvent>, JsonRejection>,
) -> ApiResult<Json<Run>> {
    caller.admin()?;
    let Path(id) = id?;
    let Json(body) = body?;
    let id = RunId(id);
    let result = state.engine.publish_event(&id, &body.name).await;
    Ok(Json(Arc::unwrap_or_clone(result?)))
}
