//! The page shell every console page shares, and the pages for refusals.

use super::session::Signed;
use super::urls::Urls;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// A rendered page with the console's security headers: scripts and styles
/// only from this origin (no inline script can run, whatever a flow
/// wrote), never framed, never cached.
pub struct Page {
    status: StatusCode,
    markup: Markup,
}

impl Page {
    /// A page answered 200.
    pub fn ok(markup: Markup) -> Self {
        Self {
            status: StatusCode::OK,
            markup,
        }
    }

    /// The same page with another status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.markup).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        response
    }
}

/// The shell: header with navigation and sign-out (when signed in), then
/// `body`.
pub fn layout(urls: &Urls, title: &str, signed: Option<&Signed>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Stagecraft" }
                link rel="stylesheet" href=(urls.asset("console.css"));
                script src=(urls.asset("console.js")) defer {}
            }
            body {
                header.top {
                    a.brand href=(urls.home()) { "Stagecraft" }
                    @if let Some(signed) = signed {
                        nav aria-label="Main" {
                            a href=(urls.inbox()) { "Inbox" }
                            @if signed.is_admin() {
                                a href=(urls.runs()) { "Runs" }
                                a href=(urls.runs_where("status=error")) { "In Error" }
                                a href=(urls.flows()) { "Flows" }
                                a href=(urls.orchestrations()) { "Orchestrations" }
                                a href=(urls.audit()) { "Audit" }
                            }
                        }
                        form.sign-out method="post" action=(urls.sign_out()) {
                            input type="hidden" name="_csrf" value=(signed.csrf());
                            span.who { @if signed.is_admin() { "Administrator" } @else { (signed.name()) } }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A refusal as a page: 403, 404, 409…
pub fn refusal(urls: &Urls, status: StatusCode, signed: Option<&Signed>, message: &str) -> Page {
    let title = status.canonical_reason().unwrap_or("Error");
    Page::ok(layout(
        urls,
        title,
        signed,
        html! {
            h1 { (title) }
            p.notice.error role="alert" { (message) }
            p { a href=(urls.home()) { "Back to the start" } }
        },
    ))
    .with_status(status)
}

/// A timestamp for people: the exact time (UTC) in a `<time>` element that
/// the script turns into the viewer's local time with a relative hint.
pub fn time(at: &jiff::Timestamp) -> Markup {
    let exact = at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    html! { time datetime=(at.to_string()) title=(exact) { (exact) } }
}

/// `%`-encodes `text` for a query parameter (`/` stays: paths read better).
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
