//! What the scaler keeps in the store between evaluations, and what it reads from elsewhere.
//!
//! Keys: `AGENT#<type>`/`STATE` (desired replicas per region, history, recent events; versioned),
//! `AGENT#<type>`/`EVENT#<ts>#<id>` (every scaling and failover event, with a TTL),
//! `REGION#<region>`/`HEALTH` (operator health mark and weight), `CONTROL`/`COST` (spend and
//! emergency mode, written by the cost sweeper).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::autoscaler::ScalingHistory;
use super::regions::KnownReplicas;

/// How many events the state item carries for the status page; older ones live as event items.
pub const RECENT_EVENTS: usize = 20;

/// The scaler's memory of one agent type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentScalingState {
    /// The replica count the autoscaler settled on (what HPA calls the spec's replicas).
    pub desired_total: u32,
    /// Its split over regions.
    #[serde(default)]
    pub desired: BTreeMap<String, u32>,
    /// Replica ids live at the last evaluation, to notice the ones that stop reporting.
    #[serde(default)]
    pub known_replicas: KnownReplicas,
    #[serde(default)]
    pub history: ScalingHistory,
    /// State timestamp of the newest alarm applied: older or repeated alarms change nothing.
    #[serde(default)]
    pub last_alarm_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub evaluated_at: Option<DateTime<Utc>>,
    /// The latest scaling, refusal and failover events, newest last.
    #[serde(default)]
    pub recent_events: Vec<ScalingEventRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    ScaleUp,
    ScaleDown,
    /// A scale-up the cost gate refused.
    ScaleUpRefused,
    /// A replica missed three heartbeats and is being replaced.
    Failover,
}

/// One thing the scaler did or refused to do, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScalingEventRecord {
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_id: Option<String>,
    #[serde(default)]
    pub reasons: Vec<String>,
    /// USD per hour this event adds (+) or saves (-).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_impact_per_hour: Option<f64>,
}

/// An operator's view of a region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegionHealth {
    pub healthy: bool,
    /// Relative share of replicas (1 by default).
    pub weight: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// The spend the cost sweeper last recorded, and which cost controls are on. The scaler's cost gate
/// and model selection read it; only the sweeper writes it (versioned).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CostControl {
    #[serde(default)]
    pub current_hourly_spend: f64,
    #[serde(default)]
    pub emergency_mode: bool,
    #[serde(default)]
    pub level: crate::cost::levels::Level,
    #[serde(default)]
    pub daily_projection: f64,
    /// From $100/h: non-critical model selection takes the cheapest model within 0.05 accuracy of
    /// its usual choice.
    #[serde(default)]
    pub optimizing: bool,
    #[serde(default)]
    pub emergency_since: Option<DateTime<Utc>>,
    /// Since when the level has been below critical while emergency mode is on.
    #[serde(default)]
    pub below_critical_since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}
