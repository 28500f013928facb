use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use serde::Serialize;
use shared::domain::Replica;
use shared::scaling::records::{AgentScalingState, EventKind, ScalingEventRecord};
use utoipa::ToSchema;

use super::policies::PolicyView;
use crate::{ApiError, AppState};

/// One replica as the status shows it (the prototype's fields, plus its last heartbeat).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplicaView {
    pub replica_id: String,
    pub region: String,
    pub load: f64,
    pub capacity: u32,
    /// load / capacity.
    pub utilization: f64,
    pub healthy: bool,
    pub performance_score: f64,
    pub last_heartbeat: DateTime<Utc>,
}

impl From<&Replica> for ReplicaView {
    fn from(r: &Replica) -> Self {
        Self {
            replica_id: r.replica_id.to_string(),
            region: r.region.to_string(),
            load: r.load,
            capacity: r.capacity,
            utilization: r.utilization(),
            healthy: r.healthy,
            performance_score: r.performance_score,
            last_heartbeat: r.last_heartbeat,
        }
    }
}

/// Totals and recent scaling activity per agent type.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScalingMetrics {
    pub replicas: usize,
    pub healthy_replicas: usize,
    /// Load on healthy replicas.
    pub total_load: f64,
    /// Capacity of healthy replicas.
    pub total_capacity: u64,
    /// total_load / total_capacity; null while no healthy replica reports.
    pub utilization: Option<f64>,
    /// Incidents assigned in the last full minute.
    pub incidents_per_minute: f64,
    /// When replica selection last found no replica with room (within ten minutes).
    pub scale_up_requested_at: Option<String>,
    /// The replica count the scaler settled on; null before its first evaluation.
    pub desired_replicas: Option<u32>,
    /// Latest scale-ups, scale-downs and refused scale-ups, newest last.
    pub recent_scaling_actions: Vec<ScalingEventRecord>,
    /// Latest replicas that missed three heartbeats, newest last.
    pub failover_events: Vec<ScalingEventRecord>,
}

impl ScalingMetrics {
    fn of(
        replicas: &[Replica],
        state: &AgentScalingState,
        incidents_per_minute: f64,
        scale_up_requested_at: Option<String>,
    ) -> Self {
        let healthy: Vec<&Replica> = replicas.iter().filter(|r| r.healthy).collect();
        let total_load: f64 = healthy.iter().map(|r| r.load).sum();
        let total_capacity: u64 = healthy.iter().map(|r| u64::from(r.capacity)).sum();
        let (failovers, actions): (Vec<_>, Vec<_>) =
            state.recent_events.iter().cloned().partition(|e| e.kind == EventKind::Failover);
        Self {
            replicas: replicas.len(),
            healthy_replicas: healthy.len(),
            total_load,
            total_capacity,
            utilization: (total_capacity > 0).then(|| total_load / total_capacity as f64),
            incidents_per_minute,
            scale_up_requested_at,
            desired_replicas: state.evaluated_at.map(|_| state.desired_total),
            recent_scaling_actions: actions,
            failover_events: failovers,
        }
    }
}

/// Desired (by the scaler) and current (reporting) replicas in one region.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct RegionReplicas {
    pub desired: Option<u32>,
    pub current: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScalingStatus {
    pub scaling_policies: BTreeMap<String, PolicyView>,
    pub replica_status: BTreeMap<String, Vec<ReplicaView>>,
    pub scaling_metrics: BTreeMap<String, ScalingMetrics>,
    /// Live replicas per region, every configured region listed.
    pub geographic_distribution: BTreeMap<String, usize>,
    /// Per agent type and region: desired vs current replicas.
    pub replica_distribution: BTreeMap<String, BTreeMap<String, RegionReplicas>>,
    pub timestamp: DateTime<Utc>,
}

/// Policies, live replicas and their spread over regions, for every known agent type.
#[utoipa::path(get, path = "/scaling/status", tag = "scaling",
    responses(
        (status = 200, body = ScalingStatus),
        (status = 503, body = crate::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    ))]
pub async fn status(State(state): State<AppState>) -> Result<Json<ScalingStatus>, ApiError> {
    let policies = state.fleet.policies().await?;
    let replica_sets = try_join_all(policies.iter().map(|p| state.fleet.replicas(&p.agent_type))).await?;
    let scaling_states =
        try_join_all(policies.iter().map(|p| state.fleet.scaling_state(&p.agent_type))).await?;
    let now = state.clock.now();
    let rates =
        try_join_all(policies.iter().map(|p| state.assignments.incidents_per_minute(&p.agent_type, now)))
            .await?;
    let flags =
        try_join_all(policies.iter().map(|p| state.assignments.scale_up_requested(&p.agent_type))).await?;

    let mut geographic_distribution: BTreeMap<String, usize> =
        state.config.regions.iter().map(|r| (r.to_string(), 0)).collect();
    let mut replica_status = BTreeMap::new();
    let mut scaling_metrics = BTreeMap::new();
    let mut scaling_policies = BTreeMap::new();
    let mut replica_distribution = BTreeMap::new();
    let activity = rates.into_iter().zip(flags);
    for (((policy, replicas), (scaling, _)), (rate, flag)) in
        policies.into_iter().zip(replica_sets).zip(scaling_states).zip(activity)
    {
        let mut by_region: BTreeMap<String, RegionReplicas> =
            state.config.regions.iter().map(|r| (r.to_string(), RegionReplicas::default())).collect();
        for r in &replicas {
            *geographic_distribution.entry(r.region.to_string()).or_default() += 1;
            by_region.entry(r.region.to_string()).or_default().current += 1;
        }
        for (region, desired) in &scaling.desired {
            by_region.entry(region.clone()).or_default().desired = Some(*desired);
        }
        let name = policy.agent_type.to_string();
        replica_distribution.insert(name.clone(), by_region);
        scaling_metrics.insert(name.clone(), ScalingMetrics::of(&replicas, &scaling, rate, flag));
        replica_status.insert(name.clone(), replicas.iter().map(ReplicaView::from).collect());
        scaling_policies.insert(name, PolicyView::from(policy));
    }
    Ok(Json(ScalingStatus {
        scaling_policies,
        replica_status,
        scaling_metrics,
        geographic_distribution,
        replica_distribution,
        timestamp: state.clock.now(),
    }))
}
