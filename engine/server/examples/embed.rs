//! An embedder's own axum app with Stagecraft inside: the JSON API nested
//! at `/stagecraft` and the console at `/console`, behind the app's own
//! middleware, next to its own routes. The engine runs in this process on
//! the embedded SQLite store.
//!
//! `cargo run -p stagecraft-server --example embed -- [ADDR] [DATA_DIR]`
//! (defaults `127.0.0.1:8080`, `./embedded-data`); the admin token is
//! `STAGECRAFT_ADMIN_TOKEN`'s. Ctrl-C stops it, committing what was queued.

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use stagecraft_engine::{EngineBuilder, EngineConfig};
use stagecraft_server::{Auth, Backend, Server};

/// The app: its own page, Stagecraft's API and console, and its own
/// middleware over all of them (here, a header naming the app).
pub fn app(stagecraft: &Server) -> Router {
    Router::new()
        .route("/", get(|| async { "the host app's own page" }))
        .nest("/stagecraft", stagecraft.api())
        .nest("/console", stagecraft.console())
        .layer(middleware::from_fn(named))
}

async fn named(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert("x-served-by", HeaderValue::from_static("host-app"));
    response
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let data_dir = args.next().unwrap_or_else(|| "./embedded-data".to_owned());
    let token = std::env::var("STAGECRAFT_ADMIN_TOKEN")
        .map_err(|_| "set STAGECRAFT_ADMIN_TOKEN to the admin token to accept")?;

    let engine = Backend::open(EngineBuilder::new(EngineConfig::new(&data_dir)), None).await?;
    let stagecraft = Server::new(engine.clone(), Auth::new(token, &data_dir)).await?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(&stagecraft))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // The engine stops once the routers' handles on it are gone.
    drop(stagecraft);
    engine.shutdown().await;
    Ok(())
}
