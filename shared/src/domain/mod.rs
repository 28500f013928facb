//! The vocabulary every function shares: agent types, severities, regions and replicas.

mod agent_type;
mod region;
mod replica;
mod severity;

pub use agent_type::{AgentType, BuiltinAgentType};
pub use region::Region;
pub use replica::{Replica, ReplicaId};
pub use severity::Severity;
