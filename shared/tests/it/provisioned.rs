//! The provisioned-concurrency actuator against mocked Lambda clients (no Lambda API server here
//! offers provisioned concurrency).

use std::collections::BTreeMap;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::delete_provisioned_concurrency_config::DeleteProvisionedConcurrencyConfigOutput;
use aws_sdk_lambda::operation::put_provisioned_concurrency_config::{
    PutProvisionedConcurrencyConfigError, PutProvisionedConcurrencyConfigOutput,
};
use aws_sdk_lambda::types::error::TooManyRequestsException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use shared::aws::provisioned::{ProvisionedConcurrency, Target};
use shared::domain::AgentType;
use shared::scaling::actuator::Actuator;

fn target() -> Target {
    Target {
        function_pattern: "incident-{agent_type}-agent".into(),
        qualifier: "live".into(),
        concurrency_per_replica: 5,
    }
}

#[tokio::test]
async fn sets_replicas_times_concurrency_on_the_alias_in_each_region() {
    let east = mock!(Client::put_provisioned_concurrency_config)
        .match_requests(|r| {
            r.function_name() == Some("incident-detection-agent")
                && r.qualifier() == Some("live")
                && r.provisioned_concurrent_executions() == Some(15)
        })
        .then_output(|| PutProvisionedConcurrencyConfigOutput::builder().build());
    let west_zero = mock!(Client::delete_provisioned_concurrency_config)
        .match_requests(|r| {
            r.function_name() == Some("incident-detection-agent") && r.qualifier() == Some("live")
        })
        .then_output(|| DeleteProvisionedConcurrencyConfigOutput::builder().build());
    let clients = BTreeMap::from([
        ("us-east-1".to_owned(), mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&east])),
        ("us-west-2".to_owned(), mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&west_zero])),
    ]);
    let actuator = ProvisionedConcurrency::new(clients, target());
    let desired = per_region(&[("us-east-1", 3), ("us-west-2", 0)]);
    let actions = actuator.apply(&AgentType::parse("detection").unwrap(), &desired).await.unwrap();
    assert_eq!(east.num_calls(), 1);
    assert_eq!(west_zero.num_calls(), 1, "zero replicas removes the configuration");
    assert_eq!(actions.len(), 2);
    assert!(actions[0].contains("to 15"), "{actions:?}");
}

#[tokio::test]
async fn throttling_is_a_retryable_failure_and_unknown_regions_are_not() {
    let throttled = mock!(Client::put_provisioned_concurrency_config).then_error(|| {
        PutProvisionedConcurrencyConfigError::TooManyRequestsException(
            TooManyRequestsException::builder().build(),
        )
    });
    let clients = BTreeMap::from([(
        "us-east-1".to_owned(),
        mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&throttled]),
    )]);
    let actuator = ProvisionedConcurrency::new(clients, target());
    let err = actuator
        .apply(&AgentType::parse("diagnosis").unwrap(), &per_region(&[("us-east-1", 2)]))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let err = actuator
        .apply(&AgentType::parse("diagnosis").unwrap(), &per_region(&[("eu-west-1", 2)]))
        .await
        .unwrap_err();
    assert!(!err.is_retryable() && err.message.contains("eu-west-1"));
}

/// Issue 17, item 7: a non-retryable error in one region stopped the loop, leaving the regions
/// after it untouched.
#[tokio::test]
async fn every_region_is_attempted_and_a_partial_failure_is_retryable() {
    use aws_sdk_lambda::types::error::ResourceNotFoundException;
    let missing = mock!(Client::put_provisioned_concurrency_config).then_error(|| {
        PutProvisionedConcurrencyConfigError::ResourceNotFoundException(
            ResourceNotFoundException::builder().build(),
        )
    });
    let fine = mock!(Client::put_provisioned_concurrency_config)
        .then_output(|| PutProvisionedConcurrencyConfigOutput::builder().build());
    let clients = BTreeMap::from([
        ("ap-southeast-1".to_owned(), mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&missing])),
        ("us-east-1".to_owned(), mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&fine])),
    ]);
    let actuator = ProvisionedConcurrency::new(clients, target());
    let desired = per_region(&[("ap-southeast-1", 1), ("us-east-1", 2)]);
    let err = actuator.apply(&AgentType::parse("detection").unwrap(), &desired).await.unwrap_err();
    assert_eq!(fine.num_calls(), 1, "the region after the failing one is still set");
    assert!(err.message.contains("ap-southeast-1") && err.message.contains("us-east-1 to 10"), "{err}");
    assert!(err.is_retryable(), "a partial failure asks for a retry");
}

#[test]
fn the_actuator_is_chosen_by_configuration() {
    use shared::domain::Region;
    let sdk = aws_config::SdkConfig::builder().build();
    let regions = Region::defaults();
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    };
    let record = shared::runtime::settings::scaling(&env(&[])).unwrap();
    assert!(
        format!("{:?}", shared::aws::scaling::actuator(&record, &sdk, &regions)).contains("RecordActuator")
    );
    let pc = shared::runtime::settings::scaling(&env(&[("COMMANDER_ACTUATOR", "provisioned-concurrency")]))
        .unwrap();
    assert!(
        format!("{:?}", shared::aws::scaling::actuator(&pc, &sdk, &regions))
            .contains("ProvisionedConcurrency")
    );
    let signals = shared::aws::scaling::signals(&pc, &sdk, &regions);
    assert_eq!(signals.default, shared::scaling::signals::Signal::Cloudwatch);
    assert!(signals.lambda.is_some());
}

/// Desired counts keyed by region, as the scaler hands them to the actuator.
fn per_region(counts: &[(&str, u32)]) -> shared::domain::PerRegion<u32> {
    counts.iter().map(|(r, n)| (shared::domain::Region::parse(r).unwrap(), *n)).collect()
}
