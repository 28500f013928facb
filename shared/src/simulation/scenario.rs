//! A simulated day, as a JSON file (`tests/fixtures/scenarios/`): when it starts and how long it
//! runs, the seed, each region's incident rates in and out of its business hours, bursts, the mix
//! of agent types and severities, service times, the fleet's policy limits, and the disturbances
//! (a regional outage, a cost spike). Validated whole before anything runs.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{AgentType, Region, Severity};
use crate::error::ValidationError;

/// Incident arrivals of one region, per minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionLoad {
    /// Outside the region's business hours (and the floor inside them).
    pub off_hours_per_minute: f64,
    /// During business hours (09:00-17:00 local on a weekday).
    pub business_per_minute: f64,
}

/// A period when one region's arrivals are multiplied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Burst {
    pub region: Region,
    pub from: DateTime<Utc>,
    pub minutes: u32,
    pub multiplier: f64,
}

/// How long an agent of a type works on one incident: log-normal with this median and p95.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTime {
    pub median_s: f64,
    pub p95_s: f64,
}

/// A region that goes down for a while: its agents stop reporting and take no work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    pub region: Region,
    pub from: DateTime<Utc>,
    pub minutes: u32,
}

/// An operator's mark on a region, scheduled by the scenario (the suite marks regions itself
/// from silence and errors; only this marks one for it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorMark {
    pub region: Region,
    pub at: DateTime<Utc>,
    /// `true`/`false` marks the region; `null` clears the mark (the scaler judges it again).
    pub healthy: Option<bool>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// From `from` on, a model's price or the tokens per call are multiplied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostSpike {
    pub from: DateTime<Utc>,
    /// The model whose price jumps; none: every model.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default = "one")]
    pub price_multiplier: f64,
    #[serde(default = "one")]
    pub token_multiplier: f64,
}

fn one() -> f64 {
    1.0
}

/// Replica limits of one agent type for the day (the rest of its policy is the seed's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub min_replicas: u32,
    pub max_replicas: u32,
}

/// See the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub start: DateTime<Utc>,
    pub hours: u32,
    pub seed: u64,
    pub regions: BTreeMap<Region, RegionLoad>,
    /// Share of incidents per agent type (normalised).
    pub agent_mix: BTreeMap<AgentType, f64>,
    /// Share of incidents per severity (normalised).
    pub severity_mix: BTreeMap<Severity, f64>,
    pub service: BTreeMap<AgentType, ServiceTime>,
    #[serde(default)]
    pub limits: BTreeMap<AgentType, Limits>,
    #[serde(default)]
    pub bursts: Vec<Burst>,
    #[serde(default)]
    pub outages: Vec<Outage>,
    #[serde(default)]
    pub cost_spikes: Vec<CostSpike>,
    #[serde(default)]
    pub operator_marks: Vec<OperatorMark>,
    /// Agent types that are Lambda functions: they report no heartbeats, the scaler reads their
    /// allocated provisioned concurrency and executions (the policy's `cloudwatch` signal).
    #[serde(default)]
    pub lambda_agents: std::collections::BTreeSet<AgentType>,
    /// The control plane in two regions, its home region failing for a while (none: one
    /// control plane that never fails).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<super::control_plane::ControlPlaneScenario>,
    /// Weeks recorded before the day, which predictive scale-out forecasts from (none: the suite
    /// starts without history and scales reactively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<History>,
    /// Whole policies per agent type, in place of the seed's (with `limits`); a what-if replay
    /// runs the policy in force and a proposed one this way.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policies: BTreeMap<AgentType, crate::scaling::ScalingPolicy>,
}

/// The weeks the suite recorded before the simulated day (`super::history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Past weeks recorded (1-4): the same weekday of each.
    pub weeks: u32,
    /// The regions' rates in those weeks; left out, the day's own. A day whose pattern breaks
    /// (a holiday) gives its own quiet rates to the day and the usual ones here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<BTreeMap<Region, RegionLoad>>,
    /// Hours a deployment recorded before the day, per type, written as they are instead of drawn
    /// weeks (a what-if replay of a recorded day brings its own history this way).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recorded: BTreeMap<AgentType, Vec<crate::scaling::recorded::HourRecord>>,
}

/// The longest simulated run: a week.
pub const MAX_HOURS: u32 = 168;
/// Arrivals above this per region and minute are refused (a typo, not a fleet).
pub const MAX_PER_MINUTE: f64 = 100_000.0;

