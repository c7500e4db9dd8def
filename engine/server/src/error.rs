//! The API's error responses: `{"error": {"code", "message"}}` with a
//! status code that says whose fault it is.

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use stagecraft_core::EventError;
use stagecraft_engine::EngineError;

/// An error the API answers with.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Value>,
    /// A refusal the engine did not see (the caller's role), so the
    /// authentication middleware records it in the audit log.
    unaudited: bool,
    /// Seconds to wait before trying again (`Retry-After`).
    retry_after: Option<u64>,
}

/// Marks a response refusing an action the engine never saw, with why.
#[derive(Debug, Clone)]
pub struct UnauditedRefusal(pub String);

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            unaudited: false,
            retry_after: None,
        }
    }

    /// 429: the caller sent more requests than its rate allows; it may
    /// send the next one after `wait`.
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        // Whole seconds, rounded up: a client that waits that long is taken.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self {
            retry_after: Some(seconds.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many requests from this token; try again in {} s",
                    seconds.max(1)
                ),
            )
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 413: the body is larger than any route takes.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 400 with the field errors of refused work item answers.
    pub fn invalid_answers(fields: Value) -> Self {
        Self {
            details: Some(fields),
            ..Self::bad_request(
                "invalid_answers",
                "the answers are invalid; the work item stays open",
            )
        }
    }

    /// 401: no valid bearer token.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }

    /// 403: the caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 403 decided before the engine was asked (the caller's role or
    /// status): recorded in the audit log by the middleware.
    pub fn refused_role(message: impl Into<String>) -> Self {
        Self {
            unaudited: true,
            ..Self::forbidden(message)
        }
    }

    /// 409: the state of the run, work item or job does not allow it.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 404 for a path the API does not have.
    pub fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "no_such_route",
            "no such route; see GET /openapi.json",
        )
    }

    /// 405 for a method the path does not take.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this path does not take that method; see GET /openapi.json",
        )
    }

    /// 502: a flow the request ran failed; the flow's fault, not the
    /// caller's. `details` says what became of the run.
    pub fn flow_failed(message: impl Into<String>, details: Option<Value>) -> Self {
        Self {
            details,
            ..Self::new(StatusCode::BAD_GATEWAY, "flow_failed", message)
        }
    }

    /// 500, details logged.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {message}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; see its log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        match (self.code, self.details) {
            ("invalid_answers", Some(fields)) => error["fields"] = fields,
            (_, Some(Value::Object(details))) => {
                for (key, value) in details {
                    error[key] = value;
                }
            }
            _ => {}
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if self.unaudited {
            response
                .extensions_mut()
                .insert(UnauditedRefusal(self.message));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let message = match &error {
            // With its source: "storage unavailable: …" alone helps no one.
            EngineError::Store(store) => store.report(),
            other => other.to_string(),
        };
        match error {
            EngineError::FlowRejected { .. } => Self::bad_request("flow_rejected", message),
            EngineError::DefinitionSyntax(_) => Self::bad_request("definition_syntax", message),
            EngineError::DefinitionInvalid(_) => Self::bad_request("definition_invalid", message),
            EngineError::BadRequest(_) => Self::bad_request("bad_request", message),
            EngineError::Refused(EventError::InvalidInputs { .. }) => {
                Self::bad_request("invalid_inputs", message)
            }
            EngineError::Refused(_) => Self::conflict(message),
            EngineError::NotFound(_) => Self::not_found(message),
            EngineError::Forbidden(_) => Self::forbidden(message),
            EngineError::Conflict(_) => Self::conflict(message),
            EngineError::KeyReused(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                message,
            ),
            EngineError::KeyInUse(_) => {
                Self::new(StatusCode::CONFLICT, "idempotency_key_in_use", message)
            }
            EngineError::ShuttingDown => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", message)
            }
            EngineError::FlowFailed(_) => Self::flow_failed(message, None),
            EngineError::Unavailable(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
            EngineError::Store(stagecraft_store::StoreError::Corrupt { .. }) => {
                tracing::error!("{message}");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "corrupt_record", message)
            }
            EngineError::Store(stagecraft_store::StoreError::Unavailable { .. }) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                message,
            ),
            EngineError::Store(_)
            | EngineError::Host(_)
            | EngineError::DataDir { .. }
            | EngineError::Threads(_) => Self::internal(message),
        }
    }
}

impl From<stagecraft_store::StoreError> for ApiError {
    fn from(error: stagecraft_store::StoreError) -> Self {
        Self::from(EngineError::Store(error))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                rejection.body_text(),
            ),
            _ => Self::bad_request("invalid_json", rejection.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request("invalid_query", rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request("invalid_path", rejection.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        Self::new(rejection.status(), "invalid_body", rejection.body_text())
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;
