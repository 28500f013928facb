use std::io::Write;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use thiserror::Error;

use crate::domain::{AgentType, Region, Severity};

/// CloudWatch's limit of dimensions in one dimension set.
const MAX_DIMENSIONS: usize = 9;
/// EMF's limit of metrics in one directive.
const MAX_METRICS: usize = 100;

/// The only dimensions the suite emits. Each value comes from a validated, bounded set (agent
/// types, regions, severities, function and route names fixed in code), so a caller can never
/// mint new metric series by sending odd input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dimension {
    Function(&'static str),
    AgentType(AgentType),
    Region(Region),
    Severity(Severity),
    /// A matched route template such as `/scaling/policies/{agent_type}`, never a raw path.
    Route(&'static str),
    /// A priced service (`lambda`, `llm`, ...), named in code.
    Service(&'static str),
    /// A store access pattern (`get AGENT/POLICY`): the operation and the constant segments of
    /// the key, never an identifier (see `performance::pattern_of`).
    AccessPattern(String),
    /// A cache, named in code.
    Cache(&'static str),
    /// A connection pool's service, named in code.
    Pool(&'static str),
}

impl Dimension {
    fn name(&self) -> &'static str {
        match self {
            Self::Function(_) => "Function",
            Self::AgentType(_) => "AgentType",
            Self::Region(_) => "Region",
            Self::Severity(_) => "Severity",
            Self::Route(_) => "Route",
            Self::Service(_) => "Service",
            Self::AccessPattern(_) => "AccessPattern",
            Self::Cache(_) => "Cache",
            Self::Pool(_) => "Pool",
        }
    }

    fn value(&self) -> String {
        match self {
            Self::Function(v) | Self::Route(v) | Self::Service(v) | Self::Cache(v) | Self::Pool(v) => {
                (*v).to_owned()
            }
            Self::AccessPattern(p) => p.clone(),
            Self::AgentType(t) => t.as_str().to_owned(),
            Self::Region(r) => r.as_str().to_owned(),
            Self::Severity(s) => s.as_str().to_owned(),
        }
    }
}

/// CloudWatch units the suite uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Percent,
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::Percent => "Percent",
            Self::None => "None",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EmfError {
    #[error("at most {MAX_DIMENSIONS} dimensions per metric set")]
    TooManyDimensions,
    #[error("dimension {0} given twice")]
    DuplicateDimension(&'static str),
    #[error("at most {MAX_METRICS} metrics per line")]
    TooManyMetrics,
    #[error("metric {0:?} has no usable value (NaN or infinite)")]
    NotFinite(String),
    #[error("metric name {0:?} is empty, too long or clashes with a dimension")]
    BadName(String),
}

/// Metrics that share one namespace and dimension set, written as one EMF line.
#[derive(Debug, Clone)]
pub struct MetricSet {
    namespace: &'static str,
    dimensions: Vec<Dimension>,
    metrics: Vec<(String, Unit, f64)>,
}

impl MetricSet {
    pub fn new(namespace: &'static str) -> Self {
        Self { namespace, dimensions: Vec::new(), metrics: Vec::new() }
    }

    pub fn dimension(mut self, dimension: Dimension) -> Result<Self, EmfError> {
        if self.dimensions.len() == MAX_DIMENSIONS {
            return Err(EmfError::TooManyDimensions);
        }
        if self.dimensions.iter().any(|d| d.name() == dimension.name()) {
            return Err(EmfError::DuplicateDimension(dimension.name()));
        }
        self.dimensions.push(dimension);
        Ok(self)
    }

    pub fn metric(mut self, name: impl Into<String>, unit: Unit, value: f64) -> Result<Self, EmfError> {
        let name = name.into();
        if name.is_empty() || name.len() > 255 || self.dimensions.iter().any(|d| d.name() == name) {
            return Err(EmfError::BadName(name));
        }
        if !value.is_finite() {
            return Err(EmfError::NotFinite(name));
        }
        if self.metrics.len() == MAX_METRICS {
            return Err(EmfError::TooManyMetrics);
        }
        self.metrics.push((name, unit, value));
        Ok(self)
    }

    /// The EMF document for this set at `at`.
    pub fn to_json(&self, at: DateTime<Utc>) -> Value {
        let mut root = Map::new();
        for d in &self.dimensions {
            root.insert(d.name().to_owned(), Value::String(d.value()));
        }
        let mut definitions = Vec::new();
        for (name, unit, value) in &self.metrics {
            root.insert(name.clone(), json!(value));
            definitions.push(json!({"Name": name, "Unit": unit.as_str()}));
        }
        let dimension_names: Vec<&str> = self.dimensions.iter().map(Dimension::name).collect();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimension_names],
                    "Metrics": definitions,
                }],
            }),
        );
        Value::Object(root)
    }

    /// Writes the line to `out` (stdout in Lambda, where CloudWatch extracts the metrics).
    pub fn write(&self, at: DateTime<Utc>, out: &mut impl Write) -> std::io::Result<()> {
        if self.metrics.is_empty() {
            return Ok(());
        }
        writeln!(out, "{}", self.to_json(at))
    }

    pub fn emit(&self, at: DateTime<Utc>) {
        let _ = self.write(at, &mut std::io::stdout().lock());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_emf_document() {
        let set = MetricSet::new("IncidentCommander")
            .dimension(Dimension::Function("api"))
            .unwrap()
            .dimension(Dimension::AgentType(AgentType::parse("detection").unwrap()))
            .unwrap()
            .metric("Heartbeats", Unit::Count, 3.0)
            .unwrap()
            .metric("Latency", Unit::Milliseconds, 12.5)
            .unwrap();
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut out = Vec::new();
        set.write(at, &mut out).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let doc: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(doc["Function"], "api");
        assert_eq!(doc["AgentType"], "detection");
        assert_eq!(doc["Heartbeats"], 3.0);
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "IncidentCommander");
        assert_eq!(directive["Dimensions"], json!([["Function", "AgentType"]]));
        assert_eq!(directive["Metrics"][1], json!({"Name": "Latency", "Unit": "Milliseconds"}));
    }

    #[test]
    fn limits_are_enforced() {
        let set = MetricSet::new("N").dimension(Dimension::Function("api")).unwrap();
        assert_eq!(
            set.clone().dimension(Dimension::Function("x")).unwrap_err(),
            EmfError::DuplicateDimension("Function")
        );
        assert!(matches!(set.clone().metric("x", Unit::Count, f64::NAN), Err(EmfError::NotFinite(_))));
        assert!(matches!(set.clone().metric("Function", Unit::Count, 1.0), Err(EmfError::BadName(_))));
        let mut many = set.clone();
        for i in 0..MAX_METRICS {
            many = many.metric(format!("m{i}"), Unit::Count, 1.0).unwrap();
        }
        assert_eq!(many.metric("one-more", Unit::Count, 1.0).unwrap_err(), EmfError::TooManyMetrics);
        let mut out = Vec::new();
        set.write(DateTime::UNIX_EPOCH, &mut out).unwrap();
        assert!(out.is_empty(), "a set without metrics writes nothing");
    }
}
