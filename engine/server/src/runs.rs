//! Runs: start, list, show, history, suspend, resume, cancel, publish.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Admin, ApiJson, ApiPath, ApiQuery};
use crate::backend::Engine;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;
use stagecraft_api_model::{LogsQuery, PublishEvent, RunsQuery, StartRun, WaitQuery};
use stagecraft_core::run::{Milestone, Run, RunId, RunStatus, WorkItemStatus};
use stagecraft_engine::{RunFilter, StepLog};
use stagecraft_store::RunSummary;
use std::sync::Arc;
use std::time::Duration;

/// The header a client names a start with, so that its retry gets the
/// first request's run instead of a second one.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The header that marks an answer as the first request's, replayed.
const REPLAYED: &str = "idempotent-replayed";

/// `POST /runs?wait_for=&timeout=`: starts a run of the active orchestration
/// version (201); with an `Idempotency-Key` its caller used before, answers
/// with that first request's run instead (200, `Idempotent-Replayed: true`).
/// With `wait_for`, answers once the run reaches that point (or the timeout
/// passes).
pub async fn start(
    State(state): State<AppState>,
    Admin(caller): Admin,
    request: HeaderMap,
    ApiQuery(wait): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<StartRun>,
) -> ApiResult<(StatusCode, HeaderMap, Json<Run>)> {
    let wait = Wait::parse(wait)?;
    let key = idempotency_key(&request)?;
    let (status, run) = match key {
        None => {
            let run = state
                .engine
                .start_run(&body.orchestration, body.inputs, caller.name())
                .await?;
            (StatusCode::CREATED, run)
        }
        Some(key) => {
            let started = state
                .engine
                .start_run_once(&body.orchestration, body.inputs, caller.name(), key)
                .await?;
            let status = if started.first {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, started.run)
        }
    };
    let (mut headers, run) = match wait {
        Some(wait) => wait.wait(&state, run).await?,
        None => (HeaderMap::new(), run),
    };
    if status == StatusCode::OK {
        headers.insert(REPLAYED, HeaderValue::from_static("true"));
    }
    Ok((status, headers, Json(for_people(Arc::unwrap_or_clone(run)))))
}

/// The request's `Idempotency-Key`, if it has one.
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<&str>> {
    let mut keys = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(key) = keys.next() else {
        return Ok(None);
    };
    if keys.next().is_some() {
        return Err(ApiError::bad_request(
            "bad_request",
            "send one Idempotency-Key header, not several",
        ));
    }
    key.to_str().map(Some).map_err(|_| {
        ApiError::bad_request(
            "bad_request",
            "an Idempotency-Key is 1 to 255 visible ASCII characters",
        )
    })
}

/// `GET /runs?status=&orchestration=&version=&stage=&limit=`: newest first.
pub async fn list(
    State(state): State<AppState>,
    Admin(_caller): Admin,
    ApiQuery(query): ApiQuery<RunsQuery>,
) -> ApiResult<Json<Vec<RunSummary>>> {
    let runs = state
        .engine
        .runs(RunFilter {
            status: query.status,
            orchestration: query.orchestration,
            version: query.version,
            stage: query.stage,
            limit: query.limit,
            ..RunFilter::default()
        })
        .await?;
    Ok(Json(runs))
}

/// `GET /runs/{id}?wait_for=&timeout=`: the run with its stages, steps,
/// outputs and work items; with `wait_for`, once it reaches that point (or
/// the timeout passes).
pub async fn show(
    State(state): State<AppState>,
    Admin(_caller): Admin,
    ApiPath(id): ApiPath<String>,
    ApiQuery(wait): ApiQuery<WaitQuery>,
) -> ApiResult<(HeaderMap, Json<Run>)> {
    let wait = Wait::parse(wait)?;
    let run = state.engine.run(&RunId(id)).await?;
    let (headers, run) = match wait {
        Some(wait) => wait.wait(&state, run).await?,
        None => (HeaderMap::new(), run),
    };
    Ok((headers, Json(for_people(Arc::unwrap_or_clone(run)))))
}

