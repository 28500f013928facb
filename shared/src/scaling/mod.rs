//! Scaling: policies now; the autoscaler, regional distribution and failover build on them.

mod policy;
mod state;

pub use policy::ScalingPolicy;
pub use state::{FleetState, ReplicaHeartbeat, VersionedPolicy};
