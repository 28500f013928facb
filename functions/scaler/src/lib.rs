//! The scaler Lambda: a CloudWatch alarm (invoking it directly, or through EventBridge) becomes a
//! scaling evaluation of the alarm's agent type, applied at most once per alarm transition.

use std::sync::Arc;

use chrono::Duration;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use shared::clock::Clock;
use shared::domain::Severity;
use shared::scaling::alarm::{AlarmError, parse_alarm_event};
use shared::scaling::plan::Evaluation;
use shared::scaling::service::{Scaler, ScalingError, ScalingRequest};
use shared::store::{Idempotency, IdempotencyError, IdempotencyOutcome, Store};

pub use shared::lambda::RetryableError;

/// Severity assumed for an alarm that names none: scale-ups then stop only at the emergency level.
pub const DEFAULT_SEVERITY: Severity = Severity::High;

/// What the handler needs, built once per container in `main`.
#[derive(Debug, Clone)]
pub struct ScalerDeps {
    pub scaler: Scaler,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
}

/// The answer for each delivery, also what a repeated delivery replays.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Outcome {
    /// `applied`, `unchanged` (a repeated or older alarm), `replayed` (this delivery was seen
    /// before) or `ignored` (not an alarm the scaler can use; retrying would not help).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn ignored(reason: String) -> Outcome {
    tracing::warn!(%reason, "event ignored");
    Outcome { status: "ignored".into(), evaluation: None, reason: Some(reason) }
}

pub async fn handle(deps: &ScalerDeps, event: LambdaEvent<Value>) -> Result<Outcome, RetryableError> {
    handle_alarm(deps, &event.payload).await
}

/// Handles one alarm event in either form; what the Lambda and `commander serve` both run.
pub async fn handle_alarm(deps: &ScalerDeps, payload: &Value) -> Result<Outcome, RetryableError> {
    let signal = match parse_alarm_event(payload) {
        Ok(s) => s,
        Err(
            e @ (AlarmError::NotAnAlarm(_)
            | AlarmError::NoState(_)
            | AlarmError::NoAgentType(_)
            | AlarmError::BadDimension { .. }),
        ) => {
            return Ok(ignored(e.to_string()));
        }
    };
    let request = ScalingRequest {
        agent_type: signal.agent_type.clone(),
        utilization: signal.utilization,
        severity: signal.severity.unwrap_or(DEFAULT_SEVERITY),
        dry_run: false,
        alarm_at: Some(signal.at),
    };
    tracing::info!(alarm = %signal.alarm_name, agent_type = %signal.agent_type, utilization = ?signal.utilization, "alarm received");
    let now = deps.clock.now();
    let idempotency = Idempotency::new(deps.store.as_ref(), deps.clock.as_ref())
        .expires_after(Duration::hours(24))
        .in_progress_timeout(Duration::seconds(60));
    let result = idempotency
        .run(&format!("scaler#{}", signal.event_id), || async {
            let evaluation = deps.scaler.evaluate(&request, now).await?;
            Ok::<_, ScalingError>(outcome(&evaluation))
        })
        .await;
    match result {
        Ok(IdempotencyOutcome::Executed(outcome)) => Ok(outcome),
        Ok(IdempotencyOutcome::Replayed(mut outcome)) => {
            outcome.status = "replayed".into();
            Ok(outcome)
        }
        Err(IdempotencyError::Handler(e)) if !e.is_retryable() => Ok(ignored(e.to_string())),
        Err(IdempotencyError::Handler(e)) => Err(RetryableError(e.to_string())),
        Err(IdempotencyError::InProgress) => {
            Err(RetryableError(format!("alarm {} is being handled by another invocation", signal.event_id)))
        }
        Err(IdempotencyError::InvalidId(e)) => Ok(ignored(e)),
        Err(IdempotencyError::Store(e)) => Err(RetryableError(e.to_string())),
    }
}

fn outcome(evaluation: &Evaluation) -> Outcome {
    Outcome {
        status: if evaluation.applied { "applied" } else { "unchanged" }.into(),
        evaluation: serde_json::to_value(evaluation).ok(),
        reason: None,
    }
}
