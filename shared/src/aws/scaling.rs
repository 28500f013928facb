//! The AWS side of scaling, built once per container from its settings: the actuator (ECS for
//! the types that run as ECS services) and, for
//! Lambda agents, the CloudWatch and Lambda clients their live signals are read with, one pair
//! per region of the fleet, each built when its region is first asked about.

use std::sync::Arc;

use aws_config::SdkConfig;

use super::agent_metrics::{AwsAgentMetrics, RegionClients};
use super::alarms::CloudWatchAlarms;
use super::ecs::EcsServices;
use super::provisioned::{ProvisionedConcurrency, Target};
use crate::domain::Region;
use crate::scaling::actuator::{Actuator, ByType, RecordActuator};
use crate::scaling::service::{AlarmSync, LambdaSource, SignalSources};
use crate::scaling::setup::{ActuatorKind, ScalingSetup};

fn lambda_client(sdk: &SdkConfig, region: &str) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(sdk)
            .region(aws_sdk_lambda::config::Region::new(region.to_owned()))
            .build(),
    )
}

fn cloudwatch_client(sdk: &SdkConfig, region: &str) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(sdk)
            .region(aws_sdk_cloudwatch::config::Region::new(region.to_owned()))
            .build(),
    )
}

fn ecs_client(sdk: &SdkConfig, region: &str) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::config::Builder::from(sdk)
            .region(aws_sdk_ecs::config::Region::new(region.to_owned()))
            .build(),
    )
}

/// The actuator `setup` names, with the types that run as ECS services scaled through ECS.
pub fn actuator(setup: &ScalingSetup, sdk: &SdkConfig, regions: &[Region]) -> Arc<dyn Actuator> {
    let rest = stack_actuator(setup, sdk, regions);
    let Some(ecs) = &setup.ecs else { return rest };
    let sdk = sdk.clone();
    let clients = super::per_region(regions, move |r| ecs_client(&sdk, r));
    Arc::new(ByType {
        types: ecs.types.clone(),
        named: Arc::new(EcsServices::new(clients, ecs.clone())),
        rest,
    })
}

fn stack_actuator(setup: &ScalingSetup, sdk: &SdkConfig, regions: &[Region]) -> Arc<dyn Actuator> {
    match setup.actuator {
        ActuatorKind::Record => Arc::new(RecordActuator),
        ActuatorKind::ProvisionedConcurrency => {
            let sdk = sdk.clone();
            let clients = super::per_region(regions, move |r| lambda_client(&sdk, r));
            let agents = &setup.lambda_agents;
            Arc::new(ProvisionedConcurrency::new(
                clients,
                Target {
                    function_pattern: agents.function_pattern.clone(),
                    qualifier: agents.qualifier.clone(),
                    concurrency_per_replica: agents.concurrency_per_replica,
                },
            ))
        }
    }
}

/// Live signals: heartbeats from the table, and Lambda agents' figures from CloudWatch and the
/// Lambda API in every region.
pub fn signals(setup: &ScalingSetup, sdk: &SdkConfig, regions: &[Region]) -> SignalSources {
    let sdk = sdk.clone();
    let clients = super::per_region(regions, move |r| RegionClients {
        cloudwatch: cloudwatch_client(&sdk, r),
        lambda: lambda_client(&sdk, r),
    });
    SignalSources {
        default: setup.default_signal(),
        lambda: Some(LambdaSource {
            agents: setup.lambda_agents.clone(),
            metrics: Arc::new(AwsAgentMetrics::new(clients)),
        }),
    }
}

/// The managed alarms in the container's own region, in `namespace`; `None` when the stack
/// manages none.
pub fn alarms(
    setup: &ScalingSetup,
    namespace: &str,
    sdk: &SdkConfig,
    regions: &[Region],
) -> Option<AlarmSync> {
    let settings = setup.alarm_settings(namespace, regions)?;
    Some(AlarmSync {
        settings,
        cloudwatch: Arc::new(CloudWatchAlarms::new(super::lazy_client::LazyClient::lazy({
            let sdk = sdk.clone();
            move || aws_sdk_cloudwatch::Client::new(&sdk)
        }))),
    })
}
