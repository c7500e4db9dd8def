//! Issue 21: the embedder example's app, driven in process on a real
//! SQLite store: the host's own route, the API nested at `/stagecraft`
//! (tokens, errors, a run started and settled) and the console nested at
//! `/console` (sign-in, its cookie and every link under that prefix), all
//! behind the host's middleware.

#[path = "../examples/embed.rs"]
#[expect(dead_code, reason = "the example's main is not the test's")]
mod example;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use stagecraft_engine::{EngineBuilder, EngineConfig};
use stagecraft_example_plugins::NOOP;
use stagecraft_server::{Auth, Backend, Server};
use tower::ServiceExt;

const ADMIN: &str = "embedder-admin-token-0123456789";

async fn send(app: &axum::Router, request: Request<Body>) -> (Response<Body>, String) {
    let response = app.clone().oneshot(request).await.expect("an answer");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("a body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (Response::from_parts(parts, Body::empty()), text)
}

fn api(method: &str, path: &str, body: Option<Value>) -> Request<Body> {
    let builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"));
    match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("a request")
}

fn location(response: &Response<Body>) -> &str {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedder_mounts_the_api_and_the_console_in_its_own_app() {
    let dir = tempfile::tempdir().expect("a directory");
    let engine = Backend::open(EngineBuilder::new(EngineConfig::new(dir.path())), None)
        .await
        .expect("the engine opens");
    let stagecraft = Server::new(engine.clone(), Auth::new(ADMIN, dir.path()))
        .await
        .expect("the server builds");
    let app = example::app(&stagecraft);

    let (own, text) = send(&app, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (own.status(), text.as_str()),
        (StatusCode::OK, "the host app's own page")
    );
    assert_eq!(own.headers()["x-served-by"], "host-app");

    // The API, under its prefix, with its tokens and its JSON errors.
    let (document, text) = send(
        &app,
        Request::get("/stagecraft/openapi.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(document.status(), StatusCode::OK);
    assert!(text.contains("\"openapi\""), "{text}");
    let (anonymous, text) = send(
        &app,
        Request::get("/stagecraft/flows")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{text}");
    assert_eq!(
        anonymous.headers()["x-served-by"],
        "host-app",
        "behind the host's middleware"
    );
    let (unknown, text) = send(&app, api("GET", "/stagecraft/no-such-route", None)).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["code"],
        "no_such_route"
    );

    let deploy = Request::post("/stagecraft/flows/noop?kind=autolaunched")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .header(header::CONTENT_TYPE, "application/wasm")
        .body(Body::from(
            std::fs::read(NOOP).expect("the no-op component"),
        ))
        .unwrap();
    let (deployed, text) = send(&app, deploy).await;
    assert_eq!(deployed.status(), StatusCode::CREATED, "{text}");
    let definition = json!({"format": 1, "name": "one_step", "elements": [{
        "type": "stage", "name": "only",
        "steps": [{"name": "work", "kind": {"type": "background", "flow": "noop"}}]
    }]});
    let (created, text) = send(
        &app,
        api("POST", "/stagecraft/orchestrations", Some(definition)),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED, "{text}");
    let (started, text) = send(
        &app,
        api(
            "POST",
            "/stagecraft/runs?wait_for=settled",
            Some(json!({"orchestration": "one_step"})),
        ),
    )
    .await;
    assert_eq!(started.status(), StatusCode::CREATED, "{text}");
    let run: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(run["status"], "completed", "{run}");
    let id = run["id"].as_str().expect("an id").to_owned();

    // The console, under its own prefix: every URL follows it.
    let (to_sign_in, _) = send(
        &app,
        Request::get("/console/runs").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(to_sign_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&to_sign_in), "/console/sign-in?next=/console/runs");
    let sign_in = Request::post("/console/sign-in")
        .header(header::HOST, "app.example")
        .header(header::ORIGIN, "https://app.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={ADMIN}&next=%2Fconsole%2Fruns")))
        .unwrap();
    let (signed_in, _) = send(&app, sign_in).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_in), "/console/runs");
    let cookie = signed_in.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("Path=/console"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let runs = Request::get("/console/runs")
        .header(header::COOKIE, &session)
        .body(Body::empty())
        .unwrap();
    let (page, html) = send(&app, runs).await;
    assert_eq!(page.status(), StatusCode::OK, "{html}");
    assert!(
        html.contains(&format!("href=\"/console/runs/{id}\"")),
        "{html}"
    );
    assert!(
        html.contains("href=\"/console/assets/console.css"),
        "{html}"
    );
    assert!(
        !html.contains("\"/ui"),
        "no link outside the console's prefix: {html}"
    );
    let css = send(
        &app,
        Request::get("/console/assets/console.css")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(css.0.status(), StatusCode::OK);

    drop(app);
    drop(stagecraft);
    engine.shutdown().await;
}
