//! Spend levels with hysteresis (pure): a level is entered as soon as hourly spend reaches it and
//! left only when spend falls a margin below it, so spend hovering at a boundary does not flap.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Thresholds per hour (seed-facts.md); `medium` is half of `high`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Thresholds {
    pub medium: f64,
    pub high: f64,
    pub critical: f64,
    pub emergency: f64,
    /// A level is left only below its threshold x (1 - this).
    pub hysteresis: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { medium: 50.0, high: 100.0, critical: 200.0, emergency: 1000.0, hysteresis: 0.1 }
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    #[default]
    Low,
    Medium,
    High,
    Critical,
    Emergency,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
            Self::Emergency => "emergency",
        })
    }
}

impl Thresholds {
    /// The spend at which `level` starts.
    pub fn start(&self, level: Level) -> f64 {
        match level {
            Level::Low => 0.0,
            Level::Medium => self.medium,
            Level::High => self.high,
            Level::Critical => self.critical,
            Level::Emergency => self.emergency,
        }
    }

    /// The level for `hourly` spend, coming from `previous`. Critical is above $200/h (strictly);
    /// the others start at their threshold.
    pub fn classify(&self, previous: Level, hourly: f64) -> Level {
        let reached = |level: Level| {
            let start = self.start(level);
            if level == Level::Critical { hourly > start } else { hourly >= start }
        };
        let raw = [Level::Emergency, Level::Critical, Level::High, Level::Medium]
            .into_iter()
            .find(|l| reached(*l))
            .unwrap_or(Level::Low);
        if raw >= previous {
            return raw;
        }
        // Going down: stay at each level until spend is clearly below where it starts.
        let mut level = previous;
        while level > raw && hourly < self.start(level) * (1.0 - self.hysteresis) {
            level = match level {
                Level::Emergency => Level::Critical,
                Level::Critical => Level::High,
                Level::High => Level::Medium,
                Level::Medium | Level::Low => Level::Low,
            };
        }
        level
    }

    pub fn validate(&self) -> Result<(), crate::error::ValidationError> {
        let ordered = 0.0 < self.medium
            && self.medium < self.high
            && self.high < self.critical
            && self.critical < self.emergency
            && self.emergency.is_finite();
        if !ordered {
            return Err(crate::error::ValidationError::new(
                "thresholds",
                "must rise: 0 < medium < high < critical < emergency",
            ));
        }
        if !(0.0..0.5).contains(&self.hysteresis) {
            return Err(crate::error::ValidationError::new("thresholds.hysteresis", "must be in [0, 0.5)"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_is_reached_and_left_once() {
        let t = Thresholds::default();
        let path = [10.0, 60.0, 120.0, 250.0, 1200.0, 950.0, 850.0, 150.0, 80.0, 30.0];
        let mut level = Level::Low;
        let mut seen = vec![level];
        for spend in path {
            level = t.classify(level, spend);
            if seen.last() != Some(&level) {
                seen.push(level);
            }
        }
        assert_eq!(
            seen,
            [
                Level::Low,
                Level::Medium,
                Level::High,
                Level::Critical,
                Level::Emergency,
                Level::Critical,
                Level::High,
                Level::Medium,
                Level::Low
            ]
        );
        assert_eq!(t.classify(Level::Low, 200.0), Level::High, "critical is above $200/h");
        assert_eq!(t.classify(Level::Low, 200.01), Level::Critical);
        assert_eq!(t.classify(Level::Low, 1000.0), Level::Emergency);
    }

    #[test]
    fn spend_hovering_at_a_boundary_does_not_flap() {
        let t = Thresholds::default();
        let mut level = Level::Low;
        let mut changes = 0;
        for i in 0..200 {
            let spend = 100.0 + if i % 2 == 0 { 4.0 } else { -4.0 };
            let next = t.classify(level, spend);
            changes += usize::from(next != level);
            level = next;
        }
        assert_eq!((level, changes), (Level::High, 1), "one change up, none back while within 10 %");
        assert_eq!(t.classify(Level::High, 89.0), Level::Medium, "clearly below: down it goes");
        assert_eq!(t.classify(Level::Emergency, 10.0), Level::Low, "a fall goes all the way at once");
    }
}
