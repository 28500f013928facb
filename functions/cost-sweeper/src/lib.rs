//! The cost-sweeper Lambda: each EventBridge scheduled event runs one cost sweep, at most once per
//! event (a retried delivery replays the first outcome).

use std::sync::Arc;

use chrono::Duration;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::clock::Clock;
use shared::cost::control::ControlChange;
use shared::cost::levels::Level;
use shared::cost::sweep::{SweepError, Sweeper};
use shared::store::{Idempotency, IdempotencyError, IdempotencyOutcome, Store};

/// What the handler needs, built once per container in `main`.
#[derive(Debug, Clone)]
pub struct SweeperDeps {
    pub sweeper: Sweeper,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
}

/// The answer for each delivery, also what a repeated delivery replays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// `swept`, `replayed` (this delivery was handled before) or `ignored` (not a scheduled event).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly_cost: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_projection: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    #[serde(default)]
    pub emergency_mode: bool,
    #[serde(default)]
    pub actions: Vec<ControlChange>,
    /// Sources not configured or failed this time.
    #[serde(default)]
    pub missing_sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An error Lambda should retry (the store was unavailable, or the controls kept changing).
#[derive(Debug)]
pub struct RetryableError(pub String);

impl std::fmt::Display for RetryableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RetryableError {}

impl From<RetryableError> for Diagnostic {
    fn from(e: RetryableError) -> Self {
        Self { error_type: "Retryable".into(), error_message: e.0 }
    }
}

pub async fn handle(deps: &SweeperDeps, event: LambdaEvent<Value>) -> Result<Outcome, RetryableError> {
    handle_schedule(deps, &event.payload).await
}

/// Handles one scheduled event: what the Lambda and `commander serve` both run.
pub async fn handle_schedule(deps: &SweeperDeps, payload: &Value) -> Result<Outcome, RetryableError> {
    let detail_type = payload.get("detail-type").and_then(Value::as_str);
    let id = payload.get("id").and_then(Value::as_str);
    let (Some("Scheduled Event"), Some(id)) = (detail_type, id) else {
        let reason = format!("not an EventBridge scheduled event (detail-type {detail_type:?}, id {id:?})");
        tracing::warn!(%reason, "event ignored");
        return Ok(Outcome {
            status: "ignored".into(),
            hourly_cost: None,
            daily_projection: None,
            level: None,
            emergency_mode: false,
            actions: Vec::new(),
            missing_sources: Vec::new(),
            reason: Some(reason),
        });
    };
    let idempotency =
        Idempotency::new(deps.store.as_ref(), deps.clock.as_ref()).expires_after(Duration::hours(1));
    let run = || async {
        let report = deps.sweeper.sweep(deps.clock.now()).await.map_err(|e| match e {
            SweepError::Store(e) => RetryableError(e.to_string()),
            e @ SweepError::Contended => RetryableError(e.to_string()),
        })?;
        tracing::info!(
            hourly_cost = report.current_metrics.hourly_cost,
            level = %report.current_metrics.cost_threshold,
            emergency = report.emergency_mode,
            "swept"
        );
        Ok::<_, RetryableError>(Outcome {
            status: "swept".into(),
            hourly_cost: Some(report.current_metrics.hourly_cost),
            daily_projection: Some(report.current_metrics.daily_projection),
            level: Some(report.current_metrics.cost_threshold),
            emergency_mode: report.emergency_mode,
            actions: report.actions,
            missing_sources: report.sources.missing.into_iter().chain(report.sources.failed).collect(),
            reason: None,
        })
    };
    match idempotency.run(&format!("sweep#{id}"), run).await {
        Ok(IdempotencyOutcome::Executed(outcome)) => Ok(outcome),
        Ok(IdempotencyOutcome::Replayed(outcome)) => Ok(Outcome { status: "replayed".into(), ..outcome }),
        Err(IdempotencyError::Handler(e)) => Err(e),
        Err(IdempotencyError::InProgress) => Err(RetryableError("the same event is being swept".into())),
        Err(IdempotencyError::InvalidId(e)) => Ok(Outcome {
            status: "ignored".into(),
            hourly_cost: None,
            daily_projection: None,
            level: None,
            emergency_mode: false,
            actions: Vec::new(),
            missing_sources: Vec::new(),
            reason: Some(e),
        }),
        Err(IdempotencyError::Store(e)) => Err(RetryableError(e.to_string())),
    }
}
