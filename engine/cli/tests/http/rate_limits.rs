//! Issue 27: per-token request rate limits. A user's burst beyond its rate
//! is answered 429 `rate_limited` with `Retry-After`, while other users and
//! the admin token go on being served; once the wait is over, the user is
//! served again.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::{ADMIN, Server, binary};

/// Sends `GET /work-items` as `token`; the status and `Retry-After`.
fn work_items(server: &Server, token: &str) -> (u16, Option<u64>) {
    let response = reqwest::blocking::Client::new()
        .get(format!("{}/work-items", server.url))
        .bearer_auth(token)
        .send()
        .expect("request");
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    (response.status().as_u16(), retry_after)
}

#[test]
fn a_token_over_its_rate_is_told_to_wait_and_the_others_are_served() {
    let refused = binary()
        .args(["serve", "--rate-limit", "0"])
        .output()
        .expect("serve");
    assert!(!refused.status.success());

    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(
        dir.path(),
        &["--rate-limit", "3", "--admin-rate-limit", "off"],
    );
    for user in ["ada", "bob"] {
        let (status, _) = server.put(&format!("/users/{user}"), ADMIN, json!({"name": user}));
        assert_eq!(status, 200);
    }
    let (ada, bob) = (server.token_for("ada"), server.token_for("bob"));

    // A burst of twice the rate is taken; then ada must wait.
    let mut served = 0;
    let wait = loop {
        match work_items(&server, &ada) {
            (200, _) => served += 1,
            (429, retry_after) => break retry_after.expect("a Retry-After header"),
            (status, _) => panic!("unexpected status {status}"),
        }
        assert!(served < 30, "ada was never limited");
    };
    assert!(served >= 6, "the burst of 6 was not taken whole: {served}");
    assert!(wait >= 1, "Retry-After {wait}");
    let (status, body) = server.call(Method::GET, "/work-items", Some(&ada), None);
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");

    // The others are served meanwhile.
    assert_eq!(work_items(&server, &bob).0, 200);
    for _ in 0..20 {
        assert_eq!(
            work_items(&server, ADMIN).0,
            200,
            "the admin token is not limited here"
        );
    }

    // After the wait, ada is served again.
    std::thread::sleep(Duration::from_secs(wait));
    assert_eq!(work_items(&server, &ada).0, 200);
}
