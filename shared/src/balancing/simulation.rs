//! A deterministic discrete-event simulation of replica selection: Poisson arrivals, replicas
//! serving a fixed number of requests at once with a FIFO queue beyond, exponential or constant
//! service times, and windows in which a replica turns slow. Each strategy sees the same arrivals
//! and the same service times, so their results compare like for like.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::candidate::Candidate;
use super::ewma;
use super::strategy::{Balancer, PickContext, Strategy};
use crate::domain::{Region, Severity};
use crate::error::ValidationError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub seed: u64,
    pub duration_s: f64,
    /// A request answered later than this counts as failed.
    pub timeout_s: f64,
    pub strategies: Vec<Strategy>,
    pub arrivals: Arrivals,
    pub incident: IncidentSpec,
    pub replicas: Vec<ReplicaSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Arrivals {
    Poisson { rate_per_s: f64 },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentSpec {
    #[serde(default)]
    pub region: Option<Region>,
    pub severity: Severity,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaSpec {
    pub id: String,
    pub region: Region,
    #[serde(default)]
    pub weight: Option<f64>,
    /// Requests served at once; more wait in a FIFO queue.
    pub capacity: u32,
    pub healthy: bool,
    pub service: Service,
    #[serde(default)]
    pub slow: Vec<SlowWindow>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Service {
    Exponential { mean_s: f64 },
    Constant { mean_s: f64 },
}

/// From `from_s` to `to_s`, every request the replica starts takes `latency_s`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowWindow {
    pub from_s: f64,
    pub to_s: f64,
    pub latency_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    pub mean: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// What one strategy achieved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyResult {
    pub strategy: Strategy,
    pub requests: usize,
    pub share: BTreeMap<String, f64>,
    pub region_share: BTreeMap<String, f64>,
    pub latency_s: LatencySummary,
    pub success_within_timeout: f64,
}

impl Scenario {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.duration_s) || self.duration_s > 1e6 {
            return Err(ValidationError::new("duration_s", "must be above 0 and at most 1,000,000"));
        }
        if !positive(self.timeout_s) {
            return Err(ValidationError::new("timeout_s", "must be above 0"));
        }
        let Arrivals::Poisson { rate_per_s } = self.arrivals;
        if !positive(rate_per_s) || rate_per_s * self.duration_s > 5e7 {
            return Err(ValidationError::new(
                "arrivals.rate_per_s",
                "must be above 0, and at most 50 million requests in all",
            ));
        }
        if self.replicas.is_empty() || self.strategies.is_empty() {
            return Err(ValidationError::new("replicas", "needs at least one replica and one strategy"));
        }
        for (i, r) in self.replicas.iter().enumerate() {
            let (Service::Exponential { mean_s } | Service::Constant { mean_s }) = r.service;
            if r.capacity == 0
                || !positive(mean_s)
                || r.slow.iter().any(|w| !positive(w.latency_s) || w.to_s < w.from_s)
            {
                return Err(ValidationError::new(
                    format!("replicas[{i}]"),
                    "needs capacity > 0, a mean > 0 and sound slow windows",
                ));
            }
        }
        Ok(())
    }
}

struct Server {
    busy: u32,
    queue: VecDeque<(f64, f64)>,
    latency_at: f64,
}

/// Runs every listed strategy over the scenario.
pub fn simulate(scenario: &Scenario) -> Result<Vec<StrategyResult>, ValidationError> {
    scenario.validate()?;
    Ok(scenario.strategies.iter().map(|s| run(scenario, *s)).collect())
}

fn service_time(spec: &ReplicaSpec, start: f64, rng: &mut StdRng) -> f64 {
    let base = match spec.service {
        Service::Exponential { mean_s } => -mean_s * (1.0 - rng.random_range(0.0_f64..1.0)).ln(),
        Service::Constant { mean_s } => mean_s,
    };
    spec.slow.iter().find(|w| start >= w.from_s && start < w.to_s).map_or(base, |w| w.latency_s)
}

fn nanos(t: f64) -> u64 {
    (t * 1e9).round().max(0.0) as u64
}

