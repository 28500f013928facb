//! The cost-sweeper Lambda: each EventBridge scheduled event runs one cost sweep, at most once per
//! event (a retried delivery replays the first outcome).

use std::sync::Arc;

use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::clock::Clock;
use shared::cost::control::ControlChange;
use shared::cost::levels::Level;
use shared::cost::sweep::{SweepError, Sweeper};
use shared::store::Store;

pub use shared::lambda::RetryableError;
use shared::lambda::{Scheduled, once_per_scheduled_event};

/// What the handler needs, built once per container in `main`.
#[derive(Debug, Clone)]
pub struct SweeperDeps {
    pub sweeper: Sweeper,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Where each successful sweep's heartbeat goes (`ScheduledRunSucceeded`, `Run=sweep`).
    pub metrics: shared::telemetry::EmfSink,
    /// Where the control plane runs in several regions: only the lease holder's runs act.
    pub leadership: Option<shared::leadership::Leadership>,
}

impl SweeperDeps {
    /// The handler's parts, as `container` builds them.
    pub fn of(container: &shared::runtime::Container) -> Self {
        Self {
            sweeper: container.sweeper(),
            store: container.store.clone(),
            clock: container.clock.clone(),
            metrics: shared::telemetry::EmfSink::from_config(&container.settings.config),
            leadership: container.leadership(),
        }
    }
}

/// The answer for each delivery, also what a repeated delivery replays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
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

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The sweep ran.
    Swept,
    /// This delivery was handled before; its first outcome is repeated.
    Replayed,
    /// Not a scheduled event.
    Ignored,
    /// Another region's control plane holds the lease; this one did nothing.
    #[serde(rename = "standing_by")]
    StandingBy,
}

fn ignored(reason: String) -> Outcome {
    Outcome {
        status: Status::Ignored,
        hourly_cost: None,
        daily_projection: None,
        level: None,
        emergency_mode: false,
        actions: Vec::new(),
        missing_sources: Vec::new(),
        reason: Some(reason),
    }
}

pub async fn handle(deps: &SweeperDeps, event: LambdaEvent<Value>) -> Result<Outcome, RetryableError> {
    handle_schedule(deps, &event.payload, shared::lambda::deadline_of(&event.context)).await
}

/// Handles one scheduled event: what the Lambda and `commander serve` both run. `deadline` is
/// the invocation's (none outside Lambda): a retried delivery waits for it, never longer.
pub async fn handle_schedule(
    deps: &SweeperDeps,
    payload: &Value,
    deadline: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Outcome, RetryableError> {
    let gate = shared::leadership::gate(deps.leadership.as_ref(), "cost-sweep").await;
    if let Some(reason) = gate.map_err(|e| RetryableError(format!("control-plane lease: {e}")))? {
        tracing::info!(%reason, "run skipped");
        // A standby's run ran as it should: its silence alarm watches the function, not the lease.
        shared::lambda::run_succeeded(&deps.metrics, "sweep", deps.clock.now());
        return Ok(Outcome { status: Status::StandingBy, ..ignored(reason) });
    }
    let run = || async {
        let report = deps.sweeper.sweep(deps.clock.now()).await.map_err(|e| match e {
            SweepError::Store(e) => RetryableError(e.to_string()),
            e @ (SweepError::Contended | SweepError::CapsIncomplete(_)) => RetryableError(e.to_string()),
        })?;
        tracing::info!(
            hourly_cost = report.current_metrics.hourly_cost,
            level = %report.current_metrics.cost_threshold,
            emergency = report.emergency_mode,
            "swept"
        );
        shared::lambda::run_succeeded(&deps.metrics, "sweep", report.timestamp);
        Ok::<_, RetryableError>(Outcome {
            status: Status::Swept,
            hourly_cost: Some(report.current_metrics.hourly_cost),
            daily_projection: Some(report.current_metrics.daily_projection),
            level: Some(report.current_metrics.cost_threshold),
            emergency_mode: report.emergency_mode,
            actions: report.actions,
            missing_sources: report.sources.missing.into_iter().chain(report.sources.failed).collect(),
            reason: None,
        })
    };
    Ok(
        match once_per_scheduled_event(
            deps.store.as_ref(),
            deps.clock.as_ref(),
            payload,
            deadline,
            "sweep",
            run,
        )
        .await?
        {
            Scheduled::Ran(outcome) => outcome,
            Scheduled::Replayed(outcome) => Outcome { status: Status::Replayed, ..outcome },
            Scheduled::Ignored(reason) => ignored(reason),
        },
    )
}
