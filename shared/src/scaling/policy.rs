use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::signals::Signal;
use crate::domain::{AgentType, BuiltinAgentType};
use crate::error::ValidationError;

/// How one agent type scales. Field names are the prototype's, which dashboards already read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScalingPolicy {
    /// Never fewer replicas than this.
    pub min_replicas: u32,
    /// Never more replicas than this.
    pub max_replicas: u32,
    /// Utilisation the autoscaler steers towards (0-1).
    pub target_utilization: f64,
    /// Utilisation above which the fleet scales up (0-1).
    pub scale_up_threshold: f64,
    /// Utilisation below which the fleet scales down (0-1).
    pub scale_down_threshold: f64,
    /// Seconds between scaling actions; also the scale-down stabilisation window.
    pub cooldown_period: u64,
    /// Concurrent incidents one replica handles.
    pub capacity_per_replica: u32,
    /// What one replica costs per hour, in USD.
    pub cost_per_replica_hour: f64,
    /// Where the type's live count and utilization come from: `heartbeats` (long-running agents
    /// report them) or `cloudwatch` (Lambda agents: provisioned concurrency allocated per region
    /// and the alias's concurrent executions). Left out, it follows the configured actuator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<Signal>,
    /// Predictive scale-out from the type's weekly pattern. Left out, it is on with the defaults
    /// of [`PredictivePolicy`], and acts only once enough weeks are recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictive: Option<PredictivePolicy>,
}

/// How a type scales ahead of its forecast load (`scaling::prediction`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictivePolicy {
    /// `false` leaves the type to reactive scaling alone.
    #[serde(default = "PredictivePolicy::default_enabled")]
    pub enabled: bool,
    /// Past weeks that must have recorded an hour before it is forecast (1-4).
    #[serde(default = "PredictivePolicy::default_min_weeks")]
    pub min_weeks: u32,
    /// How far ahead the floor looks, in seconds (60-3600): the time a replica or provisioned
    /// concurrency takes to become ready, plus a margin.
    #[serde(default = "PredictivePolicy::default_lead_seconds")]
    pub lead_seconds: u64,
    /// The forecast error (0-1, relative to the larger of forecast and actual) beyond which the
    /// type falls back to reactive scaling (0.05-1).
    #[serde(default = "PredictivePolicy::default_max_error")]
    pub max_error: f64,
}

impl Default for PredictivePolicy {
    fn default() -> Self {
        Self {
            enabled: Self::default_enabled(),
            min_weeks: Self::default_min_weeks(),
            lead_seconds: Self::default_lead_seconds(),
            max_error: Self::default_max_error(),
        }
    }
}

impl PredictivePolicy {
    pub const MIN_WEEKS: std::ops::RangeInclusive<u32> = 1..=super::forecast::MAX_WEEKS;
    pub const LEAD_SECONDS: std::ops::RangeInclusive<u64> = 60..=3600;
    pub const MAX_ERROR: std::ops::RangeInclusive<f64> = 0.05..=1.0;

    const fn default_enabled() -> bool {
        true
    }

    /// Two weeks: one week's hour may be a holiday or an incident storm.
    const fn default_min_weeks() -> u32 {
        2
    }

    /// Ten minutes: a replica or a provisioned-concurrency allocation is ready within a few
    /// minutes, and the ramp should find it ready, not starting.
    const fn default_lead_seconds() -> u64 {
        600
    }

    /// Half: a forecast that misses by more than half of the load is no guide.
    const fn default_max_error() -> f64 {
        0.5
    }

    fn validate(&self) -> Result<(), ValidationError> {
        if !Self::MIN_WEEKS.contains(&self.min_weeks) {
            return Err(ValidationError::new(
                "predictive.min_weeks",
                format!("must be from {} to {}", Self::MIN_WEEKS.start(), Self::MIN_WEEKS.end()),
            ));
        }
        if !Self::LEAD_SECONDS.contains(&self.lead_seconds) {
            return Err(ValidationError::new(
                "predictive.lead_seconds",
                format!("must be from {} to {}", Self::LEAD_SECONDS.start(), Self::LEAD_SECONDS.end()),
            ));
        }
        if !Self::MAX_ERROR.contains(&self.max_error) {
            return Err(ValidationError::new(
                "predictive.max_error",
                format!("must be from {} to {}", Self::MAX_ERROR.start(), Self::MAX_ERROR.end()),
            ));
        }
        Ok(())
    }
}

