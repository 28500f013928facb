//! Errors at the HTTP edge: every failure becomes an RFC 9457 `application/problem+json` answer.
//! Callers get a status and a useful detail; internals go to the log, never to the caller.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shared::cost::sweep::SweepError;
use shared::error::ValidationError;
use shared::scaling::service::ScalingError;
use shared::store::StoreError;
use shared::warming::warmer::WarmError;
use utoipa::ToSchema;

/// Seconds a caller should wait before retrying while the store is unavailable.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: `title` and `code` say what went wrong.
    #[serde(rename = "type")]
    pub problem_type: &'static str,
    /// The HTTP status phrase.
    pub title: String,
    pub status: u16,
    /// What to fix or why it failed, for a person.
    pub detail: String,
    /// A stable machine-readable reason, e.g. `version_conflict`.
    pub code: &'static str,
    /// The offending field, when one input field is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The request this answers (also its `x-request-id` header): API Gateway's request id in
    /// AWS, so it leads to the request's log lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Everything a handler can fail with.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    MethodNotAllowed,
    Conflict(String),
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable(ValidationError),
    Unavailable,
    /// No replica can take the incident now (503 with Retry-After).
    NoCapacity(String),
    /// Nothing can serve the request for this many seconds (503 with that Retry-After).
    Retry(String, u64),
    /// The caller has used its rate: retry after this many seconds (429 with that Retry-After).
    TooManyRequests(String, u64),
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String, Option<String>) {
        match self {
            Self::BadRequest(d) => (StatusCode::BAD_REQUEST, "bad_request", d.clone(), None),
            Self::NotFound(d) => (StatusCode::NOT_FOUND, "not_found", d.clone(), None),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method".into(),
                None,
            ),
            Self::Conflict(d) => (StatusCode::CONFLICT, "version_conflict", d.clone(), None),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request bodies are limited to {} bytes", crate::MAX_BODY_BYTES),
                None,
            ),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json".into(),
                None,
            ),
            Self::Unprocessable(e) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", e.to_string(), Some(e.field.clone()))
            }
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the state store is unavailable; retry later".into(),
                None,
            ),
            Self::NoCapacity(d) => (StatusCode::SERVICE_UNAVAILABLE, "no_replica_available", d.clone(), None),
            Self::Retry(d, _) => (StatusCode::SERVICE_UNAVAILABLE, "retry_later", d.clone(), None),
            Self::TooManyRequests(d, _) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", d.clone(), None),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "the request could not be completed".into(),
                None,
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ConditionFailed => {
                Self::Conflict("the item changed while this request was handled; read it again".into())
            }
            StoreError::Unavailable { .. } => {
                tracing::warn!(error = %e, "state store unavailable");
                Self::Unavailable
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::Unprocessable(e)
    }
}

impl From<SweepError> for ApiError {
    fn from(e: SweepError) -> Self {
        match e {
            SweepError::Store(e) => e.into(),
            SweepError::Contended => Self::Conflict(e.to_string()),
            // The report is stored (GET /cost/report); the caps are retried by the next sweep.
            SweepError::CapsIncomplete(_) => Self::Retry(
                format!("{e}; the sweep's report is stored (GET /cost/report) and the next sweep carries on"),
                60,
            ),
        }
    }
}

impl From<ScalingError> for ApiError {
    fn from(e: ScalingError) -> Self {
        match e {
            ScalingError::UnknownAgentType(t) => {
                Self::NotFound(format!("agent type {t} has no scaling policy"))
            }
            ScalingError::Store(e) => e.into(),
            ScalingError::Contention => {
                Self::Conflict("too many concurrent evaluations of this type; retry".into())
            }
            ScalingError::Actuator(e) if e.is_retryable() => {
                tracing::warn!(error = %e, "actuator unavailable");
                Self::Unavailable
            }
            ScalingError::Actuator(e) => Self::Internal(e.to_string()),
            e @ ScalingError::Deposed { .. } => Self::Conflict(e.to_string()),
        }
    }
}

impl From<shared::leadership::LeadershipError> for ApiError {
    fn from(e: shared::leadership::LeadershipError) -> Self {
        use shared::leadership::LeadershipError;
        match e {
            LeadershipError::Store(e) => e.into(),
            LeadershipError::Contention => Self::Conflict(e.to_string()),
            LeadershipError::Invalid(v) => v.into(),
        }
    }
}

impl From<WarmError> for ApiError {
    fn from(e: WarmError) -> Self {
        match e {
            WarmError::Invalid(v) => v.into(),
            WarmError::Busy { detail, retry_after_s } => Self::TooManyRequests(detail, retry_after_s),
            WarmError::Store(s) => s.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) = &self {
            tracing::error!(detail, "request failed");
        }
        let (status, code, detail, field) = self.parts();
        let retry_after = match &self {
            Self::Retry(_, seconds) | Self::TooManyRequests(_, seconds) => (*seconds).max(1),
            _ => u64::from(RETRY_AFTER_SECONDS),
        };
        let problem = Problem {
            problem_type: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code,
            field,
            // Added by the outermost layer, which knows the request.
            request_id: None,
        };
        let mut response = (status, Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}
