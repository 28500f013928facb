//! The cost gate: may this scale-up happen at the current spend, for the severity it serves? Pure.

use serde::{Deserialize, Serialize};

use crate::domain::Severity;

/// Hourly spend at which emergency cost controls start (seed-facts.md).
pub const EMERGENCY_HOURLY: f64 = 1000.0;

/// Spend per hour a scale-up may push the fleet to, per severity served. The defaults follow the
/// thresholds: low-severity work must not take spend into the high band ($100/h), medium not into
/// the critical band ($200/h), high not into emergency ($1000/h); critical work is never refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostGate {
    pub low: f64,
    pub medium: f64,
    pub high: f64,
}

impl Default for CostGate {
    fn default() -> Self {
        Self { low: 100.0, medium: 200.0, high: EMERGENCY_HOURLY }
    }
}

/// What the fleet is spending now, as the cost sweeper last recorded it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spend {
    pub hourly: f64,
    /// Emergency cost mode is on (set by the sweeper or an operator).
    pub emergency: bool,
    /// The sweeper has not reported for three of its periods: the figures above are old.
    #[serde(default)]
    pub stale: bool,
}

impl Spend {
    /// The spend the controls record, as of `now`: stale controls keep their last rate but not
    /// emergency mode (a stopped sweeper would otherwise hold it on for good).
    pub fn of(control: &crate::cost::control::CostControl, now: chrono::DateTime<chrono::Utc>) -> Self {
        let stale = control.is_stale(now);
        Self { hourly: control.current_hourly_spend, emergency: control.emergency(now), stale }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum GateOutcome {
    Allowed { cost_impact_per_hour: f64 },
    Refused { reason: String, cost_impact_per_hour: f64 },
}

impl CostGate {
    fn limit(&self, severity: Severity) -> Option<f64> {
        match severity {
            Severity::Critical => None,
            Severity::High => Some(self.high),
            Severity::Medium => Some(self.medium),
            Severity::Low => Some(self.low),
        }
    }

    /// Checks adding `added` replicas at `cost_per_replica_hour` each.
    pub fn check(
        &self,
        severity: Severity,
        spend: Spend,
        added: u32,
        cost_per_replica_hour: f64,
    ) -> GateOutcome {
        let impact = f64::from(added) * cost_per_replica_hour;
        // Spend unknown (the sweeper stopped): neither an old emergency nor an old calm stands;
        // only work that must not wait (high and critical) may scale up.
        if spend.stale {
            return match severity {
                Severity::Critical | Severity::High => GateOutcome::Allowed { cost_impact_per_hour: impact },
                Severity::Medium | Severity::Low => GateOutcome::Refused {
                    reason: format!(
                        "spend is unknown (the cost sweep has not reported for three of its periods; last ${:.2}/h): {severity} incidents may not scale up",
                        spend.hourly
                    ),
                    cost_impact_per_hour: impact,
                },
            };
        }
        let emergency = spend.emergency || spend.hourly >= EMERGENCY_HOURLY;
        if emergency && severity != Severity::Critical {
            return GateOutcome::Refused {
                reason: format!(
                    "emergency cost mode (spend ${:.2}/h): only critical incidents may scale up, not {severity}",
                    spend.hourly
                ),
                cost_impact_per_hour: impact,
            };
        }
        match self.limit(severity) {
            Some(limit) if spend.hourly + impact > limit => GateOutcome::Refused {
                reason: format!(
                    "+{added} replicas (${impact:.2}/h) would take spend from ${:.2}/h past the ${limit:.2}/h limit for {severity} incidents",
                    spend.hourly
                ),
                cost_impact_per_hour: impact,
            },
            _ => GateOutcome::Allowed { cost_impact_per_hour: impact },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_per_severity() {
        let gate = CostGate::default();
        let at = |hourly: f64, emergency: bool| Spend { hourly, emergency, stale: false };
        let stale = |hourly: f64| Spend { hourly, emergency: false, stale: true };
        let cases = [
            (Severity::Low, at(90.0, false), 2, 6.0, false),
            (Severity::Low, at(90.0, false), 2, 5.0, true),
            (Severity::Low, at(90.0, false), 2, 4.0, true),
            (Severity::Medium, at(190.0, false), 3, 3.0, true),
            (Severity::Medium, at(190.0, false), 4, 3.0, false),
            (Severity::High, at(990.0, false), 4, 3.0, false),
            (Severity::High, at(500.0, false), 4, 3.0, true),
            (Severity::Critical, at(5000.0, false), 10, 5.0, true),
            (Severity::High, at(10.0, true), 1, 1.0, false),
            (Severity::Critical, at(10.0, true), 1, 1.0, true),
            (Severity::High, at(1000.0, false), 1, 0.0, false),
            // Spend unknown: low and medium work waits, high and critical scale (an old $1,000/h
            // is no emergency, an old $0/h no licence).
            (Severity::Low, stale(0.0), 1, 1.0, false),
            (Severity::Medium, stale(0.0), 1, 1.0, false),
            (Severity::High, stale(1500.0), 1, 1.0, true),
            (Severity::Critical, stale(1500.0), 1, 1.0, true),
        ];
        for (severity, spend, added, cost, allowed) in cases {
            let outcome = gate.check(severity, spend, added, cost);
            assert_eq!(
                matches!(outcome, GateOutcome::Allowed { .. }),
                allowed,
                "{severity} {spend:?} +{added}: {outcome:?}"
            );
            let impact = match outcome {
                GateOutcome::Allowed { cost_impact_per_hour }
                | GateOutcome::Refused { cost_impact_per_hour, .. } => cost_impact_per_hour,
            };
            assert!((impact - f64::from(added) * cost).abs() < 1e-9);
        }
    }
}

#[cfg(test)]
mod stale_controls {
    use chrono::{DateTime, Duration};

    use super::*;
    use crate::cost::control::CostControl;

    /// Issue 17, item 8: a stopped sweeper left emergency mode (or an old calm) in force for good.
    #[test]
    fn controls_older_than_three_sweep_periods_are_unknown() {
        let swept = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let control = CostControl {
            emergency_mode: true,
            current_hourly_spend: 1500.0,
            updated_at: Some(swept),
            fresh_until: Some(swept + Duration::minutes(45)),
            ..CostControl::default()
        };
        let fresh = Spend::of(&control, swept + Duration::minutes(44));
        assert!(fresh.emergency && !fresh.stale);
        let old = Spend::of(&control, swept + Duration::minutes(46));
        assert!(!old.emergency && old.stale, "{old:?}");
        assert!(!Spend::of(&CostControl::default(), swept).stale, "never swept is not stale");
    }
}
