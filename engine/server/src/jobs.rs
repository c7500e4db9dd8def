//! Resume jobs: resume every run a filter selects, durably, server-side;
//! follow their progress; cancel them.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{Admin, ApiJson, ApiPath, ApiQuery};
use super::runs::{WAIT_HEADER, parse_timeout};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use stagecraft_api_model::{JobRunsQuery, JobsQuery, ResumeRuns, WaitQuery};
use stagecraft_engine::{JobId, JobRecord, JobRun, ResumeJob};
use std::time::Duration;

/// How long a job wait lasts when the request does not say.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// `POST /runs/resume` with `{"filter": {...}, "only_if_dry_run_passes":
/// bool}`: starts a job resuming every run the filter selects now. Answers
/// 202 with the job (its `counts.total` is the selection's size).
pub async fn resume_many(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiJson(body): ApiJson<ResumeRuns>,
) -> ApiResult<(StatusCode, Json<JobRecord>)> {
    let job = ResumeJob {
        filter: body.filter,
        only_if_dry_run_passes: body.only_if_dry_run_passes,
        deployed: None,
    };
    let record = state.engine.resume_many(job, caller.name()).await?;
    Ok((StatusCode::ACCEPTED, Json(record)))
}

/// `GET /jobs?limit=`: the latest jobs, newest first.
pub async fn list(
    State(state): State<AppState>,
    Admin(_caller): Admin,
    ApiQuery(query): ApiQuery<JobsQuery>,
) -> ApiResult<Json<Vec<JobRecord>>> {
    let limit = query.limit.unwrap_or(50).clamp(1, 1000);
    Ok(Json(state.engine.jobs(limit).await?))
}

/// `GET /jobs/{id}?wait_for=finished&timeout=30s`: a job and its progress;
/// with `wait_for`, once it completed or was canceled, or when the timeout
/// passes (the `Stagecraft-Wait` header says `met` or `timeout`).
pub async fn show(
    State(state): State<AppState>,
    Admin(_caller): Admin,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<WaitQuery>,
) -> ApiResult<(HeaderMap, Json<JobRecord>)> {
    let id = JobId(id);
    match query.wait_for.as_deref() {
        None if query.timeout.is_some() => Err(ApiError::bad_request(
            "invalid_query",
            "timeout needs wait_for",
        )),
        None => Ok((HeaderMap::new(), Json(state.engine.job(&id).await?))),
        Some("finished") => {
            let timeout = match &query.timeout {
                Some(text) => parse_timeout(text)?,
                None => DEFAULT_WAIT,
            };
            let mut stopping = state.stopping.clone();
            let waited = tokio::select! {
                waited = tokio::time::timeout(timeout, state.engine.wait_for_job(&id)) => waited.ok(),
                _ = stopping.wait_for(|stopping| *stopping) => None,
            };
            let (outcome, record) = match waited {
                Some(record) => ("met", record?),
                None => ("timeout", state.engine.job(&id).await?),
            };
            let mut headers = HeaderMap::new();
            headers.insert(WAIT_HEADER, HeaderValue::from_static(outcome));
            Ok((headers, Json(record)))
        }
        Some(other) => Err(ApiError::bad_request(
            "invalid_query",
            format!("wait_for={other:?}: a job can only be waited for until it is finished"),
        )),
    }
}

/// `GET /jobs/{id}/runs?state=refused&limit=`: the job's runs and what
/// became of each, in selection order.
pub async fn runs(
    State(state): State<AppState>,
    Admin(_caller): Admin,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<JobRunsQuery>,
) -> ApiResult<Json<Vec<JobRun>>> {
    let limit = query.limit.unwrap_or(1000).clamp(1, 100_000);
    Ok(Json(
        state
            .engine
            .job_runs(&JobId(id), query.state, limit)
            .await?,
    ))
}

/// `POST /jobs/{id}/cancel`: stops a running job; the runs it has not
/// handled stay as they are. 409 if it already ended.
pub async fn cancel(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<JobRecord>> {
    Ok(Json(
        state.engine.cancel_job(&JobId(id), caller.name()).await?,
    ))
}