/// `GET /runs/{id}/history`: the run's milestones, oldest first.
pub async fn history(
    State(state): State<AppState>,
    Admin(_caller): Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Vec<Milestone>>> {
    let run = state.engine.run(&RunId(id)).await?;
    Ok(Json(for_people(Arc::unwrap_or_clone(run)).history))
}

/// `GET /runs/{id}/logs?attempt=`: what every step's flow printed and
/// logged, per attempt, oldest first.
pub async fn logs(
    State(state): State<AppState>,
    Admin(_caller): Admin,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<LogsQuery>,
) -> ApiResult<Json<Vec<StepLog>>> {
    step_logs(&state, RunId(id), None, query.attempt).await
}

/// `GET /runs/{id}/steps/{stage.step}/logs?attempt=`: one step's logs.
pub async fn step_logs_route(
    State(state): State<AppState>,
    Admin(_caller): Admin,
    ApiPath((id, step)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<LogsQuery>,
) -> ApiResult<Json<Vec<StepLog>>> {
    let Some((stage, step)) = step.split_once('.') else {
        return Err(ApiError::bad_request(
            "invalid_path",
            format!("{step:?} names no step; write stage.step, e.g. scoring.score"),
        ));
    };
    let step = (stage.to_owned(), step.to_owned());
    step_logs(&state, RunId(id), Some(step), query.attempt).await
}

async fn step_logs(
    state: &AppState,
    id: RunId,
    step: Option<(String, String)>,
    attempt: Option<u32>,
) -> ApiResult<Json<Vec<StepLog>>> {
    let run = state.engine.run(&id).await?;
    if let Some((stage, name)) = &step {
        let exists = run
            .stages
            .iter()
            .any(|s| &s.stage == stage && s.steps.iter().any(|st| &st.name == name));
        if !exists {
            return Err(ApiError::not_found(format!(
                "step {stage}.{name} of run {id} has not run"
            )));
        }
    }
    let logs = state
        .engine
        .step_logs(&id)
        .await?
        .into_iter()
        .filter(|log| {
            step.as_ref()
                .is_none_or(|(stage, name)| &log.step.stage == stage && &log.step.step == name)
        })
        .filter(|log| attempt.is_none_or(|attempt| log.attempt == attempt))
        .collect();
    Ok(Json(logs))
}

/// Milestones of the system name the system principal as their actor, as
/// SPEC's records do ([`Milestone::actor_name`]).
fn for_people(mut run: Run) -> Run {
    for milestone in &mut run.history {
        if milestone.actor.is_none() {
            milestone.actor = Some(milestone.actor_name().to_owned());
        }
    }
    run
}

/// The longest a request may wait for a run.
const MAX_WAIT: Duration = Duration::from_secs(300);

/// What a request waits for.
#[derive(Debug, Clone, Copy)]
enum Until {
    /// No longer In Progress.
    Settled,
    /// Settled, or waiting for a person (an open work item).
    Resting,
    /// This status.
    Status(RunStatus),
}

/// A parsed [`WaitQuery`].
pub struct Wait {
    until: Until,
    timeout: Duration,
}

impl Wait {
    /// What `query` asks to wait for, if anything.
    pub(crate) fn parse(query: WaitQuery) -> ApiResult<Option<Wait>> {
        let Some(wait_for) = query.wait_for else {
            if query.timeout.is_some() {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    "timeout needs wait_for",
                ));
            }
            return Ok(None);
        };
        let until = match wait_for.as_str() {
            "settled" => Until::Settled,
            "resting" => Until::Resting,
            other => Until::Status(
                serde_json::from_value(Value::String(other.to_owned())).map_err(|_| {
                    ApiError::bad_request(
                        "invalid_query",
                        format!(
                            "wait_for={other:?}: use settled, resting, or a status \
                             (in_progress, completed, suspended, canceled, error)"
                        ),
                    )
                })?,
            ),
        };
        let timeout = match query.timeout {
            None => DEFAULT_WAIT,
            Some(text) => parse_timeout(&text)?,
        };
        Ok(Some(Wait { until, timeout }))
    }
}

