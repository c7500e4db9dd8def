//! NUL (U+0000) is refused at the edge, with the same 400 on every store.
//! PostgreSQL cannot store it in text, and a request that carried one into
//! a group commit would fail the commits batched with it; SQLite would store
//! it, so the API would answer differently by backend. No id, name or value
//! Stagecraft keeps needs it.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Refuses a request whose path, query, JSON or form body holds a NUL.
pub(super) async fn refuse_nul(request: Request, next: Next) -> Response {
    let uri = request.uri();
    if uri.path().contains("%00") || uri.query().is_some_and(|q| q.contains("%00")) {
        return refusal("the request's URL").into_response();
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let scan: fn(&[u8]) -> bool = if content_type.starts_with("application/json") {
        json_has_nul
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        |body| body.windows(3).any(|w| w == b"%00")
    } else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    // Each route still applies its own, smaller, limit when it reads it.
    let bytes = match axum::body::to_bytes(body, super::MAX_COMPONENT).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::payload_too_large(
                "the request's body is over 64 MiB, or could not be read whole",
            )
            .into_response();
        }
    };
    if scan(&bytes) {
        return refusal("the request's body").into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn refusal(place: &str) -> ApiError {
    ApiError::bad_request(
        "nul_character",
        format!("{place} holds a NUL character (U+0000), which Stagecraft does not store"),
    )
}

/// Whether JSON text holds the escape `\u0000` in a string (a NUL cannot
/// appear unescaped in valid JSON). A backslash escaped before the `u`
/// (`\\u0000`) is the text `\u0000`, not a NUL.
fn json_has_nul(body: &[u8]) -> bool {
    body.windows(6).enumerate().any(|(at, window)| {
        window == b"\\u0000" && {
            let backslashes = body[..at].iter().rev().take_while(|b| **b == b'\\').count();
            backslashes % 2 == 0
        }
    })
}

#[cfg(test)]
mod tests {
    use super::json_has_nul;

    #[test]
    fn a_nul_escape_is_found_and_an_escaped_backslash_is_not_one() {
        assert!(json_has_nul(br#"{"a": "x\u0000y"}"#));
        assert!(json_has_nul(br#"{"\u0000": 1}"#));
        assert!(json_has_nul(br#"["\\\u0000"]"#));
        assert!(!json_has_nul(br#"{"a": "x\\u0000y"}"#));
        assert!(!json_has_nul(br#"{"a": "\u0001"}"#));
    }
}
