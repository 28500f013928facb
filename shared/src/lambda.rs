//! What the event-driven functions (scaler, cost-sweeper, warmer) share about Lambda itself: the
//! error that asks Lambda to retry, and telling a scheduled event from anything else.

use serde_json::Value;

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

/// The id of an EventBridge scheduled event, or why `payload` is not one.
pub fn scheduled_event_id(payload: &Value) -> Result<&str, String> {
    let detail_type = payload.get("detail-type").and_then(Value::as_str);
    match (detail_type, payload.get("id").and_then(Value::as_str)) {
        (Some("Scheduled Event"), Some(id)) => Ok(id),
        _ => Err(format!("not an EventBridge scheduled event (detail-type {detail_type:?})")),
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
