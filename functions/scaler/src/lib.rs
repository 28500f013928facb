//! The scaler Lambda: the EventBridge schedule's tick evaluates every agent type on its live
//! signals; a managed alarm's transition to ALARM (invoking it directly, or through EventBridge)
//! evaluates its type at once, through the same code path. Each event is handled at most once.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use shared::clock::Clock;
use shared::leadership::Leadership;
use shared::scaling::alarm::{AlarmSignal, AlarmState, parse_managed_alarm_event};
use shared::scaling::plan::Evaluation;
use shared::scaling::service::{Scaler, ScalingError, ScalingRequest, TickReport};
use shared::store::{Idempotency, IdempotencyError, IdempotencyOutcome, Store};

pub use shared::lambda::RetryableError;
use shared::telemetry::EmfSink;

pub mod metrics;

/// EventBridge's detail type for a schedule's events.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// What the handler needs, built once per container in `main`.
#[derive(Debug, Clone)]
pub struct ScalerDeps {
    pub scaler: Scaler,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Where the fleet's figures and the tick's heartbeat go (see [`metrics`]).
    pub metrics: EmfSink,
    /// Where the control plane runs in several regions: only the lease holder's runs act.
    pub leadership: Option<Leadership>,
}

impl ScalerDeps {
    /// The handler's parts, as `container` builds them.
    pub fn of(container: &shared::runtime::Container) -> Self {
        let leadership = container.leadership();
        let scaler = match &leadership {
            Some(l) => container.scaler().with_fence(l.fence()),
            None => container.scaler(),
        };
        Self {
            scaler,
            store: container.store.clone(),
            clock: container.clock.clone(),
            metrics: shared::telemetry::EmfSink::from_config(&container.settings.config),
            leadership,
        }
    }

    /// Whether this region acts now (renewing or taking the lease as it goes): `Ok(None)` to go
    /// ahead, `Ok(Some(outcome))` to stand by, `Err` when the lease could not be read or written.
    async fn stand_by(&self, by: &str) -> Result<Option<Outcome>, RetryableError> {
        let gate = shared::leadership::gate(self.leadership.as_ref(), by).await;
        let reason = gate.map_err(|e| RetryableError(format!("control-plane lease: {e}")))?;
        Ok(reason.map(|reason| {
            tracing::info!(%reason, "scaler run skipped");
            Outcome { status: Status::StandingBy, evaluation: None, tick: None, reason: Some(reason) }
        }))
    }
}

/// The answer for each delivery, also what a repeated delivery replays.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Outcome {
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A scheduled tick: every type evaluated.
    Ticked,
    /// An alarm's evaluation changed the desired counts.
    Applied,
    /// An alarm's evaluation left them as they were (a repeated or older alarm).
    Unchanged,
    /// This delivery was handled before; its first outcome is repeated.
    Replayed,
    /// Not an event the scaler acts on; retrying would not help.
    Ignored,
    /// Another region's control plane holds the lease; this one did nothing.
    #[serde(rename = "standing_by")]
    StandingBy,
}

fn ignored(reason: String) -> Outcome {
    tracing::warn!(%reason, "event ignored");
    Outcome { status: Status::Ignored, evaluation: None, tick: None, reason: Some(reason) }
}

pub async fn handle(deps: &ScalerDeps, event: LambdaEvent<Value>) -> Result<Outcome, RetryableError> {
    handle_event(deps, &event.payload, shared::lambda::deadline_of(&event.context)).await
}

/// Handles one event of either kind; what the Lambda and `commander serve` both run. `deadline`
/// is the invocation's (none outside Lambda): a retried delivery waits for it, never longer.
pub async fn handle_event(
    deps: &ScalerDeps,
    payload: &Value,
    deadline: Option<DateTime<Utc>>,
) -> Result<Outcome, RetryableError> {
    let scheduled = payload.get("detail-type").and_then(Value::as_str) == Some(SCHEDULED_EVENT)
        && payload.get("source").and_then(Value::as_str) == Some("aws.events");
    if scheduled {
        return handle_tick(deps, payload, deadline).await;
    }
    handle_alarm(deps, payload, deadline).await
}

