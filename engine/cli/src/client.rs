//! The HTTP client the commands use to talk to a `stagecraft serve`.

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Url};
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

/// Why a request failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The server address is not a URL.
    #[error("{url:?} is not a server address (expected e.g. http://127.0.0.1:7878)")]
    BadUrl {
        /// What was given.
        url: String,
    },
    /// The server could not be reached or answered garbage.
    #[error("cannot talk to {url}")]
    Transport {
        /// The request's URL.
        url: String,
        /// What went wrong.
        source: reqwest::Error,
    },
    /// The server answered with an error.
    #[error("{message} ({status}, {code}){}", fields_text(.fields))]
    Api {
        /// HTTP status.
        status: u16,
        /// The stable error code.
        code: String,
        /// The human message.
        message: String,
        /// Field errors of refused answers.
        fields: Option<Value>,
    },
}

fn fields_text(fields: &Option<Value>) -> String {
    let Some(Value::Array(fields)) = fields else {
        return String::new();
    };
    fields
        .iter()
        .map(|field| {
            format!(
                "\n  {}: {}",
                field["field"].as_str().unwrap_or(""),
                field["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// A client of one server, with one token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

impl Client {
    /// A client of the server at `url`.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, ClientError> {
        let base = Url::parse(url).map_err(|_| ClientError::BadUrl {
            url: url.to_owned(),
        })?;
        if base.cannot_be_a_base() {
            return Err(ClientError::BadUrl {
                url: url.to_owned(),
            });
        }
        Ok(Self {
            http: reqwest::Client::new(),
            base,
            token,
        })
    }

    /// The URL of the path made of `segments`, each percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        let request = self.http.request(method, self.url(segments));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// `GET` with query parameters.
    pub async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, ClientError> {
        send(self.request(Method::GET, segments).query(query)).await
    }

    /// A `GET` with `wait_for`: whether the wait was met (the
    /// `Stagecraft-Wait` header), and the body.
    pub async fn get_waiting(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<(bool, Value), ClientError> {
        let (headers, body) = execute(self.request(Method::GET, segments).query(query)).await?;
        let met = headers
            .get("stagecraft-wait")
            .is_some_and(|value| value == "met");
        Ok((met, body))
    }

    /// `POST` with a JSON body.
    pub async fn post(
        &self,
        segments: &[&str],
        body: &impl Serialize,
    ) -> Result<Value, ClientError> {
        send(self.request(Method::POST, segments).json(body)).await
    }

    /// `POST` with a JSON body and an `Idempotency-Key`: whether the answer
    /// replays an earlier request's (`Idempotent-Replayed`), and the body.
    pub async fn post_once(
        &self,
        segments: &[&str],
        body: &impl Serialize,
        key: &str,
    ) -> Result<(bool, Value), ClientError> {
        let request = self
            .request(Method::POST, segments)
            .header("idempotency-key", key)
            .json(body);
        let (headers, body) = execute(request).await?;
        let replayed = headers
            .get("idempotent-replayed")
            .is_some_and(|value| value == "true");
        Ok((replayed, body))
    }

    /// `PUT` with a JSON body.
    pub async fn put(
        &self,
        segments: &[&str],
        body: &impl Serialize,
    ) -> Result<Value, ClientError> {
        send(self.request(Method::PUT, segments).json(body)).await
    }

    /// `DELETE`.
    pub async fn delete(&self, segments: &[&str]) -> Result<Value, ClientError> {
        send(self.request(Method::DELETE, segments)).await
    }

    /// `POST` of raw bytes (a component) with query parameters.
    pub async fn upload(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        bytes: Vec<u8>,
    ) -> Result<Value, ClientError> {
        send(
            self.request(Method::POST, segments)
                .query(query)
                .header(reqwest::header::CONTENT_TYPE, "application/wasm")
                .body(bytes),
        )
        .await
    }
}

async fn send(request: RequestBuilder) -> Result<Value, ClientError> {
    Ok(execute(request).await?.1)
}

/// Sends `request`; the response's headers and its JSON body, or the API
/// error it carries.
async fn execute(request: RequestBuilder) -> Result<(HeaderMap, Value), ClientError> {
    let transport = |url: String| move |source| ClientError::Transport { url, source };
    let (client, request) = request.build_split();
    let request = request.map_err(transport(String::new()))?;
    let url = request.url().to_string();
    let response = client
        .execute(request)
        .await
        .map_err(transport(url.clone()))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(transport(url.clone()))?;
    let value: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    if status.is_success() {
        return Ok((headers, value));
    }
    let error = &value["error"];
    Err(ClientError::Api {
        status: status.as_u16(),
        code: error["code"].as_str().unwrap_or("unknown").to_owned(),
        message: error["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("the server answered {status}")),
        fields: error.get("fields").cloned(),
    })
}
