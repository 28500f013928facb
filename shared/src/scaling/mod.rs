//! Scaling: policies, the HPA-grade autoscaler, and the stored state they act on.

pub mod actuator;
pub mod alarm;
mod autoscaler;
pub mod cost_gate;
pub mod hpa;
pub mod plan;
mod policy;
pub mod records;
pub mod regions;
pub mod replay;
pub mod service;
mod state;

pub use autoscaler::{Decision, Observation, Recommendation, ScaleEvent, ScalingHistory, decide};
pub use hpa::HpaPolicy;
pub use policy::ScalingPolicy;
pub use state::{FleetState, ReplicaHeartbeat, VersionedPolicy};
