//! Scaling: policies, the HPA-grade autoscaler, and the stored state they act on.

pub mod actuator;
pub mod alarm;
pub mod alarms;
mod autoscaler;
pub mod cost_gate;
pub mod demand;
pub mod forecast;
pub mod hpa;
pub mod plan;
mod policy;
pub mod prediction;
pub mod recorded;
pub mod records;
pub mod region_health;
pub mod regions;
#[cfg(feature = "sim")]
pub mod replay;
pub mod service;
pub mod setup;
pub mod signals;
mod state;
pub mod type_reads;

pub use autoscaler::{
    Decision, Floor, Observation, Recommendation, ScaleEvent, ScalingHistory, decide, decide_with_floor,
};
pub use hpa::HpaPolicy;
pub use policy::{PredictivePolicy, ScalingPolicy};
pub use state::{FleetState, MAX_OPERATOR_TYPES, MAX_REPLICAS_PER_TYPE, ReplicaHeartbeat, VersionedPolicy};
