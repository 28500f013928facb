//! Pausing and resuming one type's autoscaling: while paused, ticks, alarms and optimisations
//! evaluate the type and say what they would do, but store and apply nothing, so its desired
//! count stays where it is.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::domain::AgentType;
use shared::scaling::records::Pause;
use utoipa::ToSchema;

use super::policies::defined_policy;
use crate::audit::Change;
use crate::caller::Caller;
use crate::extract::{Body, PathParam};
use crate::{ApiError, AppState};

/// Why autoscaling is paused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// Why, for whoever reads the status next: 1 to 500 characters.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// A type's autoscaling as it now stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct PauseState {
    #[schema(value_type = String)]
    pub agent_type: String,
    /// Who paused it, why and since when; absent while autoscaling runs.
    pub paused: Option<Pause>,
    pub timestamp: DateTime<Utc>,
}

/// Pauses a type's autoscaling (a later pause replaces who and why).
#[utoipa::path(put, path = "/scaling/policies/{agent_type}/pause", tag = "scaling",
    params(("agent_type" = String, Path, description = "An agent type: a-z, 0-9 and '-', 1 to 64 characters", pattern = "^[a-z0-9-]{1,64}$")),
    request_body = PauseRequest,
    responses(
        (status = 200, body = PauseState),
        (status = 404, description = "No such agent type", body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason, or one over 500 characters", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    PathParam(agent_type): PathParam<AgentType>,
    Body(request): Body<PauseRequest>,
) -> Result<(Change, Json<PauseState>), ApiError> {
    let reason = crate::extract::reason(&request.reason)?;
    defined_policy(&state, &agent_type).await?;
    let now = state.clock.now();
    let before = state.fleet.pause(&agent_type).await?;
    let pause = Pause { by: caller.0, reason, since: now };
    state.fleet.set_pause(&agent_type, &pause).await?;
    tracing::warn!(%agent_type, by = %pause.by, reason = %pause.reason, "autoscaling paused");
    let change = Change::of(before.as_ref(), Some(&pause));
    Ok((change, Json(PauseState { agent_type: agent_type.to_string(), paused: Some(pause), timestamp: now })))
}

/// Resumes a type's autoscaling: the next tick or alarm acts again.
#[utoipa::path(delete, path = "/scaling/policies/{agent_type}/pause", tag = "scaling",
    params(("agent_type" = String, Path, description = "An agent type: a-z, 0-9 and '-', 1 to 64 characters", pattern = "^[a-z0-9-]{1,64}$")),
    responses(
        (status = 200, body = PauseState),
        (status = 404, description = "No such agent type", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    PathParam(agent_type): PathParam<AgentType>,
) -> Result<(Change, Json<PauseState>), ApiError> {
    defined_policy(&state, &agent_type).await?;
    let before = state.fleet.pause(&agent_type).await?;
    if state.fleet.clear_pause(&agent_type).await? {
        tracing::warn!(%agent_type, by = %caller.0, "autoscaling resumed");
    }
    let change = Change::of(before.as_ref(), None::<&Pause>);
    Ok((
        change,
        Json(PauseState { agent_type: agent_type.to_string(), paused: None, timestamp: state.clock.now() }),
    ))
}
