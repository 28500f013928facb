//! The scaler's AWS adapters against mocked SDK clients (CloudWatch on the local AWS-API servers
//! does not speak the SDK's current protocol): the request each sends and how each reads the
//! answer.

#![allow(clippy::float_cmp, reason = "the figures are whole numbers, exact in f64")]

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::operation::delete_alarms::DeleteAlarmsOutput;
use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_cloudwatch::operation::put_metric_alarm::PutMetricAlarmOutput;
use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, MetricAlarm, MetricDataQuery, MetricDataResult, Statistic,
};
use aws_sdk_lambda::operation::get_provisioned_concurrency_config::{
    GetProvisionedConcurrencyConfigError, GetProvisionedConcurrencyConfigOutput,
};
use aws_sdk_lambda::types::error::ProvisionedConcurrencyConfigNotFoundException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use chrono::{DateTime, Duration, Utc};
use shared::aws::agent_metrics::{AwsAgentMetrics, RegionClients};
use shared::aws::alarms::CloudWatchAlarms;
use shared::domain::{AgentType, Region};
use shared::scaling::ScalingPolicy;
use shared::scaling::alarms::{AlarmSettings, Alarms, alarms_for};
use shared::scaling::signals::{AgentMetrics, LambdaAgents, Signal};

fn window() -> (DateTime<Utc>, DateTime<Utc>) {
    let end = DateTime::parse_from_rfc3339("2026-11-26T10:03:00Z").unwrap().with_timezone(&Utc);
    (end - Duration::minutes(3), end)
}

fn stat_of(q: &MetricDataQuery) -> (String, String, Vec<(String, String)>, i32) {
    let stat = q.metric_stat().unwrap();
    let metric = stat.metric().unwrap();
    let dims = metric
        .dimensions()
        .iter()
        .map(|d| (d.name().unwrap().to_owned(), d.value().unwrap().to_owned()))
        .collect();
    (metric.metric_name().unwrap().to_owned(), stat.stat().unwrap().to_owned(), dims, stat.period().unwrap())
}

fn result(id: &str, values: &[f64]) -> MetricDataResult {
    MetricDataResult::builder().id(id).set_values(Some(values.to_vec())).build()
}

#[tokio::test]
async fn lambda_agents_figures_come_from_one_get_metric_data_per_region() {
    let (start, end) = window();
    let metrics = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(move |r| {
            let q = r.metric_data_queries();
            let ids: Vec<&str> = q.iter().filter_map(MetricDataQuery::id).collect();
            let (name, stat, dims, period) = stat_of(&q[0]);
            ids == ["c0", "i0", "e0", "t0", "c1", "i1", "e1", "t1"]
                && name == "ConcurrentExecutions"
                && stat == "Maximum"
                && period == 180
                && dims
                    == [
                        ("FunctionName".to_owned(), "detection-agent".to_owned()),
                        ("Resource".to_owned(), "detection-agent:live".to_owned()),
                    ]
                && stat_of(&q[3]).0 == "Throttles"
                && stat_of(&q[3]).1 == "Sum"
                && r.start_time().map(aws_sdk_cloudwatch::primitives::DateTime::secs)
                    == Some(start.timestamp())
                && r.end_time().map(aws_sdk_cloudwatch::primitives::DateTime::secs) == Some(end.timestamp())
        })
        .then_output(|| {
            GetMetricDataOutput::builder()
                .metric_data_results(result("c0", &[7.0, 12.0, 9.0]))
                .metric_data_results(result("i0", &[100.0, 150.0]))
                .metric_data_results(result("e0", &[3.0]))
                .metric_data_results(result("t0", &[]))
                .metric_data_results(result("c1", &[]))
                .build()
        });
    let allocated = mock!(aws_sdk_lambda::Client::get_provisioned_concurrency_config)
        .match_requests(|r| r.function_name() == Some("detection-agent") && r.qualifier() == Some("live"))
        .then_output(|| {
            GetProvisionedConcurrencyConfigOutput::builder()
                .allocated_provisioned_concurrent_executions(10)
                .build()
        });
    let none = mock!(aws_sdk_lambda::Client::get_provisioned_concurrency_config)
        .match_requests(|r| r.function_name() == Some("diagnosis-agent"))
        .then_error(|| {
            GetProvisionedConcurrencyConfigError::ProvisionedConcurrencyConfigNotFoundException(
                ProvisionedConcurrencyConfigNotFoundException::builder().build(),
            )
        });
    let clients = RegionClients {
        cloudwatch: mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&metrics]),
        lambda: mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&allocated, &none]),
    };
    let port = AwsAgentMetrics::new(BTreeMap::from([("us-east-1".to_owned(), clients)]));
    let functions = ["detection-agent".to_owned(), "diagnosis-agent".to_owned()];
    let east = Region::parse("us-east-1").unwrap();
    let figures = port.lambda_figures(&east, &functions, "live", window()).await.unwrap();
    assert_eq!(metrics.num_calls(), 1, "one call for every function");
    let d = figures["detection-agent"];
    assert_eq!(
        (d.allocated, d.concurrent_max, d.invocations, d.errors, d.throttles),
        (10, 12.0, 250.0, 3.0, 0.0)
    );
    let q = figures["diagnosis-agent"];
    assert_eq!((q.allocated, q.concurrent_max), (0, 0.0), "no configuration, no datapoints: zero");
    let err = port.lambda_figures(&Region::parse("eu-west-1").unwrap(), &functions, "live", window()).await;
    assert!(err.unwrap_err().message.contains("no CloudWatch"), "an unknown region is an error, not zeros");
}

