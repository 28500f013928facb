//! Scaling: policies, the HPA-grade autoscaler, and the stored state they act on.

mod autoscaler;
pub mod cost_gate;
pub mod hpa;
mod policy;
pub mod regions;
pub mod replay;
mod state;

pub use autoscaler::{Decision, Observation, Recommendation, ScaleEvent, ScalingHistory, decide};
pub use hpa::HpaPolicy;
pub use policy::ScalingPolicy;
pub use state::{FleetState, ReplicaHeartbeat, VersionedPolicy};
