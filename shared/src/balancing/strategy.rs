use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::candidate::Candidate;
use super::edf::Edf;
use super::ewma;
use crate::domain::{Region, Severity};

/// Below this share of available replicas the balancer panics and uses every replica (Envoy).
const PANIC_THRESHOLD: f64 = 0.5;
/// Up to this many candidates, least-loaded picks scan them all instead of sampling two.
const FULL_SCAN_MAX: usize = 8;
/// Envoy's over-provisioning factor for locality health.
const OVERPROVISIONING: f64 = 1.4;
/// Envoy's active-request bias for weighted least requests.
const ACTIVE_REQUEST_BIAS: f64 = 1.0;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    RoundRobin,
    WeightedRoundRobin,
    LeastConnections,
    Geographic,
    IncidentSeverity,
    /// The default: best tail latency.
    #[default]
    PeakEwma,
}

impl Strategy {
    pub const ALL: [Self; 6] = [
        Self::RoundRobin,
        Self::WeightedRoundRobin,
        Self::LeastConnections,
        Self::Geographic,
        Self::IncidentSeverity,
        Self::PeakEwma,
    ];
}

/// What the incident asks for.
#[derive(Debug, Clone, Copy)]
pub struct PickContext<'a> {
    pub severity: Severity,
    /// Where the incident is (geographic preference).
    pub region: Option<&'a Region>,
    /// Only replicas with free capacity qualify (the API); a simulation may queue instead.
    pub require_headroom: bool,
}

/// The chosen candidate (an index into the slice given) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub index: usize,
    pub reason: String,
    /// Fewer than half the replicas were available, so all of them were considered.
    pub panic: bool,
}

/// Keeps what strategies remember between picks (rotation, EDF deadlines) and a seeded random
/// source, so the same seed and the same candidates give the same picks.
#[derive(Debug)]
pub struct Balancer {
    rng: StdRng,
    rotation: usize,
    weighted: Edf,
    least_weighted: Edf,
    /// Milliseconds from one region to another, for geographic spill order.
    latency_ms: HashMap<(String, String), f64>,
}

/// Drops scheduler entries of replicas that have left, once they outnumber the present ones, so a
/// long-lived balancer does not grow with every replica it has ever seen.
fn forget_departed(edf: &mut Edf, candidates: &[Candidate]) {
    if edf.len() > 2 * candidates.len() + 16 {
        let present: std::collections::HashSet<&str> = candidates.iter().map(|c| c.id.as_str()).collect();
        edf.retain(|id| present.contains(id));
    }
}

