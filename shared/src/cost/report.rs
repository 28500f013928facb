//! Pricing one hour from what was measured (pure), and the report a sweep answers with.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::billing::{
    LambdaUsage, MonthToDate, dynamodb_cost, estimated_billed_ms, lambda_cost, provisioned_cost,
    provisioned_unit_seconds_cost, tokens_cost, total,
};
use super::control::ControlChange;
use super::levels::Level;
use super::prices::PriceTable;
use super::projection::Projection;
use super::recommend::Recommendation;
use super::sources::{FunctionMetrics, PricedFunction, RequestUnits};
use super::usage::HourUsage;

pub const LAMBDA: &str = "lambda";
pub const PROVISIONED: &str = "provisioned_concurrency";
pub const DYNAMODB: &str = "dynamodb";
pub const LLM: &str = "llm";
pub const WARMING: &str = "warming";

/// What was measured over (part of) one hour. `None`: the source was not available.
#[derive(Debug, Clone, Default)]
pub struct HourInputs {
    pub start: DateTime<Utc>,
    /// Seconds of the hour covered (3600 for a past hour).
    pub seconds: f64,
    pub usage: Vec<HourUsage>,
    pub lambda: Option<Vec<FunctionMetrics>>,
    pub dynamodb: Option<RequestUnits>,
    /// Provisioned concurrency allocated per function (summed over regions) at the last read.
    pub provisioned: Option<Vec<(String, u32)>>,
    /// Unit-seconds of provisioned concurrency per function over the covered time, as the ledger
    /// integrated them; a function missing here is priced at its allocation for the whole time.
    pub provisioned_unit_seconds: BTreeMap<String, f64>,
    pub warming: f64,
}

/// One hour's cost, by service and by model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HourCost {
    pub start: DateTime<Utc>,
    pub seconds: f64,
    pub total: f64,
    pub by_service: BTreeMap<String, f64>,
    pub by_model: BTreeMap<String, f64>,
    /// Models with usage but no price in the table in force (not counted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpriced_models: Vec<String>,
}

/// Prices `inputs` with `prices`; `functions` gives memory and architecture.
pub fn price_hour(prices: &PriceTable, functions: &[PricedFunction], inputs: &HourInputs) -> HourCost {
    let mut by_service: BTreeMap<String, f64> = BTreeMap::new();
    let mut by_model: BTreeMap<String, f64> = BTreeMap::new();
    let mut unpriced = Vec::new();
    for u in &inputs.usage {
        match prices.model(&u.model) {
            Some(m) => {
                *by_model.entry(u.model.clone()).or_default() +=
                    tokens_cost(m, u.input_tokens, u.output_tokens);
            }
            None => unpriced.push(u.model.clone()),
        }
    }
    unpriced.sort();
    unpriced.dedup();
    by_service.insert(LLM.into(), total(by_model.values().copied()));
    let config = |name: &str| functions.iter().find(|f| f.name == name);
    if let Some(metrics) = &inputs.lambda {
        let cost = total(metrics.iter().filter_map(|m| {
            let f = config(&m.name)?;
            let invocations = m.invocations.max(0.0).round() as u64;
            let usage = LambdaUsage {
                architecture: f.architecture,
                memory_mb: f.memory_mb,
                invocations,
                billed_ms: estimated_billed_ms(m.duration_ms_sum, invocations),
                ephemeral_storage_mb: 512,
            };
            Some(lambda_cost(prices, &usage, MonthToDate::default()).total())
        }));
        by_service.insert(LAMBDA.into(), cost);
    }
    if let Some(units) = inputs.dynamodb {
        by_service.insert(DYNAMODB.into(), dynamodb_cost(prices, units.read, units.write));
    }
    if let Some(in_force) = &inputs.provisioned {
        let cost = total(in_force.iter().filter_map(|(name, units)| {
            let f = config(name)?;
            Some(match inputs.provisioned_unit_seconds.get(name) {
                Some(unit_seconds) => {
                    provisioned_unit_seconds_cost(prices, f.architecture, f.memory_mb, *unit_seconds)
                }
                None => provisioned_cost(prices, f.architecture, f.memory_mb, *units, inputs.seconds, 0),
            })
        }));
        by_service.insert(PROVISIONED.into(), cost);
    }
    by_service.insert(WARMING.into(), inputs.warming);
    HourCost {
        start: inputs.start,
        seconds: inputs.seconds,
        total: total(by_service.values().copied()),
        by_service,
        by_model,
        unpriced_models: unpriced,
    }
}

