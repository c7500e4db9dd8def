//! The audit log: who did what, to what, when, and how it ended.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{Admin, ApiQuery};
use axum::Json;
use axum::extract::State;
use stagecraft_api_model::{AuditPage, AuditQuery};
use stagecraft_engine::{AuditAction, AuditFilter};

/// `GET /audit?actor=&action=&target=&since=&until=&before=&limit=`
/// (admin): the audit log, newest first, a page at a time.
pub async fn list(
    State(state): State<AppState>,
    Admin(_caller): Admin,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let action = query
        .action
        .map(|name| {
            AuditAction::parse(&name).ok_or_else(|| {
                let known: Vec<&str> = AuditAction::ALL.iter().map(|a| a.name()).collect();
                ApiError::bad_request(
                    "invalid_query",
                    format!("unknown action {name:?}; one of {}", known.join(", ")),
                )
            })
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let records = state
        .engine
        .audit(AuditFilter {
            actor: query.actor,
            action,
            target: query.target,
            since: query.since,
            until: query.until,
            before: query.before,
            limit: Some(limit),
        })
        .await?;
    let next_before = (records.len() == limit as usize)
        .then(|| records.last().map(|entry| entry.id))
        .flatten();
    Ok(Json(AuditPage {
        records,
        next_before,
    }))
}
