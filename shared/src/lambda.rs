//! What the event-driven functions (scaler, cost-sweeper, warmer) share about Lambda itself: the
//! error that asks Lambda to retry, and telling a scheduled event from anything else.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::clock::Clock;
use crate::store::{Idempotency, IdempotencyError, IdempotencyOutcome, Store};

/// How long a scheduled event's outcome is kept for its retried deliveries: longer than any
/// event's retries last (its rule's maximum event age plus its function's, checked in the
/// template by scripts/check-template.py).
const SCHEDULED_EVENT_MEMORY: Duration = Duration::hours(1);

/// What became of a scheduled event.
#[derive(Debug, Clone, PartialEq)]
pub enum Scheduled<T> {
    /// Not a scheduled event (or one without a usable id); retrying would not help.
    Ignored(String),
    Ran(T),
    /// A retried delivery: the first delivery's outcome.
    Replayed(T),
}

/// An error Lambda should retry (the store or AWS was unavailable, or writers contended): reported
/// as an invocation error of type `Retryable`, so the event is delivered again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RetryableError(pub String);

impl From<RetryableError> for lambda_runtime::Diagnostic {
    fn from(e: RetryableError) -> Self {
        Self { error_type: "Retryable".into(), error_message: e.0 }
    }
}

/// When the invocation must be done: Lambda's deadline for it (none outside Lambda). An
/// idempotency claim holds exactly that long, so a retry neither waits past it nor takes over a
/// run that is still within its time.
pub fn deadline_of(context: &lambda_runtime::Context) -> Option<DateTime<Utc>> {
    i64::try_from(context.deadline).ok().filter(|ms| *ms > 0).and_then(DateTime::from_timestamp_millis)
}

/// The metric each successful scheduled run writes (dimension `Run`): the stack's silence alarms
/// (template.yaml, `*SilenceAlarm`) go off when minutes pass without one, so a schedule that
/// stopped, or runs that keep failing, are noticed.
pub const RUN_SUCCEEDED: &str = "ScheduledRunSucceeded";

/// The scheduled runs, as the `Run` dimension names them.
pub const RUNS: [&str; 3] = ["tick", "sweep", "warm"];

/// Records that scheduled run `run` (one of [`RUNS`]) succeeded at `at`.
pub fn run_succeeded(metrics: &crate::telemetry::EmfSink, run: &'static str, at: DateTime<Utc>) {
    use crate::telemetry::{Dimension, Unit};
    if let Ok(set) =
        metrics.set().dimension(Dimension::Run(run)).and_then(|s| s.metric(RUN_SUCCEEDED, Unit::Count, 1.0))
    {
        metrics.emit(&set, at);
    }
}

/// The id of an EventBridge scheduled event, or why `payload` is not one.
pub fn scheduled_event_id(payload: &Value) -> Result<&str, String> {
    let detail_type = payload.get("detail-type").and_then(Value::as_str);
    match (detail_type, payload.get("id").and_then(Value::as_str)) {
        (Some("Scheduled Event"), Some(id)) => Ok(id),
        _ => Err(format!("not an EventBridge scheduled event (detail-type {detail_type:?})")),
    }
}

/// Runs `work` once per EventBridge scheduled event (`prefix` keeps functions apart): a retried
/// delivery gets the first outcome back instead of running it again.
pub async fn once_per_scheduled_event<T, F, Fut>(
    store: &dyn Store,
    clock: &dyn Clock,
    payload: &Value,
    deadline: Option<DateTime<Utc>>,
    prefix: &str,
    work: F,
) -> Result<Scheduled<T>, RetryableError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, RetryableError>>,
{
    let id = match scheduled_event_id(payload) {
        Ok(id) => id,
        Err(reason) => {
            tracing::warn!(%reason, "event ignored");
            return Ok(Scheduled::Ignored(reason));
        }
    };
    let idempotency = Idempotency::new(store, clock).expires_after(SCHEDULED_EVENT_MEMORY).until(deadline);
    match idempotency.run(&format!("{prefix}#{id}"), work).await {
        Ok(IdempotencyOutcome::Executed(t)) => Ok(Scheduled::Ran(t)),
        Ok(IdempotencyOutcome::Replayed(t)) => Ok(Scheduled::Replayed(t)),
        Err(IdempotencyError::Handler(e)) => Err(e),
        Err(IdempotencyError::InProgress) => Err(RetryableError("the same event is being handled".into())),
        Err(IdempotencyError::InvalidId(e)) => Ok(Scheduled::Ignored(e)),
        Err(IdempotencyError::Store(e)) => Err(RetryableError(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scheduled_events_are_told_apart() {
        assert_eq!(scheduled_event_id(&json!({"detail-type": "Scheduled Event", "id": "e-1"})), Ok("e-1"));
        for other in [
            json!({"detail-type": "CloudWatch Alarm State Change", "id": "e-1"}),
            json!({"detail-type": "Scheduled Event"}),
            json!([]),
        ] {
            assert!(scheduled_event_id(&other).is_err(), "{other}");
        }
        let d: lambda_runtime::Diagnostic = RetryableError("store down".into()).into();
        assert_eq!((d.error_type.as_str(), d.error_message.as_str()), ("Retryable", "store down"));
    }
}
