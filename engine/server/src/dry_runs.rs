//! Dry-runs: a candidate flow version tried against recorded inputs (of one
//! step, of the failure that stopped a run, or of every run a filter
//! selects), committing nothing.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{Admin, ApiBytes, ApiPath, ApiQuery};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use stagecraft_api_model::{DryRunQuery, SelectionQuery};
use stagecraft_core::run::RunId;
use stagecraft_engine::{Candidate, DryRun, RepairFilter, Resumable, SelectionDryRun};

/// `POST /runs/{id}/steps/{stage.step}/dry-run?version=N`, with an optional
/// component as the raw body: tries that version (the active one by
/// default), or the uploaded component, against the step's last attempt's
/// inputs. The run is not changed.
pub async fn step(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath((id, step)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<DryRunQuery>,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<DryRun>> {
    let candidate = candidate(query.version, body)?;
    let Some((stage, step)) = step.split_once('.') else {
        return Err(ApiError::bad_request(
            "invalid_path",
            format!("{step:?} names no step; write stage.step, e.g. scoring.score"),
        ));
    };
    let dry_run = state
        .engine
        .dry_run(&RunId(id), Some((stage, step)), candidate, caller.name())
        .await?;
    Ok(Json(dry_run))
}

/// `POST /runs/{id}/dry-run?version=N`, with an optional component as the
/// raw body: tries it against the invocation whose failure stopped the run
/// (a step's flow, or an evaluation flow of a condition).
pub async fn failure(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<DryRunQuery>,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<DryRun>> {
    let candidate = candidate(query.version, body)?;
    let dry_run = state
        .engine
        .dry_run(&RunId(id), None, candidate, caller.name())
        .await?;
    Ok(Json(dry_run))
}

/// `POST /runs/dry-run?flow=X&version=N&...filter`, with an optional
/// component as the raw body: tries it against the failed invocation of
/// every run in Error the filter selects; answers how many would succeed,
/// and how the others fail, grouped. Nothing is resumed.
pub async fn selection(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiQuery(query): ApiQuery<SelectionQuery>,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<SelectionDryRun>> {
    let candidate = candidate(query.version, body)?;
    let filter = RepairFilter {
        status: Resumable::Error,
        orchestration: query.orchestration,
        version: query.orchestration_version,
        stage: query.stage,
        step: query.step,
        flow: Some(query.flow),
        flow_version: query.flow_version,
        failure: query.failure,
        started_after: query.started_after,
        started_before: query.started_before,
    };
    Ok(Json(
        state
            .engine
            .dry_run_selection(&filter, candidate, caller.name())
            .await?,
    ))
}

/// A deployed version, or the uploaded component; not both.
fn candidate(version: Option<u32>, body: Bytes) -> ApiResult<Candidate> {
    match (version, body.is_empty()) {
        (version, true) => Ok(Candidate::Deployed(version)),
        (None, false) => Ok(Candidate::Component(body.to_vec())),
        (Some(_), false) => Err(ApiError::bad_request(
            "bad_request",
            "try either a deployed version (?version=N) or an uploaded component, not both",
        )),
    }
}
