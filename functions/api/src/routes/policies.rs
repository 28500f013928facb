use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::error::ValidationError;
use shared::scaling::signals::Signal;
use shared::scaling::{MAX_OPERATOR_TYPES, PredictivePolicy, ScalingPolicy, VersionedPolicy};
use shared::store::StoreError;
use utoipa::ToSchema;

use crate::audit::Change;
use crate::extract::{Body, PathParam};
use crate::{ApiError, AppState};
use shared::domain::AgentType;

/// A policy as the API shows it: the prototype's fields plus the version to quote when changing it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    #[schema(value_type = String, pattern = "^[a-z0-9-]{1,64}$")]
    pub agent_type: String,
    #[serde(flatten)]
    pub policy: ScalingPolicy,
    /// 0 until the policy is first changed; quote it in the next PUT.
    pub version: u64,
}

impl From<VersionedPolicy> for PolicyView {
    fn from(v: VersionedPolicy) -> Self {
        Self { agent_type: v.agent_type.to_string(), policy: v.policy, version: v.version }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyResponse {
    #[serde(flatten)]
    pub policy: PolicyView,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyList {
    /// Every known agent type's policy, by type.
    pub policies: BTreeMap<String, PolicyView>,
    pub timestamp: DateTime<Utc>,
}

/// A policy change: every field of the policy, and the `version` the caller last read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyChange {
    /// At most `max_replicas`.
    #[schema(maximum = 1000)]
    pub min_replicas: u32,
    #[schema(maximum = 1000)]
    pub max_replicas: u32,
    /// Above `scale_down_threshold`, below `scale_up_threshold`.
    #[schema(exclusive_minimum = 0.01, exclusive_maximum = 1)]
    pub target_utilization: f64,
    #[schema(exclusive_minimum = 0.01, maximum = 1)]
    pub scale_up_threshold: f64,
    #[schema(minimum = 0.01, exclusive_maximum = 1)]
    pub scale_down_threshold: f64,
    /// Seconds between scaling actions (the low alarm's window), at most a day.
    #[schema(maximum = 86_400)]
    pub cooldown_period: u64,
    #[schema(minimum = 1, maximum = 100_000)]
    pub capacity_per_replica: u32,
    /// USD: 0, or 1E-6 to 1E6.
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub cost_per_replica_hour: f64,
    /// `heartbeats` or `cloudwatch`; left out, it follows the configured actuator.
    #[serde(default)]
    pub signal: Option<Signal>,
    /// Predictive scale-out: `enabled` (default true), `min_weeks` (1-4, default 2),
    /// `lead_seconds` (60-3600, default 600), `max_error` (0.05-1, default 0.5); left out, the
    /// defaults.
    #[serde(default)]
    pub predictive: Option<PredictivePolicy>,
    /// The version this change is based on (0 to create an operator-defined type's policy).
    pub version: u64,
    /// Optional; when present it must match the path.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub agent_type: Option<String>,
    /// Ignored, so a GET answer can be sent back as it is.
    #[serde(default, rename = "timestamp")]
    #[schema(value_type = Option<String>)]
    pub _timestamp: Option<serde::de::IgnoredAny>,
}

impl PolicyChange {
    fn into_parts(self) -> (ScalingPolicy, u64) {
        let policy = ScalingPolicy {
            min_replicas: self.min_replicas,
            max_replicas: self.max_replicas,
            target_utilization: self.target_utilization,
            scale_up_threshold: self.scale_up_threshold,
            scale_down_threshold: self.scale_down_threshold,
            cooldown_period: self.cooldown_period,
            capacity_per_replica: self.capacity_per_replica,
            cost_per_replica_hour: self.cost_per_replica_hour,
            signal: self.signal,
            predictive: self.predictive,
        };
        (policy, self.version)
    }
}

/// The policies of every known agent type.
#[utoipa::path(get, path = "/scaling/policies", tag = "scaling",
    responses(
        (status = 200, body = PolicyList),
    ))]
pub async fn list(State(state): State<AppState>) -> Result<Json<PolicyList>, ApiError> {
    let policies = state.fleet.policies().await?;
    let policies = policies.into_iter().map(|p| (p.agent_type.to_string(), PolicyView::from(p))).collect();
    Ok(Json(PolicyList { policies, timestamp: state.clock.now() }))
}

/// `agent_type`'s policy, or the 404 an undefined type answers (the scaler's own error for it).
pub(crate) async fn defined_policy(
    state: &AppState,
    agent_type: &AgentType,
) -> Result<VersionedPolicy, ApiError> {
    let policy = state.fleet.policy(agent_type).await?;
    policy.ok_or_else(|| shared::scaling::service::ScalingError::UnknownAgentType(agent_type.clone()).into())
}

