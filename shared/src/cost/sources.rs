//! What the sweep measures beyond its own counters: Lambda invocations and duration, DynamoDB
//! request units and provisioned concurrency in force, read from AWS (CloudWatch GetMetricData
//! and the Lambda API, in `crate::aws::cost_sources`). Without AWS (the local runner) there is no
//! such source and the sweep says so.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::prices::Architecture;
use crate::error::AdapterError;
use crate::error::ValidationError;

/// A Lambda function the sweep prices: its name and how it is configured (memory and architecture
/// decide the price; CloudWatch does not report them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricedFunction {
    pub name: String,
    pub memory_mb: u32,
    pub architecture: Architecture,
    /// The alias or version whose provisioned concurrency is billed, if any.
    #[serde(default)]
    pub provisioned_qualifier: Option<String>,
    /// Serves critical work: never capped in an emergency.
    #[serde(default)]
    pub critical: bool,
}

impl PricedFunction {
    /// Parses `COMMANDER_PRICED_FUNCTIONS` (a JSON array).
    pub fn parse_list(json: &str) -> Result<Vec<Self>, ValidationError> {
        let list: Vec<Self> = serde_json::from_str(json).map_err(|e| {
            ValidationError::new("COMMANDER_PRICED_FUNCTIONS", format!("not a list of priced functions: {e}"))
        })?;
        for f in &list {
            if f.name.is_empty() || f.name.len() > 140 {
                return Err(ValidationError::new(
                    "COMMANDER_PRICED_FUNCTIONS",
                    "a function name is 1-140 characters",
                ));
            }
            if !(128..=10_240).contains(&f.memory_mb) {
                return Err(ValidationError::new(
                    "COMMANDER_PRICED_FUNCTIONS",
                    format!("{}: memory_mb must be 128 to 10240", f.name),
                ));
            }
        }
        Ok(list)
    }
}

/// One function's invocations over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionMetrics {
    pub name: String,
    pub invocations: f64,
    /// Sum of invocation durations, milliseconds (not yet rounded per invocation).
    pub duration_ms_sum: f64,
    /// The most memory an invocation used (Lambda Insights), when available.
    pub max_memory_used_mb: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestUnits {
    pub read: f64,
    pub write: f64,
}

#[async_trait]
pub trait MeteredSources: Send + Sync + std::fmt::Debug {
    /// Invocations and duration of each function in `[start, end)`.
    async fn lambda(
        &self,
        functions: &[PricedFunction],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<FunctionMetrics>, AdapterError>;

    /// Request units the table consumed in `[start, end)`.
    async fn dynamodb(
        &self,
        table: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<RequestUnits, AdapterError>;

    /// Provisioned concurrency allocated now, per function that has a qualifier.
    async fn provisioned(&self, functions: &[PricedFunction]) -> Result<Vec<(String, u32)>, AdapterError>;
}
