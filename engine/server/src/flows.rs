//! Flows: deploy a version from uploaded component bytes, list, activate.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{Admin, ApiBytes, ApiPath, ApiQuery};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use stagecraft_api_model::{DeployFlowQuery, DeployedFlow};
use stagecraft_engine::FlowKind;
use stagecraft_store::FlowRecord;

/// `GET /flows`: every version of every flow.
pub async fn list(
    State(state): State<AppState>,
    Admin(_caller): Admin,
) -> ApiResult<Json<Vec<FlowRecord>>> {
    Ok(Json(state.engine.flows().await?))
}

/// `GET /flows/{name}`: the versions of one flow.
pub async fn versions(
    State(state): State<AppState>,
    Admin(_caller): Admin,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<FlowRecord>>> {
    let versions: Vec<_> = state
        .engine
        .flows()
        .await?
        .into_iter()
        .filter(|record| record.name == name)
        .collect();
    if versions.is_empty() {
        return Err(ApiError::not_found(format!("flow {name:?} not found")));
    }
    Ok(Json(versions))
}

/// `POST /flows/{name}?kind=...&memory_mib=&resume_errored=&only_if_dry_run_passes=`
/// with the component as the raw body: deploys a new version and makes it
/// active (a hot swap); with `resume_errored`, then starts a job resuming
/// the runs whose Error came from this flow.
pub async fn deploy(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<DeployFlowQuery>,
    ApiBytes(body): ApiBytes,
) -> ApiResult<(StatusCode, Json<DeployedFlow>)> {
    let kind: FlowKind = query
        .kind
        .ok_or_else(|| {
            ApiError::bad_request(
                "missing_kind",
                "say the flow's kind: ?kind=autolaunched, evaluation or screen",
            )
        })?
        .parse()
        .map_err(|message: String| ApiError::bad_request("invalid_kind", message))?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "send the component's bytes as the request body (application/wasm)",
        ));
    }
    if query.only_if_dry_run_passes && !query.resume_errored {
        return Err(ApiError::bad_request(
            "invalid_query",
            "only_if_dry_run_passes gates resume_errored: ask for both",
        ));
    }
    let deployed = if query.resume_errored {
        let (record, job) = state
            .engine
            .deploy_and_resume(
                &name,
                kind,
                body.to_vec(),
                query.memory_mib,
                query.only_if_dry_run_passes,
                caller.name(),
            )
            .await?;
        let (resume_job, resume_error) = match job {
            Ok(job) => (Some(job), None),
            Err(error) => (None, Some(error.to_string())),
        };
        DeployedFlow {
            record,
            resume_job,
            resume_error,
        }
    } else {
        let record = state
            .engine
            .deploy_flow_with(&name, kind, body.to_vec(), query.memory_mib, caller.name())
            .await?;
        DeployedFlow {
            record,
            resume_job: None,
            resume_error: None,
        }
    };
    Ok((StatusCode::CREATED, Json(deployed)))
}

/// `POST /flows/{name}/versions/{version}/activate`: rollback or roll forward.
pub async fn activate(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath((name, version)): ApiPath<(String, u32)>,
) -> ApiResult<Json<FlowRecord>> {
    Ok(Json(
        state
            .engine
            .activate_flow(&name, version, caller.name())
            .await?,
    ))
}

/// `POST /flows/{name}/versions/{version}/lift-quarantine`: its steps run
/// again.
pub async fn lift_quarantine(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath((name, version)): ApiPath<(String, u32)>,
) -> ApiResult<Json<FlowRecord>> {
    Ok(Json(
        state
            .engine
            .lift_quarantine(&name, version, caller.name())
            .await?,
    ))
}
