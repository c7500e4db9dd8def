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
mod urls;
mod work;

pub use session::Sessions;

use super::{AppState, MAX_COMPONENT};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{get, post};
use urls::route;

/// The console's routes (outside the bearer-token API), relative to the
/// prefix it is nested at.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(route::HOME, get(work::home))
        .route(
            route::SIGN_IN,
            get(session::sign_in_page).post(session::sign_in),
        )
        .route(route::SIGN_OUT, post(session::sign_out))
        .route(route::INBOX, get(work::inbox))
        .route(route::WORK, get(work::show).post(work::complete))
        .route(route::RUNS, get(runs::list))
        .route(route::RESUME_ALL, post(runs::resume_all))
        .route(route::RUN, get(runs::show))
        .route(route::RUN_ACT, post(runs::act))
        .route(
            route::RUN_DRY_RUN,
            post(runs::dry_run.layer(DefaultBodyLimit::max(MAX_COMPONENT))),
        )
        .route(route::JOB, get(jobs::show))
        .route(
            route::FLOWS,
            get(catalog::flows)
                .post(catalog::deploy_flow.layer(DefaultBodyLimit::max(MAX_COMPONENT))),
        )
        .route(route::FLOW_ACTIVATE, post(catalog::activate_flow))
        .route(route::FLOW_LIFT, post(catalog::lift_quarantine))
        .route(
            route::ORCHESTRATIONS,
            get(catalog::orchestrations).post(catalog::deploy_orchestration),
        )
        .route(route::ORCHESTRATION, get(catalog::orchestration))
        .route(route::AUDIT, get(jobs::audit))
        .route(route::ASSET, get(assets::serve))
}