impl Balancer {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            rotation: 0,
            weighted: Edf::new(),
            least_weighted: Edf::new(),
            latency_ms: HashMap::new(),
        }
    }

    /// Sets the latency from `from` to `to` used to order spill regions.
    #[must_use]
    pub fn with_latency(mut self, from: &Region, to: &Region, ms: f64) -> Self {
        self.latency_ms.insert((from.to_string(), to.to_string()), ms);
        self
    }

    pub fn pick(
        &mut self,
        strategy: Strategy,
        candidates: &[Candidate],
        ctx: &PickContext<'_>,
    ) -> Option<Pick> {
        let has_room = |c: &Candidate| !ctx.require_headroom || c.free() > 0;
        let available = candidates.iter().filter(|c| c.available()).count();
        let panic = !candidates.is_empty() && (available as f64) < PANIC_THRESHOLD * candidates.len() as f64;
        let pool: Vec<usize> = (0..candidates.len())
            .filter(|&i| (panic || candidates[i].available()) && has_room(&candidates[i]))
            .collect();
        if pool.is_empty() {
            return None;
        }
        let (index, mut reason) = match strategy {
            Strategy::RoundRobin => self.round_robin(&pool),
            Strategy::WeightedRoundRobin => self.weighted_round_robin(candidates, &pool),
            Strategy::LeastConnections => self.least_connections(candidates, &pool),
            Strategy::Geographic => self.geographic(candidates, &pool, ctx),
            Strategy::IncidentSeverity => self.incident_severity(candidates, &pool, ctx),
            Strategy::PeakEwma => self.peak_ewma(candidates, &pool),
        };
        if panic {
            reason = format!("panic mode ({available} of {} replicas available): {reason}", candidates.len());
        }
        Some(Pick { index, reason, panic })
    }

    fn round_robin(&mut self, pool: &[usize]) -> (usize, String) {
        let index = pool[self.rotation % pool.len()];
        self.rotation = self.rotation.wrapping_add(1);
        (index, "next in rotation".into())
    }

    fn weighted_round_robin(&mut self, candidates: &[Candidate], pool: &[usize]) -> (usize, String) {
        let weights: Vec<f64> = pool.iter().map(|&i| candidates[i].weight()).collect();
        if weights.windows(2).all(|w| (w[0] - w[1]).abs() < f64::EPSILON) || weights.iter().all(|w| *w <= 0.0)
        {
            let (index, _) = self.round_robin(pool);
            return (index, "equal weights: next in rotation".into());
        }
        forget_departed(&mut self.weighted, candidates);
        let entries = pool.iter().zip(&weights).map(|(&i, &w)| (candidates[i].id.as_str(), w));
        match self
            .weighted
            .pick(entries)
            .and_then(|id| pool.iter().copied().find(|&i| candidates[i].id == id))
        {
            Some(index) => (index, format!("earliest deadline at weight {:.3}", candidates[index].weight())),
            None => self.round_robin(pool),
        }
    }

    /// Two distinct random members of the pool.
    fn two_distinct(&mut self, len: usize) -> (usize, usize) {
        let a = self.rng.random_range(0..len);
        let mut b = self.rng.random_range(0..len - 1);
        if b >= a {
            b += 1;
        }
        (a, b)
    }

    /// The pool member with the lowest `cost`: all of them scanned when few, else the better of
    /// two distinct random ones. Ties go to a random one of the tied.
    fn lowest(&mut self, pool: &[usize], cost: impl Fn(usize) -> f64) -> (usize, &'static str) {
        if pool.len() == 1 {
            return (pool[0], "only candidate");
        }
        if pool.len() <= FULL_SCAN_MAX {
            let best = pool.iter().map(|&i| cost(i)).fold(f64::INFINITY, f64::min);
            let tied: Vec<usize> = pool.iter().copied().filter(|&i| cost(i) <= best).collect();
            let index = tied[self.rng.random_range(0..tied.len())];
            return (index, "lowest of all");
        }
        let (a, b) = self.two_distinct(pool.len());
        let (a, b) = (pool[a], pool[b]);
        let index = match cost(a).total_cmp(&cost(b)) {
            std::cmp::Ordering::Less => a,
            std::cmp::Ordering::Greater => b,
            std::cmp::Ordering::Equal => {
                if self.rng.random_bool(0.5) {
                    a
                } else {
                    b
                }
            }
        };
        (index, "lower of two random choices")
    }

    fn least_connections(&mut self, candidates: &[Candidate], pool: &[usize]) -> (usize, String) {
        let configured: Vec<f64> = pool.iter().map(|&i| candidates[i].weight.unwrap_or(1.0)).collect();
        let unequal = configured.windows(2).any(|w| (w[0] - w[1]).abs() > f64::EPSILON);
        if unequal {
            // Envoy's weighted least request: weight / (active + 1)^bias through the EDF scheduler.
            let effective: Vec<f64> = pool
                .iter()
                .zip(&configured)
                .map(|(&i, w)| w / f64::from(candidates[i].active + 1).powf(ACTIVE_REQUEST_BIAS))
                .collect();
            forget_departed(&mut self.least_weighted, candidates);
            let entries = pool.iter().zip(&effective).map(|(&i, &w)| (candidates[i].id.as_str(), w));
            if let Some(index) = self
                .least_weighted
                .pick(entries)
                .and_then(|id| pool.iter().copied().find(|&i| candidates[i].id == id))
            {
                return (index, format!("weighted least requests ({} active)", candidates[index].active));
            }
        }
        let (index, how) = self.lowest(pool, |i| f64::from(candidates[i].active));
        (index, format!("{how}: {} active", candidates[index].active))
    }

    fn peak_ewma(&mut self, candidates: &[Candidate], pool: &[usize]) -> (usize, String) {
        let cost = |i: usize| ewma::cost(candidates[i].latency_ewma_s, candidates[i].active);
        let (index, how) = self.lowest(pool, cost);
        (index, format!("{how}: peak EWMA cost {:.3} s", cost(index)))
    }

    fn incident_severity(
        &mut self,
        candidates: &[Candidate],
        pool: &[usize],
        ctx: &PickContext<'_>,
    ) -> (usize, String) {
        if !matches!(ctx.severity, Severity::Critical | Severity::High) {
            let (index, why) = self.least_connections(candidates, pool);
            return (index, format!("{} incident: {why}", ctx.severity));
        }
        let sound: Vec<usize> = pool.iter().copied().filter(|&i| !candidates[i].degraded()).collect();
        let with_room: Vec<usize> = sound.iter().copied().filter(|&i| candidates[i].free() > 0).collect();
        let choice = if !with_room.is_empty() {
            &with_room
        } else if !sound.is_empty() {
            &sound
        } else {
            pool
        };
        let best = choice
            .iter()
            .copied()
            .max_by(|&a, &b| {
                let (ca, cb) = (&candidates[a], &candidates[b]);
                ca.performance_score
                    .total_cmp(&cb.performance_score)
                    .then(cb.active.cmp(&ca.active))
                    .then(cb.id.cmp(&ca.id))
            })
            .unwrap_or(pool[0]);
        (
            best,
            format!(
                "{} incident: best performance score {:.2}",
                ctx.severity, candidates[best].performance_score
            ),
        )
    }

    fn geographic(
        &mut self,
        candidates: &[Candidate],
        pool: &[usize],
        ctx: &PickContext<'_>,
    ) -> (usize, String) {
        let Some(home) = ctx.region else {
            let (index, why) = self.least_connections(candidates, pool);
            return (index, format!("no incident region: {why}"));
        };
        // Levels: the incident's region first, then the others by latency from it.
        let mut regions: Vec<&Region> = Vec::new();
        for c in candidates {
            if !regions.contains(&&c.region) {
                regions.push(&c.region);
            }
        }
        let latency = |r: &Region| {
            if r == home {
                -1.0
            } else {
                self.latency_ms.get(&(home.to_string(), r.to_string())).copied().unwrap_or(f64::INFINITY)
            }
        };
        regions.sort_by(|a, b| latency(a).total_cmp(&latency(b)).then(a.cmp(b)));
        let health: Vec<f64> = regions
            .iter()
            .map(|r| {
                let total = candidates.iter().filter(|c| &c.region == *r).count();
                let usable = pool.iter().filter(|&&i| &candidates[i].region == *r).count();
                if total == 0 { 0.0 } else { (OVERPROVISIONING * usable as f64 / total as f64).min(1.0) }
            })
            .collect();
        let mut remaining = 1.0;
        let mut shares: Vec<f64> = health
            .iter()
            .map(|h| {
                let share = h.min(remaining);
                remaining -= share;
                share
            })
            .collect();
        let total: f64 = shares.iter().sum();
        if total <= 0.0 {
            let (index, why) = self.least_connections(candidates, pool);
            return (index, format!("no region can serve: {why}"));
        }
        for share in &mut shares {
            *share /= total;
        }
        let mut roll = self.rng.random_range(0.0..1.0);
        let mut level = 0;
        for (i, share) in shares.iter().enumerate() {
            if *share > 0.0 {
                level = i;
                if roll < *share {
                    break;
                }
                roll -= share;
            }
        }
        let region = regions[level];
        let local: Vec<usize> = pool.iter().copied().filter(|&i| &candidates[i].region == region).collect();
        let (index, why) = self.least_connections(candidates, &local);
        let how = if region == home {
            format!("in the incident's region {region}")
        } else {
            format!("spilled to {region} ({home} at {:.0} % health)", health[0] * 100.0)
        };
        (index, format!("{how}: {why}"))
    }
}
