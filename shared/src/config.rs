//! Typed configuration, read from the environment once at start-up. A bad value stops the
//! function before it serves anything, with a message that names the variable.

use std::time::Duration;

use thiserror::Error;

use crate::domain::{Proximity, Region};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("configuration variable {variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

pub(crate) fn bad(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { variable, message: message.into() }
}

/// The metric namespace when none is configured (the template sets one per stack).
pub const DEFAULT_METRIC_NAMESPACE: &str = "IncidentCommander";

/// How log lines are written: Lambda's `AWS_LAMBDA_LOG_FORMAT` decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// Settings every function of the suite shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `COMMANDER_REGIONS`: comma-separated region codes the fleet runs in.
    pub regions: Vec<Region>,
    /// `AWS_LAMBDA_LOG_LEVEL`, else `COMMANDER_LOG_LEVEL`: trace, debug, info, warn or error.
    pub log_level: tracing::Level,
    /// `AWS_LAMBDA_LOG_FORMAT`: JSON (default) or Text.
    pub log_format: LogFormat,
    /// `COMMANDER_HEARTBEAT_INTERVAL_SECONDS`: how often replicas report; a replica that misses
    /// three intervals disappears.
    pub heartbeat_interval: Duration,
    /// `COMMANDER_METRICS`: `emf` writes CloudWatch Embedded Metric Format lines to stdout, `off`
    /// does not. Defaults to `emf` inside Lambda and `off` elsewhere.
    pub emit_metrics: bool,
    /// `COMMANDER_METRIC_NAMESPACE`: the CloudWatch namespace of every metric the stack writes
    /// and its managed alarms watch (the template: `IncidentCommander/<Environment>`).
    pub metric_namespace: String,
    /// `COMMANDER_REGION_LATENCIES`: round trips (ms) overriding the published table, as JSON
    /// `{"us-east-1": {"us-west-2": 60}}`; spill order and replacement placement follow them.
    pub proximity: Proximity,
}

/// Where the DynamoDB table is: needed by the Lambdas, not by the local runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    /// `COMMANDER_TABLE_NAME` (required).
    pub table_name: String,
    /// `COMMANDER_DYNAMODB_ENDPOINT`: a DynamoDB-API server to use instead of AWS (tests, local).
    pub endpoint: Option<String>,
}

