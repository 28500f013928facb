//! Which region's control plane acts, and an operator's promotion of another (fail-over by hand,
//! or back to the home region after a takeover). Only where the stack runs in several regions
//! (`ControlPlaneRegions`); a single-region stack answers 404.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use shared::domain::Region;
use shared::leadership::{Leadership, LeadershipStatus, Lease, Role};
use utoipa::ToSchema;

use crate::audit::Change;
use crate::caller::Caller;
use crate::extract::Body;
use crate::{ApiError, AppState};

/// Which region to hand the control-plane lease to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    /// One of the control plane's regions.
    #[schema(value_type = String, example = "us-east-1")]
    pub region: Region,
}

fn leadership(state: &AppState) -> Result<&Leadership, ApiError> {
    state.leadership.as_ref().ok_or_else(|| {
        ApiError::NotFound(
            "this stack's control plane runs in one region (ControlPlaneRegions is not set): there is no lease".into(),
        )
    })
}

/// Refuses `what` (an operator's action: an optimisation, a sweep, warming, a region mark) in a
/// region that stands by: with the table's replicas eventually consistent, only the lease holder
/// acts. A single-region stack always acts; so does a dry run (callers do not ask for one).
pub(crate) async fn require_active(state: &AppState, what: &str) -> Result<(), ApiError> {
    let Some(leadership) = &state.leadership else { return Ok(()) };
    let status = leadership.status().await?;
    match status.role {
        Role::Active { .. } => Ok(()),
        Role::Standby { holder: Some(holder), .. } => Err(ApiError::Conflict(format!(
            "{what}: this region ({}) stands by and {holder} holds the control-plane lease; call {holder}'s API, or promote this region (POST /control-plane/promote)",
            status.region
        ))),
        Role::Standby { .. } => Err(ApiError::Conflict(format!(
            "{what}: no region holds the control-plane lease yet; the home region ({}) claims it at its first scaler run",
            status.home
        ))),
    }
}

/// This region, its role, and the lease as stored.
#[utoipa::path(get, path = "/control-plane", tag = "control-plane",
    responses(
        (status = 200, body = LeadershipStatus),
        (status = 404, description = "A single-region stack", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn status(State(state): State<AppState>) -> Result<Json<LeadershipStatus>, ApiError> {
    Ok(Json(leadership(&state)?.status().await?))
}

/// Hands the lease to `region` with the next epoch, whoever holds it: the promoted region acts
/// from its next run, and the previous holder's later decisions are refused. Send it to the API of
/// the region that holds the lease now (or, if that region is down, of the one promoted): with
/// the table's replicas eventually consistent, a promotion and a renewal written in two regions
/// at once resolve by last writer.
#[utoipa::path(post, path = "/control-plane/promote", tag = "control-plane",
    request_body = PromoteRequest,
    responses(
        (status = 200, description = "The lease as now stored", body = Lease),
        (status = 404, description = "A single-region stack", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The lease changed meanwhile; read it and try again", body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not one of the control plane's regions", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn promote(
    State(state): State<AppState>,
    caller: Caller,
    Body(request): Body<PromoteRequest>,
) -> Result<(Change, Json<Lease>), ApiError> {
    let leadership = leadership(&state)?;
    let before = leadership.status().await?.lease;
    let lease = leadership.promote(&request.region, &caller.0).await?;
    Ok((Change::of(before.as_ref(), Some(&lease)), Json(lease)))
}
