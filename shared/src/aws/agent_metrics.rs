//! Lambda agents' live signals in one region: one batched CloudWatch `GetMetricData` for every
//! agent alias (concurrent executions, invocations, errors, throttles; namespace AWS/Lambda,
//! dimensions FunctionName and Resource = function:alias) and, per alias, the provisioned
//! concurrency the Lambda API reports allocated.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use chrono::{DateTime, Utc};

use super::lazy_clients::LazyClients;
use crate::domain::Region;
use crate::error::AdapterError;
use crate::scaling::signals::{AgentMetrics, LambdaFigures};

/// GetMetricData takes at most 500 queries; four per function.
const FUNCTIONS_PER_CALL: usize = 125;

/// The two clients of one region.
#[derive(Debug, Clone)]
pub struct RegionClients {
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub lambda: aws_sdk_lambda::Client,
}

/// Per-region clients, each built when its region is first read, then kept for the container.
#[derive(Debug, Clone)]
pub struct AwsAgentMetrics {
    regions: LazyClients<RegionClients>,
}

impl AwsAgentMetrics {
    pub fn new(regions: impl Into<LazyClients<RegionClients>>) -> Self {
        Self { regions: regions.into() }
    }
}

fn query(
    id: String,
    metric: &str,
    function: &str,
    resource: &str,
    stat: &str,
    period: i32,
) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace("AWS/Lambda")
        .metric_name(metric)
        .dimensions(Dimension::builder().name("FunctionName").value(function).build())
        .dimensions(Dimension::builder().name("Resource").value(resource).build())
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(MetricStat::builder().metric(metric).period(period).stat(stat).build())
        .return_data(true)
        .build()
}

const SERVICE: &str = "agent metrics";

impl RegionClients {
    /// Every query's datapoints folded: the largest for `c` ids (a high-water mark), else the sum.
    async fn fetch(
        &self,
        region: &Region,
        queries: Vec<MetricDataQuery>,
        window: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<HashMap<String, f64>, AdapterError> {
        let mut out: HashMap<String, f64> = HashMap::new();
        let mut token = None;
        loop {
            let response = self
                .cloudwatch
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(AwsDateTime::from_secs(window.0.timestamp()))
                .end_time(AwsDateTime::from_secs(window.1.timestamp().max(window.0.timestamp() + 60)))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| super::sdk_failure(SERVICE, "GetMetricData", &e).in_region(region))?;
            for result in response.metric_data_results() {
                let Some(id) = result.id() else { continue };
                let high_water = id.starts_with('c');
                for v in result.values().iter().copied().filter(|v| v.is_finite()) {
                    let entry = out.entry(id.to_owned()).or_insert(0.0);
                    *entry = if high_water { entry.max(v) } else { *entry + v };
                }
            }
            token = response.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    async fn allocated(&self, region: &Region, function: &str, qualifier: &str) -> Result<u32, AdapterError> {
        let result = self
            .lambda
            .get_provisioned_concurrency_config()
            .function_name(function)
            .qualifier(qualifier)
            .send()
            .await;
        match result {
            Ok(config) => {
                Ok(u32::try_from(config.allocated_provisioned_concurrent_executions().unwrap_or(0))
                    .unwrap_or(0))
            }
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_provisioned_concurrency_config_not_found_exception()
                        || s.is_resource_not_found_exception()
                }) =>
            {
                Ok(0)
            }
            Err(e) => Err(super::sdk_failure(
                SERVICE,
                &format!("GetProvisionedConcurrencyConfig {function}:{qualifier}"),
                &e,
            )
            .in_region(region)),
        }
    }
}

/// One period over the whole window, in whole minutes.
fn period(window: (DateTime<Utc>, DateTime<Utc>)) -> i32 {
    let seconds = (window.1 - window.0).num_seconds().max(60);
    i32::try_from((seconds + 59) / 60 * 60).unwrap_or(3600)
}

#[async_trait]
impl AgentMetrics for AwsAgentMetrics {
    async fn lambda_figures(
        &self,
        region: &Region,
        functions: &[String],
        qualifier: &str,
        window: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<BTreeMap<String, LambdaFigures>, AdapterError> {
        let clients = self.regions.get(region.as_str()).ok_or_else(|| {
            AdapterError::permanent(SERVICE, "no CloudWatch or Lambda client for the region")
                .in_region(region)
        })?;
        let period = period(window);
        let mut out = BTreeMap::new();
        for (chunk_at, chunk) in functions.chunks(FUNCTIONS_PER_CALL).enumerate() {
            let mut queries = Vec::with_capacity(chunk.len() * 4);
            for (i, function) in chunk.iter().enumerate() {
                let n = chunk_at * FUNCTIONS_PER_CALL + i;
                let resource = format!("{function}:{qualifier}");
                queries.push(query(
                    format!("c{n}"),
                    "ConcurrentExecutions",
                    function,
                    &resource,
                    "Maximum",
                    period,
                ));
                queries.push(query(format!("i{n}"), "Invocations", function, &resource, "Sum", period));
                queries.push(query(format!("e{n}"), "Errors", function, &resource, "Sum", period));
                queries.push(query(format!("t{n}"), "Throttles", function, &resource, "Sum", period));
            }
            let values = clients.fetch(region, queries, window).await?;
            for (i, function) in chunk.iter().enumerate() {
                let n = chunk_at * FUNCTIONS_PER_CALL + i;
                let get = |prefix: char| values.get(&format!("{prefix}{n}")).copied().unwrap_or(0.0);
                let allocated = clients.allocated(region, function, qualifier).await?;
                out.insert(
                    function.clone(),
                    LambdaFigures {
                        allocated,
                        concurrent_max: get('c'),
                        invocations: get('i'),
                        errors: get('e'),
                        throttles: get('t'),
                    },
                );
            }
        }
        Ok(out)
    }
}
