//! The autoscaler's vocabulary, shaped after the Kubernetes HorizontalPodAutoscaler (autoscaling/v2):
//! a target, a tolerance, and per-direction scaling rules (stabilisation window, rate policies,
//! select policy). The JSON form is the replay trace's `policy` object.

use serde::{Deserialize, Serialize};

use super::ScalingPolicy;
use crate::error::ValidationError;

/// What the autoscaler steers towards.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Target {
    /// Average utilization (load / capacity, 0-1) across ready replicas.
    Utilization(f64),
    /// Average of a raw per-replica metric.
    Value(f64),
}

impl Target {
    pub fn value(self) -> f64 {
        match self {
            Self::Utilization(v) | Self::Value(v) => v,
        }
    }

    /// What a replica whose metric is missing counts as when scaling down (fully used).
    pub(crate) fn saturated(self) -> f64 {
        match self {
            Self::Utilization(_) => 1.0,
            Self::Value(v) => v,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SelectPolicy {
    /// The policy allowing the largest change (the HPA default).
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateKind {
    Pods,
    Percent,
}

/// At most `value` replicas (or percent) of change per `period_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatePolicy {
    #[serde(rename = "type")]
    pub kind: RateKind,
    pub value: u32,
    pub period_s: u64,
}

/// How one direction (up or down) may change the replica count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScalingRules {
    pub stabilization_window_s: u64,
    pub select_policy: SelectPolicy,
    pub policies: Vec<RatePolicy>,
}

impl ScalingRules {
    /// HPA default for scale-up: no window; max(4 replicas, 100 %) per 15 s.
    pub fn default_up() -> Self {
        Self {
            stabilization_window_s: 0,
            select_policy: SelectPolicy::Max,
            policies: vec![
                RatePolicy { kind: RateKind::Pods, value: 4, period_s: 15 },
                RatePolicy { kind: RateKind::Percent, value: 100, period_s: 15 },
            ],
        }
    }

    /// HPA default for scale-down: a 300 s window; 100 % per 15 s.
    pub fn default_down() -> Self {
        Self {
            stabilization_window_s: 300,
            select_policy: SelectPolicy::Max,
            policies: vec![RatePolicy { kind: RateKind::Percent, value: 100, period_s: 15 }],
        }
    }
}

/// Scaling rules as written in JSON, where every field may be left to the direction's default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesSpec {
    stabilization_window_s: Option<u64>,
    select_policy: Option<SelectPolicy>,
    policies: Option<Vec<RatePolicy>>,
}

impl RulesSpec {
    fn resolve(self, defaults: ScalingRules) -> ScalingRules {
        ScalingRules {
            stabilization_window_s: self.stabilization_window_s.unwrap_or(defaults.stabilization_window_s),
            select_policy: self.select_policy.unwrap_or(defaults.select_policy),
            policies: self.policies.unwrap_or(defaults.policies),
        }
    }
}

/// A policy's thresholds: no change while the metric is within `[scale_down_below,
/// scale_up_above]`; above, scale up to the size that brings it to the target (at least one more
/// replica); below, scale down to that size. Replaces the HPA's tolerance when set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    pub scale_down_below: f64,
    pub scale_up_above: f64,
}

/// Everything the autoscaler needs to know about one agent type's scaling.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HpaPolicy {
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub target: Target,
    /// No change while |1 - metric / target| is within this (when no `band` is set).
    pub tolerance: f64,
    /// The policy's thresholds, which decide instead of the tolerance when set.
    pub band: Option<Band>,
    pub scale_up: ScalingRules,
    pub scale_down: ScalingRules,
    /// Application Auto Scaling cooldown, seconds (0: none). See `behavior::apply_cooldown`.
    pub cooldown_s: u64,
}

impl HpaPolicy {
    pub const DEFAULT_TOLERANCE: f64 = 0.1;

