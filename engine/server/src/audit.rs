//! The audit log: who did what, to what, when, and how it ended.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{Admin, ApiQuery};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use stagecraft_engine::{AuditAction, AuditEntry, AuditFilter};

/// The query of `GET /audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    since: Option<jiff::Timestamp>,
    until: Option<jiff::Timestamp>,
    before: Option<u64>,
    limit: Option<u32>,
}

/// A page of the audit log.
#[derive(Debug, Serialize)]
pub struct AuditPage {
    /// The records, newest first.
    records: Vec<AuditEntry>,
    /// `before` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_before: Option<u64>,
}

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
