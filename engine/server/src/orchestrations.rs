//! Orchestrations: deploy a definition, list versions, the definition schema.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{Admin, ApiJson, ApiPath};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;
use stagecraft_api_model::OrchestrationSummary;
use stagecraft_store::OrchestrationRecord;

/// An orchestration version without its definition.
fn summary(record: OrchestrationRecord) -> OrchestrationSummary {
    OrchestrationSummary {
        name: record.name,
        version: record.version,
        deployed_by: record.deployed_by,
        deployed_at: record.deployed_at.to_string(),
        active: record.active,
    }
}

/// `GET /orchestrations`: every version of every orchestration.
pub async fn list(
    State(state): State<AppState>,
    Admin(_caller): Admin,
) -> ApiResult<Json<Vec<OrchestrationSummary>>> {
    let records = state.engine.orchestrations().await?;
    Ok(Json(records.into_iter().map(summary).collect()))
}

/// `POST /orchestrations` with the JSON definition: deploys a new version.
pub async fn deploy(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiJson(definition): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<OrchestrationRecord>)> {
    let record = state
        .engine
        .deploy_orchestration(definition, caller.name())
        .await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// `GET /orchestrations/{name}`: the versions of one orchestration.
pub async fn versions(
    State(state): State<AppState>,
    Admin(_caller): Admin,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<OrchestrationSummary>>> {
    let versions: Vec<_> = state
        .engine
        .orchestrations()
        .await?
        .into_iter()
        .filter(|record| record.name == name)
        .map(summary)
        .collect();
    if versions.is_empty() {
        return Err(ApiError::not_found(format!(
            "orchestration {name:?} not found"
        )));
    }
    Ok(Json(versions))
}

/// `GET /orchestrations/{name}/versions/{version}`: one version with its
/// definition.
pub async fn version(
    State(state): State<AppState>,
    Admin(_caller): Admin,
    ApiPath((name, version)): ApiPath<(String, u32)>,
) -> ApiResult<Json<OrchestrationRecord>> {
    state
        .engine
        .orchestrations()
        .await?
        .into_iter()
        .find(|record| record.name == name && record.version == version)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("orchestration {name:?} v{version} not found")))
}

/// `GET /schemas/orchestration`: the JSON Schema of definitions.
pub async fn schema(_: Admin) -> ApiResult<Json<Value>> {
    Ok(Json(stagecraft_core::json_schema()))
}
