//! The vocabulary every function shares: agent types, severities, regions and replicas.

mod agent_type;
mod number;
mod proximity;
mod region;
mod replica;
mod severity;

pub use agent_type::{AgentType, BuiltinAgentType};
pub use number::{TINY, clamp_tiny};
pub use proximity::{PUBLISHED as PUBLISHED_RTT_MS, PUBLISHED_SOURCE as PUBLISHED_RTT_SOURCE, Proximity};
pub use region::{PerRegion, Region};
pub use replica::{Replica, ReplicaId};
pub use severity::Severity;
