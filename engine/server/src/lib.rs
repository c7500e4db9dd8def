//! Stagecraft's HTTP JSON API (bearer tokens, `/openapi.json`) and its web
//! console, as [`axum::Router`]s an embedder mounts into its own app, and
//! [`serve`], which runs them on their own listener as `stagecraft serve`
//! does.
//!
//! ```no_run
//! # async fn embed() -> Result<(), Box<dyn std::error::Error>> {
//! use stagecraft_engine::{EngineBuilder, EngineConfig};
//! use stagecraft_server::{Auth, Backend, Server};
//!
//! let engine = Backend::open(EngineBuilder::new(EngineConfig::new("./data")), None).await?;
//! let server = Server::new(engine, Auth::new("a-long-random-admin-token", "./data")).await?;
//! let app = axum::Router::new()
//!     .nest("/stagecraft", server.api())
//!     .nest("/console", server.console());
//! # let _ = app; Ok(()) }
//! ```

mod audit;
mod auth;
pub mod backend;
#[cfg(feature = "console")]
mod console;
mod directory;
mod dry_runs;
mod error;
mod extract;
mod flows;
mod jobs;
mod nul;
mod orchestrations;
mod rate_limit;
mod runs;
mod work_items;

pub use backend::{Backend, Engine};
pub use rate_limit::RateLimit;

use auth::Tokens;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use axum::{Router, middleware};
use error::ApiError;
use serde_json::json;
use stagecraft_engine::{EngineBuilder, EngineConfig, EngineError};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The OpenAPI document of this API, kept in the repository.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Where [`Server::router`] mounts the console.
pub const CONSOLE_AT: &str = "/ui";

/// Largest flow component accepted, in bytes.
const MAX_COMPONENT: usize = 64 * 1024 * 1024;

/// Why a server could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The engine could not be opened on its store.
    #[error("opening the engine {on}: {report}")]
    Engine {
        /// Where: in a data directory, or on PostgreSQL.
        on: String,
        /// The error with its sources, in one line.
        report: String,
    },
    /// The tokens could not be loaded, or the admin token generated.
    #[error(transparent)]
    Tokens(#[from] auth::TokenError),
    /// The address could not be listened on.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The failure.
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

/// What the handlers share.
#[derive(Clone)]
struct AppState {
    engine: Engine,
    tokens: Arc<Tokens>,
    /// The console's sessions.
    #[cfg(feature = "console")]
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

/// How callers authenticate.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The admin token: every right, for bootstrap and automation.
    pub admin_token: String,
    /// Where an earlier version's `tokens.json` may be, to import once.
    pub data_dir: PathBuf,
    /// Requests per second allowed to each token.
    pub rate_limit: RateLimit,
}

impl Auth {
    /// `admin_token`, with the default rate limits.
    pub fn new(admin_token: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            admin_token: admin_token.into(),
            data_dir: data_dir.into(),
            rate_limit: RateLimit::default(),
        }
    }
}

/// The API and the console of one engine, to mount. The routers it gives
/// hold handles on the engine: drop them and the `Server` before
/// `Engine::shutdown`, which waits for every handle.
pub struct Server {
    state: AppState,
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Server {
    /// Serves `engine`, authenticating callers by `auth`.
    pub async fn new(engine: Engine, auth: Auth) -> Result<Self, ServerError> {
        let tokens = Arc::new(Tokens::open(&engine, &auth.data_dir, &auth.admin_token).await?);
        let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
        let rate_limits = Arc::new(rate_limit::RateLimits::new(auth.rate_limit));
        forget_idle_callers(Arc::downgrade(&rate_limits));
        Ok(Self {
            state: AppState {
                engine,
                tokens,
                #[cfg(feature = "console")]
                sessions: Arc::default(),
                stopping,
                rate_limits,
            },
            stopping: stopping_tx,
        })
    }

    /// The engine served.
    pub fn engine(&self) -> &Engine {
        &self.state.engine
    }

    /// The JSON API: every route of `/openapi.json`, behind bearer tokens
    /// but `/openapi.json` itself. Unknown paths and methods under it are
    /// answered with the API's JSON errors, so nest it (`.nest("/api",
    /// server.api())`) or merge it into a router without a fallback.
    pub fn api(&self) -> Router {
        let protected = routes()
            .router
            .fallback(|| async { ApiError::no_route() })
            .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
            .layer(middleware::from_fn_with_state(
                self.state.clone(),
                auth::authenticate,
            ));
        let public = public_routes()
            .router
            .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() });
        public
            .merge(protected)
            .layer(middleware::from_fn(nul::refuse_nul))
            .layer(middleware::from_fn(server_timing))
            .with_state(self.state.clone())
    }

    /// The web console's pages, signed in with a session cookie. Its links,
    /// forms, redirects and cookie follow the prefix it is nested under.
    #[cfg(feature = "console")]
    pub fn console(&self) -> Router {
        console::router()
            .layer(middleware::from_fn(nul::refuse_nul))
            .layer(middleware::from_fn(server_timing))
            .with_state(self.state.clone())
    }

    /// What `stagecraft serve` answers: the API at the root and the console
    /// at [`CONSOLE_AT`], where `/` (and `/ui/`) lead.
    pub fn router(&self) -> Router {
        let router = Router::new();
        #[cfg(feature = "console")]
        let router = {
            let to_console = || async { axum::response::Redirect::to(CONSOLE_AT) };
            router
                .route("/", axum::routing::get(to_console))
                .route(&format!("{CONSOLE_AT}/"), axum::routing::get(to_console))
                .nest(CONSOLE_AT, self.console())
        };
        router.merge(self.api())
    }

    /// Tells requests that wait (`wait_for`, `Stagecraft-Wait`) to answer at
    /// once: the server is stopping.
    pub fn stop_waiting(&self) {
        let _ = self.stopping.send(true);
    }
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
    served: Server,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

