//! Console sessions: a token (admin or user) is exchanged once for a
//! session cookie (HttpOnly, SameSite=Strict, Secure behind https; it ends
//! with the browser, the session itself after 12 hours), kept
//! only as a hash in memory and ended by sign-out, by expiry, by the
//! token's revocation or by the user being frozen or deactivated. Each
//! session has a CSRF token that every state-changing form sends back.

use super::super::AppState;
use super::super::auth::{Caller, barred};
use super::page::{Page, encode, layout, refusal};
use super::urls::Urls;
use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use maud::html;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tokio::sync::RwLock;

/// The session cookie's name.
const COOKIE: &str = "stagecraft_session";
/// How long a session lasts after sign-in.
const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The sessions of this server (they end with it: sign in again).
#[derive(Debug, Default)]
pub struct Sessions {
    by_hash: RwLock<HashMap<[u8; 32], Session>>,
}

#[derive(Debug, Clone)]
struct Session {
    caller: Caller,
    /// The hash of the token signed in with: its revocation ends the session.
    token: [u8; 32],
    csrf: String,
    expires: Instant,
}

/// A signed-in person, for page handlers. A request without a valid
/// session is redirected to the sign-in page.
#[derive(Debug, Clone)]
pub struct Signed {
    caller: Caller,
    csrf: String,
    urls: Urls,
}

impl Signed {
    /// Who, as the audit log names them.
    pub fn name(&self) -> &str {
        self.caller.name()
    }

    /// The user's id, for a user; `None` for the admin.
    pub fn user(&self) -> Option<&str> {
        match &self.caller {
            Caller::User(user) => Some(user),
            Caller::Admin => None,
        }
    }

    /// Whether this is the admin.
    pub fn is_admin(&self) -> bool {
        self.caller == Caller::Admin
    }

    /// The console's URLs, under the prefix of this request.
    pub fn urls(&self) -> &Urls {
        &self.urls
    }

    /// The session's CSRF token, for forms.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Refuses a page to a user: it is for the admin.
    pub fn require_admin(&self) -> Result<(), Page> {
        if self.is_admin() {
            return Ok(());
        }
        Err(refusal(
            self.urls(),
            StatusCode::FORBIDDEN,
            Some(self),
            "This page is for administrators; it needs the admin token.",
        ))
    }

    /// Refuses a state-changing form that is not the admin's, or did not
    /// come from this console: what every admin form is checked for.
    pub fn admin_post(
        &self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<(), Page> {
        self.require_admin()?;
        self.check_post(headers, form)
    }

    /// Refuses a state-changing form that did not come from this console:
    /// its CSRF token (`_csrf`) is not this session's, or it was posted
    /// from another origin.
    pub fn check_post(
        &self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<(), Page> {
        self.check_csrf(form.get("_csrf").map(String::as_str))?;
        if same_origin(headers) {
            Ok(())
        } else {
            Err(refusal(
                self.urls(),
                StatusCode::FORBIDDEN,
                Some(self),
                "Cross-site posts are refused.",
            ))
        }
    }

    /// Refuses a state-changing form whose CSRF token is not this
    /// session's.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), Page> {
        let sent = sent.unwrap_or_default().as_bytes();
        if bool::from(sent.ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(refusal(
                self.urls(),
                StatusCode::FORBIDDEN,
                Some(self),
                "This form is stale or did not come from this console (its CSRF token does not \
                 match). Reload the page and try again.",
            ))
        }
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn random_hex() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let target = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.to_string(), |uri| uri.0.to_string());
        let Ok(urls) = Urls::from_request_parts(parts, state).await;
        let to_sign_in = || {
            let next = encode(&target);
            Redirect::to(&format!("{}?next={next}", urls.sign_in())).into_response()
        };
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(id) = jar.get(COOKIE).map(|cookie| cookie.value().to_owned()) else {
            return Err(to_sign_in());
        };
        let key = digest(&id);
        let session = {
            let sessions = state.sessions.by_hash.read().await;
            sessions.get(&key).cloned()
        };
        let Some(session) = session.filter(|s| s.expires > Instant::now()) else {
            state.sessions.by_hash.write().await.remove(&key);
            return Err(to_sign_in());
        };
        // The token must still be valid, and the user still active.
        if state.tokens.caller_by_digest(&session.token).await.as_ref() != Some(&session.caller) {
            state.sessions.by_hash.write().await.remove(&key);
            return Err(to_sign_in());
        }
        if let Caller::User(user) = &session.caller
            && let Some(why) = inactive(state, user).await
        {
            state.sessions.by_hash.write().await.remove(&key);
            return Err(refusal(&urls, StatusCode::FORBIDDEN, None, &why).into_response());
        }
        Ok(Signed {
            caller: session.caller,
            csrf: session.csrf,
            urls,
        })
    }
}

/// The admin, signed in, for an administrator's page; anyone else is
/// refused.
#[derive(Debug, Clone)]
pub struct AdminPage(pub Signed);

impl FromRequestParts<AppState> for AdminPage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let signed = Signed::from_request_parts(parts, state).await?;
        signed
            .require_admin()
            .map_err(IntoResponse::into_response)?;
        Ok(Self(signed))
    }
}

/// The admin's form (url-encoded), posted from this console with the
/// session's CSRF token: the one guard of every state-changing admin form.
#[derive(Debug, Clone)]
pub struct AdminForm {
    /// Who posted it.
    pub signed: Signed,
    /// Its fields.
    pub form: HashMap<String, String>,
}