/// Reads variables; `std::env::var` in production, a map in tests.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// A set variable with surrounding blanks removed; blank counts as unset.
pub(crate) fn var(env: &impl Env, name: &str) -> Option<String> {
    env.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl Config {
    /// The one rule for a region an input names: it must be one of the fleet's. `field` names
    /// where it came from (a body field; the API answers a path segment's with a 404).
    pub fn fleet_region(&self, region: &Region, field: &str) -> Result<(), crate::error::ValidationError> {
        if self.regions.contains(region) {
            Ok(())
        } else {
            Err(crate::error::ValidationError::new(
                field,
                format!("{region} is not one of the fleet's regions"),
            ))
        }
    }

    pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from(&ProcessEnv)
    }

    pub fn from(env: &impl Env) -> Result<Self, ConfigError> {
        let regions = match var(env, "COMMANDER_REGIONS") {
            None => Region::defaults(),
            Some(list) => parse_regions("COMMANDER_REGIONS", &list)?,
        };
        let (level_var, level) = match var(env, "AWS_LAMBDA_LOG_LEVEL") {
            Some(l) => ("AWS_LAMBDA_LOG_LEVEL", Some(l)),
            None => ("COMMANDER_LOG_LEVEL", var(env, "COMMANDER_LOG_LEVEL")),
        };
        let log_level = match level {
            None => tracing::Level::INFO,
            // Lambda's FATAL has no tracing equivalent; ERROR is the closest.
            Some(l) if l.eq_ignore_ascii_case("fatal") => tracing::Level::ERROR,
            Some(l) => l.parse().map_err(|_| {
                bad(level_var, format!("{l:?} is not a log level (trace, debug, info, warn, error)"))
            })?,
        };
        let log_format = match var(env, "AWS_LAMBDA_LOG_FORMAT").as_deref() {
            None => LogFormat::Json,
            Some(f) if f.eq_ignore_ascii_case("json") => LogFormat::Json,
            Some(f) if f.eq_ignore_ascii_case("text") => LogFormat::Text,
            Some(f) => {
                return Err(bad("AWS_LAMBDA_LOG_FORMAT", format!("{f:?} is neither JSON nor Text")));
            }
        };
        let heartbeat_interval = match var(env, "COMMANDER_HEARTBEAT_INTERVAL_SECONDS") {
            None => Self::DEFAULT_HEARTBEAT_INTERVAL,
            Some(s) => match s.parse::<u64>() {
                Ok(n @ 1..=3600) => Duration::from_secs(n),
                _ => {
                    return Err(bad(
                        "COMMANDER_HEARTBEAT_INTERVAL_SECONDS",
                        format!("{s:?} is not a whole number of seconds from 1 to 3600"),
                    ));
                }
            },
        };
        let emit_metrics = match var(env, "COMMANDER_METRICS").as_deref() {
            None => var(env, "AWS_LAMBDA_FUNCTION_NAME").is_some(),
            Some("emf") => true,
            Some("off") => false,
            Some(other) => return Err(bad("COMMANDER_METRICS", format!("{other:?} is neither emf nor off"))),
        };
        let metric_namespace =
            var(env, "COMMANDER_METRIC_NAMESPACE").unwrap_or_else(|| DEFAULT_METRIC_NAMESPACE.to_owned());
        let valid_namespace = (1..=255).contains(&metric_namespace.len())
            && !metric_namespace.starts_with("AWS/")
            && metric_namespace.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/#: ".contains(&b));
        if !valid_namespace {
            return Err(bad(
                "COMMANDER_METRIC_NAMESPACE",
                format!(
                    "{metric_namespace:?} is not a CloudWatch namespace of your own (1-255 of A-Za-z0-9 . _ - / # : and space, not AWS/...)"
                ),
            ));
        }
        let proximity = match var(env, "COMMANDER_REGION_LATENCIES") {
            None => Proximity::published(),
            Some(json) => Proximity::published()
                .with_overrides(&json)
                .map_err(|e| bad("COMMANDER_REGION_LATENCIES", e.message))?,
        };
        Ok(Self {
            regions,
            log_level,
            log_format,
            heartbeat_interval,
            emit_metrics,
            metric_namespace,
            proximity,
        })
    }

    /// A replica's record lives for three missed heartbeats.
    pub fn replica_ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.heartbeat_interval * 3).unwrap_or(chrono::Duration::seconds(90))
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            regions: Region::defaults(),
            log_level: tracing::Level::INFO,
            log_format: LogFormat::Json,
            heartbeat_interval: Self::DEFAULT_HEARTBEAT_INTERVAL,
            emit_metrics: false,
            metric_namespace: DEFAULT_METRIC_NAMESPACE.to_owned(),
            proximity: Proximity::published(),
        }
    }
}

/// A comma-separated list of regions from `variable`, each valid and none twice.
pub(crate) fn parse_regions(variable: &'static str, list: &str) -> Result<Vec<Region>, ConfigError> {
    let mut regions: Vec<Region> = Vec::new();
    for code in list.split(',').map(str::trim) {
        let region = Region::parse(code).map_err(|e| bad(variable, e.message))?;
        if regions.contains(&region) {
            return Err(bad(variable, format!("{code} is listed twice")));
        }
        regions.push(region);
    }
    Ok(regions)
}

