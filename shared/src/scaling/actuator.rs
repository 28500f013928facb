//! Making a scaling decision real. The decision is already stored (desired replicas per region in
//! the type's state item); an actuator carries it further when the deployment asks for it.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::AgentType;
use crate::domain::{PerRegion, Region};
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

    /// What the platform reports running of `agent_type` in each of `regions` it answered for;
    /// `None` where the actuator cannot tell (the evaluation then counts heartbeats alone).
    async fn running(
        &self,
        _agent_type: &AgentType,
        _regions: &[Region],
    ) -> Result<Option<PerRegion<u32>>, AdapterError> {
        Ok(None)
    }
}

/// One answer for a decision applied region by region (every region attempted whatever another
/// answered): the actions when all succeeded, else the failed regions reported together, with
/// what was done. A failure is retryable when any region's was, or when other regions were
/// changed (a retry brings the rest in line).
pub fn every_region(
    service: &'static str,
    results: impl IntoIterator<Item = Result<String, AdapterError>>,
) -> Result<Vec<String>, AdapterError> {
    let (mut actions, mut failures) = (Vec::new(), Vec::new());
    for result in results {
        match result {
            Ok(action) => actions.push(action),
            Err(e) => failures.push(e),
        }
    }
    if failures.is_empty() {
        return Ok(actions);
    }
    let retryable = !actions.is_empty() || failures.iter().any(AdapterError::is_retryable);
    let message = failures.iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join("; ");
    let done = if actions.is_empty() { String::new() } else { format!(" (done: {})", actions.join("; ")) };
    let message = format!("{message}{done}");
    Err(if retryable {
        AdapterError::transient(service, message)
    } else {
        AdapterError::permanent(service, message)
    })
}

/// One actuator for the types named, another for the rest: agent types that run as ECS
/// services are scaled through ECS while the others keep the stack's actuator.
#[derive(Debug, Clone)]
pub struct ByType {
    pub types: BTreeSet<AgentType>,
    pub named: Arc<dyn Actuator>,
    pub rest: Arc<dyn Actuator>,
}

impl ByType {
    fn of(&self, agent_type: &AgentType) -> &dyn Actuator {
        if self.types.contains(agent_type) { self.named.as_ref() } else { self.rest.as_ref() }
    }
}

#[async_trait]
impl Actuator for ByType {
    async fn apply(
        &self,
        agent_type: &AgentType,
        desired: &PerRegion<u32>,
    ) -> Result<Vec<String>, AdapterError> {
        self.of(agent_type).apply(agent_type, desired).await
    }

    async fn running(
        &self,
        agent_type: &AgentType,
        regions: &[Region],
    ) -> Result<Option<PerRegion<u32>>, AdapterError> {
        self.of(agent_type).running(agent_type, regions).await
    }
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