/// How long a wait lasts when the request does not say.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// `30s`, `2m`, `1500ms`, or plain seconds; at most [`MAX_WAIT`].
pub fn parse_timeout(text: &str) -> ApiResult<Duration> {
    let invalid = || {
        ApiError::bad_request(
            "invalid_query",
            format!("timeout={text:?}: use a duration such as 30s, 2m or 1500ms, at most 300s"),
        )
    };
    let duration = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let span: jiff::Span = text.parse().map_err(|_| invalid())?;
            let signed = span
                .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
                .map_err(|_| invalid())?;
            Duration::try_from(signed).map_err(|_| invalid())?
        }
    };
    if duration > MAX_WAIT {
        return Err(invalid());
    }
    Ok(duration)
}

impl Wait {
    /// Waits until the run reaches the point asked for, at most the timeout.
    /// The `Stagecraft-Wait` header says `met` or `timeout`.
    /// A server that is stopping ends the wait at once (as a timeout), so
    /// that a graceful shutdown is not held up by long polls.
    async fn wait(&self, state: &AppState, run: Arc<Run>) -> ApiResult<(HeaderMap, Arc<Run>)> {
        let engine: &Engine = &state.engine;
        let until = self.until;
        let reached = move |run: &Run| match until {
            Until::Settled => run.status != RunStatus::InProgress,
            Until::Resting => {
                run.status != RunStatus::InProgress
                    || run
                        .work_items
                        .iter()
                        .any(|item| item.status == WorkItemStatus::Assigned)
            }
            Until::Status(status) => run.status == status,
        };
        let (outcome, run) = if reached(&run) {
            ("met", run)
        } else {
            let mut stopping = state.stopping.clone();
            let waited = tokio::select! {
                waited = tokio::time::timeout(self.timeout, engine.wait_for(&run.id, reached)) => waited.ok(),
                _ = stopping.wait_for(|stopping| *stopping) => None,
            };
            match waited {
                Some(run) => ("met", run?),
                None => ("timeout", engine.run(&run.id).await?),
            }
        };
        let mut headers = HeaderMap::new();
        headers.insert(WAIT_HEADER, HeaderValue::from_static(outcome));
        Ok((headers, run))
    }
}

/// Whether a wait was met or timed out.
pub const WAIT_HEADER: &str = "stagecraft-wait";

/// `POST /runs/{id}/suspend`.
pub async fn suspend(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Run>> {
    control(&state, &caller, id, Control::Suspend).await
}

/// `POST /runs/{id}/resume`: a suspended run, or one in recoverable Error.
pub async fn resume(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Run>> {
    control(&state, &caller, id, Control::Resume).await
}

/// `POST /runs/{id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<String>,
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
    id: String,
    action: Control,
) -> ApiResult<Json<Run>> {
    let id = RunId(id);
    let engine = &state.engine;
    let by = caller.name();
    let run = match action {
        Control::Suspend => engine.suspend(&id, by).await,
        Control::Resume => engine.resume(&id, by).await,
        Control::Cancel => engine.cancel(&id, by).await,
    }?;
    Ok(Json(for_people(Arc::unwrap_or_clone(run))))
}

/// `POST /runs/{id}/events`: publishes an orchestration event to the run.
pub async fn publish(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PublishEvent>,
) -> ApiResult<Json<Run>> {
    let id = RunId(id);
    let result = state
        .engine
        .publish_event(&id, &body.name, caller.name())
        .await;
    Ok(Json(Arc::unwrap_or_clone(result?)))
}
