//! What to keep warm: targets, regional calendars and the ping's hold. Read from a JSON file
//! (`commander warm-plan --config`, `COMMANDER_WARM_CONFIG` for the warmer) or the defaults: the
//! five agent functions `<type>-agent` in the seed regions, one container each.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::plan::{Calendar, WarmTarget, default_timezone};
use crate::cost::Architecture;
use crate::domain::{BuiltinAgentType, Region};
use crate::error::ValidationError;

/// How long each ping holds its container by default (lambda-warmer's 75 ms).
pub const DEFAULT_HOLD_MS: u64 = 75;
/// The alias warmed unless a target names another.
pub const DEFAULT_QUALIFIER: &str = "live";
/// Most containers one target may ask for.
pub const MAX_CONCURRENCY: u32 = 100;

/// One function, warmed in each of its regions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub function: String,
    pub regions: Vec<Region>,
    /// Alias or version to warm (default `live`); `$LATEST` only when named, since warming it
    /// leaves the alias that serves traffic cold.
    #[serde(default = "live")]
    pub qualifier: Option<String>,
    #[serde(default = "one")]
    pub concurrency: u32,
    #[serde(default = "memory")]
    pub memory_mb: u32,
    #[serde(default = "arm")]
    pub architecture: Architecture,
    #[serde(default = "idle")]
    pub idle_window_s: u32,
}

fn one() -> u32 {
    1
}
#[allow(clippy::unnecessary_wraps, reason = "serde's default for an optional field")]
fn live() -> Option<String> {
    Some(DEFAULT_QUALIFIER.to_owned())
}
fn memory() -> u32 {
    1024
}
fn arm() -> Architecture {
    Architecture::Arm64
}
fn idle() -> u32 {
    300
}
fn hold() -> u64 {
    DEFAULT_HOLD_MS
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmConfig {
    pub targets: Vec<TargetConfig>,
    /// Per region code; regions left out use 09:00-17:00 in their usual zone.
    #[serde(default)]
    pub calendars: BTreeMap<String, Calendar>,
    #[serde(default = "hold")]
    pub hold_ms: u64,
}

impl Default for WarmConfig {
    fn default() -> Self {
        Self {
            targets: BuiltinAgentType::ALL
                .iter()
                .map(|t| TargetConfig {
                    function: format!("{}-agent", t.as_str()),
                    regions: Region::defaults(),
                    qualifier: live(),
                    concurrency: 1,
                    memory_mb: memory(),
                    architecture: arm(),
                    idle_window_s: idle(),
                })
                .collect(),
            calendars: BTreeMap::new(),
            hold_ms: DEFAULT_HOLD_MS,
        }
    }
}

impl WarmConfig {
    pub fn from_json(json: &str) -> Result<Self, ValidationError> {
        let config: Self = serde_json::from_str(json)
            .map_err(|e| ValidationError::new("warm_config", format!("not a warming configuration: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        for t in &self.targets {
            let field = format!("targets.{}", t.function);
            if t.function.is_empty() || t.function.len() > 140 {
                return Err(ValidationError::new("targets.function", "a function name is 1-140 characters"));
            }
            if t.qualifier.as_deref() == Some("") {
                return Err(ValidationError::new(field, "qualifier must not be empty"));
            }
            if !(1..=MAX_CONCURRENCY).contains(&t.concurrency) {
                return Err(ValidationError::new(field, format!("concurrency is 1 to {MAX_CONCURRENCY}")));
            }
            if !(128..=10_240).contains(&t.memory_mb) {
                return Err(ValidationError::new(field, "memory_mb is 128 to 10240"));
            }
            for region in &t.regions {
                if default_timezone(region.as_str()).is_none()
                    && !self.calendars.contains_key(region.as_str())
                {
                    return Err(ValidationError::new(
                        field,
                        format!("{region} has no known time zone: give it a calendar"),
                    ));
                }
            }
        }
        for (region, calendar) in &self.calendars {
            calendar.validate(region)?;
        }
        if self.hold_ms > super::ping::MAX_HOLD_MS {
            return Err(ValidationError::new("hold_ms", format!("is at most {}", super::ping::MAX_HOLD_MS)));
        }
        Ok(())
    }

    /// Every (function, region) pair.
    pub fn targets(&self) -> Vec<WarmTarget> {
        self.targets
            .iter()
            .flat_map(|t| {
                t.regions.iter().map(move |region| WarmTarget {
                    function: t.function.clone(),
                    region: region.clone(),
                    qualifier: t.qualifier.clone(),
                    concurrency: t.concurrency,
                    memory_mb: t.memory_mb,
                    architecture: t.architecture,
                    idle_window_s: t.idle_window_s,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_agent_functions_in_the_seed_regions() {
        let c = WarmConfig::default();
        let targets = c.targets();
        assert_eq!(targets.len(), 20);
        assert_eq!(targets[0].function, "detection-agent");
        assert_eq!(targets[0].qualifier.as_deref(), Some("live"), "an alias, never $LATEST by default");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn bad_configurations_are_refused() {
        for bad in [
            r#"{"targets": [{"function": "f", "regions": ["us-east-1"], "concurrency": 0}]}"#,
            r#"{"targets": [{"function": "f", "regions": ["me-south-1"]}]}"#,
            r#"{"targets": [], "calendars": {"eu-west-1": {"timezone": "Mars/Olympus"}}}"#,
            r#"{"targets": [], "calendars": {"eu-west-1": {"timezone": "Europe/Dublin", "opens": "18:00:00"}}}"#,
            r#"{"targets": [], "hold_ms": 60000}"#,
            r#"{"targets": [{"function": "f", "regions": ["us-east-1"], "qualifier": ""}]}"#,
        ] {
            assert!(WarmConfig::from_json(bad).is_err(), "{bad}");
        }
        let ok = WarmConfig::from_json(
            r#"{"targets": [{"function": "f", "regions": ["me-south-1"]}],
                "calendars": {"me-south-1": {"timezone": "Asia/Bahrain", "holidays": ["2026-12-16"]}}}"#,
        )
        .unwrap();
        assert_eq!(ok.targets()[0].concurrency, 1);
        assert_eq!(ok.targets()[0].qualifier.as_deref(), Some("live"));
        let latest = WarmConfig::from_json(
            r#"{"targets": [{"function": "f", "regions": ["us-east-1"], "qualifier": "$LATEST"}]}"#,
        )
        .unwrap();
        assert_eq!(latest.targets()[0].qualifier.as_deref(), Some("$LATEST"), "only when named");
    }
}