fn settings() -> AlarmSettings {
    AlarmSettings {
        prefix: "commander-prod-".into(),
        namespace: "IncidentCommander/prod".into(),
        actions: vec!["arn:aws:lambda:us-east-1:1:function:commander-prod-scaler".into()],
        home_region: Region::parse("us-east-1").ok(),
        lambda_agents: LambdaAgents {
            function_pattern: "{agent_type}-agent".into(),
            qualifier: "live".into(),
            concurrency_per_replica: 1,
        },
    }
}

#[tokio::test]
async fn alarms_are_put_described_and_deleted_as_the_reconciliation_asks() {
    let triage = AgentType::parse("triage").unwrap();
    let [high, _low] =
        alarms_for(&settings(), &triage, &ScalingPolicy::default_for(&triage), Signal::Heartbeats)
            .try_into()
            .unwrap();
    let put = mock!(aws_sdk_cloudwatch::Client::put_metric_alarm)
        .match_requests(|r| {
            r.alarm_name() == Some("commander-prod-triage-utilization-high")
                && r.namespace() == Some("IncidentCommander/prod")
                && r.metric_name() == Some("AgentUtilization")
                && r.dimensions().len() == 1
                && r.dimensions()[0].value() == Some("triage")
                && r.statistic() == Some(&Statistic::Average)
                && r.period() == Some(60)
                && r.evaluation_periods() == Some(3)
                && r.datapoints_to_alarm() == Some(3)
                && r.threshold() == Some(80.0)
                && r.comparison_operator() == Some(&ComparisonOperator::GreaterThanThreshold)
                && r.treat_missing_data() == Some("notBreaching")
                && r.actions_enabled() == Some(true)
                && r.alarm_actions() == ["arn:aws:lambda:us-east-1:1:function:commander-prod-scaler"]
        })
        .then_output(|| PutMetricAlarmOutput::builder().build());
    let described = MetricAlarm::builder()
        .alarm_name(&high.name)
        .alarm_description(&high.description)
        .namespace("IncidentCommander/prod")
        .metric_name("AgentUtilization")
        .dimensions(Dimension::builder().name("AgentType").value("triage").build())
        .statistic(Statistic::Average)
        .period(60)
        .evaluation_periods(3)
        .datapoints_to_alarm(3)
        .threshold(80.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("notBreaching")
        .alarm_actions("arn:aws:lambda:us-east-1:1:function:commander-prod-scaler")
        .build();
    let first_page = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(|r| {
            r.alarm_name_prefix() == Some("commander-prod-")
                && r.alarm_types() == [AlarmType::MetricAlarm]
                && r.next_token().is_none()
        })
        .then_output(move || {
            DescribeAlarmsOutput::builder().metric_alarms(described.clone()).next_token("page-2").build()
        });
    let second_page = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| DescribeAlarmsOutput::builder().build());
    let deleted = mock!(aws_sdk_cloudwatch::Client::delete_alarms)
        .match_requests(|r| r.alarm_names().len() == 100)
        .then_output(|| DeleteAlarmsOutput::builder().build());
    let rest = mock!(aws_sdk_cloudwatch::Client::delete_alarms)
        .match_requests(|r| r.alarm_names().len() == 30)
        .then_output(|| DeleteAlarmsOutput::builder().build());
    let client = mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::MatchAny,
        [&put, &first_page, &second_page, &deleted, &rest]
    );
    let alarms = CloudWatchAlarms::new(client);
    alarms.put(&high).await.unwrap();
    assert_eq!(put.num_calls(), 1);
    let listed = alarms.list("commander-prod-").await.unwrap();
    assert_eq!(listed, [high], "what was put reads back equal, so the next tick changes nothing");
    assert_eq!(second_page.num_calls(), 1, "every page is read");
    let names: Vec<String> = (0..130).map(|i| format!("commander-prod-t{i}-utilization-low")).collect();
    alarms.delete(&names).await.unwrap();
    assert_eq!((deleted.num_calls(), rest.num_calls()), (1, 1), "at most 100 names a call");
}
