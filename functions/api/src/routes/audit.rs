//! The audit trail, newest first: who changed what, from which value to which, when.

use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::audit::{AuditEntry, AuditFilter};
use shared::error::ValidationError;
use utoipa::{IntoParams, ToSchema};

use super::cost::whole_in;
use crate::{ApiError, AppState};

/// Most entries one answer carries.
const MAX_LIMIT: u32 = 100;
/// A cursor is a sort key the previous page ended on: a timestamp and a request id.
const MAX_CURSOR: usize = 200;
/// Filters longer than any principal ARN or route are refused, not compared.
const MAX_FILTER: usize = 512;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only changes by this principal (an IAM ARN, or `local`).
    #[param(max_length = 512)]
    pub principal: Option<String>,
    /// Only changes whose action starts with this: a method, or a method, a space and the start
    /// of a route (the price changes and emergency overrides start with PUT and /cost).
    #[param(max_length = 512)]
    pub action: Option<String>,
    /// Only changes at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// Only changes at or before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
    /// At most this many entries: 1 to 100 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next` of the previous answer.
    #[param(max_length = 200)]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditResponse {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `cursor` for the entries after these; absent at the end of the trail.
    pub next: Option<String>,
    pub timestamp: DateTime<Utc>,
}

/// Operator changes (kept 90 days), filtered and paged. An agent's own calls are in the HTTP
/// API's access log instead.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditParams),
    responses(
        (status = 200, body = AuditResponse),
        (status = 422, body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditResponse>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = whole_in(params.limit.as_deref(), "limit", 50, MAX_LIMIT)?;
    let filter = AuditFilter {
        principal: bounded(params.principal, "principal")?,
        action_prefix: bounded(params.action, "action")?,
        since: instant(params.since.as_deref(), "since")?,
        until: instant(params.until.as_deref(), "until")?,
    };
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && since > until
    {
        return Err(ValidationError::new("since", "must not be after until").into());
    }
    let cursor = match params.cursor {
        Some(c) if c.is_empty() || c.len() > MAX_CURSOR || !c.is_ascii() => {
            return Err(ValidationError::new("cursor", "is not one this route answered").into());
        }
        other => other,
    };
    let page = state.audit.read(&filter, limit as usize, cursor).await?;
    Ok(Json(AuditResponse { entries: page.entries, next: page.next, timestamp: state.clock.now() }))
}

fn bounded(value: Option<String>, field: &str) -> Result<Option<String>, ValidationError> {
    match value {
        Some(v) if v.is_empty() || v.chars().count() > MAX_FILTER => {
            Err(ValidationError::new(field, format!("must be 1 to {MAX_FILTER} characters")))
        }
        other => Ok(other),
    }
}

fn instant(value: Option<&str>, field: &str) -> Result<Option<DateTime<Utc>>, ValidationError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ValidationError::new(field, "must be an RFC 3339 instant"))
        })
        .transpose()
}