/// One agent type's policy and its version.
#[utoipa::path(get, path = "/scaling/policies/{agent_type}", tag = "scaling",
    params(("agent_type" = String, Path, description = "An agent type: a-z, 0-9 and '-', 1 to 64 characters", pattern = "^[a-z0-9-]{1,64}$")),
    responses(
        (status = 200, body = PolicyResponse),
        (status = 400, description = "Malformed agent type", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent type", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    PathParam(agent_type): PathParam<AgentType>,
) -> Result<Json<PolicyResponse>, ApiError> {
    let policy = defined_policy(&state, &agent_type).await?;
    Ok(Json(PolicyResponse { policy: policy.into(), timestamp: state.clock.now() }))
}

/// Changes a policy if nobody changed it since the version quoted (optimistic locking).
#[utoipa::path(put, path = "/scaling/policies/{agent_type}", tag = "scaling",
    params(("agent_type" = String, Path, description = "An agent type: a-z, 0-9 and '-', 1 to 64 characters", pattern = "^[a-z0-9-]{1,64}$")),
    request_body = PolicyChange,
    responses(
        (status = 200, description = "Stored; the answer carries the new version", body = PolicyResponse),
        (status = 400, description = "Malformed JSON, wrong types, unknown fields", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The policy changed since the quoted version", body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The policy breaks an invariant, or it would define one operator-defined type more than the 45 allowed", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn put(
    State(state): State<AppState>,
    PathParam(agent_type): PathParam<AgentType>,
    Body(change): Body<PolicyChange>,
) -> Result<(Change, Json<PolicyResponse>), ApiError> {
    if let Some(named) = change.agent_type.as_deref().filter(|n| *n != agent_type.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "the body names agent type {named:?} but the path names {agent_type}"
        )));
    }
    let (policy, version) = change.into_parts();
    policy.validate()?;
    if version == 0 && !state.fleet.room_for_type(&agent_type).await? {
        return Err(ValidationError::new(
            "agent_type",
            format!(
                "{MAX_OPERATOR_TYPES} operator-defined agent types exist, the most there may be: delete one to define {agent_type}"
            ),
        )
        .into());
    }
    let before = state.fleet.policy(&agent_type).await?.map(|p| recorded(&p));
    match state.fleet.put_policy(&agent_type, policy, version).await {
        Ok(stored) => {
            tracing::info!(%agent_type, version = stored.version, "scaling policy changed");
            sync_alarms(&state).await;
            let change = Change::of(before.as_ref(), Some(&recorded(&stored)));
            Ok((change, Json(PolicyResponse { policy: stored.into(), timestamp: state.clock.now() })))
        }
        Err(StoreError::ConditionFailed) => {
            let current = state.fleet.policy(&agent_type).await?.map_or(0, |p| p.version);
            Err(ApiError::Conflict(format!(
                "the policy of {agent_type} is at version {current}, not {version}: read it again and reapply the change"
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// A policy as the audit trail records it: its version and its settings.
fn recorded(policy: &VersionedPolicy) -> serde_json::Value {
    serde_json::json!({ "version": policy.version, "policy": policy.policy })
}

/// The managed alarms follow a policy change at once; if CloudWatch cannot be reached now, the
/// scaler's next tick reconciles them (the change itself is stored either way).
async fn sync_alarms(state: &AppState) {
    match state.scaler.sync_alarms_now().await {
        Ok(Some(outcome)) if outcome.error.is_some() => {
            tracing::warn!(error = ?outcome.error, "managed alarms not yet in step; the next tick retries");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "managed alarms not reconciled; the next tick retries"),
    }
}

/// The version a deletion is based on.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteVersion {
    /// The version last read; the deletion fails with 409 if the policy changed since.
    pub version: u64,
}

/// What deleting a type's policy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Deletion {
    /// An operator-defined type and its alarms are gone.
    Removed,
    /// A builtin type is back on its seed policy, version 0.
    Reset,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyDeleted {
    pub agent_type: String,
    pub outcome: Deletion,
    pub timestamp: DateTime<Utc>,
}

/// Removes an operator-defined type (its policy, its catalog entry and, through the scaler, its
/// managed alarms), or resets a builtin type to its seed policy.
#[utoipa::path(delete, path = "/scaling/policies/{agent_type}", tag = "scaling",
    params(
        ("agent_type" = String, Path, description = "An agent type: a-z, 0-9 and '-', 1 to 64 characters", pattern = "^[a-z0-9-]{1,64}$"),
        DeleteVersion,
    ),
    responses(
        (status = 200, body = PolicyDeleted),
        (status = 400, description = "Malformed agent type or version", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent type", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The policy changed since the quoted version", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    PathParam(agent_type): PathParam<AgentType>,
    query: Result<axum::extract::Query<DeleteVersion>, axum::extract::rejection::QueryRejection>,
) -> Result<(Change, Json<PolicyDeleted>), ApiError> {
    let axum::extract::Query(DeleteVersion { version }) =
        query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let current = defined_policy(&state, &agent_type).await?;
    if current.version != version {
        return Err(ApiError::Conflict(format!(
            "the policy of {agent_type} is at version {}, not {version}: read it again",
            current.version
        )));
    }
    match state.fleet.delete_policy(&agent_type, version).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            return Err(ApiError::Conflict(format!(
                "the policy of {agent_type} changed meanwhile: read it again"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(%agent_type, version, "scaling policy deleted");
    sync_alarms(&state).await;
    let outcome = if agent_type.builtin().is_some() { Deletion::Reset } else { Deletion::Removed };
    let change = Change::of(Some(&recorded(&current)), None::<&()>);
    Ok((
        change,
        Json(PolicyDeleted { agent_type: agent_type.to_string(), outcome, timestamp: state.clock.now() }),
    ))
}
