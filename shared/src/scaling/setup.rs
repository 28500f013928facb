//! The scaling settings a container reads once: how decisions are applied (the actuator), how
//! Lambda agents are named and sized, and which signal a policy that names none uses. Read from
//! the environment by `runtime::settings::scaling`; `aws::scaling` builds the AWS side from it.

use super::alarms::AlarmSettings;
use super::signals::{LambdaAgents, Signal};
use std::collections::BTreeSet;

use crate::domain::{AgentType, Region};

/// How scaling decisions are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActuatorKind {
    /// Desired counts stay in the table, where the agents' coordinator reads them.
    Record,
    /// Provisioned concurrency on each agent function's alias in each region.
    ProvisionedConcurrency,
}

/// See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalingSetup {
    /// `COMMANDER_ACTUATOR`: `record` (default) or `provisioned-concurrency`.
    pub actuator: ActuatorKind,
    /// `COMMANDER_AGENT_FUNCTION_PATTERN` (default `{agent_type}-agent`),
    /// `COMMANDER_AGENT_QUALIFIER` (default `live`; `$LATEST` is refused) and
    /// `COMMANDER_CONCURRENCY_PER_REPLICA` (default 1, at most 10000).
    pub lambda_agents: LambdaAgents,
    /// `COMMANDER_ALARM_PREFIX` (the stack's name and a dash) turns on the managed alarms;
    /// `COMMANDER_ALARM_ACTION` is the ARN they invoke (the scaler; unset: no action, an
    /// EventBridge rule delivers their state changes).
    pub alarms: Option<ManagedAlarms>,
    /// `AWS_REGION`: where the container runs, and so its alarms.
    pub home_region: Option<Region>,
    /// `COMMANDER_ECS_AGENT_TYPES` (with `COMMANDER_ECS_CLUSTER` and
    /// `COMMANDER_ECS_SERVICE_PATTERN`): the agent types that run as ECS services, scaled
    /// through ECS whatever `actuator` says for the rest.
    pub ecs: Option<EcsAgents>,
}

/// Agent types that run as ECS services: one service per type in the same cluster of every
/// region of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsAgents {
    /// The cluster's name (the same in every region).
    pub cluster: String,
    /// Service name with `{agent_type}` in it.
    pub service_pattern: String,
    /// The types scaled through ECS.
    pub types: BTreeSet<AgentType>,
}

impl EcsAgents {
    pub fn service(&self, agent_type: &AgentType) -> String {
        self.service_pattern.replace("{agent_type}", agent_type.as_str())
    }
}

/// Where the managed alarms are named and what they invoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedAlarms {
    pub prefix: String,
    pub action: Option<String>,
}

impl Default for ScalingSetup {
    fn default() -> Self {
        Self {
            actuator: ActuatorKind::Record,
            lambda_agents: LambdaAgents {
                function_pattern: "{agent_type}-agent".into(),
                qualifier: "live".into(),
                concurrency_per_replica: 1,
            },
            alarms: None,
            home_region: None,
            ecs: None,
        }
    }
}

impl ScalingSetup {
    /// The managed alarms' settings, their metrics in `namespace`; `None` when the stack manages
    /// none. Lambda agents' alarms are made only where this region is one of the fleet's.
    pub fn alarm_settings(&self, namespace: &str, fleet: &[Region]) -> Option<AlarmSettings> {
        let alarms = self.alarms.as_ref()?;
        Some(AlarmSettings {
            prefix: alarms.prefix.clone(),
            namespace: namespace.to_owned(),
            actions: alarms.action.iter().cloned().collect(),
            home_region: self.home_region.clone().filter(|r| fleet.contains(r)),
            lambda_agents: self.lambda_agents.clone(),
        })
    }

    /// The signal of a policy that names none: Lambda agents' figures where the actuator
    /// provisions their concurrency, heartbeats otherwise.
    pub fn default_signal(&self) -> Signal {
        match self.actuator {
            ActuatorKind::Record => Signal::Heartbeats,
            ActuatorKind::ProvisionedConcurrency => Signal::Cloudwatch,
        }
    }
}
