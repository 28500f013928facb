use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::candidate::Candidate;
use super::ewma;
use super::pick::{Pick, Route, Rule, Sampling};
use super::replica_set::ReplicaSet;
use crate::domain::{Proximity, Region, Severity};

/// Up to this many candidates, least-loaded picks scan them all instead of sampling two.
const FULL_SCAN_MAX: usize = 8;
/// Envoy's over-provisioning factor for locality health.
const OVERPROVISIONING: f64 = 1.4;

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
}

/// Keeps the replica set of one agent type prepared for picking, what strategies remember between
/// picks (rotation, EDF deadlines) and a seeded random source, so the same seed and the same
/// candidates give the same picks.
///
/// Read the replicas in with [`Balancer::refresh`], then [`Balancer::pick`] and report load with
/// [`Balancer::started`] and [`Balancer::finished`]: a pick then costs O(1) or O(log n).
#[derive(Debug)]
pub struct Balancer {
    rng: StdRng,
    rotation: usize,
    /// Round trips between regions, for geographic spill order (nearest first).
    proximity: Proximity,
    set: ReplicaSet,
    require_headroom: bool,
    /// Regions (indices into the set's) in spill order, per incident region seen since the refresh.
    spill_orders: Vec<(Region, Vec<u32>)>,
}

/// The candidate in `pool` with the lowest `cost`: all of them compared when few, else the better
/// of two distinct random ones. Ties go to a random one of the tied.
fn lowest(rng: &mut StdRng, pool: &[u32], cost: impl Fn(usize) -> f64) -> Option<(usize, Sampling)> {
    match pool.len() {
        0 => None,
        1 => Some((pool[0] as usize, Sampling::Only)),
        n if n <= FULL_SCAN_MAX => {
            let best = pool.iter().map(|&i| cost(i as usize)).fold(f64::INFINITY, f64::min);
            let tied = pool.iter().filter(|&&i| cost(i as usize) <= best).count();
            let nth = rng.random_range(0..tied.max(1));
            let index = pool.iter().map(|&i| i as usize).filter(|&i| cost(i) <= best).nth(nth);
            index.map(|i| (i, Sampling::All))
        }
        n => {
            let a = rng.random_range(0..n);
            let mut b = rng.random_range(0..n - 1);
            if b >= a {
                b += 1;
            }
            let (a, b) = (pool[a] as usize, pool[b] as usize);
            let index = match cost(a).total_cmp(&cost(b)) {
                std::cmp::Ordering::Less => a,
                std::cmp::Ordering::Greater => b,
                std::cmp::Ordering::Equal => {
                    if rng.random_bool(0.5) {
                        a
                    } else {
                        b
                    }
                }
            };
            Some((index, Sampling::TwoRandom))
        }
    }
}

