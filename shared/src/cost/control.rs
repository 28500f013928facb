//! What a sweep changes in the cost controls (pure): the level, optimisation from $100/h,
//! emergency mode at $1000/h, and emergency mode clearing itself once the level has stayed below
//! critical long enough. Every change comes with its reason.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::levels::Level;

/// The spend the cost sweeper last recorded, and which cost controls are on. The scaler's cost gate
/// and model selection read it; only the sweeper writes it (versioned).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CostControl {
    #[serde(default)]
    pub current_hourly_spend: f64,
    #[serde(default)]
    pub emergency_mode: bool,
    #[serde(default)]
    pub level: super::levels::Level,
    #[serde(default)]
    pub daily_projection: f64,
    /// From $100/h: non-critical model selection takes the cheapest model within 0.05 accuracy of
    /// its usual choice.
    #[serde(default)]
    pub optimizing: bool,
    #[serde(default)]
    pub emergency_since: Option<DateTime<Utc>>,
    /// Since when the level has been below critical while emergency mode is on.
    #[serde(default)]
    pub below_critical_since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Until when the figures count as current (three sweep periods after the sweep): past
    /// it the sweeper has stopped, and readers treat spend as unknown.
    #[serde(default)]
    pub fresh_until: Option<DateTime<Utc>>,
    /// An operator's override of emergency mode until it expires (`PUT /cost/emergency`): it
    /// holds whatever spend says, and `emergency_mode` above goes on following spend beneath it.
    #[serde(default)]
    pub operator_override: Option<EmergencyOverride>,
}

/// Emergency mode forced on (spend is about to rise: a known incident, a load test of the
/// fleet) or held off (spend is high for a reason already in hand) by an operator, until
/// `until`; then spend decides again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmergencyOverride {
    /// On: forced on. Off: held off.
    pub emergency_mode: bool,
    /// Who set it: the IAM principal (`local` under `commander serve`).
    pub by: String,
    pub reason: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// The longest an override may last: a forgotten one ends within a day.
pub const MAX_OVERRIDE: Duration = Duration::hours(24);

impl CostControl {
    /// The sweeper has not reported for three of its periods (an item never swept is not stale:
    /// there is nothing to distrust yet).
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        self.fresh_until.is_some_and(|until| now > until)
    }

    /// The operator's override, while it lasts.
    pub fn active_override(&self, now: DateTime<Utc>) -> Option<&EmergencyOverride> {
        self.operator_override.as_ref().filter(|o| now < o.until)
    }

    /// Whether emergency mode is in force at `now`: the operator's override while it lasts,
    /// else spend's (not trusted once stale: the sweeper has stopped).
    pub fn emergency(&self, now: DateTime<Utc>) -> bool {
        match self.active_override(now) {
            Some(o) => o.emergency_mode,
            None => self.emergency_mode && !self.is_stale(now),
        }
    }
}

/// A change the sweep made, as recorded and reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum ControlChange {
    LevelChanged {
        from: Level,
        to: Level,
        reason: String,
    },
    OptimizationStarted {
        reason: String,
    },
    OptimizationStopped {
        reason: String,
    },
    EmergencyOn {
        reason: String,
    },
    EmergencyOff {
        reason: String,
    },
    /// An operator's override ran out; spend decides emergency mode again.
    OverrideExpired {
        reason: String,
    },
}

impl ControlChange {
    pub fn reason(&self) -> &str {
        match self {
            Self::LevelChanged { reason, .. }
            | Self::OptimizationStarted { reason }
            | Self::OptimizationStopped { reason }
            | Self::EmergencyOn { reason }
            | Self::EmergencyOff { reason }
            | Self::OverrideExpired { reason } => reason,
        }
    }
}

/// What a sweep found, for [`next`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finding {
    /// The level the thresholds put `hourly` at.
    pub level: Level,
    pub hourly: f64,
    pub daily_projection: f64,
    /// Every configured cost source answered. A sweep missing one (its cost carried forward)
    /// may raise the level but never lowers it, and never clears emergency mode: a failing
    /// source must not read as spend going down.
    pub sources_complete: bool,
}

