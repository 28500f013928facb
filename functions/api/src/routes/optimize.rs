use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::domain::{AgentType, Severity};
use shared::scaling::plan::Evaluation;
use shared::scaling::service::{Effect, ScalingRequest};
use utoipa::ToSchema;

use crate::extract::OptionalBody;
use crate::{ApiError, AppState};

/// Which types to evaluate and whether to apply the decisions.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptimizeRequest {
    /// One agent type; every known type when left out.
    #[schema(value_type = Option<String>)]
    pub agent_type: Option<AgentType>,
    /// Decide and report, but change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Severity of the work a scale-up would serve, for the cost gate; left out, the most severe
    /// refused or waiting work of the last minutes (else the most severe served, else `low`).
    pub severity: Option<Severity>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OptimizeResponse {
    pub decisions: Vec<Evaluation>,
    /// Every action taken, over all types.
    pub actions_taken: Vec<String>,
    /// USD per hour the decisions add (negative: save).
    pub cost_impact: f64,
    pub dry_run: bool,
    pub timestamp: DateTime<Utc>,
}

/// Evaluates every type (or one) now, as the scaler's tick does, and applies the decisions
/// unless it is a dry run.
#[utoipa::path(post, path = "/scaling/optimize", tag = "scaling",
    request_body(content = Option<OptimizeRequest>, description = "Optional; an empty body evaluates and applies every type"),
    responses(
        (status = 200, body = OptimizeResponse),
        (status = 404, description = "No such agent type", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Too many concurrent evaluations, or this region's control plane stands by", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn optimize(
    State(state): State<AppState>,
    OptionalBody(request): OptionalBody<OptimizeRequest>,
) -> Result<Json<OptimizeResponse>, ApiError> {
    let types = match request.agent_type {
        Some(t) => vec![t],
        None => state.fleet.agent_types().await?,
    };
    let effect = if request.dry_run { Effect::DryRun } else { Effect::Apply };
    if effect == Effect::Apply {
        super::control_plane::require_active(&state, "scaling optimisation").await?;
    }
    let decisions = evaluate_all(&state, &types, request.severity, effect).await?;
    Ok(Json(OptimizeResponse {
        actions_taken: decisions.iter().flat_map(|d| d.actions_taken.iter().cloned()).collect(),
        cost_impact: decisions.iter().map(|d| d.cost_impact).sum(),
        decisions,
        dry_run: request.dry_run,
        timestamp: state.clock.now(),
    }))
}

/// Evaluates the types one after another on their live signals, as an operator asked.
pub(crate) async fn evaluate_all(
    state: &AppState,
    types: &[AgentType],
    severity: Option<Severity>,
    effect: Effect,
) -> Result<Vec<Evaluation>, ApiError> {
    let requests: Vec<ScalingRequest> = types
        .iter()
        .map(|agent_type| ScalingRequest::operator(agent_type.clone(), severity, effect))
        .collect();
    state.scaler.evaluate_many(&requests, state.clock.now()).await.map_err(ApiError::from)
}
