//! The bodies of the API's requests and answers that agents exchange with it (replicas,
//! selection, usage, models): defined once, here, so the api serves exactly what the clients
//! send and read (`clients/rust` uses these types; the OpenAPI document is generated from them).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::balancing::Strategy;
use crate::balancing::assignments::Released;
use crate::cost::TaskType;
use crate::cost::model_health::ModelHealth;
use crate::cost::models::{CostMode, ModelChoice};
use crate::domain::{AgentType, Region, ReplicaId, Severity};

/// An incident to assign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectRequest {
    #[schema(value_type = String, pattern = "^[a-z0-9-]{1,64}$")]
    pub agent_type: AgentType,
    pub severity: Severity,
    /// Where the incident is (the geographic strategy prefers it): one of the fleet's regions.
    #[schema(value_type = Option<String>, pattern = "^[a-z]{2}-(gov-|iso-|isob-|isof-)?(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9][0-9]?$")]
    pub region: Option<Region>,
    /// Default `peak_ewma`.
    pub strategy: Option<Strategy>,
    /// Makes the request safe to retry: the same id gets the same replica, counted once, for a
    /// day (1-128 printable characters).
    #[schema(min_length = 1, max_length = 128)]
    pub incident_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SelectResponse {
    pub replica_id: String,
    pub region: String,
    pub strategy: Strategy,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
    pub timestamp: DateTime<Utc>,
}

/// The end of an assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    #[schema(value_type = String)]
    pub replica_id: ReplicaId,
    #[schema(value_type = String)]
    pub agent_type: AgentType,
    /// Whether the replica handled the incident successfully.
    pub ok: bool,
    /// How long it took, in ms.
    #[schema(minimum = 0, maximum = 86_400_000)]
    pub latency_ms: f64,
    /// With the id given at selection, a retried release counts once.
    #[schema(min_length = 1, max_length = 128)]
    pub incident_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReleaseResponse {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub released: Released,
    pub timestamp: DateTime<Utc>,
}

/// One model call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageRequest {
    /// A model id of the price table in force, e.g. `anthropic.claude-sonnet-4`.
    pub model: String,
    /// What the call was for: an agent type or any other task name (a-z, 0-9, '-', '_').
    #[schema(value_type = String)]
    pub task_type: TaskType,
    pub severity: Severity,
    #[schema(maximum = 10_000_000)]
    pub input_tokens: u64,
    #[schema(maximum = 10_000_000)]
    pub output_tokens: u64,
    /// In ms.
    #[schema(minimum = 0, maximum = 3_600_000)]
    pub latency_ms: Option<f64>,
    /// When the call was made (default now); at most 24 hours ago, not in the future. A call
    /// older than the previous hour is priced by the next sweep into its hour's stored total.
    pub timestamp: Option<DateTime<Utc>>,
    /// The caller's id for this report (1 to 128 of `A-Z a-z 0-9 . _ : -`): a retry with the same
    /// id within 24 hours counts once and gets the first answer.
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageResponse {
    /// The hour whose counters it was added to.
    pub hour: DateTime<Utc>,
    pub timestamp: DateTime<Utc>,
    /// False when this answers a retry of a `request_id` already counted.
    pub counted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HeartbeatAccepted {
    pub replica_id: String,
    pub agent_type: String,
    pub region: String,
    pub utilization: f64,
    /// When the replica vanishes unless it reports again (three missed intervals).
    pub expires_at: DateTime<Utc>,
    pub timestamp: DateTime<Utc>,
}

/// One replica, named as its heartbeat names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplicaRef {
    #[schema(value_type = String, pattern = "^[a-z0-9-]{1,64}$")]
    pub agent_type: AgentType,
    /// One of the fleet's regions.
    #[schema(value_type = String, example = "us-east-1", pattern = "^[a-z]{2}-(gov-|iso-|isob-|isof-)?(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9][0-9]?$")]
    pub region: Region,
    #[schema(value_type = String, pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub replica_id: ReplicaId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DrainAnswer {
    pub replica_id: String,
    pub agent_type: String,
    pub region: String,
    /// Always true: the replica takes no new work from now on.
    pub draining: bool,
    /// Incidents it is still working on, as of its last heartbeat and the releases since.
    pub load: f64,
    /// When it vanishes unless it reports again; it keeps reporting while it finishes its work,
    /// then deregisters (or stops reporting).
    pub expires_at: Option<DateTime<Utc>>,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeregisterAnswer {
    pub replica_id: String,
    pub agent_type: String,
    pub region: String,
    /// False when no such replica was live (already deregistered, expired, or never reported):
    /// a retried deregistration answers 200 all the same.
    pub deregistered: bool,
    pub timestamp: DateTime<Utc>,
}

/// What a call needs from a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectModelRequest {
    #[schema(value_type = String)]
    pub task_type: TaskType,
    pub severity: Severity,
    /// Default 0.85; critical and high never go below 0.92, low never below 0.80.
    #[schema(minimum = 0, maximum = 1)]
    pub required_accuracy: Option<f64>,
    /// Most USD per 1,000 tokens (input and output together).
    #[schema(exclusive_minimum = 0)]
    pub max_cost_per_1k: Option<f64>,
    #[schema(maximum = 10_000_000)]
    pub expected_input_tokens: Option<u64>,
    #[schema(maximum = 10_000_000)]
    pub expected_output_tokens: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SelectModelResponse {
    #[serde(flatten)]
    pub choice: ModelChoice,
    /// The cost controls' mode the choice was made in.
    pub mode: CostMode,
    pub timestamp: DateTime<Utc>,
}

/// How a call on a model went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    pub model: String,
    pub ok: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelReportResponse {
    pub model: String,
    pub health: ModelHealth,
    /// Seconds it stays out of selection (0: available).
    pub cooling_s: u64,
    pub timestamp: DateTime<Utc>,
}
