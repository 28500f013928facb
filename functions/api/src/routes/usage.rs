use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use shared::cost::TaskType;
use shared::cost::usage::{UsageRecord, hour_of};
use shared::domain::Severity;
use shared::error::ValidationError;
use shared::store::{Idempotency, IdempotencyError, IdempotencyOutcome, StoreError};
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
    #[schema(maximum = 10_000_000)]
    pub input_tokens: u64,
    #[schema(maximum = 10_000_000)]
    pub output_tokens: u64,
    /// In ms.
    #[schema(minimum = 0, maximum = 3_600_000)]
    pub latency_ms: Option<f64>,
    /// When the call was made (default now); at most 24 hours ago, not in the future. A call
    /// older than the previous hour is priced by the next sweep into its hour's stored total.
    pub timestamp: Option<DateTime<Utc>>,
    /// The caller's id for this report (1 to 128 of `A-Z a-z 0-9 . _ : -`): a retry with the same
    /// id within 24 hours counts once and gets the first answer.
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub request_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageResponse {
    /// The hour whose counters it was added to.
    pub hour: DateTime<Utc>,
    pub timestamp: DateTime<Utc>,
    /// False when this answers a retry of a `request_id` already counted.
    pub counted: bool,
}

/// What a `request_id` remembers: the first answer and what it counted.
#[derive(Debug, Serialize, Deserialize)]
struct Counted {
    hour: DateTime<Utc>,
    timestamp: DateTime<Utc>,
    call: UsageRecord,
}

/// How long a `request_id` is remembered: as far back as a call may be dated.
const REQUEST_ID_MEMORY_HOURS: i64 = 24;
/// The longest a request id may be.
const MAX_REQUEST_ID: usize = 128;

fn valid_request_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The same call, bar when it was made (a retry without `timestamp` is dated anew).
fn same_call(a: &UsageRecord, b: &UsageRecord) -> bool {
    (&a.model, &a.task_type, a.severity, a.input_tokens, a.output_tokens)
        == (&b.model, &b.task_type, b.severity, b.input_tokens, b.output_tokens)
}

/// Adds one model call to its hour's counters (one atomic update per call); with `request_id`,
/// at most once.
#[utoipa::path(post, path = "/usage", tag = "cost",
    request_body = UsageRequest,
    responses(
        (status = 200, body = UsageResponse),
        (status = 409, description = "The request_id is being counted right now, or was used for another call", body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::Problem, content_type = "application/problem+json"),
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
    let Some(id) = request.request_id else {
        state.usage.report(&call, now).await?;
        return Ok(Json(UsageResponse { hour: hour_of(call.timestamp), timestamp: now, counted: true }));
    };
    if !valid_request_id(&id) {
        return Err(ValidationError::new(
            "request_id",
            format!("is 1 to {MAX_REQUEST_ID} of A-Z a-z 0-9 . _ : -"),
        )
        .into());
    }
    let once = Idempotency::new(state.store.as_ref(), state.clock.as_ref())
        .expires_after(Duration::hours(REQUEST_ID_MEMORY_HOURS))
        .in_progress_timeout(Duration::from_std(crate::REQUEST_DEADLINE).unwrap_or(Duration::seconds(10)));
    let outcome = once
        .run(&format!("usage#{id}"), || async {
            state.usage.report(&call, now).await?;
            Ok::<_, StoreError>(Counted { hour: hour_of(call.timestamp), timestamp: now, call: call.clone() })
        })
        .await;
    match outcome {
        Ok(IdempotencyOutcome::Executed(c)) => {
            Ok(Json(UsageResponse { hour: c.hour, timestamp: c.timestamp, counted: true }))
        }
        Ok(IdempotencyOutcome::Replayed(c)) if same_call(&c.call, &call) => {
            Ok(Json(UsageResponse { hour: c.hour, timestamp: c.timestamp, counted: false }))
        }
        Ok(IdempotencyOutcome::Replayed(_)) => Err(ApiError::Conflict(format!(
            "request_id {id} was counted for another call (model, task, severity or tokens differ)"
        ))),
        Err(IdempotencyError::InProgress) => {
            Err(ApiError::Conflict(format!("request_id {id} is being counted right now; retry")))
        }
        Err(IdempotencyError::InvalidId(why)) => Err(ValidationError::new("request_id", why).into()),
        Err(IdempotencyError::Store(e) | IdempotencyError::Handler(e)) => Err(e.into()),
    }
}
