use axum::Json;
use axum::extract::State;
use shared::balancing::assignments::{AssignError, Assignment, ReleaseError, Released};
use shared::domain::AgentType;
use shared::error::ValidationError;
use shared::wire::{ReleaseRequest, ReleaseResponse, SelectRequest, SelectResponse};

use crate::extract::Body;
use crate::{ApiError, AppState};

fn incident_id(id: Option<&String>) -> Result<(), ApiError> {
    match id {
        Some(i) if i.is_empty() || i.chars().count() > 128 || i.chars().any(char::is_control) => {
            Err(ValidationError::new("incident_id", "must be 1 to 128 printable characters").into())
        }
        _ => Ok(()),
    }
}

async fn known_type(state: &AppState, agent_type: &AgentType) -> Result<(), ApiError> {
    if agent_type.builtin().is_none() && state.fleet.policy(agent_type).await?.is_none() {
        return Err(
            ValidationError::new("agent_type", format!("{agent_type} is not a defined agent type")).into()
        );
    }
    Ok(())
}

/// Assigns an incident to a replica of its agent type and counts it there.
#[utoipa::path(post, path = "/replicas/select", tag = "replicas",
    request_body = SelectRequest,
    responses(
        (status = 200, body = SelectResponse),
        (status = 422, body = crate::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No replica can take it (counted as refused demand, which the scaler reads), or the store is down", body = crate::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    ))]
pub async fn select(
    State(state): State<AppState>,
    Body(request): Body<SelectRequest>,
) -> Result<Json<SelectResponse>, ApiError> {
    incident_id(request.incident_id.as_ref())?;
    if let Some(region) = &request.region {
        state.config.fleet_region(region, "region")?;
    }
    known_type(&state, &request.agent_type).await?;
    let strategy = request.strategy.unwrap_or_default();
    let now = state.clock.now();
    let assignment: Assignment = state
            .assignments
            .assign(
                &request.agent_type,
                request.severity,
                request.region.as_ref(),
                strategy,
                request.incident_id.as_deref(),
                now,
            )
            .await
            .map_err(|e| match e {
                AssignError::NoReplica(t) => ApiError::NoCapacity(format!(
                    "no {t} replica has room for another incident; the refusal counts as demand the scaler acts on (retry with the same incident_id)"
                )),
                AssignError::Store(e) => e.into(),
            })?;
    Ok(Json(SelectResponse {
        replica_id: assignment.replica_id,
        region: assignment.region,
        strategy: assignment.strategy,
        reason: assignment.reason,
        incident_id: request.incident_id,
        timestamp: now,
    }))
}

/// Ends an assignment: the replica's active count goes down, its latency feeds the EWMA and the
/// outcome feeds outlier ejection.
#[utoipa::path(post, path = "/replicas/release", tag = "replicas",
    request_body = ReleaseRequest,
    responses(
        (status = 200, body = ReleaseResponse),
        (status = 404, description = "No such live replica", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Too many releases of the same replica at once; retry", body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn release(
    State(state): State<AppState>,
    Body(request): Body<ReleaseRequest>,
) -> Result<Json<ReleaseResponse>, ApiError> {
    incident_id(request.incident_id.as_ref())?;
    if !request.latency_ms.is_finite() || !(0.0..=86_400_000.0).contains(&request.latency_ms) {
        return Err(ValidationError::new("latency_ms", "must be between 0 and 86400000").into());
    }
    let now = state.clock.now();
    let released: Released = state
        .assignments
        .release(
            &request.agent_type,
            request.replica_id.as_str(),
            request.ok,
            shared::domain::clamp_tiny(request.latency_ms / 1000.0),
            request.incident_id.as_deref(),
            now,
        )
        .await
        .map_err(|e| match e {
            e @ ReleaseError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            e @ ReleaseError::Contended { .. } => ApiError::Conflict(e.to_string()),
            ReleaseError::Store(e) => e.into(),
        })?;
    Ok(Json(ReleaseResponse { released, timestamp: now }))
}
