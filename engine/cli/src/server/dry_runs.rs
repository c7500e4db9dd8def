//! Dry-runs: a candidate flow version tried against a step's recorded
//! inputs, committing nothing.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use stagecraft_core::run::RunId;
use stagecraft_engine::{Candidate, DryRun};

/// The query of a dry-run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunQuery {
    version: Option<u32>,
}

/// `POST /runs/{id}/steps/{stage.step}/dry-run?version=N`, with an optional
/// component as the raw body: tries that version (the active one by
/// default), or the uploaded component, against the step's last attempt's
/// inputs. The run is not changed.
pub async fn dry_run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<DryRunQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<DryRun>> {
    caller.admin()?;
    let Path((id, step)) = path?;
    let Query(query) = query?;
    let body = body?;
    let Some((stage, step)) = step.split_once('.') else {
        return Err(ApiError::bad_request(
            "invalid_path",
            format!("{step:?} names no step; write stage.step, e.g. scoring.score"),
        ));
    };
    let candidate = match (query.version, body.is_empty()) {
        (version, true) => Candidate::Deployed(version),
        (None, false) => Candidate::Component(body.to_vec()),
        (Some(_), false) => {
            return Err(ApiError::bad_request(
                "bad_request",
                "try either a deployed version (?version=N) or an uploaded component, not both",
            ));
        }
    };
    let dry_run = state
        .engine
        .dry_run(&RunId(id), stage, step, candidate)
        .await?;
    Ok(Json(dry_run))
}
