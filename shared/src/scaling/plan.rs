//! One scaling evaluation as a pure function: from the policy, the stored state, the live replicas,
//! the regions, the spend and `now` to the new state, its events and the answer to report.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::ScalingPolicy;
use super::autoscaler::{Observation, decide};
use super::cost_gate::{CostGate, GateOutcome, Spend};
use super::hpa::HpaPolicy;
use super::records::{AgentScalingState, EventKind, RECENT_EVENTS, ScalingEventRecord};
use super::regions::{
    FailedReplica, RegionView, distribute, failed_replicas, healthy_fractions, known_replicas,
    live_by_region, n_plus_one_warning,
};
use crate::domain::{AgentType, Replica, Severity};

/// What an evaluation decided, as the API and the scaler report it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Evaluation {
    #[schema(value_type = String)]
    pub agent_type: AgentType,
    /// Replicas in force before this evaluation.
    pub current: u32,
    pub desired: u32,
    pub desired_by_region: BTreeMap<String, u32>,
    /// Replicas reporting heartbeats now, per region.
    pub live_by_region: BTreeMap<String, u32>,
    pub reasons: Vec<String>,
    pub actions_taken: Vec<String>,
    /// USD per hour the change adds (negative: saves).
    pub cost_impact: f64,
    #[schema(value_type = Vec<Object>)]
    pub failovers: Vec<FailedReplica>,
    pub warnings: Vec<String>,
    pub dry_run: bool,
    /// Whether the decision was stored and actuated.
    pub applied: bool,
    pub evaluated_at: DateTime<Utc>,
}

/// Everything one evaluation looks at.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub agent_type: &'a AgentType,
    pub policy: &'a ScalingPolicy,
    pub state: &'a AgentScalingState,
    pub replicas: &'a [Replica],
    /// A type-wide utilization (0-1) from an alarm; per-replica metrics are used when absent.
    pub utilization: Option<f64>,
    pub severity: Severity,
    /// The configured regions with their operator weight and mark (health is filled in here).
    pub regions: &'a [RegionView],
    pub spend: Spend,
    pub gate: &'a CostGate,
    pub alarm_at: Option<DateTime<Utc>>,
    pub dry_run: bool,
    pub now: DateTime<Utc>,
}

/// The new state to store, the events to keep, and the report.
#[derive(Debug, Clone)]
pub struct Plan {
    pub state: AgentScalingState,
    pub events: Vec<ScalingEventRecord>,
    pub evaluation: Evaluation,
}

fn event(kind: EventKind, now: DateTime<Utc>, reasons: Vec<String>) -> ScalingEventRecord {
    ScalingEventRecord {
        at: now,
        kind,
        from: None,
        to: None,
        region: None,
        replica_id: None,
        reasons,
        cost_impact_per_hour: None,
    }
}

/// The replicas in force: the last decision, or before any, the live count within the bounds.
pub fn current_replicas(policy: &ScalingPolicy, state: &AgentScalingState, live: usize) -> u32 {
    if state.evaluated_at.is_some() {
        state.desired_total
    } else {
        u32::try_from(live).unwrap_or(u32::MAX).clamp(policy.min_replicas, policy.max_replicas)
    }
}

/// Per-replica utilization, with replicas the decision asked for but that do not report yet
/// counted as missing metrics (they weigh against any move, as in the HPA).
fn observe(input: &PlanInput<'_>, current: u32) -> Observation {
    if let Some(u) = input.utilization {
        return Observation::Aggregate(u);
    }
    let mut metrics: Vec<Option<f64>> = input.replicas.iter().map(|r| Some(r.utilization())).collect();
    let mut ready: Vec<bool> = input.replicas.iter().map(|r| r.healthy).collect();
    let absent = (current as usize).saturating_sub(input.replicas.len());
    metrics.extend(std::iter::repeat_n(None, absent));
    ready.extend(std::iter::repeat_n(true, absent));
    Observation::Replicas { metrics, ready }
}

pub fn plan(input: &PlanInput<'_>) -> Plan {
    let now = input.now;
    let hpa = HpaPolicy::from_policy(input.policy);
    let current = current_replicas(input.policy, input.state, input.replicas.len());
    let mut decision = decide(&hpa, current, &observe(input, current), &input.state.history, now);
    let mut events = Vec::new();
    let mut reasons = decision.reasons.clone();

    if decision.desired > current {
        let added = decision.desired - current;
        if let GateOutcome::Refused { reason, cost_impact_per_hour } =
            input.gate.check(input.severity, input.spend, added, input.policy.cost_per_replica_hour)
        {
            reasons.push(format!("cost gate: {reason}"));
            let mut refused = event(EventKind::ScaleUpRefused, now, vec![reason]);
            refused.from = Some(current);
            refused.to = Some(decision.desired);
            refused.cost_impact_per_hour = Some(cost_impact_per_hour);
            events.push(refused);
            decision.desired = current;
        }
    }

    let cost_impact = decision.change() as f64 * input.policy.cost_per_replica_hour;
    if decision.desired != current {
        let kind = if decision.desired > current { EventKind::ScaleUp } else { EventKind::ScaleDown };
        let mut scaled = event(kind, now, reasons.clone());
        scaled.from = Some(current);
        scaled.to = Some(decision.desired);
        scaled.cost_impact_per_hour = Some(cost_impact);
        events.push(scaled);
    }

    let live = known_replicas(input.replicas);
    let failovers = failed_replicas(&input.state.known_replicas, &live);
    for failed in &failovers {
        let mut e = event(
            EventKind::Failover,
            now,
            vec![format!(
                "{} missed three heartbeats: a replacement is due in {}",
                failed.replica_id, failed.region
            )],
        );
        e.region = Some(failed.region.clone());
        e.replica_id = Some(failed.replica_id.clone());
        events.push(e);
    }

    let health = healthy_fractions(input.replicas);
    let views: Vec<RegionView> = input
        .regions
        .iter()
        .map(|v| RegionView { healthy_fraction: health.get(&v.region).copied(), ..v.clone() })
        .collect();
    let desired_by_region: BTreeMap<String, u32> =
        views.iter().map(|v| v.region.to_string()).zip(distribute(decision.desired, &views)).collect();
    let live_by_region = live_by_region(&live);
    let warnings: Vec<String> =
        n_plus_one_warning(input.replicas, input.policy.scale_up_threshold).into_iter().collect();

    let mut history = input.state.history.clone();
    history.record(&hpa, &decision, now);
    let mut recent_events = input.state.recent_events.clone();
    recent_events.extend(events.iter().cloned());
    let overflow = recent_events.len().saturating_sub(RECENT_EVENTS);
    recent_events.drain(..overflow);
    let state = AgentScalingState {
        desired_total: decision.desired,
        desired: desired_by_region.clone(),
        known_replicas: live,
        history,
        last_alarm_at: input.state.last_alarm_at.max(input.alarm_at),
        evaluated_at: Some(now),
        recent_events,
    };
    let evaluation = Evaluation {
        agent_type: input.agent_type.clone(),
        current,
        desired: decision.desired,
        desired_by_region,
        live_by_region,
        reasons,
        actions_taken: Vec::new(),
        cost_impact,
        failovers,
        warnings,
        dry_run: input.dry_run,
        applied: false,
        evaluated_at: now,
    };
    Plan { state, events, evaluation }
}
