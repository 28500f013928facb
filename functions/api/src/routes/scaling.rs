use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use serde::Serialize;
use shared::domain::{AgentType, Replica};
use shared::scaling::demand::DemandWindow;
use shared::scaling::prediction::Prediction;
use shared::scaling::records::{
    AgentScalingState, EvaluationRecord, EventKind, MarkSource, RegionEvent, ScalingEventRecord,
};
use shared::scaling::signals::Signal;
use shared::scaling::type_reads::{Reading, read_types};
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
    /// Leaving: takes no new incidents, finishes the ones it has (`POST /replicas/drain`).
    pub draining: bool,
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
            draining: r.draining,
        }
    }
}

/// Totals and recent scaling activity per agent type.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScalingMetrics {
    /// Where the live count comes from: `heartbeats` or `cloudwatch` (Lambda agents).
    pub signal: Signal,
    /// Replicas live now: reporting ones, or for Lambda agents as the last evaluation counted
    /// them from the provisioned concurrency allocated.
    pub live_replicas: u32,
    /// Replicas reporting heartbeats now.
    pub replicas: usize,
    pub healthy_replicas: usize,
    /// Replicas draining (they take no new incidents; their load and capacity are in the totals
    /// while they are healthy).
    pub draining_replicas: usize,
    /// Load on healthy replicas.
    pub total_load: f64,
    /// Capacity of healthy replicas.
    pub total_capacity: u64,
    /// total_load / total_capacity; null while no healthy replica reports.
    pub utilization: Option<f64>,
    /// Incidents assigned in the last full minute.
    pub incidents_per_minute: f64,
    /// Selection's demand in the scaler's window, by severity: served, refused for lack of room
    /// (its busiest minute) and served after waiting.
    pub demand: DemandWindow,
    /// The replica count the scaler settled on; null before its first evaluation.
    pub desired_replicas: Option<u32>,
    /// The latest evaluation: when, what asked for it (`tick`, `alarm`, `operator`), the live and
    /// desired counts, the severity it weighed and why it decided as it did.
    pub last_evaluation: Option<EvaluationRecord>,
    /// Predictive scale-out: `status` (`active`, `disabled`, `too_little_history`,
    /// `no_service_time`, `error_too_high`), the forecasts of the hour just ended (kept for its
    /// record), the hour in progress and the next, the recent forecasts' largest error, the floor
    /// set and why; null before the first tick.
    pub prediction: Option<Prediction>,
    /// Latest scale-ups, scale-downs and refused scale-ups, newest last.
    pub recent_scaling_actions: Vec<ScalingEventRecord>,
    /// Latest replicas that missed three heartbeats, newest last.
    pub failover_events: Vec<ScalingEventRecord>,
}

impl ScalingMetrics {
    fn of(
        signal: Signal,
        replicas: &[Replica],
        state: &AgentScalingState,
        incidents_per_minute: f64,
        demand: DemandWindow,
    ) -> Self {
        let healthy: Vec<&Replica> = replicas.iter().filter(|r| r.healthy).collect();
        let total_load: f64 = healthy.iter().map(|r| r.load).sum();
        let total_capacity: u64 = healthy.iter().map(|r| u64::from(r.capacity)).sum();
        let (failovers, actions): (Vec<_>, Vec<_>) =
            state.recent_events.iter().cloned().partition(|e| e.kind == EventKind::Failover);
        let live_replicas = match signal {
            Signal::Heartbeats => u32::try_from(replicas.len()).unwrap_or(u32::MAX),
            Signal::Cloudwatch => state.last_evaluation.as_ref().map_or(0, |e| e.live),
        };
        Self {
            signal,
            live_replicas,
            replicas: replicas.len(),
            healthy_replicas: healthy.len(),
            draining_replicas: replicas.iter().filter(|r| r.draining).count(),
            total_load,
            total_capacity,
            utilization: (total_capacity > 0).then(|| total_load / total_capacity as f64),
            incidents_per_minute,
            demand,
            desired_replicas: state.evaluated_at.map(|_| state.desired_total),
            last_evaluation: state.last_evaluation.clone(),
            prediction: state.prediction.clone(),
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

/// A region's health as the scaler uses it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionStatus {
    pub healthy: bool,
    /// Who marked it: `operator`, or the scaler (`silence`, `errors`); null without a mark.
    pub source: Option<MarkSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was marked; null without a mark.
    pub since: Option<DateTime<Utc>>,
    /// An automatic mark: since when the region has looked well again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovering_since: Option<DateTime<Utc>>,
    /// Its latest marks and clearances, automatic or an operator's, newest first.
    pub events: Vec<RegionEvent>,
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
    /// Every configured region's health, with the source of its mark and its latest events.
    pub region_health: BTreeMap<String, RegionStatus>,
    /// Agent types whose autoscaling an operator paused: who, why, since when.
    pub paused: BTreeMap<String, shared::scaling::records::Pause>,
    pub timestamp: DateTime<Utc>,
}

/// Policies, live and desired replicas and their spread over regions, the last evaluation and the
/// demand it read, for every known agent type; and every region's health with its marks.
#[utoipa::path(get, path = "/scaling/status", tag = "scaling",
    responses(
        (status = 200, body = ScalingStatus),
    ))]
