//! Making a scaling decision real. The decision is already stored (desired replicas per region in
//! the type's state item); an actuator carries it further when the deployment asks for it.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::domain::AgentType;
use crate::domain::PerRegion;
use crate::error::AdapterError;

/// Applies desired replica counts per region. Must be idempotent: the same counts may arrive again
/// (a retried event re-applies the last decision).
#[async_trait]
pub trait Actuator: Send + Sync + Debug {
    async fn apply(
        &self,
        agent_type: &AgentType,
        desired: &PerRegion<u32>,
    ) -> Result<Vec<String>, AdapterError>;
}

/// The default: the desired counts stay in DynamoDB, where the agent coordinator reads them.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecordActuator;

#[async_trait]
impl Actuator for RecordActuator {
    async fn apply(
        &self,
        agent_type: &AgentType,
        desired: &PerRegion<u32>,
    ) -> Result<Vec<String>, AdapterError> {
        Ok(desired
            .iter()
            .map(|(region, n)| format!("recorded {n} desired {agent_type} replicas in {region}"))
            .collect())
    }
}
