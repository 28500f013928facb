//! The managed alarms in CloudWatch: `DescribeAlarms` by the stack's prefix, `PutMetricAlarm`
//! (creates or replaces one whole), `DeleteAlarms` (at most 100 names a call).

use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;

use super::lazy_client::LazyClient;
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::types::{AlarmType, ComparisonOperator, Dimension, MetricAlarm, Statistic};

use crate::error::AdapterError;
use crate::scaling::alarms::{AlarmSpec, Alarms, Comparison, MissingData};

/// DeleteAlarms takes at most this many names.
const DELETE_BATCH: usize = 100;

/// The CloudWatch client of the stack's region.
#[derive(Debug, Clone)]
pub struct CloudWatchAlarms {
    client: LazyClient<Client>,
}

impl CloudWatchAlarms {
    pub fn new(client: impl Into<LazyClient<Client>>) -> Self {
        Self { client: client.into() }
    }
}

fn failed<E, R>(what: &str, e: &SdkError<E, R>) -> AdapterError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    super::sdk_failure("CloudWatch alarms", what, e)
}

/// An alarm as CloudWatch describes it; `None` for one the suite could not have written (no
/// metric, a statistic it does not use).
fn spec_of(alarm: &MetricAlarm) -> Option<AlarmSpec> {
    let comparison = match alarm.comparison_operator()? {
        ComparisonOperator::GreaterThanThreshold => Comparison::GreaterThanThreshold,
        ComparisonOperator::LessThanThreshold => Comparison::LessThanThreshold,
        _ => return None,
    };
    let mut dimensions: Vec<(String, String)> = alarm
        .dimensions()
        .iter()
        .map(|d| (d.name().unwrap_or_default().to_owned(), d.value().unwrap_or_default().to_owned()))
        .collect();
    dimensions.sort();
    let evaluation_periods = u32::try_from(alarm.evaluation_periods()?).ok()?;
    Some(AlarmSpec {
        name: alarm.alarm_name()?.to_owned(),
        description: alarm.alarm_description().unwrap_or_default().to_owned(),
        namespace: alarm.namespace()?.to_owned(),
        metric_name: alarm.metric_name()?.to_owned(),
        dimensions,
        statistic: alarm.statistic()?.as_str().to_owned(),
        period_s: u32::try_from(alarm.period()?).ok()?,
        evaluation_periods,
        datapoints_to_alarm: alarm
            .datapoints_to_alarm()
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or(evaluation_periods),
        threshold: alarm.threshold()?,
        comparison,
        treat_missing_data: alarm
            .treat_missing_data()
            .and_then(MissingData::parse)
            .unwrap_or(MissingData::Missing),
        actions: alarm.alarm_actions().to_vec(),
    })
}

#[async_trait]
impl Alarms for CloudWatchAlarms {
    async fn list(&self, prefix: &str) -> Result<Vec<AlarmSpec>, AdapterError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .get()
                .describe_alarms()
                .alarm_name_prefix(prefix)
                .alarm_types(AlarmType::MetricAlarm)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| failed("DescribeAlarms", &e))?;
            out.extend(page.metric_alarms().iter().filter_map(spec_of));
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    async fn put(&self, alarm: &AlarmSpec) -> Result<(), AdapterError> {
        let comparison = match alarm.comparison {
            Comparison::GreaterThanThreshold => ComparisonOperator::GreaterThanThreshold,
            Comparison::LessThanThreshold => ComparisonOperator::LessThanThreshold,
        };
        self.client
            .get()
            .put_metric_alarm()
            .alarm_name(&alarm.name)
            .alarm_description(&alarm.description)
            .namespace(&alarm.namespace)
            .metric_name(&alarm.metric_name)
            .set_dimensions(Some(
                alarm.dimensions.iter().map(|(n, v)| Dimension::builder().name(n).value(v).build()).collect(),
            ))
            .statistic(Statistic::from(alarm.statistic.as_str()))
            .period(i32::try_from(alarm.period_s).unwrap_or(60))
            .evaluation_periods(i32::try_from(alarm.evaluation_periods).unwrap_or(1))
            .datapoints_to_alarm(i32::try_from(alarm.datapoints_to_alarm).unwrap_or(1))
            .threshold(alarm.threshold)
            .comparison_operator(comparison)
            .treat_missing_data(alarm.treat_missing_data.as_str())
            .actions_enabled(!alarm.actions.is_empty())
            .set_alarm_actions(Some(alarm.actions.clone()))
            .send()
            .await
            .map_err(|e| failed(&format!("PutMetricAlarm {}", alarm.name), &e))?;
        Ok(())
    }

    async fn delete(&self, names: &[String]) -> Result<(), AdapterError> {
        for chunk in names.chunks(DELETE_BATCH) {
            self.client
                .get()
                .delete_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| failed("DeleteAlarms", &e))?;
        }
        Ok(())
    }
}
