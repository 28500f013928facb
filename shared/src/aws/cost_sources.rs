//! The sweep's AWS sources: CloudWatch GetMetricData for Lambda invocations and duration (and
//! Lambda Insights' memory high-water mark where it is enabled) and the table's consumed request
//! units; the Lambda API for provisioned concurrency in force, in every region of the fleet (the
//! scaler provisions in each).

use async_trait::async_trait;
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use chrono::{DateTime, Utc};

use crate::cost::sources::{FunctionMetrics, MeteredSources, PricedFunction, RequestUnits};
use crate::error::AdapterError;

/// GetMetricData takes at most 500 queries; three per function.
const FUNCTIONS_PER_CALL: usize = 150;

#[derive(Debug, Clone)]
pub struct AwsCostSources {
    cloudwatch: super::lazy_client::LazyClient<aws_sdk_cloudwatch::Client>,
    /// A Lambda client per region, by region code.
    lambda: super::lazy_clients::LazyClients<aws_sdk_lambda::Client>,
}

fn query(
    id: String,
    namespace: &str,
    metric: &str,
    dimension: (&str, &str),
    stat: &str,
    period: i32,
) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(namespace)
        .metric_name(metric)
        .dimensions(Dimension::builder().name(dimension.0).value(dimension.1).build())
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(MetricStat::builder().metric(metric).period(period).stat(stat).build())
        .return_data(true)
        .build()
}

/// One period covering the whole window (CloudWatch wants whole minutes).
fn period(start: DateTime<Utc>, end: DateTime<Utc>) -> i32 {
    let seconds = (end - start).num_seconds().max(60);
    i32::try_from((seconds + 59) / 60 * 60).unwrap_or(3600)
}

impl AwsCostSources {
    /// `lambda`: one client per region the fleet runs in.
    pub fn new(
        cloudwatch: impl Into<super::lazy_client::LazyClient<aws_sdk_cloudwatch::Client>>,
        lambda: impl Into<super::lazy_clients::LazyClients<aws_sdk_lambda::Client>>,
    ) -> Self {
        Self { cloudwatch: cloudwatch.into(), lambda: lambda.into() }
    }

    /// Runs the queries and answers each id's values added up (a maximum for `m*` ids).
    async fn fetch(
        &self,
        source_name: &'static str,
        queries: Vec<MetricDataQuery>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<std::collections::HashMap<String, f64>, AdapterError> {
        let mut out = std::collections::HashMap::new();
        let mut token = None;
        loop {
            let response = self
                .cloudwatch
                .get()
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(AwsDateTime::from_secs(start.timestamp()))
                .end_time(AwsDateTime::from_secs(end.timestamp().max(start.timestamp() + 60)))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| super::sdk_failure(source_name, "GetMetricData", &e))?;
            for result in response.metric_data_results() {
                let Some(id) = result.id() else { continue };
                let values = result.values();
                let value = if id.starts_with('m') {
                    values.iter().copied().fold(f64::NAN, f64::max)
                } else {
                    values.iter().sum()
                };
                let entry = out.entry(id.to_owned()).or_insert(f64::NAN);
                *entry = match (entry.is_nan(), id.starts_with('m')) {
                    (true, _) => value,
                    (false, true) => entry.max(value),
                    (false, false) => *entry + value,
                };
            }
            token = response.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(out);
            }
        }
    }
}

#[async_trait]
impl MeteredSources for AwsCostSources {
    async fn lambda(
        &self,
        functions: &[PricedFunction],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<FunctionMetrics>, AdapterError> {
        let period = period(start, end);
        let mut out = Vec::new();
        for (chunk_at, chunk) in functions.chunks(FUNCTIONS_PER_CALL).enumerate() {
            let mut queries = Vec::new();
            for (i, f) in chunk.iter().enumerate() {
                let n = chunk_at * FUNCTIONS_PER_CALL + i;
                let by = ("FunctionName", f.name.as_str());
                queries.push(query(format!("i{n}"), "AWS/Lambda", "Invocations", by, "Sum", period));
                queries.push(query(format!("d{n}"), "AWS/Lambda", "Duration", by, "Sum", period));
                let insights = ("function_name", f.name.as_str());
                queries.push(query(
                    format!("m{n}"),
                    "LambdaInsights",
                    "used_memory_max",
                    insights,
                    "Maximum",
                    period,
                ));
            }
            let values = self.fetch("lambda (CloudWatch GetMetricData)", queries, start, end).await?;
            for (i, f) in chunk.iter().enumerate() {
                let n = chunk_at * FUNCTIONS_PER_CALL + i;
                let get = |prefix: char| values.get(&format!("{prefix}{n}")).copied().filter(|v| !v.is_nan());
                out.push(FunctionMetrics {
                    name: f.name.clone(),
                    invocations: get('i').unwrap_or(0.0),
                    duration_ms_sum: get('d').unwrap_or(0.0),
                    max_memory_used_mb: get('m'),
                });
            }
        }
        Ok(out)
    }

    async fn dynamodb(
        &self,
        table: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<RequestUnits, AdapterError> {
        let period = period(start, end);
        let by = ("TableName", table);
        let queries = vec![
            query("r".into(), "AWS/DynamoDB", "ConsumedReadCapacityUnits", by, "Sum", period),
            query("w".into(), "AWS/DynamoDB", "ConsumedWriteCapacityUnits", by, "Sum", period),
        ];
        let values = self.fetch("dynamodb (CloudWatch GetMetricData)", queries, start, end).await?;
        let get = |id: &str| values.get(id).copied().filter(|v| !v.is_nan()).unwrap_or(0.0);
        Ok(RequestUnits { read: get("r"), write: get("w") })
    }

    async fn provisioned(&self, functions: &[PricedFunction]) -> Result<Vec<(String, u32)>, AdapterError> {
        let mut out = Vec::new();
        for f in functions {
            let Some(qualifier) = &f.provisioned_qualifier else { continue };
            let mut units = 0u32;
            for (region, lambda) in self.lambda.iter() {
                let result = lambda
                    .get_provisioned_concurrency_config()
                    .function_name(&f.name)
                    .qualifier(qualifier)
                    .send()
                    .await;
                match result {
                    Ok(config) => {
                        let allocated = config.allocated_provisioned_concurrent_executions().unwrap_or(0);
                        units = units.saturating_add(u32::try_from(allocated).unwrap_or(0));
                    }
                    // None configured there, or no such function in that region: nothing billed.
                    Err(e)
                        if e.as_service_error().is_some_and(|s| {
                            s.is_provisioned_concurrency_config_not_found_exception()
                                || s.is_resource_not_found_exception()
                        }) => {}
                    Err(e) => {
                        let service = "provisioned_concurrency (Lambda API)";
                        return Err(super::sdk_failure(service, &f.name, &e).in_region(&region));
                    }
                }
            }
            out.push((f.name.clone(), units));
        }
        Ok(out)
    }
}
