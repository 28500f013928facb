//! Making a scaling decision real. The decision is already stored (desired replicas per region in
//! the type's state item); an actuator carries it further when the deployment asks for it.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use thiserror::Error;

use crate::aws::provisioned::{ProvisionedConcurrency, Target};
use crate::config::ConfigError;
use crate::domain::{AgentType, Region};

#[derive(Debug, Error)]
#[error("actuator failed: {message}")]
pub struct ActuatorError {
    pub message: String,
    /// Whether a later attempt may succeed (throttling, a region unreachable).
    pub retryable: bool,
}

/// Applies desired replica counts per region. Must be idempotent: the same counts may arrive again
/// (a retried event re-applies the last decision).
#[async_trait]
pub trait Actuator: Send + Sync + Debug {
    async fn apply(
        &self,
        agent_type: &AgentType,
        desired: &BTreeMap<String, u32>,
    ) -> Result<Vec<String>, ActuatorError>;
}

/// The default: the desired counts stay in DynamoDB, where the agent coordinator reads them.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecordActuator;

#[async_trait]
impl Actuator for RecordActuator {
    async fn apply(
        &self,
        agent_type: &AgentType,
        desired: &BTreeMap<String, u32>,
    ) -> Result<Vec<String>, ActuatorError> {
        Ok(desired
            .iter()
            .map(|(region, n)| format!("recorded {n} desired {agent_type} replicas in {region}"))
            .collect())
    }
}

fn bad(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { variable, message: message.into() }
}

/// `COMMANDER_ACTUATOR`: `record` (default) or `provisioned-concurrency`, which also reads
/// `COMMANDER_AGENT_FUNCTION_PATTERN` (default `{agent_type}-agent`), `COMMANDER_AGENT_QUALIFIER`
/// (default `live`; `$LATEST` is refused) and `COMMANDER_CONCURRENCY_PER_REPLICA` (default 1).
pub fn from_env(
    env: &impl Fn(&str) -> Option<String>,
    sdk: &SdkConfig,
    regions: &[Region],
) -> Result<Arc<dyn Actuator>, ConfigError> {
    let var = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    match var("COMMANDER_ACTUATOR").as_deref() {
        None | Some("record") => Ok(Arc::new(RecordActuator)),
        Some("provisioned-concurrency") => {
            let function_pattern =
                var("COMMANDER_AGENT_FUNCTION_PATTERN").unwrap_or_else(|| "{agent_type}-agent".into());
            if !function_pattern.contains("{agent_type}") {
                return Err(bad("COMMANDER_AGENT_FUNCTION_PATTERN", "must contain {agent_type}"));
            }
            let qualifier = var("COMMANDER_AGENT_QUALIFIER").unwrap_or_else(|| "live".into());
            if qualifier == "$LATEST" {
                return Err(bad(
                    "COMMANDER_AGENT_QUALIFIER",
                    "provisioned concurrency needs an alias or version, not $LATEST",
                ));
            }
            let concurrency_per_replica = match var("COMMANDER_CONCURRENCY_PER_REPLICA") {
                None => 1,
                Some(v) => v.parse::<u32>().ok().filter(|n| (1..=10_000).contains(n)).ok_or_else(|| {
                    bad(
                        "COMMANDER_CONCURRENCY_PER_REPLICA",
                        format!("{v:?} is not a whole number from 1 to 10000"),
                    )
                })?,
            };
            let clients = crate::aws::per_region(regions, |r| {
                aws_sdk_lambda::Client::from_conf(
                    aws_sdk_lambda::config::Builder::from(sdk)
                        .region(aws_sdk_lambda::config::Region::new(r.to_owned()))
                        .build(),
                )
            });
            Ok(Arc::new(ProvisionedConcurrency::new(
                clients,
                Target { function_pattern, qualifier, concurrency_per_replica },
            )))
        }
        Some(other) => {
            Err(bad("COMMANDER_ACTUATOR", format!("{other:?} is neither record nor provisioned-concurrency")))
        }
    }
}