fn run(scenario: &Scenario, strategy: Strategy) -> StrategyResult {
    let Arrivals::Poisson { rate_per_s } = scenario.arrivals;
    let mut arrivals_rng = StdRng::seed_from_u64(scenario.seed);
    let mut service_rngs: Vec<StdRng> = (0..scenario.replicas.len())
        .map(|i| StdRng::seed_from_u64(scenario.seed ^ (0x9E37_79B9 + i as u64)))
        .collect();
    let mut balancer = Balancer::new(scenario.seed.wrapping_add(1)).queueing();
    let candidates: Vec<Candidate> = scenario
        .replicas
        .iter()
        .map(|r| Candidate {
            id: r.id.clone(),
            region: r.region.clone(),
            active: 0,
            capacity: r.capacity,
            healthy: r.healthy,
            ejected: false,
            performance_score: 1.0,
            consecutive_failures: 0,
            weight: r.weight,
            latency_ewma_s: 0.0,
            draining: false,
        })
        .collect();
    let mut servers: Vec<Server> = scenario
        .replicas
        .iter()
        .map(|_| Server { busy: 0, queue: VecDeque::new(), latency_at: 0.0 })
        .collect();
    // Completions: (time, sequence, replica, arrival time).
    let mut completions: BinaryHeap<Reverse<(u64, u64, usize, u64)>> = BinaryHeap::new();
    let replicas = candidates.len();
    balancer.refresh(candidates);
    let ctx = PickContext { severity: scenario.incident.severity, region: scenario.incident.region.as_ref() };
    let mut sequence = 0u64;
    let mut assigned = vec![0usize; replicas];
    let mut latencies: Vec<f64> = Vec::new();
    let mut next_arrival = -(1.0 - arrivals_rng.random_range(0.0_f64..1.0)).ln() / rate_per_s;
    loop {
        let next_completion = completions.peek().map(|Reverse((t, ..))| *t as f64 / 1e9);
        let arrival_due = next_arrival < scenario.duration_s;
        match next_completion {
            Some(t) if !arrival_due || t <= next_arrival => {
                let Some(Reverse((_, _, r, arrived))) = completions.pop() else { break };
                let arrived = arrived as f64 / 1e9;
                let latency = t - arrived;
                latencies.push(latency);
                let server = &mut servers[r];
                let ewma_s =
                    ewma::update(balancer.candidates()[r].latency_ewma_s, latency, t - server.latency_at);
                balancer.finished(r, Some(ewma_s));
                server.latency_at = t;
                server.busy -= 1;
                if let Some((queued_at, _)) = server.queue.pop_front() {
                    server.busy += 1;
                    let s = service_time(&scenario.replicas[r], t, &mut service_rngs[r]);
                    sequence += 1;
                    completions.push(Reverse((nanos(t + s), sequence, r, nanos(queued_at))));
                }
            }
            _ if arrival_due => {
                let now = next_arrival;
                next_arrival += -(1.0 - arrivals_rng.random_range(0.0_f64..1.0)).ln() / rate_per_s;
                let Some(pick) = balancer.pick(strategy, &ctx) else { continue };
                let r = pick.index;
                assigned[r] += 1;
                balancer.started(r);
                let server = &mut servers[r];
                if server.busy < scenario.replicas[r].capacity {
                    server.busy += 1;
                    let s = service_time(&scenario.replicas[r], now, &mut service_rngs[r]);
                    sequence += 1;
                    completions.push(Reverse((nanos(now + s), sequence, r, nanos(now))));
                } else {
                    server.queue.push_back((now, 0.0));
                }
            }
            _ => break,
        }
    }
    summarize(scenario, strategy, &assigned, latencies)
}

fn summarize(
    scenario: &Scenario,
    strategy: Strategy,
    assigned: &[usize],
    mut latencies: Vec<f64>,
) -> StrategyResult {
    let total: usize = assigned.iter().sum();
    let fraction = |n: usize| if total == 0 { 0.0 } else { n as f64 / total as f64 };
    let share: BTreeMap<String, f64> =
        scenario.replicas.iter().zip(assigned).map(|(r, n)| (r.id.clone(), fraction(*n))).collect();
    let mut region_share: BTreeMap<String, f64> = BTreeMap::new();
    for (r, n) in scenario.replicas.iter().zip(assigned) {
        *region_share.entry(r.region.to_string()).or_default() += fraction(*n);
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0.0)
    };
    let within = latencies.iter().filter(|l| **l <= scenario.timeout_s).count();
    StrategyResult {
        strategy,
        requests: total,
        share,
        region_share,
        latency_s: LatencySummary {
            mean: if latencies.is_empty() {
                0.0
            } else {
                latencies.iter().sum::<f64>() / latencies.len() as f64
            },
            p50: at(0.5),
            p99: at(0.99),
            max: latencies.last().copied().unwrap_or(0.0),
        },
        success_within_timeout: if latencies.is_empty() {
            0.0
        } else {
            within as f64 / latencies.len() as f64
        },
    }
}