impl Scenario {
    /// Reads and validates a scenario file's text.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let scenario: Self = serde_json::from_str(text)
            .map_err(|e| ValidationError::new("scenario", format!("not a scenario: {e}")))?;
        scenario.validate()?;
        Ok(scenario)
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.start + Duration::hours(i64::from(self.hours))
    }

    fn within(&self, field: &str, from: DateTime<Utc>, minutes: u32) -> Result<(), ValidationError> {
        if minutes == 0 || from < self.start || from >= self.end() {
            return Err(ValidationError::new(field, "must start within the run and last at least a minute"));
        }
        Ok(())
    }

    /// The recorded weeks: 1 to 4, at rates of the scenario's own regions; and whole policies,
    /// valid and of types in the mix.
    fn validate_history_and_policies(&self) -> Result<(), ValidationError> {
        let bad = |field: &str, why: &str| Err(ValidationError::new(field, why));
        for (agent_type, policy) in &self.policies {
            if !self.agent_mix.contains_key(agent_type) {
                return bad(&format!("policies.{agent_type}"), "the type is not in the agent mix");
            }
            policy
                .validate()
                .map_err(|e| ValidationError::new(format!("policies.{agent_type}.{}", e.field), e.message))?;
        }
        let Some(h) = &self.history else { return Ok(()) };
        if !(1..=crate::scaling::forecast::MAX_WEEKS).contains(&h.weeks) {
            return bad("history.weeks", "1 to 4 weeks");
        }
        for (agent_type, hours) in &h.recorded {
            if hours.iter().any(|r| r.hour >= self.start) {
                return bad(
                    &format!("history.recorded.{agent_type}"),
                    "recorded hours come before the start",
                );
            }
        }
        let rate = |r: f64| r.is_finite() && (0.0..=MAX_PER_MINUTE).contains(&r);
        for (region, load) in h.regions.iter().flatten() {
            if !self.regions.contains_key(region) {
                return bad(
                    &format!("history.regions.{region}"),
                    "the region is not among the scenario's regions",
                );
            }
            if !rate(load.off_hours_per_minute) || !rate(load.business_per_minute) {
                return bad(&format!("history.regions.{region}"), "rates are 0 to 100000 a minute");
            }
        }
        Ok(())
    }

    /// Every rule a scenario must keep, each failure naming its field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let bad = |field: &str, why: &str| Err(ValidationError::new(field, why));
        if self.name.is_empty() || self.name.len() > 64 {
            return bad("name", "must be 1 to 64 characters");
        }
        if self.hours == 0 || self.hours > MAX_HOURS {
            return bad("hours", "must be 1 to 168");
        }
        if self.regions.is_empty() {
            return bad("regions", "at least one region");
        }
        for (region, load) in &self.regions {
            let field = format!("regions.{region}");
            let rate = |r: f64| r.is_finite() && (0.0..=MAX_PER_MINUTE).contains(&r);
            if !rate(load.off_hours_per_minute) || !rate(load.business_per_minute) {
                return bad(&field, "rates are 0 to 100000 a minute");
            }
        }
        let shares = |field: &str, values: &mut dyn Iterator<Item = f64>| {
            let mut total = 0.0;
            for v in values {
                if !v.is_finite() || v < 0.0 {
                    return bad(field, "shares are finite and not negative");
                }
                total += v;
            }
            if total <= 0.0 { bad(field, "at least one share above 0") } else { Ok(()) }
        };
        shares("agent_mix", &mut self.agent_mix.values().copied())?;
        shares("severity_mix", &mut self.severity_mix.values().copied())?;
        for agent_type in self.agent_mix.keys() {
            let Some(s) = self.service.get(agent_type) else {
                return bad(
                    &format!("service.{agent_type}"),
                    "every agent type in the mix needs a service time",
                );
            };
            if !(s.median_s.is_finite() && s.median_s > 0.0 && s.p95_s.is_finite() && s.p95_s >= s.median_s) {
                return bad(
                    &format!("service.{agent_type}"),
                    "median_s above 0 and p95_s at least the median",
                );
            }
        }
        for (agent_type, l) in &self.limits {
            if l.max_replicas == 0 || l.min_replicas > l.max_replicas || l.max_replicas > 1000 {
                return bad(&format!("limits.{agent_type}"), "0 <= min_replicas <= max_replicas, 1 to 1000");
            }
        }
        for (i, b) in self.bursts.iter().enumerate() {
            let field = format!("bursts[{i}]");
            self.within(&field, b.from, b.minutes)?;
            if !self.regions.contains_key(&b.region) {
                return bad(&field, "the region is not among the scenario's regions");
            }
            if !(b.multiplier.is_finite() && b.multiplier > 0.0 && b.multiplier <= 100.0) {
                return bad(&field, "multiplier above 0, at most 100");
            }
        }
        for (i, o) in self.outages.iter().enumerate() {
            let field = format!("outages[{i}]");
            self.within(&field, o.from, o.minutes)?;
            if !self.regions.contains_key(&o.region) {
                return bad(&field, "the region is not among the scenario's regions");
            }
        }
        if let Some(c) = &self.control_plane {
            self.within("control_plane", c.outage_from, c.outage_minutes)?;
            if c.home == c.standby {
                return bad("control_plane", "the standby region must differ from the home region");
            }
            if !(2..=60).contains(&c.takeover_after_minutes) {
                return bad("control_plane", "takeover_after_minutes from 2 to 60");
            }
        }
        self.validate_history_and_policies()?;
        if let Some(t) = self.lambda_agents.iter().find(|t| !self.agent_mix.contains_key(*t)) {
            return bad("lambda_agents", &format!("{t} is not in the agent mix"));
        }
        for (i, m) in self.operator_marks.iter().enumerate() {
            let field = format!("operator_marks[{i}]");
            self.within(&field, m.at, 1)?;
            if !self.regions.contains_key(&m.region) {
                return bad(&field, "the region is not among the scenario's regions");
            }
        }
        for (i, c) in self.cost_spikes.iter().enumerate() {
            let field = format!("cost_spikes[{i}]");
            self.within(&field, c.from, 1)?;
            let factor = |f: f64| f.is_finite() && f > 0.0 && f <= 1000.0;
            if !factor(c.price_multiplier) || !factor(c.token_multiplier) {
                return bad(&field, "multipliers above 0, at most 1000");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn base() -> Value {
        json!({
            "name": "t", "start": "2026-03-10T00:00:00Z", "hours": 24, "seed": 1,
            "regions": {"us-east-1": {"off_hours_per_minute": 1.0, "business_per_minute": 10.0}},
            "agent_mix": {"detection": 1.0},
            "severity_mix": {"high": 1.0},
            "service": {"detection": {"median_s": 10.0, "p95_s": 30.0}},
        })
    }

    fn with(path: &[&str], value: Value) -> String {
        let mut v = base();
        let mut at = &mut v;
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = value;
        v.to_string()
    }

    #[test]
    fn a_valid_scenario_reads_and_bad_ones_name_their_field() {
        assert!(Scenario::parse(&base().to_string()).is_ok());
        let cases = [
            (with(&["hours"], json!(0)), "hours"),
            (with(&["hours"], json!(169)), "hours"),
            (with(&["regions"], json!({})), "regions"),
            (with(&["regions", "us-east-1", "business_per_minute"], json!(-1.0)), "regions.us-east-1"),
            (with(&["agent_mix"], json!({"detection": 0.0})), "agent_mix"),
            (with(&["severity_mix", "low"], json!(-0.5)), "severity_mix"),
            (with(&["agent_mix", "diagnosis"], json!(1.0)), "service.diagnosis"),
            (with(&["service", "detection", "p95_s"], json!(5.0)), "service.detection"),
            (
                with(&["limits"], json!({"detection": {"min_replicas": 3, "max_replicas": 2}})),
                "limits.detection",
            ),
            (
                with(
                    &["bursts"],
                    json!([{"region": "eu-west-1", "from": "2026-03-10T10:00:00Z", "minutes": 5, "multiplier": 2.0}]),
                ),
                "bursts[0]",
            ),
            (
                with(
                    &["outages"],
                    json!([{"region": "us-east-1", "from": "2026-03-11T10:00:00Z", "minutes": 30}]),
                ),
                "outages[0]",
            ),
            (
                with(&["cost_spikes"], json!([{"from": "2026-03-10T10:00:00Z", "price_multiplier": 0.0}])),
                "cost_spikes[0]",
            ),
            (with(&["history"], json!({"weeks": 0})), "history.weeks"),
            (
                with(
                    &["history"],
                    json!({"weeks": 1, "recorded": {"detection": [{"hour": "2026-03-10T00:00:00Z", "minutes": {}}]}}),
                ),
                "history.recorded.detection",
            ),
            (with(&["history"], json!({"weeks": 5})), "history.weeks"),
            (
                with(
                    &["history"],
                    json!({"weeks": 2, "regions": {"eu-west-1": {"off_hours_per_minute": 1.0, "business_per_minute": 2.0}}}),
                ),
                "history.regions.eu-west-1",
            ),
            (
                with(
                    &["history"],
                    json!({"weeks": 2, "regions": {"us-east-1": {"off_hours_per_minute": 1.0, "business_per_minute": 1e9}}}),
                ),
                "history.regions.us-east-1",
            ),
        ];
        for (text, field) in cases {
            let e = Scenario::parse(&text).unwrap_err();
            assert_eq!(e.field, field, "{e}");
        }
        let unknown = with(&["surprise"], json!(1));
        assert!(Scenario::parse(&unknown).unwrap_err().to_string().contains("unknown field"));
    }
}
