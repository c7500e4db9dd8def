//! `stagecraft serve`: the engine behind an HTTP JSON API.

mod audit;
mod auth;
mod console;
mod directory;
mod dry_runs;
mod error;
mod flows;
mod jobs;
mod nul;
mod orchestrations;
mod rate_limit;
mod runs;
mod work_items;

pub use rate_limit::RateLimit;

use crate::backend::{self, Engine};
use anyhow::{Context, Result};
use auth::Tokens;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use axum::{Router, middleware};
use error::ApiError;
use serde_json::json;
use stagecraft_engine::{EngineBuilder, EngineConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The OpenAPI document of this API, kept in the repository.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Largest flow component accepted, in bytes.
const MAX_COMPONENT: usize = 64 * 1024 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    engine: Engine,
    tokens: Arc<Tokens>,
    /// The console's sessions.
    sessions: Arc<console::Sessions>,
    /// Turns true when the server is stopping: long waits answer at once.
    stopping: tokio::sync::watch::Receiver<bool>,
    /// Each caller's request rate.
    rate_limits: Arc<rate_limit::RateLimits>,
}

/// Forgets the rate buckets of idle callers every minute, while the
/// server's state lives.
fn forget_idle_callers(limits: std::sync::Weak<rate_limit::RateLimits>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            ticks.tick().await;
            match limits.upgrade() {
                Some(limits) => limits.forget_idle(),
                None => return,
            }
        }
    });
}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free one.
    pub addr: SocketAddr,
    /// The engine's settings; its data directory also holds the token file.
    pub engine: EngineConfig,
    /// The admin token; `None` generates one.
    pub admin_token: Option<String>,
    /// Registers the example external actions (`book_loan`).
    pub example_actions: bool,
    /// A PostgreSQL URL; `None` keeps the store in the data directory.
    pub database: Option<String>,
    /// On PostgreSQL, how long this node's lease lasts without renewal.
    pub lease_ttl: std::time::Duration,
    /// Requests per second allowed to each token.
    pub rate_limit: RateLimit,
}

/// A server accepting requests.
pub struct Running {
    /// Its base URL, e.g. `http://127.0.0.1:7878`.
    pub url: String,
    /// The admin token, when it was generated rather than configured.
    pub generated_admin_token: Option<String>,
    /// The engine it serves.
    pub engine: Engine,
    stop: oneshot::Sender<()>,
    stopping: tokio::sync::watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
}

