//! The replicas of one agent type as the balancer keeps them between refreshes. Everything a pick
//! needs is prepared when the set is read (who is available, panic mode, regions, the severity
//! ranking, the schedulers) and kept current as work starts and finishes, so no pick scans the
//! whole set.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, HashMap};

use super::candidate::Candidate;
use super::edf::EdfQueue;
use super::members::Members;
use super::pick::Panic;
use crate::domain::Region;

/// Below this share of available replicas the balancer panics and uses every replica (Envoy).
const PANIC_THRESHOLD: f64 = 0.5;
/// Envoy's active-request bias for weighted least requests.
const ACTIVE_REQUEST_BIAS: f64 = 1.0;

/// A performance score ordered totally, for the severity ranking.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Score(f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Envoy's weighted least request weight: weight / (active + 1)^bias.
fn least_request_weight(c: &Candidate) -> f64 {
    c.weight.unwrap_or(1.0) / f64::from(c.active.saturating_add(1)).powf(ACTIVE_REQUEST_BIAS)
}

/// Severity order: highest score, then fewest active, then id; the index rides along.
type Rank = (Reverse<Score>, u32, u32, u32);

#[derive(Debug, Default)]
pub(crate) struct ReplicaSet {
    pub(crate) candidates: Vec<Candidate>,
    require_headroom: bool,
    pub(crate) panic: Option<Panic>,
    /// Available, or anyone in panic mode.
    eligible: Vec<bool>,
    /// Eligible and, when headroom is required, with room: who may be picked now.
    pub(crate) pool: Members,
    pub(crate) regions: Vec<Region>,
    region_of: Vec<u32>,
    pub(crate) region_total: Vec<u32>,
    pub(crate) region_pool: Vec<Members>,
    /// Each candidate's place in id order (severity ties).
    id_order: Vec<u32>,
    /// Eligible, sound and with room, best first: where critical and high incidents go.
    ranked: BTreeSet<Rank>,
    /// Every operator weight is the same (or none is set): least connections needs no weighting.
    pub(crate) equal_weights: bool,
    weighted: EdfQueue,
    least_weighted: EdfQueue,
}

impl ReplicaSet {
    /// Prepares `candidates`; scheduler deadlines of replicas `previous` also held are carried over
    /// so a refresh does not restart weighted round robin.
    pub(crate) fn new(candidates: Vec<Candidate>, require_headroom: bool, previous: Option<&Self>) -> Self {
        let n = candidates.len();
        // Draining replicas are leaving: neither picked nor part of the set panic mode weighs.
        let serving = candidates.iter().filter(|c| !c.draining).count();
        let available = candidates.iter().filter(|c| c.available()).count();
        let panic = (serving > 0 && (available as f64) < PANIC_THRESHOLD * serving as f64)
            .then_some(Panic { available, total: serving });
        let eligible = candidates.iter().map(|c| !c.draining && (panic.is_some() || c.available())).collect();
        let mut regions: Vec<Region> = Vec::new();
        let mut region_of = Vec::with_capacity(n);
        for c in &candidates {
            let at = regions.iter().position(|r| r == &c.region).unwrap_or_else(|| {
                regions.push(c.region.clone());
                regions.len() - 1
            });
            region_of.push(at as u32);
        }
        let mut region_total = vec![0; regions.len()];
        for &r in &region_of {
            region_total[r as usize] += 1;
        }
        let mut by_id: Vec<usize> = (0..n).collect();
        by_id.sort_by(|&a, &b| candidates[a].id.cmp(&candidates[b].id));
        let mut id_order = vec![0; n];
        for (place, &i) in by_id.iter().enumerate() {
            id_order[i] = place as u32;
        }
        let configured = |c: &Candidate| c.weight.unwrap_or(1.0);
        let equal_weights =
            candidates.windows(2).all(|w| (configured(&w[0]) - configured(&w[1])).abs() <= f64::EPSILON);
        let sequence = previous.map_or(0, |p| p.weighted.sequence().max(p.least_weighted.sequence()));
        let mut set = Self {
            require_headroom,
            panic,
            eligible,
            pool: Members::new(n),
            region_pool: vec![Members::new(n); regions.len()],
            regions,
            region_of,
            region_total,
            id_order,
            ranked: BTreeSet::new(),
            equal_weights,
            weighted: EdfQueue::new(n, sequence),
            least_weighted: EdfQueue::new(n, sequence),
            candidates,
        };
        let earlier: HashMap<&str, usize> = previous
            .map(|p| p.candidates.iter().enumerate().map(|(i, c)| (c.id.as_str(), i)).collect())
            .unwrap_or_default();
        for i in 0..n {
            if let Some(p) =
                earlier.get(set.candidates[i].id.as_str()).and_then(|&j| previous.map(|p| (p, j)))
            {
                if let Some(slot) = p.0.weighted.slot(p.1) {
                    set.weighted.restore(i, slot);
                }
                if let Some(slot) = p.0.least_weighted.slot(p.1) {
                    set.least_weighted.restore(i, slot);
                }
            }
            set.enter(i);
        }
        set
    }

