use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use shared::cost::usage::{UsageRecord, hour_of};
use shared::error::ValidationError;
use shared::store::{Idempotency, IdempotencyError, IdempotencyOutcome, StoreError};
use shared::wire::{UsageRequest, UsageResponse};

use crate::extract::Body;
use crate::{ApiError, AppState};

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