impl FromRequest<AppState> for AdminForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        let headers = parts.headers.clone();
        let Form(form) =
            Form::<HashMap<String, String>>::from_request(Request::from_parts(parts, body), state)
                .await
                .map_err(|rejection| {
                    refusal(
                        signed.urls(),
                        StatusCode::BAD_REQUEST,
                        Some(&signed),
                        &rejection.body_text(),
                    )
                    .into_response()
                })?;
        signed
            .admin_post(&headers, &form)
            .map_err(IntoResponse::into_response)?;
        Ok(Self { signed, form })
    }
}

/// Why `user` may not act now, if they may not (see [`barred`]).
async fn inactive(state: &AppState, user: &str) -> Option<String> {
    barred(&state.engine, user)
        .await
        .unwrap_or_else(|error| Some(format!("the directory cannot be read: {error}")))
}

/// Only console paths are followed after sign-in (no open redirect).
fn safe_next(urls: &Urls, next: Option<&str>) -> String {
    match next {
        Some(next) if urls.is_page(next) => next.to_owned(),
        _ => urls.home(),
    }
}

/// The query of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
}

/// `GET sign-in`: a token field. A link ending in `#token=…` (the
/// demo prints one per person) signs in with one click: the fragment never
/// reaches a server or its logs, and the script posts it.
pub async fn sign_in_page(
    urls: Urls,
    axum::extract::Query(query): axum::extract::Query<SignInQuery>,
) -> Page {
    sign_in_form(&urls, query.next.as_deref(), None)
}

fn sign_in_form(urls: &Urls, next: Option<&str>, problem: Option<&str>) -> Page {
    Page::ok(layout(
        urls,
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(problem) = problem {
                p.notice.error role="alert" { (problem) }
            }
            form.sign-in method="post" action=(urls.sign_in()) {
                input type="hidden" name="next" value=(safe_next(urls, next));
                label for="token" { "Token" }
                input #token type="password" name="token" autocomplete="current-password" required;
                p.help { "The admin token, or a token the admin issued to you (" code { "stagecraft user token <you>" } ")." }
                button type="submit" { "Sign in" }
            }
        },
    ))
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignIn {
    token: String,
    next: Option<String>,
}

/// `POST sign-in`: checks the token, starts a session, and goes on to
/// `next`.
pub async fn sign_in(
    State(state): State<AppState>,
    urls: Urls,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<SignIn>,
) -> Response {
    if !same_origin(&headers) {
        return refusal(
            &urls,
            StatusCode::FORBIDDEN,
            None,
            "Cross-site sign-in is refused.",
        )
        .into_response();
    }
    let token = form.token.trim();
    let Some(caller) = state.tokens.caller(token).await else {
        return sign_in_form(
            &urls,
            form.next.as_deref(),
            Some("That token is not valid."),
        )
        .with_status(StatusCode::UNAUTHORIZED)
        .into_response();
    };
    if let Caller::User(user) = &caller
        && let Some(why) = inactive(&state, user).await
    {
        return sign_in_form(&urls, form.next.as_deref(), Some(&why))
            .with_status(StatusCode::FORBIDDEN)
            .into_response();
    }
    let (Ok(id), Ok(csrf)) = (random_hex(), random_hex()) else {
        return refusal(
            &urls,
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "No randomness for a session; see the server log.",
        )
        .into_response();
    };
    {
        let mut sessions = state.sessions.by_hash.write().await;
        let now = Instant::now();
        sessions.retain(|_, session| session.expires > now);
        sessions.insert(
            digest(&id),
            Session {
                caller: caller.clone(),
                token: digest(token),
                csrf,
                expires: now + LIFETIME,
            },
        );
    }
    tracing::info!(who = caller.name(), "console sign-in");
    let cookie = Cookie::build((COOKIE, id))
        .path(urls.cookie_path())
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(behind_https(&headers))
        .build();
    (
        jar.add(cookie),
        Redirect::to(&safe_next(&urls, form.next.as_deref())),
    )
        .into_response()
}

/// The form of a sign-out (and of every state-changing form): its CSRF
/// token.
#[derive(Debug, Deserialize)]
pub struct Csrf {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

/// `POST sign-out`: ends the session.
pub async fn sign_out(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    Form(form): Form<Csrf>,
) -> Response {
    if let Err(refused) = signed.check_csrf(form.csrf.as_deref()) {
        return refused.into_response();
    }
    if let Some(cookie) = jar.get(COOKIE) {
        state
            .sessions
            .by_hash
            .write()
            .await
            .remove(&digest(cookie.value()));
    }
    let removal = Cookie::build((COOKIE, ""))
        .path(signed.urls().cookie_path())
        .build();
    (jar.remove(removal), Redirect::to(&signed.urls().sign_in())).into_response()
}

/// Whether the request reached us through https (a TLS-terminating proxy
/// says so): the cookie is then marked Secure.
fn behind_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// Whether a form post comes from this origin: its `Origin` (or, failing
/// that, `Referer`) names our `Host`. Browsers send one on every POST.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match source {
        // Neither header: not a browser form (a script with no cookie jar
        // cannot hold a session either), so the CSRF token decides.
        None => true,
        Some(source) => {
            let rest = source
                .strip_prefix("http://")
                .or_else(|| source.strip_prefix("https://"))
                .unwrap_or_default();
            rest.split('/').next() == Some(host)
        }
    }
}
