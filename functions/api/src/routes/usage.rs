use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::cost::TaskType;
use shared::cost::usage::{UsageRecord, hour_of};
use shared::domain::Severity;
use utoipa::ToSchema;

use crate::extract::Body;
use crate::{ApiError, AppState};

/// One model call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageRequest {
    /// A model id of the price table in force, e.g. `anthropic.claude-sonnet-4`.
    pub model: String,
    /// What the call was for: an agent type or any other task name (a-z, 0-9, '-', '_').
    #[schema(value_type = String)]
    pub task_type: TaskType,
    pub severity: Severity,
    /// At most 10,000,000.
    pub input_tokens: u64,
    /// At most 10,000,000.
    pub output_tokens: u64,
    /// 0 to 3,600,000 ms.
    pub latency_ms: Option<f64>,
    /// When the call was made (default now); at most 24 hours ago, not in the future.
    pub timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageResponse {
    /// The hour whose counters it was added to.
    pub hour: DateTime<Utc>,
    pub timestamp: DateTime<Utc>,
}

/// Adds one model call to its hour's counters (one atomic update per call).
#[utoipa::path(post, path = "/usage", tag = "cost",
    request_body = UsageRequest,
    responses(
        (status = 200, body = UsageResponse),
        (status = 400, body = crate::Problem, content_type = "application/problem+json"),
        (status = 413, body = crate::Problem, content_type = "application/problem+json"),
        (status = 415, body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::Problem, content_type = "application/problem+json"),
        (status = 503, body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn record(
    State(state): State<AppState>,
    Body(request): Body<UsageRequest>,
) -> Result<Json<UsageResponse>, ApiError> {
    let now = state.clock.now();
    let call = UsageRecord {
        model: request.model,
        task_type: request.task_type,
        severity: request.severity,
        input_tokens: request.input_tokens,
        output_tokens: request.output_tokens,
        latency_ms: request.latency_ms,
        timestamp: request.timestamp.unwrap_or(now),
    };
    let (prices, _) = state.prices.current().await?;
    call.validate(&prices, now)?;
    state.usage.record(&call).await?;
    Ok(Json(UsageResponse { hour: hour_of(call.timestamp), timestamp: now }))
}
