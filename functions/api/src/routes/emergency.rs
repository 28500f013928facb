//! An operator forces emergency cost mode on, or holds it off, with a reason and an expiry;
//! spend decides again when it expires or is removed.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use shared::cost::control::{CostControl, EmergencyOverride, MAX_OVERRIDE};
use shared::error::ValidationError;
use utoipa::ToSchema;

use crate::audit::Change;
use crate::caller::Caller;
use crate::extract::Body;
use crate::{ApiError, AppState};

/// An override of emergency mode.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyRequest {
    /// true forces emergency mode on; false holds it off whatever spend says.
    pub emergency_mode: bool,
    /// Why, for whoever reads the controls next: 1 to 500 characters.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
    /// How long it lasts: 1 to 1440 minutes. Spend decides again after.
    #[schema(minimum = 1, maximum = 1440)]
    pub minutes: u32,
}

/// Emergency mode as it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmergencyState {
    /// Whether emergency mode is in force now: the override while it lasts, else spend's.
    pub emergency_mode: bool,
    /// What spend alone says (the cost sweeper's last reading).
    pub emergency_mode_from_spend: bool,
    /// The operator's override in force, if any.
    pub operator_override: Option<EmergencyOverride>,
    /// The last sweep is more than three sweep periods old: spend's emergency mode is not
    /// trusted (an override still holds).
    pub controls_stale: bool,
    pub timestamp: DateTime<Utc>,
}

impl EmergencyState {
    fn of(control: &CostControl, now: DateTime<Utc>) -> Self {
        Self {
            emergency_mode: control.emergency(now),
            emergency_mode_from_spend: control.emergency_mode,
            operator_override: control.active_override(now).cloned(),
            controls_stale: control.is_stale(now),
            timestamp: now,
        }
    }
}

/// Emergency mode now, and the override in force.
#[utoipa::path(get, path = "/cost/emergency", tag = "cost", responses((status = 200, body = EmergencyState)))]
pub async fn status(State(state): State<AppState>) -> Result<Json<EmergencyState>, ApiError> {
    let control = state.fleet.cost_control().await?;
    Ok(Json(EmergencyState::of(&control, state.clock.now())))
}

/// Forces emergency mode on or holds it off until the override expires (a later override
/// replaces it). The cost gate and model selection follow at once; the next sweep puts
/// concurrency caps in place or lifts them.
#[utoipa::path(put, path = "/cost/emergency", tag = "cost", request_body = EmergencyRequest,
    responses(
        (status = 200, body = EmergencyState),
        (status = 409, description = "A concurrent sweep kept changing the controls", body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason, one over 500 characters, or minutes outside 1 to 1440", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Body(request): Body<EmergencyRequest>,
) -> Result<(Change, Json<EmergencyState>), ApiError> {
    let reason = crate::extract::reason(&request.reason)?;
    let minutes = i64::from(request.minutes);
    if !(1..=MAX_OVERRIDE.num_minutes()).contains(&minutes) {
        return Err(ValidationError::new("minutes", "must be a whole number from 1 to 1440").into());
    }
    let now = state.clock.now();
    let operator_override = EmergencyOverride {
        emergency_mode: request.emergency_mode,
        by: caller.0,
        reason,
        since: now,
        until: now + Duration::minutes(minutes),
    };
    tracing::warn!(emergency_mode = request.emergency_mode, minutes, reason = %operator_override.reason,
        "emergency mode overridden");
    let (before, after) = state.sweeper.override_emergency(Some(operator_override)).await?;
    let answer = EmergencyState::of(&after, now);
    Ok((Change::of(Some(&EmergencyState::of(&before, now)), Some(&answer)), Json(answer)))
}

/// Removes the override: spend decides emergency mode again.
#[utoipa::path(delete, path = "/cost/emergency", tag = "cost",
    responses(
        (status = 200, body = EmergencyState),
        (status = 409, description = "A concurrent sweep kept changing the controls", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn clear(State(state): State<AppState>) -> Result<(Change, Json<EmergencyState>), ApiError> {
    let now = state.clock.now();
    let (before, after) = state.sweeper.override_emergency(None).await?;
    if before.active_override(now).is_some() {
        tracing::warn!("emergency override removed");
    }
    let answer = EmergencyState::of(&after, now);
    Ok((Change::of(Some(&EmergencyState::of(&before, now)), Some(&answer)), Json(answer)))
}