impl TableConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from(&ProcessEnv)
    }

    pub fn from(env: &impl Env) -> Result<Self, ConfigError> {
        let table_name = var(env, "COMMANDER_TABLE_NAME")
            .ok_or_else(|| bad("COMMANDER_TABLE_NAME", "must name the DynamoDB table"))?;
        let valid_name = (3..=255).contains(&table_name.len())
            && table_name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid_name {
            return Err(bad("COMMANDER_TABLE_NAME", format!("{table_name:?} is not a DynamoDB table name")));
        }
        let endpoint = var(env, "COMMANDER_DYNAMODB_ENDPOINT");
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(bad("COMMANDER_DYNAMODB_ENDPOINT", format!("{e:?} is not an http(s) URL")));
        }
        Ok(Self { table_name, endpoint })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        move |name: &str| map.get(name).cloned()
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let c = Config::from(&env(&[])).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.regions.len(), 4);
        assert_eq!(c.replica_ttl(), chrono::Duration::seconds(90));
    }

    #[test]
    fn values_are_read() {
        let c = Config::from(&env(&[
            ("COMMANDER_REGIONS", "eu-west-1, us-east-1"),
            ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
            ("COMMANDER_LOG_LEVEL", "error"),
            ("AWS_LAMBDA_LOG_FORMAT", "Text"),
            ("COMMANDER_HEARTBEAT_INTERVAL_SECONDS", "10"),
        ]))
        .unwrap();
        assert_eq!(c.regions.iter().map(Region::as_str).collect::<Vec<_>>(), ["eu-west-1", "us-east-1"]);
        assert_eq!(c.log_level, tracing::Level::DEBUG, "Lambda's own setting wins");
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.replica_ttl(), chrono::Duration::seconds(30));
        assert!(!c.emit_metrics, "no metrics outside Lambda unless asked");
        assert!(Config::from(&env(&[("AWS_LAMBDA_FUNCTION_NAME", "api")])).unwrap().emit_metrics);
        assert!(
            !Config::from(&env(&[("AWS_LAMBDA_FUNCTION_NAME", "api"), ("COMMANDER_METRICS", "off")]))
                .unwrap()
                .emit_metrics
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases = [
            ("COMMANDER_REGIONS", "us-east-1,mars-1"),
            ("COMMANDER_REGIONS", "us-east-1,us-east-1"),
            ("COMMANDER_LOG_LEVEL", "loud"),
            ("AWS_LAMBDA_LOG_FORMAT", "xml"),
            ("COMMANDER_HEARTBEAT_INTERVAL_SECONDS", "0"),
            ("COMMANDER_HEARTBEAT_INTERVAL_SECONDS", "soon"),
            ("COMMANDER_METRICS", "prometheus"),
            ("COMMANDER_REGION_LATENCIES", "{\"us-east-1\": {\"us-west-2\": -1}}"),
            ("COMMANDER_METRIC_NAMESPACE", "AWS/Lambda"),
            ("COMMANDER_METRIC_NAMESPACE", "bad\nname"),
        ];
        for (name, value) in cases {
            let err = Config::from(&env(&[(name, value)])).unwrap_err();
            assert_eq!(err.variable, name, "{value}");
            assert!(err.to_string().contains(name));
        }
    }

    #[test]
    fn table_config() {
        assert_eq!(TableConfig::from(&env(&[])).unwrap_err().variable, "COMMANDER_TABLE_NAME");
        assert_eq!(
            TableConfig::from(&env(&[("COMMANDER_TABLE_NAME", "a b")])).unwrap_err().variable,
            "COMMANDER_TABLE_NAME"
        );
        let bad_endpoint =
            [("COMMANDER_TABLE_NAME", "commander"), ("COMMANDER_DYNAMODB_ENDPOINT", "localhost:8000")];
        assert_eq!(
            TableConfig::from(&env(&bad_endpoint)).unwrap_err().variable,
            "COMMANDER_DYNAMODB_ENDPOINT"
        );
        let ok = TableConfig::from(&env(&[
            ("COMMANDER_TABLE_NAME", "commander-prod"),
            ("COMMANDER_DYNAMODB_ENDPOINT", "http://127.0.0.1:5000"),
        ]))
        .unwrap();
        assert_eq!(ok.table_name, "commander-prod");
        assert_eq!(ok.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
    }
}
