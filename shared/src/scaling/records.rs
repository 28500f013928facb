//! What the scaler keeps in the store between evaluations, and what it reads from elsewhere.
//!
//! Keys: `AGENT#<type>`/`STATE` (desired replicas per region, history, recent events; versioned),
//! `AGENT#<type>`/`EVENT#<ts>#<id>` (every scaling and failover event, with a TTL),
//! `REGION#<region>`/`HEALTH` (operator health mark and weight), `CONTROL`/`COST` (spend and
//! emergency mode, written by the cost sweeper).

use std::collections::BTreeMap;

use crate::domain::PerRegion;

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
    pub desired: PerRegion<u32>,
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
    /// When replicas of the type were last live in each region: a region whose replicas stop
    /// reporting soon after is silent (see `region_health`).
    #[serde(default)]
    pub last_live_at: PerRegion<DateTime<Utc>>,
    /// The latest evaluation, whatever asked for it.
    #[serde(default)]
    pub last_evaluation: Option<EvaluationRecord>,
    /// Refused incidents per minute (`YYYY-MM-DDTHH:MM`) that a scale-up already answered, so
    /// the same refusals do not ask again while the new replicas start.
    #[serde(default)]
    pub refusals_answered: BTreeMap<String, f64>,
    /// The state version whose desired counts the actuator last applied: behind the item's own
    /// version, a decision is stored but not (yet) in force.
    #[serde(default)]
    pub applied_version: Option<u64>,
    /// The control-plane epoch of the region that stored this decision (0: a single-region
    /// stack). A region acting under a lower epoch is refused (`leadership`'s fence).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u64,
    /// The latest prediction: the forecasts ahead, the floor they set and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<super::prediction::Prediction>,
    /// What the tick saw each minute of this hour and the last, until the hour is written as
    /// its recorded-demand item (`recorded`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub recording: super::recorded::Recording,
}

impl AgentScalingState {
    /// The forecasts the latest prediction holds (none before the first).
    pub fn forecasts(&self) -> &[super::forecast::HourForecast] {
        self.prediction.as_ref().map_or(&[], |p| p.forecasts.as_slice())
    }
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "serde's skip_serializing_if passes a reference")]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What asked for an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The scaler's periodic tick.
    Tick,
    /// A managed alarm's transition to ALARM.
    Alarm,
    /// An operator (`POST /scaling/optimize`, a region mark).
    Operator,
}

/// The gist of one evaluation, kept on the state item for the status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvaluationRecord {
    pub at: DateTime<Utc>,
    pub trigger: Trigger,
    /// Replicas live when it ran.
    pub live: u32,
    pub desired: u32,
    /// The severity the cost gate weighed a scale-up by.
    #[schema(value_type = String)]
    pub severity: crate::domain::Severity,
    #[serde(default)]
    pub reasons: Vec<String>,
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

/// Who marked a region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MarkSource {
    /// An operator (`PUT /regions/{region}/health`): stays until an operator clears it.
    #[default]
    Operator,
    /// The scaler: replicas that were live stopped reporting while other regions still report.
    Silence,
    /// The scaler: Lambda agents' errors and throttles passed the threshold.
    Errors,
}

impl MarkSource {
    pub fn is_automatic(self) -> bool {
        self != Self::Operator
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Silence => "silence",
            Self::Errors => "errors",
        }
    }
}

/// An operator's pause of one type's autoscaling: ticks, alarms and optimisations evaluate it
/// and say what they would do, but store and apply nothing, until it is resumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pause {
    /// Who paused it: the caller's IAM principal (`local` under `commander serve`).
    pub by: String,
    pub reason: String,
    pub since: DateTime<Utc>,
}

/// A mark on a region: an operator's, or the scaler's own from silence or errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegionHealth {
    pub healthy: bool,
    /// Relative share of replicas (1 by default).
    pub weight: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub source: MarkSource,
    /// An automatic mark: since when the region has looked well again (it clears after the
    /// hold-down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovering_since: Option<DateTime<Utc>>,
}

impl RegionHealth {
    /// An operator's mark.
    pub fn operator(healthy: bool, weight: f64, reason: Option<String>, at: DateTime<Utc>) -> Self {
        Self { healthy, weight, reason, updated_at: at, source: MarkSource::Operator, recovering_since: None }
    }
}

/// A region marked or cleared, kept for the status and the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegionEvent {
    pub at: DateTime<Utc>,
    #[schema(value_type = String)]
    pub region: crate::domain::Region,
    pub healthy: bool,
    pub source: MarkSource,
    pub reason: String,
}
