//! The scaling evaluation with its I/O: read, plan (pure), write with a version condition
//! (retrying when another evaluation won), keep the events, actuate.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use thiserror::Error;

use super::actuator::{Actuator, ActuatorError};
use super::cost_gate::{CostGate, Spend};
use super::plan::{Evaluation, PlanInput, current_replicas, plan};
use super::regions::{RegionView, known_replicas, live_by_region};
use super::state::FleetState;
use crate::domain::{AgentType, Region, Severity};
use crate::store::StoreError;

/// Optimistic-locking rounds before an evaluation gives up (each round, one writer wins).
const ATTEMPTS: u32 = 40;
/// How long every scaling and failover event is kept.
pub const EVENT_TTL_DAYS: i64 = 30;

/// One request to evaluate an agent type.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingRequest {
    pub agent_type: AgentType,
    /// A type-wide utilization (0-1), as an alarm carries it.
    pub utilization: Option<f64>,
    /// The severity of the work the scale-up would serve (for the cost gate).
    pub severity: Severity,
    pub dry_run: bool,
    /// The alarm's state-change time, when an alarm asked: older or repeated alarms change nothing.
    pub alarm_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Error)]
pub enum ScalingError {
    #[error("agent type {0} has no scaling policy")]
    UnknownAgentType(AgentType),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Actuator(#[from] ActuatorError),
    #[error("gave up after {ATTEMPTS} conflicting concurrent evaluations")]
    Contention,
}

impl ScalingError {
    /// Whether the event that asked should be retried by Lambda.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::UnknownAgentType(_) => false,
            Self::Store(e) => e.is_retryable(),
            Self::Actuator(e) => e.retryable,
            Self::Contention => true,
        }
    }
}

/// What every evaluation of one round reads alike.
#[derive(Debug, Clone)]
struct SharedInputs {
    regions: Vec<RegionView>,
    spend: Spend,
}

/// Evaluates agent types against their policies and applies the decisions.
#[derive(Debug, Clone)]
pub struct Scaler {
    fleet: FleetState,
    regions: Vec<Region>,
    gate: CostGate,
    actuator: Arc<dyn Actuator>,
}

impl Scaler {
    pub fn new(fleet: FleetState, regions: Vec<Region>, gate: CostGate, actuator: Arc<dyn Actuator>) -> Self {
        Self { fleet, regions, gate, actuator }
    }

    async fn region_views(&self) -> Result<Vec<RegionView>, StoreError> {
        Ok(self
            .fleet
            .region_health(&self.regions)
            .await?
            .into_iter()
            .map(|(region, health)| RegionView {
                region,
                weight: health.as_ref().map_or(1.0, |h| h.weight),
                marked_healthy: health.as_ref().is_none_or(|h| h.healthy),
                healthy_fraction: None,
            })
            .collect())
    }

    pub async fn evaluate(
        &self,
        request: &ScalingRequest,
        now: DateTime<Utc>,
    ) -> Result<Evaluation, ScalingError> {
        let shared = self.shared_inputs().await?;
        self.evaluate_with(request, &shared, now).await
    }

    /// Evaluates several requests one after another, reading the region marks and the spend
    /// once for all of them.
    pub async fn evaluate_many(
        &self,
        requests: &[ScalingRequest],
        now: DateTime<Utc>,
    ) -> Result<Vec<Evaluation>, ScalingError> {
        let shared = self.shared_inputs().await?;
        let mut evaluations = Vec::with_capacity(requests.len());
        for request in requests {
            evaluations.push(self.evaluate_with(request, &shared, now).await?);
        }
        Ok(evaluations)
    }

    async fn shared_inputs(&self) -> Result<SharedInputs, StoreError> {
        let regions = self.region_views().await?;
        let control = self.fleet.cost_control().await?;
        Ok(SharedInputs {
            regions,
            spend: Spend { hourly: control.current_hourly_spend, emergency: control.emergency_mode },
        })
    }

    async fn evaluate_with(
        &self,
        request: &ScalingRequest,
        shared: &SharedInputs,
        now: DateTime<Utc>,
    ) -> Result<Evaluation, ScalingError> {
        let SharedInputs { regions, spend } = shared;
        let spend = *spend;
        let agent_type = &request.agent_type;
        let policy = self
            .fleet
            .policy(agent_type)
            .await?
            .ok_or_else(|| ScalingError::UnknownAgentType(agent_type.clone()))?
            .policy;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(StdDuration::from_millis(u64::from(attempt.min(10)) * 5)).await;
            }
            let (state, version) = self.fleet.scaling_state(agent_type).await?;
            let replicas = self.fleet.replicas(agent_type).await?;
            if let (Some(at), Some(last)) = (request.alarm_at, state.last_alarm_at)
                && at <= last
            {
                // A repeated or late alarm decides nothing; the decision in force is re-applied in
                // case the first delivery failed after storing it.
                let current = current_replicas(&policy, &state, replicas.len());
                let actions_taken = if request.dry_run {
                    Vec::new()
                } else {
                    self.actuator.apply(agent_type, &state.desired).await?
                };
                return Ok(Evaluation {
                    agent_type: agent_type.clone(),
                    current,
                    desired: current,
                    desired_by_region: state.desired.clone(),
                    live_by_region: live_by_region(&known_replicas(&replicas)),
                    reasons: vec![format!(
                        "alarm of {at} is not newer than the last one applied ({last}): nothing changes"
                    )],
                    actions_taken,
                    cost_impact: 0.0,
                    failovers: Vec::new(),
                    warnings: Vec::new(),
                    dry_run: request.dry_run,
                    applied: false,
                    evaluated_at: now,
                });
            }
            let planned = plan(&PlanInput {
                agent_type,
                policy: &policy,
                state: &state,
                replicas: &replicas,
                utilization: request.utilization,
                severity: request.severity,
                regions,
                spend,
                gate: &self.gate,
                alarm_at: request.alarm_at,
                dry_run: request.dry_run,
                now,
            });
            if request.dry_run {
                return Ok(planned.evaluation);
            }
            match self.fleet.put_scaling_state(agent_type, &planned.state, version).await {
                Ok(_) => {}
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
            if !planned.events.is_empty()
                && let Err(e) = self
                    .fleet
                    .record_events(agent_type, &planned.events, Duration::days(EVENT_TTL_DAYS))
                    .await
            {
                // The state item carries the recent events too, so the record is not lost.
                tracing::warn!(error = %e, %agent_type, "could not keep scaling events as items");
            }
            let mut evaluation = planned.evaluation;
            evaluation.actions_taken = self.actuator.apply(agent_type, &planned.state.desired).await?;
            evaluation.applied = true;
            tracing::info!(%agent_type, current = evaluation.current, desired = evaluation.desired, "scaling evaluated");
            return Ok(evaluation);
        }
        Err(ScalingError::Contention)
    }
}