    fn qualifies(&self, i: usize) -> bool {
        self.eligible[i] && (!self.require_headroom || self.candidates[i].free() > 0)
    }

    fn rank(&self, i: usize) -> Option<Rank> {
        let c = &self.candidates[i];
        (self.eligible[i] && !c.degraded() && c.free() > 0).then_some((
            Reverse(Score(c.performance_score)),
            c.active,
            self.id_order[i],
            i as u32,
        ))
    }

    /// Puts candidate `i` wherever it now belongs.
    fn enter(&mut self, i: usize) {
        if let Some(rank) = self.rank(i) {
            self.ranked.insert(rank);
        }
        if self.qualifies(i) {
            self.pool.insert(i);
            self.region_pool[self.region_of[i] as usize].insert(i);
            self.join_schedulers(i);
        }
    }

    /// Queues candidate `i` in the schedulers unless it is there already or has no weight.
    fn join_schedulers(&mut self, i: usize) {
        self.weighted.join(i, self.candidates[i].weight());
        if !self.equal_weights {
            self.least_weighted.join(i, least_request_weight(&self.candidates[i]));
        }
    }

    /// Sets a candidate's active count and moves it in or out of the pool and the ranking. The
    /// pool changes only when the candidate gains or loses room, so rotation order holds.
    pub(crate) fn set_active(&mut self, i: usize, active: u32) {
        if i >= self.candidates.len() {
            return;
        }
        let (was_in_pool, old_rank) = (self.qualifies(i), self.rank(i));
        self.candidates[i].active = active;
        if let Some(rank) = old_rank {
            self.ranked.remove(&rank);
        }
        if let Some(rank) = self.rank(i) {
            self.ranked.insert(rank);
        }
        let in_pool = self.qualifies(i);
        let region = self.region_of[i] as usize;
        if was_in_pool && !in_pool {
            self.pool.remove(i);
            self.region_pool[region].remove(i);
        } else if in_pool && !was_in_pool {
            self.pool.insert(i);
            self.region_pool[region].insert(i);
        }
        if in_pool {
            // A replica whose weight had dropped to nothing rejoins once it has some again.
            self.join_schedulers(i);
        }
    }

    pub(crate) fn set_latency(&mut self, i: usize, latency_ewma_s: f64) {
        if let Some(c) = self.candidates.get_mut(i) {
            c.latency_ewma_s = latency_ewma_s;
        }
    }

    /// The best-ranked sound replica with room.
    pub(crate) fn best_ranked(&self) -> Option<usize> {
        self.ranked.first().map(|&(.., i)| i as usize)
    }

    /// The best pool member by the severity order among those `keep` accepts (a scan: only when
    /// no sound replica has room).
    pub(crate) fn best_in_pool(&self, keep: impl Fn(&Candidate) -> bool) -> Option<usize> {
        self.pool.as_slice().iter().map(|&i| i as usize).filter(|&i| keep(&self.candidates[i])).min_by_key(
            |&i| {
                let c = &self.candidates[i];
                (Reverse(Score(c.performance_score)), c.active, self.id_order[i])
            },
        )
    }

    /// Weighted round robin's next replica.
    pub(crate) fn next_weighted(&mut self) -> Option<(usize, f64)> {
        let (candidates, pool) = (&self.candidates, &self.pool);
        self.weighted.pick(|i| if pool.contains(i) { candidates[i].weight() } else { 0.0 })
    }

    /// Envoy's weighted least request: weight / (active + 1)^bias, earliest deadline first.
    pub(crate) fn next_least_weighted(&mut self) -> Option<usize> {
        let (candidates, pool) = (&self.candidates, &self.pool);
        self.least_weighted
            .pick(|i| if pool.contains(i) { least_request_weight(&candidates[i]) } else { 0.0 })
            .map(|(i, _)| i)
    }
}
