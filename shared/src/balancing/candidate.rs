use crate::domain::Region;

/// Below this performance score a replica counts as degraded: critical and high incidents avoid
/// it while a better one has room.
pub const DEGRADED_SCORE: f64 = 0.5;

/// One replica as the balancer sees it at the moment of a pick.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: String,
    pub region: Region,
    /// Incidents assigned and not yet released.
    pub active: u32,
    pub capacity: u32,
    /// As the replica last reported.
    pub healthy: bool,
    /// Currently ejected by outlier detection.
    pub ejected: bool,
    pub performance_score: f64,
    /// Failures since the last success (outlier detection's count).
    pub consecutive_failures: u32,
    /// An operator-set weight; by default, performance score x free capacity.
    pub weight: Option<f64>,
    /// Peak EWMA of its latency, seconds (0 until it has answered once).
    pub latency_ewma_s: f64,
    /// Leaving (drained): never picked, not even in panic mode, and not counted in the set
    /// panic mode is judged over.
    pub draining: bool,
}

impl Candidate {
    pub fn available(&self) -> bool {
        self.healthy && !self.ejected && !self.draining
    }

    pub fn free(&self) -> u32 {
        self.capacity.saturating_sub(self.active)
    }

    pub fn degraded(&self) -> bool {
        self.consecutive_failures > 0 || self.performance_score < DEGRADED_SCORE
    }

    /// The weight weighted strategies use (never negative, never NaN).
    pub fn weight(&self) -> f64 {
        let w = self.weight.unwrap_or(self.performance_score * f64::from(self.free()));
        if w.is_finite() && w > 0.0 { w } else { 0.0 }
    }
}