/// A scheduled tick: every agent type evaluated once per schedule event.
pub async fn handle_tick(
    deps: &ScalerDeps,
    payload: &Value,
    deadline: Option<DateTime<Utc>>,
) -> Result<Outcome, RetryableError> {
    let Some(id) = payload.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) else {
        return Ok(ignored("a scheduled event without an id".into()));
    };
    if let Some(standing_by) = deps.stand_by("scaler-tick").await? {
        // A standby's tick ran as it should: its silence alarm watches the function, not the lease.
        shared::lambda::run_succeeded(&deps.metrics, "tick", deps.clock.now());
        return Ok(standing_by);
    }
    let now = deps.clock.now();
    // The tick's own timeout is the function's (60 s); a schedule event older than an hour is
    // not delivered again (the template's maximum event age is shorter still).
    let idempotency = Idempotency::new(deps.store.as_ref(), deps.clock.as_ref())
        .expires_after(Duration::hours(1))
        .in_progress_timeout(Duration::seconds(60))
        .until(deadline);
    let result = idempotency
        .run(&format!("scaler-tick#{id}"), || async {
            let report = deps.scaler.tick(now).await.map_err(ScalingError::from)?;
            if report.retryable() {
                let failed: Vec<String> =
                    report.failures.iter().map(|f| format!("{}: {}", f.agent_type, f.error)).collect();
                return Err(TickError::Partial(failed.join("; ")));
            }
            metrics::tick(&deps.metrics, &report);
            Ok(tick_outcome(&report))
        })
        .await;
    match result {
        Ok(IdempotencyOutcome::Executed(outcome)) => Ok(outcome),
        Ok(IdempotencyOutcome::Replayed(mut outcome)) => {
            outcome.status = Status::Replayed;
            Ok(outcome)
        }
        Err(IdempotencyError::Handler(TickError::Scaling(e))) if !e.is_retryable() => {
            Ok(ignored(e.to_string()))
        }
        Err(IdempotencyError::Handler(e)) => Err(RetryableError(e.to_string())),
        Err(IdempotencyError::InProgress) => Err(RetryableError(format!("tick {id} is being handled"))),
        Err(IdempotencyError::InvalidId(e)) => Ok(ignored(e)),
        Err(IdempotencyError::Store(e)) => Err(RetryableError(e.to_string())),
    }
}

#[derive(Debug, thiserror::Error)]
enum TickError {
    #[error(transparent)]
    Scaling(#[from] ScalingError),
    #[error("some types could not be evaluated and may be on a retry: {0}")]
    Partial(String),
}

fn tick_outcome(report: &TickReport) -> Outcome {
    let changed = report.evaluations.iter().filter(|e| e.desired != e.in_force).count();
    tracing::info!(
        types = report.evaluations.len(),
        changed,
        regions = report.region_changes.len(),
        "scaler tick"
    );
    Outcome {
        status: Status::Ticked,
        evaluation: None,
        tick: serde_json::to_value(report).ok(),
        reason: None,
    }
}

/// Handles one alarm event in either form.
pub async fn handle_alarm(
    deps: &ScalerDeps,
    payload: &Value,
    deadline: Option<DateTime<Utc>>,
) -> Result<Outcome, RetryableError> {
    let signal: AlarmSignal = match parse_managed_alarm_event(payload, deps.scaler.alarm_prefix()) {
        Ok(s) => s,
        Err(e) => return Ok(ignored(e.to_string())),
    };
    if signal.state != AlarmState::Alarm {
        // Only a transition into ALARM asks for anything; the tick covers the rest.
        return Ok(ignored(format!("alarm {} is {:?}, not ALARM", signal.alarm_name, signal.state)));
    }
    let now = deps.clock.now();
    if signal.is_stale(now) {
        // The tick has evaluated the type since; acting on an old transition ("scale down now"
        // from an hour-old Low alarm) would undo newer decisions.
        return Ok(ignored(format!(
            "alarm {} changed state at {}, too long ago to act on",
            signal.alarm_name, signal.at
        )));
    }
    if let Some(standing_by) = deps.stand_by("scaler-alarm").await? {
        return Ok(standing_by);
    }
    let request = ScalingRequest::alarm(signal.agent_type.clone(), signal.at_most(now), signal.severity);
    tracing::info!(alarm = %signal.alarm_name, agent_type = %signal.agent_type, "alarm received");
    let idempotency = Idempotency::new(deps.store.as_ref(), deps.clock.as_ref())
        .expires_after(Duration::hours(24))
        .in_progress_timeout(Duration::seconds(60))
        .until(deadline);
    let result = idempotency
        .run(&format!("scaler#{}", signal.event_id), || async {
            let evaluation = deps.scaler.evaluate(&request, now).await?;
            metrics::evaluation(&deps.metrics, &evaluation, now);
            Ok::<_, ScalingError>(outcome(&evaluation))
        })
        .await;
    match result {
        Ok(IdempotencyOutcome::Executed(outcome)) => Ok(outcome),
        Ok(IdempotencyOutcome::Replayed(mut outcome)) => {
            outcome.status = Status::Replayed;
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
        status: if evaluation.applied { Status::Applied } else { Status::Unchanged },
        evaluation: serde_json::to_value(evaluation).ok(),
        tick: None,
        reason: None,
    }
}
