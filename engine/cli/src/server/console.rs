//! The web console: server-rendered pages for the people in the loop, on
//! the API's origin, in the same binary. A token is exchanged for a session
//! cookie at sign-in; every state-changing form carries the session's CSRF
//! token. Pages call the engine's API, never the store, and everything they
//! show is escaped (`maud` escapes by default).

mod assets;
mod catalog;
mod diagram;
mod form;
mod jobs;
mod page;
mod runs;
mod session;
mod work;

pub use session::Sessions;

use super::{AppState, MAX_COMPONENT};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::response::Redirect;
use axum::routing::{get, post};

/// The console's routes (outside the bearer-token API).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(work::home))
        .route(
            "/ui/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/ui/sign-out", post(session::sign_out))
        .route("/ui/inbox", get(work::inbox))
        .route(
            "/ui/work/{run}/{item}",
            get(work::show).post(work::complete),
        )
        .route("/ui/runs", get(runs::list))
        .route("/ui/runs/resume", post(runs::resume_all))
        .route("/ui/runs/{id}", get(runs::show))
        .route("/ui/runs/{id}/act", post(runs::act))
        .route(
            "/ui/runs/{id}/dry-run",
            post(runs::dry_run.layer(DefaultBodyLimit::max(MAX_COMPONENT))),
        )
        .route("/ui/jobs/{id}", get(jobs::show))
        .route(
            "/ui/flows",
            get(catalog::flows)
                .post(catalog::deploy_flow.layer(DefaultBodyLimit::max(MAX_COMPONENT))),
        )
        .route("/ui/flows/{name}/activate", post(catalog::activate_flow))
        .route(
            "/ui/flows/{name}/lift-quarantine",
            post(catalog::lift_quarantine),
        )
        .route(
            "/ui/orchestrations",
            get(catalog::orchestrations).post(catalog::deploy_orchestration),
        )
        .route(
            "/ui/orchestrations/{name}/{version}",
            get(catalog::orchestration),
        )
        .route("/ui/audit", get(jobs::audit))
        .route("/ui/assets/{name}", get(assets::serve))
}
