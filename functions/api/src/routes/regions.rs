use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::error::ValidationError;
use shared::scaling::plan::Evaluation;
use shared::scaling::records::{MarkSource, RegionEvent, RegionHealth};
use shared::scaling::service::Effect;
use shared::warming::plan::calendar_for;
use utoipa::ToSchema;

use super::optimize::evaluate_all;
use crate::audit::Change;
use crate::extract::{Body, FleetRegion};
use crate::{ApiError, AppState};

/// An operator's mark on a region.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionHealthChange {
    pub healthy: bool,
    /// Relative share of replicas (default 1).
    #[schema(minimum = 0.01, maximum = 100)]
    pub weight: Option<f64>,
    /// Why, for the record.
    #[schema(max_length = 256)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionView {
    pub region: String,
    pub healthy: bool,
    pub weight: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was marked; null without a mark.
    pub updated_at: Option<DateTime<Utc>>,
    /// Who marked it: `operator`, or the scaler itself (`silence`, `errors`); null without a mark.
    pub source: Option<MarkSource>,
    /// An automatic mark: since when the region has looked well (cleared after the hold-down).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovering_since: Option<DateTime<Utc>>,
    /// The IANA zone of the region's warming calendar, for showing times as the region sees them.
    pub timezone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionList {
    pub regions: Vec<RegionView>,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionHealthChanged {
    pub region: RegionView,
    /// The re-evaluation of every agent type over the regions as they are now.
    pub redistributed: Vec<Evaluation>,
    pub desired_by_region: BTreeMap<String, BTreeMap<String, u32>>,
    pub timestamp: DateTime<Utc>,
}

fn view(state: &AppState, region: String, health: Option<RegionHealth>) -> RegionView {
    let timezone = calendar_for(&state.warmer.config().calendars, &region).timezone.name().to_owned();
    match health {
        Some(h) => RegionView {
            region,
            healthy: h.healthy,
            weight: h.weight,
            reason: h.reason,
            updated_at: Some(h.updated_at),
            source: Some(h.source),
            recovering_since: h.recovering_since,
            timezone,
        },
        None => RegionView {
            region,
            healthy: true,
            weight: 1.0,
            reason: None,
            updated_at: None,
            source: None,
            recovering_since: None,
            timezone,
        },
    }
}

/// The fleet's regions with their health marks (an operator's or the scaler's own) and weights.
#[utoipa::path(get, path = "/regions", tag = "regions",
    responses((status = 200, body = RegionList), (status = 503, body = crate::Problem, content_type = "application/problem+json")))]
pub async fn list(State(state): State<AppState>) -> Result<Json<RegionList>, ApiError> {
    let health = state.fleet.region_health(&state.config.regions).await?;
    let regions = health.into_iter().map(|(r, h)| view(&state, r.to_string(), h)).collect();
    Ok(Json(RegionList { regions, timestamp: state.clock.now() }))
}

/// Marks a region healthy or unhealthy (and sets its weight), then re-spreads every agent type's
/// replicas: an unhealthy region's share moves to the others. An operator's mark overrides the
/// scaler's own either way until `DELETE` clears it.
#[utoipa::path(put, path = "/regions/{region}/health", tag = "regions",
    params(("region" = String, Path, description = "One of the fleet's regions, e.g. us-east-1", pattern = "^[a-z]{2}-(gov-|iso-|isob-|isof-)?(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9][0-9]?$")),
    request_body = RegionHealthChange,
    responses(
        (status = 200, body = RegionHealthChanged),
        (status = 404, description = "Not one of the fleet's regions", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "This region's control plane stands by (a stack in two regions)", body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_health(
    State(state): State<AppState>,
    FleetRegion(region): FleetRegion,
    Body(change): Body<RegionHealthChange>,
) -> Result<(Change, Json<RegionHealthChanged>), ApiError> {
    let weight = change.weight.unwrap_or(1.0);
    if !weight.is_finite() || !(0.01..=100.0).contains(&weight) {
        return Err(ValidationError::new("weight", "must be from 0.01 to 100").into());
    }
    if change.reason.as_ref().is_some_and(|r| r.chars().count() > 256) {
        return Err(ValidationError::new("reason", "must be at most 256 characters").into());
    }
    super::control_plane::require_active(&state, "region mark").await?;
    let now = state.clock.now();
    let health = RegionHealth::operator(change.healthy, weight, change.reason, now);
    let before = mark_of(&state, &region).await?;
    state.fleet.set_region_health(&region, &health).await?;
    tracing::info!(%region, healthy = health.healthy, weight, "region health marked");
    state
        .fleet
        .record_region_event(&RegionEvent {
            at: now,
            region: region.clone(),
            healthy: health.healthy,
            source: MarkSource::Operator,
            reason: health.reason.clone().unwrap_or_else(|| "marked by an operator".into()),
        })
        .await?;
    let change = Change::of(before.as_ref(), Some(&health));
    Ok((change, redistribute(&state, view(&state, region.to_string(), Some(health)), now).await?))
}

/// The region's mark before a change, for the audit trail.
async fn mark_of(
    state: &AppState,
    region: &shared::domain::Region,
) -> Result<Option<RegionHealth>, ApiError> {
    let marks = state.fleet.region_health(std::slice::from_ref(region)).await?;
    Ok(marks.into_iter().next().and_then(|(_, health)| health))
}

async fn redistribute(
    state: &AppState,
    region: RegionView,
    now: DateTime<Utc>,
) -> Result<Json<RegionHealthChanged>, ApiError> {
    let types = state.fleet.agent_types().await?;
    let redistributed = evaluate_all(state, &types, None, Effect::Apply).await?;
    Ok(Json(RegionHealthChanged {
        region,
        desired_by_region: redistributed
            .iter()
            .map(|e| {
                let desired = e.desired_by_region.iter().map(|(r, n)| (r.to_string(), *n)).collect();
                (e.agent_type.to_string(), desired)
            })
            .collect(),
        redistributed,
        timestamp: now,
    }))
}

/// Clears a region's mark, whoever set it: the region is healthy with weight 1 and the scaler's
/// own judgement (silence, errors) applies to it again. Re-spreads every type's replicas.
#[utoipa::path(delete, path = "/regions/{region}/health", tag = "regions",
    params(("region" = String, Path, description = "One of the fleet's regions, e.g. us-east-1", pattern = "^[a-z]{2}-(gov-|iso-|isob-|isof-)?(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9][0-9]?$")),
    responses(
        (status = 200, body = RegionHealthChanged),
        (status = 404, description = "Not one of the fleet's regions", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "This region's control plane stands by (a stack in two regions)", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn clear_health(
    State(state): State<AppState>,
    FleetRegion(region): FleetRegion,
) -> Result<(Change, Json<RegionHealthChanged>), ApiError> {
    super::control_plane::require_active(&state, "region mark").await?;
    let now = state.clock.now();
    let before = mark_of(&state, &region).await?;
    state.fleet.clear_region_mark(&region, None).await?;
    tracing::info!(%region, "region mark cleared by an operator");
    state
        .fleet
        .record_region_event(&RegionEvent {
            at: now,
            region: region.clone(),
            healthy: true,
            source: MarkSource::Operator,
            reason: "mark cleared by an operator: the scaler judges the region again".into(),
        })
        .await?;
    let change = Change::of(before.as_ref(), None::<&RegionHealth>);
    Ok((change, redistribute(&state, view(&state, region.to_string(), None), now).await?))
}