/// Opens the engine in the data directory (or on PostgreSQL) and serves
/// the API and the console on `config.addr`, as `stagecraft serve` does.
pub async fn serve(config: ServerConfig) -> Result<Running, ServerError> {
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
    let database = config.database.map(|url| (url, config.lease_ttl));
    let engine = Backend::open(
        builder,
        database.as_ref().map(|(url, ttl)| (url.as_str(), *ttl)),
    )
    .await
    .map_err(|error| ServerError::Engine {
        on: match &database {
            Some(_) => "on PostgreSQL".to_owned(),
            None => format!("in {}", data_dir.display()),
        },
        // With its sources: "storage unavailable" alone helps no one.
        report: match error {
            EngineError::Store(store) => store.report(),
            other => other.to_string(),
        },
    })?;
    let served = Server::new(
        engine.clone(),
        Auth {
            admin_token,
            data_dir: data_dir.clone(),
            rate_limit: config.rate_limit,
        },
    )
    .await?;
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| ServerError::Listen {
            addr: config.addr,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Listen {
            addr: config.addr,
            source,
        })?;
    let app = served.router();
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
        served,
        shutdown: stop,
        server,
    })
}

/// Creates the data directory, readable by this user only: it holds the
/// store and the token hashes.
fn create_private_dir(dir: &std::path::Path) -> Result<(), ServerError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| ServerError::DataDir {
        path: dir.to_owned(),
        source,
    })
}

impl Running {
    /// Serves until SIGTERM or Ctrl-C, then finishes the requests in
    /// flight, stops the engine (committing what was queued) and returns.
    pub async fn until_signal(self) -> Result<(), ServerError> {
        shutdown_signal().await;
        self.stop().await
    }

    /// Finishes the requests in flight, stops the engine (committing what
    /// was queued) and returns.
    pub async fn stop(self) -> Result<(), ServerError> {
        tracing::info!("shutting down");
        let Self {
            engine,
            served,
            shutdown,
            server,
            ..
        } = self;
        served.stop_waiting();
        let _ = shutdown.send(());
        match server.await {
            Ok(result) => result.map_err(ServerError::Serve)?,
            Err(stopped) => return Err(ServerError::Serve(std::io::Error::other(stopped))),
        }
        // The engine stops once the handlers' handles on it are gone.
        drop(served);
        let store = engine.store().clone();
        engine.shutdown().await;
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

    /// The requests and answers of the shared model are what the OpenAPI
    /// document's schemas describe: every property a model type writes is
    /// documented, and every documented property is one it writes.
    #[test]
    fn openapi_schemas_match_the_api_model() {
        use stagecraft_api_model as model;
        let document: serde_json::Value =
            serde_json::from_str(OPENAPI).expect("openapi.json parses");
        let filter = stagecraft_core::repair::RepairFilter::default();
        let samples = [
            (
                "StartRun",
                json!(model::StartRun {
                    orchestration: "loan".into(),
                    inputs: json!({})
                }),
            ),
            (
                "PublishEvent",
                json!(model::PublishEvent { name: "go".into() }),
            ),
            ("Answers", json!(model::Answers { answers: json!({}) })),
            (
                "PutUser",
                json!(model::PutUser {
                    name: "Ada".into(),
                    status: stagecraft_engine::UserStatus::Active
                }),
            ),
            (
                "PutMembers",
                json!(model::PutMembers {
                    name: "Team".into(),
                    members: vec!["ada".into()]
                }),
            ),
            (
                "IssuedToken",
                json!(model::IssuedToken {
                    user: "ada".into(),
                    token: "t".into()
                }),
            ),
            (
                "RevokedTokens",
                json!(model::RevokedTokens {
                    user: "ada".into(),
                    revoked: 1
                }),
            ),
            (
                "Me",
                json!(model::Me::User {
                    user: "ada".into(),
                    groups: vec![],
                    queues: vec![]
                }),
            ),
            (
                "ResumeRuns",
                json!(model::ResumeRuns {
                    filter,
                    only_if_dry_run_passes: true
                }),
            ),
            (
                "AuditPage",
                json!(model::AuditPage {
                    records: vec![],
                    next_before: Some(1)
                }),
            ),
        ];
        for (name, sample) in samples {
            let schema = &document["components"]["schemas"][name];
            let documented: BTreeSet<&str> = schema["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("schema {name} has properties"))
                .keys()
                .map(String::as_str)
                .collect();
            let written: BTreeSet<&str> = sample
                .as_object()
                .expect("an object")
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(written, documented, "schema {name}");
        }
    }

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