    /// The autoscaler settings of a stored policy: its target utilization, thresholds and bounds,
    /// HPA default rates, and its cooldown as both the scale-down window and the cooldown.
    pub fn from_policy(policy: &ScalingPolicy) -> Self {
        let mut scale_down = ScalingRules::default_down();
        scale_down.stabilization_window_s = policy.cooldown_period;
        Self {
            min_replicas: policy.min_replicas,
            max_replicas: policy.max_replicas,
            target: Target::Utilization(policy.target_utilization),
            tolerance: Self::DEFAULT_TOLERANCE,
            band: Some(Band {
                scale_down_below: policy.scale_down_threshold,
                scale_up_above: policy.scale_up_threshold,
            }),
            scale_up: ScalingRules::default_up(),
            scale_down,
            cooldown_s: policy.cooldown_period,
        }
    }

    /// The longest window, period or cooldown a policy may name: a day.
    pub const MAX_SECONDS: u64 = 86_400;
    /// The most replicas a policy may allow.
    pub const MAX_REPLICAS: u32 = 100_000;

    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.min_replicas > self.max_replicas {
            return Err(ValidationError::new("min_replicas", "must be <= max_replicas"));
        }
        if self.max_replicas > Self::MAX_REPLICAS {
            return Err(ValidationError::new(
                "max_replicas",
                format!("must be at most {}", Self::MAX_REPLICAS),
            ));
        }
        let day = Self::MAX_SECONDS;
        let periods = self.scale_up.policies.iter().chain(&self.scale_down.policies).map(|p| p.period_s);
        let longest = periods
            .chain([
                self.scale_up.stabilization_window_s,
                self.scale_down.stabilization_window_s,
                self.cooldown_s,
            ])
            .max()
            .unwrap_or(0);
        if longest > day {
            return Err(ValidationError::new(
                "cooldown_s",
                format!("windows, periods and the cooldown are at most {day} seconds"),
            ));
        }
        let target = self.target.value();
        if !target.is_finite() || target <= 0.0 {
            return Err(ValidationError::new("target", "must be a finite number > 0"));
        }
        if !self.tolerance.is_finite() || !(0.0..1.0).contains(&self.tolerance) {
            return Err(ValidationError::new("tolerance", "must be at least 0 and below 1"));
        }
        if let Some(band) = self.band {
            let ordered = band.scale_down_below.is_finite()
                && band.scale_up_above.is_finite()
                && band.scale_down_below < target
                && target < band.scale_up_above;
            if !ordered {
                return Err(ValidationError::new(
                    "scale_up_threshold",
                    "thresholds must be finite with scale_down_threshold < target < scale_up_threshold",
                ));
            }
        }
        for (field, rules) in [("scale_up", &self.scale_up), ("scale_down", &self.scale_down)] {
            if rules.select_policy != SelectPolicy::Disabled && rules.policies.is_empty() {
                return Err(ValidationError::new(field, "needs at least one rate policy unless disabled"));
            }
            if rules.policies.iter().any(|p| p.period_s == 0 || p.value == 0) {
                return Err(ValidationError::new(field, "rate policies need a value and a period > 0"));
            }
        }
        Ok(())
    }
}

/// The JSON form: `target_utilization` or `target_value`, the rest optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HpaPolicySpec {
    min_replicas: u32,
    max_replicas: u32,
    target_utilization: Option<f64>,
    target_value: Option<f64>,
    tolerance: Option<f64>,
    scale_up_threshold: Option<f64>,
    scale_down_threshold: Option<f64>,
    #[serde(default)]
    scale_up: RulesSpec,
    #[serde(default)]
    scale_down: RulesSpec,
    #[serde(default)]
    cooldown_s: u64,
}

