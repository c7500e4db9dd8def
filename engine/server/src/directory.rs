//! Users, groups, queues, user tokens, and who the caller is.

use super::AppState;
use super::auth::{Caller, TokenError};
use super::error::{ApiError, ApiResult};
use super::extract::{Admin, ApiJson, ApiPath};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use stagecraft_api_model::{IssuedToken, Me, PutMembers, PutUser, RevokedTokens};
use stagecraft_engine::{Group, Queue, User};
use stagecraft_store::Store;

/// `GET /me`: the caller, with their groups and queues.
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Me>> {
    Ok(Json(match caller {
        Caller::Admin => Me::Admin,
        Caller::User(user) => {
            let memberships = state.engine.store().memberships(&user).await?;
            Me::User {
                user,
                groups: memberships.groups,
                queues: memberships.queues,
            }
        }
    }))
}

/// `GET /users`.
pub async fn users(
    State(state): State<AppState>,
    Admin(_caller): Admin,
) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(state.engine.store().directory().await?.0))
}

/// `GET /groups`.
pub async fn groups(
    State(state): State<AppState>,
    Admin(_caller): Admin,
) -> ApiResult<Json<Vec<Group>>> {
    Ok(Json(state.engine.store().directory().await?.1))
}

/// `GET /queues`.
pub async fn queues(
    State(state): State<AppState>,
    Admin(_caller): Admin,
) -> ApiResult<Json<Vec<Queue>>> {
    Ok(Json(state.engine.store().directory().await?.2))
}

/// `PUT /users/{id}`: creates or replaces a user.
pub async fn put_user(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PutUser>,
) -> ApiResult<Json<User>> {
    let user = User {
        id,
        name: body.name,
        status: body.status,
    };
    state.engine.put_user(user.clone(), caller.name()).await?;
    Ok(Json(user))
}

/// `PUT /groups/{id}`: creates or replaces a group and its members.
pub async fn put_group(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PutMembers>,
) -> ApiResult<Json<Group>> {
    check_members(&state, &body.members).await?;
    let group = Group {
        id,
        name: body.name,
        members: body.members,
    };
    state.engine.put_group(group.clone(), caller.name()).await?;
    Ok(Json(group))
}

/// `PUT /queues/{id}`: creates or replaces a queue and its members.
pub async fn put_queue(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PutMembers>,
) -> ApiResult<Json<Queue>> {
    check_members(&state, &body.members).await?;
    let queue = Queue {
        id,
        name: body.name,
        members: body.members,
    };
    state.engine.put_queue(queue.clone(), caller.name()).await?;
    Ok(Json(queue))
}

async fn check_members(state: &AppState, members: &[String]) -> ApiResult<()> {
    for member in members {
        if state.engine.store().user(member).await?.is_none() {
            return Err(ApiError::bad_request(
                "unknown_member",
                format!("user {member:?} does not exist; create it first"),
            ));
        }
    }
    Ok(())
}

/// `POST /users/{id}/tokens`: issues a token for the user, shown only in
/// this response. The store keeps its hash, with the audit record.
pub async fn issue_token(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let token = state
        .tokens
        .issue(&state.engine, &id, caller.name())
        .await
        .map_err(token_error)?;
    tracing::info!(user = id, "token issued");
    Ok((StatusCode::CREATED, Json(IssuedToken { user: id, token })))
}

/// `DELETE /users/{id}/tokens`: revokes every token of the user.
pub async fn revoke_tokens(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RevokedTokens>> {
    let revoked = state
        .tokens
        .revoke(&state.engine, &id, caller.name())
        .await
        .map_err(token_error)?;
    tracing::info!(user = id, revoked, "tokens revoked");
    Ok(Json(RevokedTokens { user: id, revoked }))
}

fn token_error(error: TokenError) -> ApiError {
    match error {
        TokenError::Engine(error) => error.into(),
        other => ApiError::internal(other),
    }
}