/// The controls after a sweep at `now` that found `finding`; they count as current until
/// `fresh_until` (three sweep periods), after which readers treat spend as unknown.
pub fn next(
    previous: &CostControl,
    finding: Finding,
    now: DateTime<Utc>,
    clear_after: Duration,
    fresh_until: DateTime<Utc>,
) -> (CostControl, Vec<ControlChange>) {
    let Finding { hourly, daily_projection, sources_complete, .. } = finding;
    let level = if sources_complete { finding.level } else { finding.level.max(previous.level) };
    let mut control = CostControl {
        current_hourly_spend: hourly,
        daily_projection,
        level,
        updated_at: Some(now),
        fresh_until: Some(fresh_until),
        ..previous.clone()
    };
    let mut changes = Vec::new();
    if let Some(ended) = previous.operator_override.as_ref().filter(|o| now >= o.until) {
        control.operator_override = None;
        changes.push(ControlChange::OverrideExpired {
            reason: format!(
                "{}'s override (emergency mode {}: {}) ended at {}",
                ended.by,
                if ended.emergency_mode { "on" } else { "off" },
                ended.reason,
                ended.until.to_rfc3339()
            ),
        });
    }
    if level != previous.level {
        changes.push(ControlChange::LevelChanged {
            from: previous.level,
            to: level,
            reason: format!("spend is ${hourly:.2}/h"),
        });
    }
    let optimizing = level >= Level::High;
    if optimizing && !previous.optimizing {
        changes.push(ControlChange::OptimizationStarted {
            reason: format!("spend ${hourly:.2}/h reached the ${}/h optimisation threshold", 100),
        });
    } else if !optimizing && previous.optimizing {
        changes
            .push(ControlChange::OptimizationStopped { reason: format!("spend is down to ${hourly:.2}/h") });
    }
    control.optimizing = optimizing;
    if level == Level::Emergency {
        control.below_critical_since = None;
        if !previous.emergency_mode {
            control.emergency_mode = true;
            control.emergency_since = Some(now);
            changes.push(ControlChange::EmergencyOn {
                reason: format!("spend ${hourly:.2}/h reached the emergency level"),
            });
        }
    } else if previous.emergency_mode && !sources_complete {
        // Held as it was: neither the calm spell starts nor emergency mode clears.
    } else if previous.emergency_mode {
        if level >= Level::Critical {
            control.below_critical_since = None;
        } else {
            let since = previous.below_critical_since.unwrap_or(now);
            control.below_critical_since = Some(since);
            if now - since >= clear_after {
                control.emergency_mode = false;
                control.emergency_since = None;
                control.below_critical_since = None;
                changes.push(ControlChange::EmergencyOff {
                    reason: format!(
                        "spend has stayed below critical for {} minutes (now ${hourly:.2}/h)",
                        (now - since).num_minutes()
                    ),
                });
            }
        }
    }
    (control, changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::levels::Thresholds;

    #[test]
    fn emergency_comes_at_once_and_clears_after_a_calm_spell() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let clear_after = Duration::minutes(30);
        let thresholds = Thresholds::default();
        let mut control = CostControl::default();
        let mut log = Vec::new();
        // A sweep every 15 minutes: a spike, a calm spell interrupted once, then a longer calm.
        for (i, spend) in
            [50.0, 1200.0, 900.0, 150.0, 250.0, 150.0, 150.0, 150.0, 150.0].into_iter().enumerate()
        {
            let now = t0 + Duration::minutes(15 * i as i64);
            let finding = Finding {
                level: thresholds.classify(control.level, spend),
                hourly: spend,
                daily_projection: spend * 24.0,
                sources_complete: true,
            };
            let (next, changes) = next(&control, finding, now, clear_after, now + Duration::minutes(45));
            for c in &changes {
                if !matches!(c, ControlChange::LevelChanged { .. }) {
                    log.push((i, c.clone()));
                }
            }
            control = next;
            if i == 1 {
                assert!(control.emergency_mode && control.optimizing);
            }
            if (2..7).contains(&i) {
                assert!(control.emergency_mode, "sweep {i}: still on");
            }
        }
        assert!(!control.emergency_mode, "cleared after 30 minutes below critical");
        let kinds: Vec<(usize, &str)> = log
            .iter()
            .map(|(i, c)| {
                (
                    *i,
                    match c {
                        ControlChange::OptimizationStarted { .. } => "optimize",
                        ControlChange::EmergencyOn { .. } => "on",
                        ControlChange::EmergencyOff { .. } => "off",
                        _ => "other",
                    },
                )
            })
            .collect();
        assert_eq!(kinds, [(1, "optimize"), (1, "on"), (7, "off")], "{log:?}");
    }
}

#[cfg(test)]
mod failing_sources {
    use super::*;

    /// Issue 17, item 8: a failing source counted as $0, so the level fell and emergency mode
    /// cleared while spend was high.
    #[test]
    fn a_sweep_missing_a_source_never_lowers_the_level_or_clears_emergency() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let on = CostControl {
            emergency_mode: true,
            level: Level::Emergency,
            optimizing: true,
            below_critical_since: Some(t0 - Duration::hours(1)),
            ..CostControl::default()
        };
        let calm = |sources_complete| Finding {
            level: Level::Low,
            hourly: 3.0,
            daily_projection: 72.0,
            sources_complete,
        };
        let now = t0 + Duration::minutes(15);
        let (held, changes) = next(&on, calm(false), now, Duration::minutes(30), now + Duration::minutes(45));
        assert!(held.emergency_mode && held.optimizing, "{held:?}");
        assert_eq!(held.level, Level::Emergency);
        assert!(changes.is_empty(), "{changes:?}");
        let (cleared, _) = next(&on, calm(true), now, Duration::minutes(30), now + Duration::minutes(45));
        assert!(!cleared.emergency_mode, "with every source answering, the calm hour clears it");
        // A missing source may still raise the level.
        let rising = Finding {
            level: Level::Critical,
            hourly: 300.0,
            daily_projection: 7200.0,
            sources_complete: false,
        };
        let (raised, _) = next(&CostControl::default(), rising, now, Duration::minutes(30), now);
        assert_eq!(raised.level, Level::Critical);
    }
}