impl<'de> Deserialize<'de> for HpaPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let spec = HpaPolicySpec::deserialize(deserializer)?;
        let target = match (spec.target_utilization, spec.target_value) {
            (Some(u), None) => Target::Utilization(u),
            (None, Some(v)) => Target::Value(v),
            _ => return Err(D::Error::custom("give exactly one of target_utilization and target_value")),
        };
        let band = match (spec.scale_down_threshold, spec.scale_up_threshold) {
            (None, None) => None,
            (Some(scale_down_below), Some(scale_up_above)) => Some(Band { scale_down_below, scale_up_above }),
            _ => {
                return Err(D::Error::custom(
                    "give both scale_up_threshold and scale_down_threshold, or neither",
                ));
            }
        };
        let policy = Self {
            min_replicas: spec.min_replicas,
            max_replicas: spec.max_replicas,
            target,
            tolerance: spec.tolerance.unwrap_or(Self::DEFAULT_TOLERANCE),
            band,
            scale_up: spec.scale_up.resolve(ScalingRules::default_up()),
            scale_down: spec.scale_down.resolve(ScalingRules::default_down()),
            cooldown_s: spec.cooldown_s,
        };
        policy.validate().map_err(D::Error::custom)?;
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_defaults_follow_the_direction() {
        let p: HpaPolicy = serde_json::from_value(json!({
            "min_replicas": 1, "max_replicas": 10, "target_utilization": 0.5,
            "scale_down": {"select_policy": "disabled"}
        }))
        .unwrap();
        assert_eq!(p.scale_up, ScalingRules::default_up());
        assert_eq!(p.scale_down.select_policy, SelectPolicy::Disabled);
        assert_eq!(p.scale_down.stabilization_window_s, 300);
        assert!((p.tolerance - 0.1).abs() < f64::EPSILON);
    }

    #[test]
    fn bad_policies_are_refused() {
        for bad in [
            json!({"min_replicas": 1, "max_replicas": 10}),
            json!({"min_replicas": 1, "max_replicas": 10, "target_utilization": 0.5, "target_value": 3}),
            json!({"min_replicas": 5, "max_replicas": 1, "target_utilization": 0.5}),
            json!({"min_replicas": 1, "max_replicas": 5, "target_utilization": 0}),
            json!({"min_replicas": 1, "max_replicas": 5, "target_utilization": 0.5, "tolerance": 1.5}),
            json!({"min_replicas": 1, "max_replicas": 5, "target_utilization": 0.5, "scale_up": {"policies": []}}),
            json!({"min_replicas": 1, "max_replicas": 5, "target_utilization": 0.5, "scale_up": {"policies": [{"type": "pods", "value": 1, "period_s": 0}]}}),
            json!({"min_replicas": 1, "max_replicas": 5, "target_utilization": 0.5, "surprise": true}),
            json!({"min_replicas": 1, "max_replicas": 5, "target_utilization": 0.5, "cooldown_s": 9_000_000_000_000_u64}),
            json!({"min_replicas": 1, "max_replicas": 5, "target_utilization": 0.5, "scale_down": {"stabilization_window_s": 86_401}}),
            json!({"min_replicas": 1, "max_replicas": 5, "target_utilization": 0.5, "scale_up_threshold": 0.8}),
            json!({"min_replicas": 1, "max_replicas": 5, "target_utilization": 0.5, "scale_up_threshold": 0.4, "scale_down_threshold": 0.2}),
        ] {
            assert!(serde_json::from_value::<HpaPolicy>(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn stored_policies_map_to_hpa_settings() {
        let policy = ScalingPolicy::default_for(&crate::domain::AgentType::parse("diagnosis").unwrap());
        let hpa = HpaPolicy::from_policy(&policy);
        assert_eq!((hpa.min_replicas, hpa.max_replicas, hpa.cooldown_s), (2, 8, 300));
        assert_eq!(hpa.target, Target::Utilization(0.7));
        assert_eq!(hpa.scale_down.stabilization_window_s, 300);
        assert_eq!(hpa.band, Some(Band { scale_down_below: 0.3, scale_up_above: 0.8 }));
    }
}