/// Opens the engine in the data directory and starts serving.
pub async fn start(config: ServerConfig) -> Result<Running> {
    let (admin_token, generated) = match config.admin_token {
        Some(token) if !token.trim().is_empty() => (token, None),
        _ => {
            let token = auth::generate("sc_admin_")?;
            (token.clone(), Some(token))
        }
    };
    let data_dir = config.engine.data_dir.clone();
    create_private_dir(&data_dir)?;
    let mut builder = EngineBuilder::new(config.engine);
    if config.example_actions {
        builder = builder.action(
            "book_loan",
            |call: stagecraft_engine::ActionCall| async move {
                let applicant = call.inputs["applicant"].as_str().unwrap_or("unknown");
                Ok(json!({ "reference": format!("LN-{applicant}") }))
            },
        );
    }
    let engine = backend::open(builder, config.database.as_deref(), config.lease_ttl)
        .await
        .map_err(|error| match error {
            // With its source: "storage unavailable" alone helps no one.
            stagecraft_engine::EngineError::Store(store) => anyhow::anyhow!(store.report()),
            other => other.into(),
        })
        .with_context(|| match &config.database {
            Some(_) => "opening the engine on PostgreSQL".to_owned(),
            None => format!("opening the engine in {}", data_dir.display()),
        })?;
    let tokens = Arc::new(Tokens::open(&engine, &data_dir, &admin_token).await?);
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("listening on {}", config.addr))?;
    let addr = listener.local_addr()?;
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let rate_limits = Arc::new(rate_limit::RateLimits::new(config.rate_limit));
    forget_idle_callers(Arc::downgrade(&rate_limits));
    let app = router(AppState {
        engine: engine.clone(),
        tokens,
        sessions: Arc::default(),
        stopping,
        rate_limits,
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(%addr, data_dir = %data_dir.display(), "serving");
    Ok(Running {
        url: format!("http://{addr}"),
        generated_admin_token: generated,
        engine,
        stop,
        stopping: stopping_tx,
        server,
    })
}

/// Creates the data directory, readable by this user only: it holds the
/// store and the token hashes.
fn create_private_dir(dir: &std::path::Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
}

impl Running {
    /// Serves until SIGTERM or Ctrl-C, then finishes the requests in
    /// flight, stops the engine (committing what was queued) and returns.
    pub async fn until_signal(self) -> Result<()> {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = self.stopping.send(true);
        let _ = self.stop.send(());
        self.server.await.context("server task")??;
        let store = self.engine.store().clone();
        self.engine.shutdown().await;
        store.leave().await;
        tracing::info!("stopped");
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Builds the router and the table of its routes at once, so the table
/// the OpenAPI test checks is the router.
struct Routes {
    router: Router<AppState>,
    table: Vec<(Method, &'static str)>,
}

impl Routes {
    fn add<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| unreachable!("only standard methods are routed"));
        self.router = self.router.route(path, on(filter, handler));
        self.table.push((method, path));
        self
    }
}

/// Every route that needs a token.
fn routes() -> Routes {
    use Method as M;
    Routes {
        router: Router::new(),
        table: Vec::new(),
    }
    .add(M::GET, "/me", directory::me)
    .add(M::GET, "/flows", flows::list)
    .add(
        M::POST,
        "/flows/{name}",
        flows::deploy.layer(DefaultBodyLimit::max(MAX_COMPONENT)),
    )
    .add(M::GET, "/flows/{name}", flows::versions)
    .add(
        M::POST,
        "/flows/{name}/versions/{version}/activate",
        flows::activate,
    )
    .add(
        M::POST,
        "/flows/{name}/versions/{version}/lift-quarantine",
        flows::lift_quarantine,
    )
    .add(M::GET, "/orchestrations", orchestrations::list)
    .add(M::POST, "/orchestrations", orchestrations::deploy)
    .add(M::GET, "/orchestrations/{name}", orchestrations::versions)
    .add(
        M::GET,
        "/orchestrations/{name}/versions/{version}",
        orchestrations::version,
    )
    .add(M::GET, "/schemas/orchestration", orchestrations::schema)
    .add(M::GET, "/runs", runs::list)
    .add(M::POST, "/runs", runs::start)
    .add(M::GET, "/runs/{id}", runs::show)
    .add(M::GET, "/runs/{id}/history", runs::history)
    .add(M::GET, "/runs/{id}/logs", runs::logs)
    .add(
        M::GET,
        "/runs/{id}/steps/{step}/logs",
        runs::step_logs_route,
    )
    .add(
        M::POST,
        "/runs/{id}/steps/{step}/dry-run",
        dry_runs::step.layer(DefaultBodyLimit::max(MAX_COMPONENT)),
    )
    .add(
        M::POST,
        "/runs/{id}/dry-run",
        dry_runs::failure.layer(DefaultBodyLimit::max(MAX_COMPONENT)),
    )
    .add(
        M::POST,
        "/runs/dry-run",
        dry_runs::selection.layer(DefaultBodyLimit::max(MAX_COMPONENT)),
    )
    .add(M::POST, "/runs/resume", jobs::resume_many)
    .add(M::GET, "/jobs", jobs::list)
    .add(M::GET, "/jobs/{id}", jobs::show)
    .add(M::GET, "/jobs/{id}/runs", jobs::runs)
    .add(M::POST, "/jobs/{id}/cancel", jobs::cancel)
    .add(M::GET, "/audit", audit::list)
    .add(M::POST, "/runs/{id}/suspend", runs::suspend)
    .add(M::POST, "/runs/{id}/resume", runs::resume)
    .add(M::POST, "/runs/{id}/cancel", runs::cancel)
    .add(M::POST, "/runs/{id}/events", runs::publish)
    .add(M::GET, "/work-items", work_items::list)
    .add(M::GET, "/work-items/{run}/{item}", work_items::show)
    .add(
        M::POST,
        "/work-items/{run}/{item}/complete",
        work_items::complete,
    )
    .add(M::GET, "/users", directory::users)
    .add(M::PUT, "/users/{id}", directory::put_user)
    .add(M::POST, "/users/{id}/tokens", directory::issue_token)
    .add(M::DELETE, "/users/{id}/tokens", directory::revoke_tokens)
    .add(M::GET, "/groups", directory::groups)
    .add(M::PUT, "/groups/{id}", directory::put_group)
    .add(M::GET, "/queues", directory::queues)
    .add(M::PUT, "/queues/{id}", directory::put_queue)
}

/// The routes anyone may call.
fn public_routes() -> Routes {
    Routes {
        router: Router::new(),
        table: Vec::new(),
    }
    .add(Method::GET, "/openapi.json", openapi)
}

fn router(state: AppState) -> Router {
    let protected = routes()
        .router
        .fallback(|| async { ApiError::no_route() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    let public = public_routes()
        .router
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() });
    // The console's pages sign people in with a session, not a bearer token.
    public
        .merge(console::router())
        .merge(protected)
        .layer(middleware::from_fn(nul::refuse_nul))
        .layer(middleware::from_fn(server_timing))
        .with_state(state)
}

/// Says how long the server took over each answer (`Server-Timing`), as
/// browsers' developer tools and the console benchmark read it.
async fn server_timing(request: axum::extract::Request, next: middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(value) = HeaderValue::from_str(&format!("app;dur={took:.2}")) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("server-timing"), value);
    }
    response
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The OpenAPI document and the router list the same routes.
    #[test]
    fn openapi_document_matches_the_router() {
        let document: serde_json::Value =
            serde_json::from_str(OPENAPI).expect("openapi.json parses");
        let mut documented = BTreeSet::new();
        for (path, operations) in document["paths"].as_object().expect("paths") {
            for method in operations.as_object().expect("operations").keys() {
                if method != "parameters" {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let routed: BTreeSet<_> = routes()
            .table
            .into_iter()
            .chain(public_routes().table)
            .map(|(method, path)| (method.to_string(), path.to_owned()))
            .collect();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from openapi.json: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "openapi.json paths the router lacks: {unrouted:?}"
        );
    }
}