/// Seed numbers per builtin type: (min, max, capacity, cost per replica-hour).
const fn seed(agent: BuiltinAgentType) -> (u32, u32, u32, f64) {
    match agent {
        BuiltinAgentType::Detection => (2, 10, 20, 2.0),
        BuiltinAgentType::Diagnosis => (2, 8, 10, 5.0),
        BuiltinAgentType::Prediction => (1, 5, 15, 4.0),
        BuiltinAgentType::Resolution => (1, 6, 5, 3.0),
        BuiltinAgentType::Communication => (1, 4, 25, 1.0),
    }
}

/// Operator-defined types start from these until their policy is set: capacity 10 and $3 per
/// replica-hour (seed-facts.md), between 1 and 5 replicas.
const UNKNOWN_TYPE_SEED: (u32, u32, u32, f64) = (1, 5, 10, 3.0);

impl ScalingPolicy {
    pub const DEFAULT_TARGET_UTILIZATION: f64 = 0.70;
    pub const DEFAULT_SCALE_UP_THRESHOLD: f64 = 0.80;
    pub const DEFAULT_SCALE_DOWN_THRESHOLD: f64 = 0.30;
    pub const DEFAULT_COOLDOWN_SECONDS: u64 = 300;
    /// At most a day between scaling actions (the low alarm's evaluation window is the cooldown,
    /// and CloudWatch evaluates at most a day of one-minute periods).
    pub const MAX_COOLDOWN_SECONDS: u64 = 86_400;
    /// Replica counts beyond this are refused (the state item lists every replica).
    pub const MAX_REPLICAS: u32 = 1_000;
    /// The lowest threshold: 1 % utilization (a smaller one means nothing, and tiny numbers are
    /// what the state store cannot keep).
    pub const MIN_THRESHOLD: f64 = 0.01;
    /// A replica-hour costs 0, or from a millionth of a dollar to a million.
    pub const MIN_COST: f64 = 1e-6;
    pub const MAX_COST: f64 = 1e6;

    /// The policy an agent type has until an operator changes it.
    pub fn default_for(agent_type: &AgentType) -> Self {
        let (min, max, capacity, cost) = agent_type.builtin().map_or(UNKNOWN_TYPE_SEED, seed);
        Self {
            min_replicas: min,
            max_replicas: max,
            target_utilization: Self::DEFAULT_TARGET_UTILIZATION,
            scale_up_threshold: Self::DEFAULT_SCALE_UP_THRESHOLD,
            scale_down_threshold: Self::DEFAULT_SCALE_DOWN_THRESHOLD,
            cooldown_period: Self::DEFAULT_COOLDOWN_SECONDS,
            capacity_per_replica: capacity,
            cost_per_replica_hour: cost,
            signal: None,
            predictive: None,
        }
    }

    /// The predictive settings in force: the policy's, or the defaults.
    pub fn predictive(&self) -> PredictivePolicy {
        self.predictive.unwrap_or_default()
    }

