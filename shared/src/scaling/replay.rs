//! Replays a scaling trace through the autoscaler: the format behind `commander replay scaling`.
//!
//! ```json
//! {"policy": {"min_replicas": 1, "max_replicas": 100, "target_utilization": 0.5},
//!  "replicas": 3,
//!  "observations": [{"t": 0, "metrics": [0.3, null, 0.7], "ready": [true, true, false]},
//!                   {"t": 15, "utilization": 0.85}]}
//! ```

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::autoscaler::{Observation, ScalingHistory, decide};
use super::hpa::HpaPolicy;
use crate::error::ValidationError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trace {
    pub policy: HpaPolicy,
    /// Replicas at the start.
    pub replicas: u32,
    pub observations: Vec<TracePoint>,
}

/// One observation at `t` seconds from the start: per-replica `metrics` (with optional `ready`),
/// or a type-wide `utilization`, or neither (the metric source failed).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracePoint {
    pub t: u64,
    #[serde(default)]
    pub metrics: Option<Vec<Option<f64>>>,
    #[serde(default)]
    pub ready: Option<Vec<bool>>,
    #[serde(default)]
    pub utilization: Option<f64>,
}

/// One output line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayLine {
    pub t: u64,
    pub current: u32,
    pub desired: u32,
    pub reasons: Vec<String>,
}

impl TracePoint {
    fn observation(&self, index: usize) -> Result<Observation, ValidationError> {
        let field = |name: &str| format!("observations[{index}].{name}");
        match (&self.metrics, self.utilization) {
            (Some(_), Some(_)) => {
                Err(ValidationError::new(field("utilization"), "give metrics or utilization, not both"))
            }
            (Some(metrics), None) => {
                let ready = self.ready.clone().unwrap_or_else(|| vec![true; metrics.len()]);
                if ready.len() != metrics.len() {
                    return Err(ValidationError::new(field("ready"), "needs one entry per metric"));
                }
                Ok(Observation::Replicas { metrics: metrics.clone(), ready })
            }
            (None, Some(u)) => Ok(Observation::Aggregate(u)),
            (None, None) => Ok(Observation::Unavailable),
        }
    }
}

/// The longest trace: a year of seconds, a million observations of at most 100,000 metrics.
pub const MAX_T: u64 = 31_536_000;
pub const MAX_OBSERVATIONS: usize = 1_000_000;
pub const MAX_METRICS: usize = 100_000;

/// Runs the trace, applying each decision before the next observation.
pub fn replay(trace: &Trace) -> Result<Vec<ReplayLine>, ValidationError> {
    if trace.observations.len() > MAX_OBSERVATIONS {
        return Err(ValidationError::new("observations", format!("at most {MAX_OBSERVATIONS}")));
    }
    let start = DateTime::<Utc>::UNIX_EPOCH;
    let mut history = ScalingHistory::default();
    let mut current = trace.replicas;
    let mut last_t = None;
    let mut lines = Vec::with_capacity(trace.observations.len());
    for (i, point) in trace.observations.iter().enumerate() {
        if last_t.is_some_and(|last| point.t < last) {
            return Err(ValidationError::new(format!("observations[{i}].t"), "times must not go backwards"));
        }
        if point.t > MAX_T {
            return Err(ValidationError::new(
                format!("observations[{i}].t"),
                format!("at most {MAX_T} seconds"),
            ));
        }
        if point.metrics.as_ref().is_some_and(|m| m.len() > MAX_METRICS) {
            return Err(ValidationError::new(
                format!("observations[{i}].metrics"),
                format!("at most {MAX_METRICS}"),
            ));
        }
        last_t = Some(point.t);
        let now = start + Duration::seconds(i64::try_from(point.t).unwrap_or(0));
        let decision = decide(&trace.policy, current, &point.observation(i)?, &history, now);
        history.record(&trace.policy, &decision, now);
        lines.push(ReplayLine { t: point.t, current, desired: decision.desired, reasons: decision.reasons });
        current = decision.desired;
    }
    Ok(lines)
}