pub async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    // The container's snapshot (at most a second old, dropped by its own writes): under load most
    // reads are answered without the store's dozen reads per agent type.
    let body = state
        .status_snapshot
        .get_or_take(state.clock.now(), || async {
            let status = scaling_status(&state).await?;
            serde_json::to_vec(&status)
                .map(axum::body::Bytes::from)
                .map_err(|e| ApiError::Internal(format!("the status did not serialize: {e}")))
        })
        .await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// What `GET /scaling/status` answers; `GET /performance/metrics` summarises it.
pub(crate) async fn scaling_status(state: &AppState) -> Result<ScalingStatus, ApiError> {
    let policies = state.fleet.policies().await?;
    let now = state.clock.now();
    // Every read after the policies at once (not one kind of read after another): the answer
    // takes the store's round trip a few times, not once per kind of read.
    let types = || policies.iter().map(|p| &p.agent_type);
    // Each type's scaling state, pause and demand window go together, a few types per request.
    let store = state.fleet.store();
    let listed: Vec<&AgentType> = types().collect();
    let (replica_sets, known, marks, events) = tokio::try_join!(
        try_join_all(types().map(|t| state.fleet.replicas(t))),
        read_types(store.as_ref(), &listed, now, listed.len(), Reading::Status),
        state.fleet.region_health(&state.config.regions),
        try_join_all(state.config.regions.iter().map(|r| state.fleet.region_events(r, 5))),
    )?;
    let paused = policies
        .iter()
        .zip(&known)
        .filter_map(|(p, known)| known.pause.clone().map(|pause| (p.agent_type.to_string(), pause)))
        .collect();
    let region_health = marks
        .into_iter()
        .zip(events)
        .map(|((region, mark), events)| {
            let status = RegionStatus {
                healthy: mark.as_ref().is_none_or(|m| m.healthy),
                source: mark.as_ref().map(|m| m.source),
                reason: mark.as_ref().and_then(|m| m.reason.clone()),
                since: mark.as_ref().map(|m| m.updated_at),
                recovering_since: mark.as_ref().and_then(|m| m.recovering_since),
                events,
            };
            (region.to_string(), status)
        })
        .collect();

    let mut geographic_distribution: BTreeMap<String, usize> =
        state.config.regions.iter().map(|r| (r.to_string(), 0)).collect();
    let mut replica_status = BTreeMap::new();
    let mut scaling_metrics = BTreeMap::new();
    let mut scaling_policies = BTreeMap::new();
    let mut replica_distribution = BTreeMap::new();
    for ((policy, replicas), known) in policies.into_iter().zip(replica_sets).zip(known) {
        let (scaling, _) = known.state;
        let (demand, rate) = (known.demand.window(), known.demand.served_last_minute(now));
        let mut by_region: BTreeMap<String, RegionReplicas> =
            state.config.regions.iter().map(|r| (r.to_string(), RegionReplicas::default())).collect();
        for r in &replicas {
            *geographic_distribution.entry(r.region.to_string()).or_default() += 1;
            by_region.entry(r.region.to_string()).or_default().current += 1;
        }
        for (region, desired) in &scaling.desired {
            by_region.entry(region.to_string()).or_default().desired = Some(*desired);
        }
        let name = policy.agent_type.to_string();
        replica_distribution.insert(name.clone(), by_region);
        let signal = state.scaler.signal_of(&policy);
        scaling_metrics.insert(name.clone(), ScalingMetrics::of(signal, &replicas, &scaling, rate, demand));
        replica_status.insert(name.clone(), replicas.iter().map(ReplicaView::from).collect());
        scaling_policies.insert(name, PolicyView::from(policy));
    }
    Ok(ScalingStatus {
        paused,
        scaling_policies,
        replica_status,
        scaling_metrics,
        geographic_distribution,
        replica_distribution,
        region_health,
        timestamp: state.clock.now(),
    })
}
