//! Work items: a user's open items, one item with its form, completion.
//! Ids look like `<run id>/wi-<n>`, so they sit in the path as two
//! segments: `/work-items/<run id>/wi-<n>`.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use stagecraft_api_model::{Answers, Completed, ShownWorkItem, WorkItemsQuery};
use stagecraft_core::run::{RunId, WorkItemId, WorkItemStatus};
use stagecraft_engine::Completion;
use stagecraft_store::{Store, WorkItemFilter, WorkItemRecord};
use std::sync::Arc;

/// `GET /work-items`: a user's open items (assigned to them or their groups
/// and queues); for the admin, every open item.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<WorkItemsQuery>,
) -> ApiResult<Json<Vec<WorkItemRecord>>> {
    let run = query.run.map(RunId);
    let items = match caller {
        Caller::Admin => {
            state
                .engine
                .store()
                .work_items(WorkItemFilter {
                    assignees: Vec::new(),
                    open_only: true,
                    run,
                })
                .await?
        }
        Caller::User(user) => state
            .engine
            .work_items_for(&user)
            .await?
            .into_iter()
            .filter(|item| run.as_ref().is_none_or(|run| item.run == *run))
            .collect(),
    };
    Ok(Json(items))
}

/// `GET /work-items/{run}/{item}`: one item; its assignee also gets the form.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<Json<ShownWorkItem>> {
    let id = work_item_id(path);
    let store = state.engine.store();
    let record = store
        .work_item(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("work item {id} not found")))?;
    let form = match &caller {
        Caller::Admin => Value::Null,
        Caller::User(user) => {
            let actor = state.engine.actor(user).await?;
            if !actor.may_work_on(&record.item.assignee) {
                return Err(ApiError::forbidden(format!(
                    "work item {id} is not assigned to {user} nor to a group or queue of theirs"
                )));
            }
            if record.item.status == WorkItemStatus::Assigned {
                json!(state.engine.work_item_form(&id, user).await?)
            } else {
                Value::Null
            }
        }
    };
    Ok(Json(ShownWorkItem { record, form }))
}

/// `POST /work-items/{run}/{item}/complete` with `{"answers": {...}}`:
/// the assignee (or a member of its group or queue) completes it.
pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Answers>,
) -> ApiResult<Json<Completed>> {
    let id = work_item_id(path);
    let Caller::User(user) = caller else {
        return Err(ApiError::refused_role(
            "work items are completed by their assignees, with a user token",
        ));
    };
    match state
        .engine
        .complete_work_item(&id, &user, body.answers)
        .await?
    {
        Completion::Completed(run) => Ok(Json(Completed {
            run: Arc::unwrap_or_clone(run),
        })),
        Completion::Invalid(errors) => Err(ApiError::invalid_answers(json!(errors))),
        Completion::Failed { run, error } => Err(ApiError::flow_failed(
            format!(
                "the submission failed the step ({}); the run is {}",
                error.lines().next().unwrap_or_default(),
                run.status
            ),
            Some(json!({ "run_status": run.status, "run": &*run })),
        )),
    }
}

fn work_item_id((run, item): (String, String)) -> WorkItemId {
    WorkItemId(format!("{run}/{item}"))
}
