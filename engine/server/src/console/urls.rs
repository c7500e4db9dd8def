//! The console's URLs, in one place. The console answers under whatever
//! prefix its router is nested at (`/ui` in `stagecraft serve`, anything in
//! an embedder's app): every link, form action, redirect and the session
//! cookie's path is built here from the prefix the request arrived under.

use std::convert::Infallible;
use std::fmt::Display;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;

/// The console's routes, relative to its prefix; [`Urls`] builds the same
/// paths.
pub mod route {
    pub const HOME: &str = "/";
    pub const SIGN_IN: &str = "/sign-in";
    pub const SIGN_OUT: &str = "/sign-out";
    pub const INBOX: &str = "/inbox";
    pub const WORK: &str = "/work/{run}/{item}";
    pub const RUNS: &str = "/runs";
    pub const RESUME_ALL: &str = "/runs/resume";
    pub const RUN: &str = "/runs/{id}";
    pub const RUN_ACT: &str = "/runs/{id}/act";
    pub const RUN_DRY_RUN: &str = "/runs/{id}/dry-run";
    pub const JOB: &str = "/jobs/{id}";
    pub const FLOWS: &str = "/flows";
    pub const FLOW_ACTIVATE: &str = "/flows/{name}/activate";
    pub const FLOW_LIFT: &str = "/flows/{name}/lift-quarantine";
    pub const ORCHESTRATIONS: &str = "/orchestrations";
    pub const ORCHESTRATION: &str = "/orchestrations/{name}/{version}";
    pub const AUDIT: &str = "/audit";
    pub const ASSET: &str = "/assets/{name}";
}

/// The console's URLs under the prefix of the current request.
#[derive(Debug, Clone)]
pub struct Urls {
    /// The prefix, without a trailing slash: `/ui`, or empty at the root.
    base: Arc<str>,
}

impl<S: Send + Sync> FromRequestParts<S> for Urls {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // A nested router sees its own path; the original one is longer by
        // the prefix.
        let path = parts.uri.path();
        let original = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(path, |original| original.path());
        let base = original
            .strip_suffix(path)
            .or_else(|| (path == "/").then_some(original))
            .unwrap_or_default()
            .trim_end_matches('/');
        Ok(Self { base: base.into() })
    }
}

impl Urls {
    /// The URLs under `base` (e.g. `/ui`).
    #[cfg(test)]
    pub fn at(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').into(),
        }
    }

    fn path(&self, path: impl Display) -> String {
        format!("{}{path}", self.base)
    }

    /// Where a person starts: the prefix itself (a router nested at
    /// `/ui` answers `/ui`, not `/ui/`).
    pub fn home(&self) -> String {
        if self.base.is_empty() {
            "/".to_owned()
        } else {
            self.base.to_string()
        }
    }

    /// Whether `path` (a `next` parameter) is a page of this console.
    pub fn is_page(&self, path: &str) -> bool {
        let inside = path
            .strip_prefix(&*self.base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']));
        inside && !path.contains("//") && !path.contains('\\')
    }

    /// The session cookie's path: the whole console.
    pub fn cookie_path(&self) -> String {
        self.home()
    }

    pub fn sign_in(&self) -> String {
        self.path(route::SIGN_IN)
    }

    pub fn sign_out(&self) -> String {
        self.path(route::SIGN_OUT)
    }

    pub fn inbox(&self) -> String {
        self.path(route::INBOX)
    }

    /// A work item, by its `run/item` id.
    pub fn work(&self, id: impl Display) -> String {
        self.path(format_args!("/work/{id}"))
    }

    pub fn runs(&self) -> String {
        self.path(route::RUNS)
    }

    /// The runs list with a query string (without its `?`).
    pub fn runs_where(&self, query: impl Display) -> String {
        self.path(format_args!("{}?{query}", route::RUNS))
    }

    pub fn resume_all(&self) -> String {
        self.path(route::RESUME_ALL)
    }

    pub fn run(&self, id: impl Display) -> String {
        self.path(format_args!("/runs/{id}"))
    }

    pub fn run_act(&self, id: impl Display) -> String {
        self.path(format_args!("/runs/{id}/act"))
    }

    pub fn run_dry_run(&self, id: impl Display) -> String {
        self.path(format_args!("/runs/{id}/dry-run"))
    }

    pub fn job(&self, id: impl Display) -> String {
        self.path(format_args!("/jobs/{id}"))
    }

    pub fn flows(&self) -> String {
        self.path(route::FLOWS)
    }

    pub fn flow_activate(&self, name: impl Display) -> String {
        self.path(format_args!("/flows/{name}/activate"))
    }

    pub fn flow_lift(&self, name: impl Display) -> String {
        self.path(format_args!("/flows/{name}/lift-quarantine"))
    }

    pub fn orchestrations(&self) -> String {
        self.path(route::ORCHESTRATIONS)
    }

    pub fn orchestration(&self, name: impl Display, version: impl Display) -> String {
        self.path(format_args!("/orchestrations/{name}/{version}"))
    }

    pub fn audit(&self) -> String {
        self.path(route::AUDIT)
    }

    /// A static asset, versioned so that browsers refetch it after an
    /// upgrade.
    pub fn asset(&self, name: &str) -> String {
        self.path(format_args!(
            "/assets/{name}?v={}",
            env!("CARGO_PKG_VERSION")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn base_seen(router: Router, path: &str) -> String {
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .expect("a request");
        let response = router.oneshot(request).await.expect("an answer");
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("a body")
            .to_bytes();
        String::from_utf8(body.to_vec()).expect("text")
    }

    /// Links follow the prefix the console is nested at, however deep, and
    /// are plain at the root.
    #[tokio::test]
    async fn urls_follow_the_prefix_the_console_is_nested_at() {
        let console = || {
            Router::new()
                .route(
                    route::HOME,
                    get(|urls: Urls| async move { urls.run("r-1") }),
                )
                .route(route::RUNS, get(|urls: Urls| async move { urls.home() }))
        };
        let nested = Router::new().nest("/ops/console", console());
        assert_eq!(
            base_seen(nested.clone(), "/ops/console/runs").await,
            "/ops/console"
        );
        assert_eq!(
            base_seen(nested.clone(), "/ops/console").await,
            "/ops/console/runs/r-1"
        );
        assert_eq!(base_seen(console(), "/runs").await, "/");
        assert_eq!(base_seen(console(), "/").await, "/runs/r-1");
        assert_eq!(Urls::at("/ui/").cookie_path(), "/ui");
        assert!(Urls::at("/ui").is_page("/ui/runs?status=error"));
        assert!(!Urls::at("/ui").is_page("//evil.example/ui/"));
        assert!(!Urls::at("/ui").is_page("/api/runs"));
        assert!(!Urls::at("/ui").is_page("/uix/runs"));
        assert!(Urls::at("/ui").is_page("/ui"));
    }
}