impl Balancer {
    /// A balancer that only picks replicas with free capacity (the API's).
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            rotation: 0,
            proximity: Proximity::published(),
            set: ReplicaSet::default(),
            require_headroom: true,
            spill_orders: Vec::new(),
        }
    }

    /// Lets work queue at full replicas instead of refusing it (a simulation's servers queue).
    #[must_use]
    pub fn queueing(mut self) -> Self {
        self.require_headroom = false;
        let candidates = std::mem::take(&mut self.set.candidates);
        self.refresh(candidates);
        self
    }

    /// Orders spill regions by `proximity` (the published round trips by default).
    #[must_use]
    pub fn with_proximity(mut self, proximity: Proximity) -> Self {
        self.proximity = proximity;
        self.spill_orders.clear();
        self
    }

    /// Replaces the replica set: O(n log n), once per read of the replicas. Weighted round robin
    /// keeps its place for the replicas that stay; replicas that left are forgotten.
    pub fn refresh(&mut self, candidates: Vec<Candidate>) {
        self.set = ReplicaSet::new(candidates, self.require_headroom, Some(&self.set));
        self.spill_orders.clear();
    }

    /// The replicas as last refreshed, with the load reported since.
    pub fn candidates(&self) -> &[Candidate] {
        &self.set.candidates
    }

    /// Counts one more incident at candidate `index`.
    pub fn started(&mut self, index: usize) {
        if let Some(active) = self.set.candidates.get(index).map(|c| c.active.saturating_add(1)) {
            self.set.set_active(index, active);
        }
    }

    /// Counts one incident fewer at candidate `index`, with its latency EWMA if it changed.
    pub fn finished(&mut self, index: usize, latency_ewma_s: Option<f64>) {
        if let Some(s) = latency_ewma_s {
            self.set.set_latency(index, s);
        }
        if let Some(active) = self.set.candidates.get(index).map(|c| c.active.saturating_sub(1)) {
            self.set.set_active(index, active);
        }
    }

    /// Chooses a replica for one incident, or none when no replica may take it.
    pub fn pick(&mut self, strategy: Strategy, ctx: &PickContext<'_>) -> Option<Pick> {
        if self.set.pool.len() == 0 {
            return None;
        }
        let (index, rule, route) = match strategy {
            Strategy::RoundRobin => {
                let (index, rule) = self.round_robin();
                (index, rule, Route::Direct)
            }
            Strategy::WeightedRoundRobin => {
                let (index, rule) = self.weighted_round_robin();
                (index, rule, Route::Direct)
            }
            Strategy::LeastConnections => {
                let (index, rule) = self.least_connections()?;
                (index, rule, Route::Direct)
            }
            Strategy::Geographic => self.geographic(ctx)?,
            Strategy::IncidentSeverity => self.incident_severity(ctx)?,
            Strategy::PeakEwma => {
                let candidates = &self.set.candidates;
                let cost = |i: usize| ewma::cost(candidates[i].latency_ewma_s, candidates[i].active);
                let (index, sampling) = lowest(&mut self.rng, self.set.pool.as_slice(), cost)?;
                (index, Rule::PeakEwma { sampling, cost_s: cost(index) }, Route::Direct)
            }
        };
        Some(Pick { index, rule, route, panic: self.set.panic })
    }

    fn round_robin(&mut self) -> (usize, Rule) {
        let pool = self.set.pool.as_slice();
        let index = pool[self.rotation % pool.len()] as usize;
        self.rotation = self.rotation.wrapping_add(1);
        (index, Rule::Rotation)
    }

    fn weighted_round_robin(&mut self) -> (usize, Rule) {
        match self.set.next_weighted() {
            Some((index, weight)) => (index, Rule::EarliestDeadline { weight }),
            // No replica has weight: plain rotation.
            None => self.round_robin(),
        }
    }

    fn least_connections(&mut self) -> Option<(usize, Rule)> {
        if !self.set.equal_weights
            && let Some(index) = self.set.next_least_weighted()
        {
            return Some((index, Rule::WeightedLeastRequests { active: self.set.candidates[index].active }));
        }
        let candidates = &self.set.candidates;
        let (index, sampling) =
            lowest(&mut self.rng, self.set.pool.as_slice(), |i| f64::from(candidates[i].active))?;
        Some((index, Rule::FewestActive { sampling, active: candidates[index].active }))
    }

    fn incident_severity(&mut self, ctx: &PickContext<'_>) -> Option<(usize, Rule, Route)> {
        if !matches!(ctx.severity, Severity::Critical | Severity::High) {
            let (index, rule) = self.least_connections()?;
            return Some((index, rule, Route::Severity(ctx.severity)));
        }
        // Sound with room first, then sound (when work may queue), and only then anyone.
        let index = self
            .set
            .best_ranked()
            .or_else(|| self.set.best_in_pool(|c| !c.degraded()))
            .or_else(|| self.set.best_in_pool(|_| true))?;
        let score = self.set.candidates[index].performance_score;
        Some((index, Rule::BestScore { score }, Route::Severe(ctx.severity)))
    }

    /// The set's regions in spill order from `home`: home first, then nearest first by round trip.
    fn spill_order(&mut self, home: &Region) -> usize {
        if let Some(at) = self.spill_orders.iter().position(|(r, _)| r == home) {
            return at;
        }
        let regions = &self.set.regions;
        let index = |r: &Region| regions.iter().position(|x| x == r).map(|i| i as u32);
        let mut order: Vec<u32> = index(home).into_iter().collect();
        order.extend(self.proximity.nearest_first(home, regions.iter()).iter().filter_map(index));
        self.spill_orders.push((home.clone(), order));
        self.spill_orders.len() - 1
    }

    /// Envoy's locality spill: each region in order takes min(health, what is left) of the
    /// traffic, health being 1.4 x its usable share of replicas, capped at 1.
    fn geographic(&mut self, ctx: &PickContext<'_>) -> Option<(usize, Rule, Route)> {
        let Some(home) = ctx.region else {
            let (index, rule) = self.least_connections()?;
            return Some((index, rule, Route::NoIncidentRegion));
        };
        let at = self.spill_order(home);
        let order = &self.spill_orders[at].1;
        let set = &self.set;
        let health = |r: u32| {
            let total = set.region_total[r as usize];
            let usable = set.region_pool[r as usize].len();
            if total == 0 { 0.0 } else { (OVERPROVISIONING * usable as f64 / f64::from(total)).min(1.0) }
        };
        let shares = || {
            let mut remaining = 1.0;
            order.iter().map(move |&r| {
                let share = health(r).min(remaining);
                remaining -= share;
                (r, share)
            })
        };
        let total: f64 = shares().map(|(_, share)| share).sum();
        if total <= 0.0 {
            let (index, rule) = self.least_connections()?;
            return Some((index, rule, Route::NoRegionCanServe));
        }
        let mut roll = self.rng.random_range(0.0..1.0) * total;
        let mut level = order[0];
        for (r, share) in shares() {
            if share > 0.0 {
                level = r;
                if roll < share {
                    break;
                }
                roll -= share;
            }
        }
        let home_health = health(order[0]);
        let candidates = &set.candidates;
        let local = set.region_pool[level as usize].as_slice();
        let (index, sampling) = if set.equal_weights {
            lowest(&mut self.rng, local, |i| f64::from(candidates[i].active))?
        } else {
            // Within a region, the weighted least-request cost decides between two choices.
            lowest(&mut self.rng, local, |i| {
                f64::from(candidates[i].active + 1)
                    / candidates[i].weight.unwrap_or(1.0).max(f64::MIN_POSITIVE)
            })?
        };
        let region = &set.regions[level as usize];
        let route = if region == home {
            Route::Home(region.clone())
        } else {
            Route::Spilled { to: region.clone(), home: home.clone(), home_health }
        };
        Some((index, Rule::FewestActive { sampling, active: candidates[index].active }, route))
    }
}
