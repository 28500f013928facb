//! The warmer's history from CloudWatch: `AWS/Lambda` `ConcurrentExecutions` (hourly maximum) and
//! `Invocations` (per-minute sum) of each target, through one client per region.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use chrono::{DateTime, Utc};

use super::lazy_clients::LazyClients;
use crate::domain::Region;
use crate::error::AdapterError;

/// What the ports' errors call this service.
const SERVICE: &str = "CloudWatch history";
use crate::warming::history::{HistorySource, Point};
use crate::warming::plan::WarmTarget;

#[derive(Debug, Clone)]
pub struct CloudWatchHistory {
    clients: LazyClients<Client>,
}

impl CloudWatchHistory {
    pub fn new(sdk: &aws_config::SdkConfig, regions: &[Region]) -> Self {
        let sdk = sdk.clone();
        let clients = super::per_region(regions, move |r| {
            Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(&sdk)
                    .region(aws_sdk_cloudwatch::config::Region::new(r.to_owned()))
                    .build(),
            )
        });
        Self { clients }
    }

    pub fn with_clients(clients: BTreeMap<String, Client>) -> Self {
        Self { clients: clients.into() }
    }

    async fn series(
        &self,
        target: &WarmTarget,
        metric: &str,
        stat: &str,
        period: i32,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Point>, AdapterError> {
        let client = self.clients.get(target.region.as_str()).ok_or_else(|| {
            AdapterError::permanent(SERVICE, "no CloudWatch client for the region").in_region(&target.region)
        })?;
        let query = MetricDataQuery::builder()
            .id("q")
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/Lambda")
                            .metric_name(metric)
                            .dimensions(
                                Dimension::builder().name("FunctionName").value(&target.function).build(),
                            )
                            .build(),
                    )
                    .period(period)
                    .stat(stat)
                    .build(),
            )
            .return_data(true)
            .build();
        let mut points = Vec::new();
        let mut token = None;
        loop {
            let out = client
                .get_metric_data()
                .metric_data_queries(query.clone())
                .start_time(AwsDateTime::from_secs(from.timestamp()))
                .end_time(AwsDateTime::from_secs(to.timestamp()))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| super::sdk_failure(SERVICE, "GetMetricData", &e).in_region(&target.region))?;
            for r in out.metric_data_results() {
                for (t, v) in r.timestamps().iter().zip(r.values()) {
                    if let Some(at) = DateTime::from_timestamp(t.secs(), 0) {
                        points.push((at, *v));
                    }
                }
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(points);
            }
        }
    }
}

#[async_trait]
impl HistorySource for CloudWatchHistory {
    async fn hourly_peaks(
        &self,
        target: &WarmTarget,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Point>, AdapterError> {
        self.series(target, "ConcurrentExecutions", "Maximum", 3600, from, to).await
    }

    async fn invocations(
        &self,
        target: &WarmTarget,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Point>, AdapterError> {
        self.series(target, "Invocations", "Sum", 60, from, to).await
    }
}