/// The figures the thresholds apply to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CurrentMetrics {
    /// The current rate, USD per hour.
    pub hourly_cost: f64,
    pub daily_projection: f64,
    /// The level the thresholds put the hourly cost at.
    pub cost_threshold: Level,
    pub projection: Projection,
}

/// Sources a sweep could not use, and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SourceStatus {
    /// Not configured here (e.g. no CloudWatch in local mode).
    pub missing: Vec<String>,
    /// Configured but failed this time: their cost is the last good value carried forward
    /// (`carried`), and the sweep neither lowers the level nor clears emergency mode.
    pub failed: Vec<String>,
    /// Services whose cost this sweep carried forward from the last good sweep, because their
    /// source failed.
    #[serde(default)]
    pub carried: Vec<String>,
}

/// What a sweep found and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CostReport {
    pub timestamp: DateTime<Utc>,
    pub current_metrics: CurrentMetrics,
    /// The current and previous hours together, by service.
    pub cost_by_service: BTreeMap<String, f64>,
    pub cost_by_model: BTreeMap<String, f64>,
    pub current_hour: HourCost,
    pub previous_hour: HourCost,
    pub recommendations: Vec<Recommendation>,
    /// Recommendations the sweep applied itself.
    pub applied_optimizations: Vec<String>,
    /// Monthly USD the recommendations would save together.
    pub potential_savings: f64,
    /// Changes to the cost controls this sweep made.
    pub actions: Vec<ControlChange>,
    pub sources: SourceStatus,
    pub emergency_mode: bool,
    /// Each function's emergency concurrency cap as this sweep reconciled it (empty when caps
    /// are off and none is left to restore).
    #[serde(default)]
    pub concurrency_caps: Vec<super::caps::CapStatus>,
    /// Older hours whose model usage this sweep priced again, because usage was reported for
    /// them late (`POST /usage` with an old `timestamp`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repriced_hours: Vec<DateTime<Utc>>,
}

/// Adds two hours' breakdowns.
pub fn combined(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let mut out = a.clone();
    for (k, v) in b {
        *out.entry(k.clone()).or_default() += v;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::prices::Architecture;

    #[test]
    fn an_hour_is_priced_by_service_and_model() {
        let prices = PriceTable::bundled();
        let functions = [PricedFunction {
            name: "agent".into(),
            memory_mb: 1024,
            architecture: Architecture::X86_64,
            provisioned_qualifier: Some("live".into()),
            critical: false,
        }];
        let inputs = HourInputs {
            start: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            seconds: 3600.0,
            usage: vec![HourUsage {
                model: "anthropic.claude-sonnet-4".into(),
                task_type: "diagnosis".into(),
                calls: 100.0,
                input_tokens: 100_000.0,
                output_tokens: 10_000.0,
                ..HourUsage::default()
            }],
            lambda: Some(vec![FunctionMetrics {
                name: "agent".into(),
                invocations: 1000.0,
                duration_ms_sum: 999_500.0,
                max_memory_used_mb: None,
            }]),
            dynamodb: Some(RequestUnits { read: 1e6, write: 1e6 }),
            provisioned: Some(vec![("agent".into(), 2), ("unknown".into(), 5)]),
            provisioned_unit_seconds: BTreeMap::new(),
            warming: 0.01,
        };
        let cost = price_hour(&prices, &functions, &inputs);
        assert!((cost.by_model["anthropic.claude-sonnet-4"] - (0.3 + 0.15)).abs() < 1e-12);
        // 1,000 invocations: 999,500 ms + 500 ms of rounding = 1,000 GB-s at 1 GB.
        assert!((cost.by_service[LAMBDA] - (0.0002 + 1000.0 * 0.000_016_666_7)).abs() < 1e-12);
        assert!((cost.by_service[DYNAMODB] - 0.75).abs() < 1e-12);
        assert!(
            (cost.by_service[PROVISIONED] - 2.0 * 3600.0 * 0.000_004_166_7).abs() < 1e-12,
            "unknown functions are not priced"
        );
        let sum: f64 = cost.by_service.values().sum();
        assert!((cost.total - sum).abs() < 1e-12);
    }

    #[test]
    fn an_empty_hour_costs_zero_not_minus_zero() {
        let inputs = HourInputs { lambda: Some(vec![]), provisioned: Some(vec![]), ..HourInputs::default() };
        let cost = price_hour(&PriceTable::bundled(), &[], &inputs);
        let json = serde_json::to_string(&cost).unwrap();
        assert!(!json.contains("-0.0"), "{json}");
    }
}
