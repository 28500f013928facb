//! The warmer Lambda: each EventBridge scheduled event carries out the warming plan once (a
//! retried delivery replays the first outcome).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::clock::Clock;
use shared::store::Store;
use shared::warming::warmer::{WarmRun, Warmer};

pub use shared::lambda::RetryableError;
use shared::lambda::{Scheduled, once_per_scheduled_event};

#[derive(Debug, Clone)]
pub struct WarmerDeps {
    pub warmer: Warmer,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Where each successful run's heartbeat goes (`ScheduledRunSucceeded`, `Run=warm`).
    pub metrics: shared::telemetry::EmfSink,
    /// Where the control plane runs in several regions: only the lease holder's runs act.
    pub leadership: Option<shared::leadership::Leadership>,
}

impl WarmerDeps {
    /// The handler's parts, as `container` builds them.
    pub fn of(container: &shared::runtime::Container) -> Self {
        Self {
            warmer: container.warmer(),
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
    pub run: Option<WarmRun>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The run warmed what the plan asked for.
    Warmed,
    /// This delivery was handled before; its first outcome is repeated.
    Replayed,
    /// Not a scheduled event.
    Ignored,
    /// Another region's control plane holds the lease; this one did nothing.
    #[serde(rename = "standing_by")]
    StandingBy,
}

fn ignored(reason: String) -> Outcome {
    Outcome { status: Status::Ignored, run: None, reason: Some(reason) }
}

/// Handles one scheduled event. One failing target is reported in the run, never fails the rest.
/// `deadline` is the invocation's (none outside Lambda): a retried delivery waits for it, never
/// longer.
pub async fn handle_schedule(
    deps: &WarmerDeps,
    payload: &Value,
    deadline: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Outcome, RetryableError> {
    let gate = shared::leadership::gate(deps.leadership.as_ref(), "warming-run").await;
    if let Some(reason) = gate.map_err(|e| RetryableError(format!("control-plane lease: {e}")))? {
        tracing::info!(%reason, "run skipped");
        // A standby's run ran as it should: its silence alarm watches the function, not the lease.
        shared::lambda::run_succeeded(&deps.metrics, "warm", deps.clock.now());
        return Ok(Outcome { status: Status::StandingBy, ..ignored(reason) });
    }
    let run = || async {
        let run = deps.warmer.scheduled(deps.clock.now()).await.map_err(|e| RetryableError(e.to_string()))?;
        if !run.unrecorded.is_empty() {
            // The pings went out; what they did is not stored. Lambda retries the event, and the
            // retry (planned from what is stored) warms and records again.
            tracing::error!(unrecorded = ?run.unrecorded, warmed = run.successful_warmings, "partial failure: the warming run could not be recorded");
            return Err(RetryableError(format!(
                "partial failure: {} targets warmed and {} failed, but the store refused {}",
                run.successful_warmings,
                run.failed_warmings,
                run.unrecorded.join("; ")
            )));
        }
        tracing::info!(
            warmed = run.successful_warmings,
            failed = run.failed_warmings,
            cost = run.estimated_cost,
            unreachable = run.unreachable.as_deref().unwrap_or(""),
            "warming run"
        );
        shared::lambda::run_succeeded(&deps.metrics, "warm", deps.clock.now());
        Ok::<_, RetryableError>(Outcome { status: Status::Warmed, run: Some(run), reason: None })
    };
    Ok(
        match once_per_scheduled_event(
            deps.store.as_ref(),
            deps.clock.as_ref(),
            payload,
            deadline,
            "warm",
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
