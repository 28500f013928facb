//! Extractors whose rejections are problem documents rather than axum's plain-text answers.

use std::str::FromStr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use shared::domain::Region;
use shared::error::ValidationError;

use crate::AppState;
use crate::problem::ApiError;

/// A JSON body: 415 without a JSON content type, 413 when too large, 400 when it is not valid
/// JSON or not the expected shape.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        other => ApiError::BadRequest(other.body_text()),
    }
}

/// One path segment (`{agent_type}`, `{region}`), parsed by its domain type: 400 naming what is
/// wrong when it is not one.
#[derive(Debug)]
pub struct PathParam<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParam<T>
where
    S: Send + Sync,
    T: FromStr<Err = ValidationError> + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        raw.parse().map(Self).map_err(|e: ValidationError| ApiError::BadRequest(e.to_string()))
    }
}

/// The `{region}` path segment naming one of the fleet's regions: a well-formed code of another
/// region names no resource here (404); the rule is the one bodies are held to
/// ([`shared::config::Config::fleet_region`], 422 there, naming the field).
#[derive(Debug)]
pub struct FleetRegion(pub Region);

impl FromRequestParts<AppState> for FleetRegion {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let PathParam(region) = PathParam::<Region>::from_request_parts(parts, state).await?;
        match state.config.fleet_region(&region, "region") {
            Ok(()) => Ok(Self(region)),
            Err(e) => Err(ApiError::NotFound(e.message)),
        }
    }
}

/// A JSON body that may be left out entirely (then `T::default()`); when present it is held to
/// the same rules as [`Body`].
#[derive(Debug)]
pub struct OptionalBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(e.body_text())
            }
        })?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        axum::Json::<T>::from_bytes(&bytes).map(|axum::Json(v)| Self(v)).map_err(|e| json_rejection(&e))
    }
}

/// An operator's reason (for a pause, an emergency override): trimmed, 1 to 500 characters, else
/// a 422 naming `reason`.
pub fn reason(text: &str) -> Result<String, ValidationError> {
    let reason = text.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ValidationError::new("reason", "must be 1 to 500 characters"));
    }
    Ok(reason.to_owned())
}
