use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use shared::domain::AgentType;
use shared::error::ValidationError;
use shared::scaling::MAX_REPLICAS_PER_TYPE;
use shared::scaling::ReplicaHeartbeat;
use shared::telemetry::{Dimension, EmfSink, Unit};
use shared::wire::{DeregisterAnswer, DrainAnswer, HeartbeatAccepted, ReplicaRef};

use crate::extract::Body;
use crate::{ApiError, AppState};

/// Records a replica's heartbeat; replicas that stop reporting disappear after three intervals.
#[utoipa::path(post, path = "/replicas/heartbeat", tag = "replicas",
    request_body = ReplicaHeartbeat,
    responses(
        (status = 200, body = HeartbeatAccepted),
        (status = 400, description = "Malformed JSON or wrong types", body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Out-of-range values, unconfigured region, undefined agent type, or a new replica of a type with 1,000 live ones", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn heartbeat(
    State(state): State<AppState>,
    Body(beat): Body<ReplicaHeartbeat>,
) -> Result<Json<HeartbeatAccepted>, ApiError> {
    let now = state.clock.now();
    let replica = beat.at(now);
    replica.validate()?;
    let replica = replica.normalized();
    state.config.fleet_region(&replica.region, "region")?;
    if replica.agent_type.builtin().is_none() && state.fleet.policy(&replica.agent_type).await?.is_none() {
        return Err(undefined_type(&replica.agent_type).into());
    }
    if !state.fleet.room_for_replica(&replica).await? {
        return Err(ValidationError::new(
            "replica_id",
            format!(
                "{} already has {MAX_REPLICAS_PER_TYPE} live replicas, the most one agent type may have; a new replica reports once another has stopped (three missed heartbeats)",
                replica.agent_type
            ),
        )
        .into());
    }
    let ttl = state.config.replica_ttl();
    state.fleet.record_heartbeat(&replica, ttl).await?;
    if replica.draining {
        // This container's next pick passes it over at once, not after its cached set expires.
        state.assignments.forget(&replica.agent_type).await;
    }
    let source = format!("{}#{}", replica.agent_type, replica.replica_id);
    if replica.healthy && state.metrics.is_on() && state.utilization_samples.admit(&source, now) {
        emit_utilization(&state.metrics, &replica, now);
    }
    Ok(Json(HeartbeatAccepted {
        utilization: replica.utilization(),
        replica_id: replica.replica_id.to_string(),
        agent_type: replica.agent_type.to_string(),
        region: replica.region.to_string(),
        expires_at: now + ttl,
        timestamp: now,
    }))
}

/// `<namespace>` / `AgentUtilization` (percent, dimension `AgentType`): the metric the managed
/// utilization alarms of heartbeat agents watch. Each healthy replica's report is one sample; the
/// alarms average them.
fn emit_utilization(metrics: &EmfSink, replica: &shared::domain::Replica, now: DateTime<Utc>) {
    if !metrics.is_on() {
        return;
    }
    let set = metrics
        .set()
        .dimension(Dimension::AgentType(replica.agent_type.clone()))
        .and_then(|s| s.metric("AgentUtilization", Unit::Percent, replica.utilization() * 100.0));
    match set {
        Ok(set) => metrics.emit(&set, now),
        Err(e) => tracing::warn!(error = %e, "utilization metric not written"),
    }
}

fn undefined_type(agent_type: &AgentType) -> ValidationError {
    ValidationError::new(
        "agent_type",
        format!(
            "{agent_type} is not a defined agent type: define it with PUT /scaling/policies/{agent_type} first"
        ),
    )
}

/// Drains a replica: from now on it gets no new incidents (`POST /replicas/select` passes it
/// over, the scaler counts it as not ready and replaces it), it keeps the work it has, and the
/// status shows it draining. Draining is one way and idempotent; a heartbeat with
/// `"draining": true` does the same.
#[utoipa::path(post, path = "/replicas/drain", tag = "replicas",
    request_body = ReplicaRef,
    responses(
        (status = 200, body = DrainAnswer),
        (status = 400, description = "Malformed JSON or wrong types", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live replica", body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unconfigured region", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn drain(
    State(state): State<AppState>,
    Body(replica): Body<ReplicaRef>,
) -> Result<Json<DrainAnswer>, ApiError> {
    state.config.fleet_region(&replica.region, "region")?;
    let now = state.clock.now();
    let drained =
        state.fleet.drain_replica(&replica.agent_type, &replica.region, &replica.replica_id).await?;
    let Some(drained) = drained else {
        return Err(ApiError::NotFound(format!(
            "no live {} replica {} in {}",
            replica.agent_type, replica.replica_id, replica.region
        )));
    };
    state.assignments.forget(&replica.agent_type).await;
    Ok(Json(DrainAnswer {
        replica_id: drained.replica_id.to_string(),
        agent_type: drained.agent_type.to_string(),
        region: drained.region.to_string(),
        draining: drained.draining,
        load: drained.load,
        expires_at: Some(drained.last_heartbeat + state.config.replica_ttl()),
        timestamp: now,
    }))
}

/// Deregisters a replica: it is gone at once (from selection, the status and the scaler's count)
/// instead of after three missed heartbeats. For a replica that has stopped for good; one that
/// reports again is live again.
#[utoipa::path(post, path = "/replicas/deregister", tag = "replicas",
    request_body = ReplicaRef,
    responses(
        (status = 200, body = DeregisterAnswer),
        (status = 400, description = "Malformed JSON or wrong types", body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unconfigured region", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn deregister(
    State(state): State<AppState>,
    Body(replica): Body<ReplicaRef>,
) -> Result<Json<DeregisterAnswer>, ApiError> {
    state.config.fleet_region(&replica.region, "region")?;
    let now = state.clock.now();
    let deregistered =
        state.fleet.deregister_replica(&replica.agent_type, &replica.region, &replica.replica_id).await?;
    state.assignments.forget(&replica.agent_type).await;
    Ok(Json(DeregisterAnswer {
        replica_id: replica.replica_id.to_string(),
        agent_type: replica.agent_type.to_string(),
        region: replica.region.to_string(),
        deregistered,
        timestamp: now,
    }))
}