    /// Checks 0 <= min <= max <= 1000; 0.01 <= down < target < up <= 1; cooldown at most a day;
    /// capacity 1 to 100,000; a cost of 0 or from 1E-6 to 1E6 USD.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.max_replicas > Self::MAX_REPLICAS {
            return Err(ValidationError::new(
                "max_replicas",
                format!("must be at most {}", Self::MAX_REPLICAS),
            ));
        }
        if self.cooldown_period > Self::MAX_COOLDOWN_SECONDS {
            return Err(ValidationError::new(
                "cooldown_period",
                format!("must be at most {} seconds (a day)", Self::MAX_COOLDOWN_SECONDS),
            ));
        }
        if self.min_replicas > self.max_replicas {
            return Err(ValidationError::new(
                "min_replicas",
                format!("must be <= max_replicas ({} > {})", self.min_replicas, self.max_replicas),
            ));
        }
        for (field, value) in [
            ("scale_down_threshold", self.scale_down_threshold),
            ("target_utilization", self.target_utilization),
            ("scale_up_threshold", self.scale_up_threshold),
        ] {
            if !value.is_finite() {
                return Err(ValidationError::new(field, "must be a finite number"));
            }
        }
        if self.scale_down_threshold < Self::MIN_THRESHOLD {
            return Err(ValidationError::new(
                "scale_down_threshold",
                format!("must be at least {}", Self::MIN_THRESHOLD),
            ));
        }
        if self.target_utilization <= self.scale_down_threshold {
            return Err(ValidationError::new("target_utilization", "must be above scale_down_threshold"));
        }
        if self.scale_up_threshold <= self.target_utilization {
            return Err(ValidationError::new("scale_up_threshold", "must be above target_utilization"));
        }
        if self.scale_up_threshold > 1.0 {
            return Err(ValidationError::new("scale_up_threshold", "must be <= 1"));
        }
        if self.capacity_per_replica == 0 {
            return Err(ValidationError::new("capacity_per_replica", "must be > 0"));
        }
        let cost = self.cost_per_replica_hour;
        if !cost.is_finite() || !(cost == 0.0 || (Self::MIN_COST..=Self::MAX_COST).contains(&cost)) {
            return Err(ValidationError::new(
                "cost_per_replica_hour",
                format!("must be 0 or from {} to {} USD", Self::MIN_COST, Self::MAX_COST),
            ));
        }
        if self.capacity_per_replica > crate::domain::Replica::MAX_CAPACITY {
            return Err(ValidationError::new(
                "capacity_per_replica",
                format!("must be at most {}", crate::domain::Replica::MAX_CAPACITY),
            ));
        }
        self.predictive.as_ref().map_or(Ok(()), PredictivePolicy::validate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Breaker = fn(&mut ScalingPolicy);

    fn policy(t: &str) -> ScalingPolicy {
        ScalingPolicy::default_for(&AgentType::parse(t).unwrap())
    }

    #[test]
    fn seed_defaults() {
        let table = [
            ("detection", 2, 10, 20, 2.0),
            ("diagnosis", 2, 8, 10, 5.0),
            ("prediction", 1, 5, 15, 4.0),
            ("resolution", 1, 6, 5, 3.0),
            ("communication", 1, 4, 25, 1.0),
            ("custom-type", 1, 5, 10, 3.0),
        ];
        for (t, min, max, cap, cost) in table {
            let p = policy(t);
            assert_eq!((p.min_replicas, p.max_replicas, p.capacity_per_replica), (min, max, cap), "{t}");
            assert!((p.cost_per_replica_hour - cost).abs() < f64::EPSILON, "{t}");
            assert!((p.target_utilization - 0.70).abs() < f64::EPSILON);
            assert!((p.scale_up_threshold - 0.80).abs() < f64::EPSILON);
            assert!((p.scale_down_threshold - 0.30).abs() < f64::EPSILON);
            assert_eq!(p.cooldown_period, 300);
            assert!(p.validate().is_ok(), "{t}");
        }
    }

    #[test]
    fn invariants_are_enforced() {
        let broken: [(&str, Breaker); 20] = [
            ("predictive.min_weeks", |p| {
                p.predictive = Some(PredictivePolicy { min_weeks: 0, ..PredictivePolicy::default() });
            }),
            ("predictive.min_weeks", |p| {
                p.predictive = Some(PredictivePolicy { min_weeks: 5, ..PredictivePolicy::default() });
            }),
            ("predictive.lead_seconds", |p| {
                p.predictive = Some(PredictivePolicy { lead_seconds: 59, ..PredictivePolicy::default() });
            }),
            ("predictive.lead_seconds", |p| {
                p.predictive = Some(PredictivePolicy { lead_seconds: 3601, ..PredictivePolicy::default() });
            }),
            ("predictive.max_error", |p| {
                p.predictive = Some(PredictivePolicy { max_error: f64::NAN, ..PredictivePolicy::default() });
            }),
            ("max_replicas", |p| p.max_replicas = 1001),
            ("cooldown_period", |p| p.cooldown_period = 86_401),
            ("min_replicas", |p| p.min_replicas = p.max_replicas + 1),
            ("scale_down_threshold", |p| p.scale_down_threshold = 0.0),
            ("scale_down_threshold", |p| p.scale_down_threshold = 1e-200),
            ("cost_per_replica_hour", |p| p.cost_per_replica_hour = 1e-200),
            ("capacity_per_replica", |p| p.capacity_per_replica = 100_001),
            ("scale_down_threshold", |p| {
                p.scale_down_threshold = f64::NAN;
            }),
            ("target_utilization", |p| p.target_utilization = 0.3),
            ("scale_up_threshold", |p| p.scale_up_threshold = 0.7),
            ("scale_up_threshold", |p| {
                p.scale_up_threshold = 1.01;
            }),
            ("scale_up_threshold", |p| {
                p.scale_up_threshold = f64::INFINITY;
            }),
            ("capacity_per_replica", |p| p.capacity_per_replica = 0),
            ("cost_per_replica_hour", |p| p.cost_per_replica_hour = -1.0),
            ("cost_per_replica_hour", |p| {
                p.cost_per_replica_hour = f64::NAN;
            }),
        ];
        for (field, breaker) in broken {
            let mut p = policy("detection");
            breaker(&mut p);
            assert_eq!(p.validate().unwrap_err().field, field);
        }
        let mut edge = policy("detection");
        edge.min_replicas = 0;
        edge.max_replicas = 0;
        edge.scale_up_threshold = 1.0;
        edge.cooldown_period = 0;
        assert!(edge.validate().is_ok(), "bounds are inclusive where the rules say so");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let mut json = serde_json::to_value(policy("detection")).unwrap();
        json["max_replica"] = 3.into();
        assert!(serde_json::from_value::<ScalingPolicy>(json).is_err());
        let mut json = serde_json::to_value(policy("detection")).unwrap();
        json["predictive"] = serde_json::json!({"enabled": true, "lead": 60});
        assert!(serde_json::from_value::<ScalingPolicy>(json).is_err());
    }

    #[test]
    fn predictive_settings_default_field_by_field() {
        let mut json = serde_json::to_value(policy("detection")).unwrap();
        assert!(json.get("predictive").is_none(), "left out until set");
        json["predictive"] = serde_json::json!({"enabled": false});
        let p: ScalingPolicy = serde_json::from_value(json).unwrap();
        assert_eq!(p.predictive(), PredictivePolicy { enabled: false, ..PredictivePolicy::default() });
        assert!(policy("detection").predictive().enabled, "on by default, once history allows");
        assert!(p.validate().is_ok());
    }

    proptest! {
        /// validate() accepts exactly the policies the stated invariants describe.
        #[test]
        fn validate_matches_the_invariants(
            min in 0u32..20, max in 0u32..20,
            down in -0.5f64..1.5, target in -0.5f64..1.5, up in -0.5f64..1.5,
            capacity in 0u32..3, cost in -1.0f64..10.0,
        ) {
            let p = ScalingPolicy {
                min_replicas: min, max_replicas: max,
                target_utilization: target, scale_up_threshold: up, scale_down_threshold: down,
                cooldown_period: 60, capacity_per_replica: capacity, cost_per_replica_hour: cost,
                signal: None, predictive: None,
            };
            let expected = min <= max && 0.01 <= down && down < target && target < up && up <= 1.0
                && capacity > 0 && (cost == 0.0 || cost >= 1e-6);
            prop_assert_eq!(p.validate().is_ok(), expected);
        }
    }
}
