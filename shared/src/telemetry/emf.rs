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
    /// A scheduled run (`tick`, `sweep`, `warm`), named in code.
    Run(&'static str),
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
            Self::Run(_) => "Run",
        }
    }

    fn value(&self) -> String {
        match self {
            Self::Function(v)
            | Self::Route(v)
            | Self::Service(v)
            | Self::Cache(v)
            | Self::Pool(v)
            | Self::Run(v) => (*v).to_owned(),
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
    namespace: String,
    dimensions: Vec<Dimension>,
    metrics: Vec<(String, Unit, f64)>,
}

impl MetricSet {
    pub fn new(namespace: impl Into<String>) -> Self {
        Self { namespace: namespace.into(), dimensions: Vec::new(), metrics: Vec::new() }
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

    /// Writes the line to `out` (stdout in Lambda, where CloudWatch extracts the metrics), with
    /// `level` as its log level.
    pub fn write(
        &self,
        at: DateTime<Utc>,
        level: tracing::Level,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        if self.metrics.is_empty() {
            return Ok(());
        }
        let mut doc = self.to_json(at);
        if let Value::Object(root) = &mut doc {
            root.insert("level".into(), Value::String(level.as_str().to_owned()));
        }
        writeln!(out, "{doc}")
    }
}

/// Where a function's EMF lines go: its namespace (one per stack), whether metrics are on, and
/// the log level each line carries so Lambda's log-level filter keeps it.
///
/// Lambda's filter (JSON log format) treats a line without a valid `level` as INFO and drops a
/// line below the function's application log level, so with `LogLevel=WARN` a line without one
/// never reaches CloudWatch and no metric is extracted from it. Each line carries the configured
/// level (INFO when the function logs more than that), which the filter always keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmfSink {
    namespace: String,
    level: tracing::Level,
    on: bool,
}

impl EmfSink {
    pub fn new(namespace: impl Into<String>, application_level: tracing::Level, on: bool) -> Self {
        // tracing orders levels from ERROR (least verbose) up to TRACE.
        let level = application_level.min(tracing::Level::INFO);
        Self { namespace: namespace.into(), level, on }
    }

    /// Metrics as `config` sets them: its namespace, its log level, on in Lambda.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self::new(config.metric_namespace.clone(), config.log_level, config.emit_metrics)
    }

    /// Writes nothing.
    pub fn off() -> Self {
        Self::new(crate::config::DEFAULT_METRIC_NAMESPACE, tracing::Level::INFO, false)
    }

    pub fn is_on(&self) -> bool {
        self.on
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The level each line carries.
    pub fn level(&self) -> tracing::Level {
        self.level
    }

    /// An empty set in this sink's namespace.
    pub fn set(&self) -> MetricSet {
        MetricSet::new(self.namespace.clone())
    }

    /// Writes `set` to `out` when metrics are on.
    pub fn write(&self, set: &MetricSet, at: DateTime<Utc>, out: &mut impl Write) -> std::io::Result<()> {
        if self.on { set.write(at, self.level, out) } else { Ok(()) }
    }

    /// Writes `set` to stdout when metrics are on.
    pub fn emit(&self, set: &MetricSet, at: DateTime<Utc>) {
        let _ = self.write(set, at, &mut std::io::stdout().lock());
    }
}

/// Lambda's log-level rule for JSON lines, as documented: a line whose `level` is missing or not
/// one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL counts as INFO; a line below the function's
/// application log level is dropped. Answers whether `line` reaches CloudWatch Logs.
pub fn lambda_keeps(line: &str, application_level: &str) -> bool {
    let rank =
        |level: &str| ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"].iter().position(|l| *l == level);
    let Some(threshold) = rank(&application_level.to_ascii_uppercase()) else { return true };
    let level = serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| v.get("level").and_then(Value::as_str).map(str::to_owned))
        .and_then(|l| rank(&l))
        .unwrap_or(2);
    level >= threshold
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
        set.write(at, tracing::Level::INFO, &mut out).unwrap();
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
        set.write(DateTime::UNIX_EPOCH, tracing::Level::INFO, &mut out).unwrap();
        assert!(out.is_empty(), "a set without metrics writes nothing");
    }

    #[test]
    fn lines_pass_lambdas_log_level_filter_at_every_level() {
        use tracing::Level;
        for (configured, name) in [
            (Level::TRACE, "TRACE"),
            (Level::DEBUG, "DEBUG"),
            (Level::INFO, "INFO"),
            (Level::WARN, "WARN"),
            (Level::ERROR, "ERROR"),
        ] {
            let sink = EmfSink::new("IncidentCommander/prod", configured, true);
            let set = sink.set().metric("AgentUtilization", Unit::Percent, 50.0).unwrap();
            let mut out = Vec::new();
            sink.write(&set, DateTime::UNIX_EPOCH, &mut out).unwrap();
            let line = String::from_utf8(out).unwrap();
            assert!(lambda_keeps(line.trim_end(), name), "{name}: {line}");
            let doc: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "IncidentCommander/prod");
            // Without its level the same line is INFO to the filter, and gone at WARN and ERROR.
            let bare = set.to_json(DateTime::UNIX_EPOCH).to_string();
            assert_eq!(
                lambda_keeps(&bare, name),
                !matches!(configured, Level::WARN | Level::ERROR),
                "{name}"
            );
        }
        let mut out = Vec::new();
        EmfSink::off()
            .write(
                &MetricSet::new("N").metric("x", Unit::Count, 1.0).unwrap(),
                DateTime::UNIX_EPOCH,
                &mut out,
            )
            .unwrap();
        assert!(out.is_empty(), "off writes nothing");
        assert!(lambda_keeps(r#"{"level": "shouting"}"#, "INFO"), "an invalid level is INFO");
        assert!(!lambda_keeps(r#"{"level": "shouting"}"#, "WARN"));
        assert!(lambda_keeps(r#"{"level": "FATAL"}"#, "ERROR"));
    }
}
