//! What happened to the simulated incidents, per agent type: how long each waited for an agent,
//! how long until it was done, and how many took longer than the type's maximum response time
//! (the seed's targets). Percentiles from HDR histograms over every incident.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::domain::{AgentType, BuiltinAgentType, Region};

/// A type's response-time target and maximum, seconds (seed-facts.md); operator-defined types
/// take the loosest builtin's.
pub fn response_targets(agent_type: &AgentType) -> (f64, f64) {
    match agent_type.builtin() {
        Some(BuiltinAgentType::Detection) => (30.0, 60.0),
        Some(BuiltinAgentType::Diagnosis) => (120.0, 180.0),
        Some(BuiltinAgentType::Prediction) => (90.0, 150.0),
        Some(BuiltinAgentType::Communication) => (10.0, 30.0),
        Some(BuiltinAgentType::Resolution) | None => (180.0, 300.0),
    }
}

/// Longest time the histograms resolve, milliseconds (a day).
const MAX_MS: u64 = 86_400_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MS, 3).unwrap_or_else(|_| unreachable!("valid bounds"))
}

#[derive(Debug, Clone)]
struct TypeOutcomes {
    waits_ms: Histogram<u64>,
    totals_ms: Histogram<u64>,
    over_target: u64,
    over_maximum: u64,
    waited_over_maximum: u64,
    unserved: u64,
}

impl Default for TypeOutcomes {
    fn default() -> Self {
        Self {
            waits_ms: histogram(),
            totals_ms: histogram(),
            over_target: 0,
            over_maximum: 0,
            waited_over_maximum: 0,
            unserved: 0,
        }
    }
}

/// Every type's incidents that arrived in one hour.
#[derive(Debug, Clone)]
struct HourOutcomes {
    waits_ms: Histogram<u64>,
    totals_ms: Histogram<u64>,
}

/// Waits and completions of the incidents that arrived in one hour, every type together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourSummary {
    pub hour: DateTime<Utc>,
    pub completed: u64,
    pub wait: Percentiles,
    pub completion: Percentiles,
}

/// Percentiles of one measure, seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50_s: f64,
    pub p95_s: f64,
    pub p99_s: f64,
    pub max_s: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        let s = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Self { p50_s: s(0.5), p95_s: s(0.95), p99_s: s(0.99), max_s: h.max() as f64 / 1000.0 }
    }
}

/// One agent type's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeSummary {
    pub completed: u64,
    /// Still waiting or in progress when the run ended.
    pub unserved: u64,
    /// Arrival to assignment.
    pub wait: Percentiles,
    /// Arrival to completion: the MTTR proxy.
    pub completion: Percentiles,
    pub target_s: f64,
    pub maximum_s: f64,
    /// Share of completed incidents over the type's maximum response time.
    pub over_maximum_share: f64,
    pub over_target_share: f64,
    /// Share of completed incidents that waited for an agent longer than the maximum response time.
    pub waited_over_maximum_share: f64,
}

/// Every incident's outcome, by agent type.
#[derive(Debug, Clone, Default)]
pub struct Outcomes {
    by_type: BTreeMap<AgentType, TypeOutcomes>,
    by_hour: BTreeMap<DateTime<Utc>, HourOutcomes>,
    /// Waits by the region and hour the incidents arrived in (each region's morning).
    region_hours: BTreeMap<(Region, DateTime<Utc>), Histogram<u64>>,
}

/// Every type together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overall {
    pub completed: u64,
    pub unserved: u64,
    pub wait: Percentiles,
    pub completion: Percentiles,
    /// Completed incidents over their type's maximum response time.
    pub over_maximum_share: f64,
    /// Completed incidents that waited longer than their type's maximum response time.
    pub waited_over_maximum_share: f64,
}

fn millis(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from((to - from).num_milliseconds()).unwrap_or(0).clamp(1, MAX_MS)
}

impl Outcomes {
    pub fn new() -> Self {
        Self::default()
    }

    /// An incident that arrived, was assigned and was done at these instants.
    pub fn completed(
        &mut self,
        agent_type: &AgentType,
        region: &Region,
        arrived: DateTime<Utc>,
        assigned: DateTime<Utc>,
        done: DateTime<Utc>,
    ) {
        let (target, maximum) = response_targets(agent_type);
        let o = self.by_type.entry(agent_type.clone()).or_default();
        let wait = millis(arrived, assigned);
        let _ = o.waits_ms.record(wait);
        let total = millis(arrived, done);
        let _ = o.totals_ms.record(total);
        let total_s = total as f64 / 1000.0;
        o.over_target += u64::from(total_s > target);
        o.over_maximum += u64::from(total_s > maximum);
        o.waited_over_maximum += u64::from(wait as f64 / 1000.0 > maximum);
        let hour = crate::cost::usage::hour_of(arrived);
        let h = self
            .by_hour
            .entry(hour)
            .or_insert_with(|| HourOutcomes { waits_ms: histogram(), totals_ms: histogram() });
        let _ = h.waits_ms.record(wait);
        let _ = h.totals_ms.record(total);
        let _ = self.region_hours.entry((region.clone(), hour)).or_insert_with(histogram).record(wait);
    }

    /// How many incidents that arrived in `region` in `hour` were done, and their waits.
    pub fn region_hour(&self, region: &Region, hour: DateTime<Utc>) -> (u64, Percentiles) {
        self.region_hours
            .get(&(region.clone(), hour))
            .map_or_else(|| (0, Percentiles::of(&histogram())), |h| (h.len(), Percentiles::of(h)))
    }

    /// Every type together.
    pub fn overall(&self) -> Overall {
        let (mut waits, mut totals) = (histogram(), histogram());
        let (mut over, mut waited, mut unserved) = (0, 0, 0);
        for o in self.by_type.values() {
            let _ = waits.add(&o.waits_ms);
            let _ = totals.add(&o.totals_ms);
            over += o.over_maximum;
            waited += o.waited_over_maximum;
            unserved += o.unserved;
        }
        let completed = totals.len();
        let share = |n: u64| if completed == 0 { 0.0 } else { n as f64 / completed as f64 };
        Overall {
            completed,
            unserved,
            wait: Percentiles::of(&waits),
            completion: Percentiles::of(&totals),
            over_maximum_share: share(over),
            waited_over_maximum_share: share(waited),
        }
    }

    /// Waits and completions by the hour the incidents arrived in.
    pub fn hours(&self) -> Vec<HourSummary> {
        self.by_hour
            .iter()
            .map(|(hour, h)| HourSummary {
                hour: *hour,
                completed: h.totals_ms.len(),
                wait: Percentiles::of(&h.waits_ms),
                completion: Percentiles::of(&h.totals_ms),
            })
            .collect()
    }

    /// An incident the run ended before it was done.
    pub fn unserved(&mut self, agent_type: &AgentType) {
        self.by_type.entry(agent_type.clone()).or_default().unserved += 1;
    }

    pub fn summary(&self) -> BTreeMap<AgentType, TypeSummary> {
        self.by_type
            .iter()
            .map(|(agent_type, o)| {
                let (target_s, maximum_s) = response_targets(agent_type);
                let completed = o.totals_ms.len();
                let share = |n: u64| if completed == 0 { 0.0 } else { n as f64 / completed as f64 };
                (
                    agent_type.clone(),
                    TypeSummary {
                        completed,
                        unserved: o.unserved,
                        wait: Percentiles::of(&o.waits_ms),
                        completion: Percentiles::of(&o.totals_ms),
                        target_s,
                        maximum_s,
                        over_maximum_share: share(o.over_maximum),
                        over_target_share: share(o.over_target),
                        waited_over_maximum_share: share(o.waited_over_maximum),
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::milliseconds(ms)
    }

    #[test]
    fn targets_are_the_seeds() {
        let table = [
            ("detection", (30.0, 60.0)),
            ("diagnosis", (120.0, 180.0)),
            ("prediction", (90.0, 150.0)),
            ("resolution", (180.0, 300.0)),
            ("communication", (10.0, 30.0)),
            ("triage", (180.0, 300.0)),
        ];
        for (name, targets) in table {
            assert_eq!(response_targets(&AgentType::parse(name).unwrap()), targets, "{name}");
        }
    }

    #[test]
    fn waits_completions_and_misses_per_type() {
        let mut outcomes = Outcomes::new();
        let detection = AgentType::parse("detection").unwrap();
        let (east, west) = (Region::parse("us-east-1").unwrap(), Region::parse("eu-west-1").unwrap());
        // 100 detections: waits of 0-99 s, each worked 10 s after its wait; the first ten in Europe.
        for i in 0..100 {
            let region = if i < 10 { &west } else { &east };
            outcomes.completed(&detection, region, t(0), t(i * 1000), t(i * 1000 + 10_000));
        }
        outcomes.unserved(&detection);
        let s = &outcomes.summary()[&detection];
        assert_eq!((s.completed, s.unserved), (100, 1));
        assert!((s.wait.p50_s - 49.0).abs() < 0.1 && (s.wait.p99_s - 98.0).abs() < 0.1, "{:?}", s.wait);
        assert!((s.completion.max_s - 109.0).abs() < 0.1, "{:?}", s.completion);
        // Over the 60 s maximum: totals of 61-109 s, 49 of them; over the 30 s target: 31-109 s, 79.
        assert!((s.over_maximum_share - 0.49).abs() < 1e-9, "{}", s.over_maximum_share);
        assert!((s.over_target_share - 0.79).abs() < 1e-9, "{}", s.over_target_share);
        // Waits over 60 s: 61-99 s, 39 of them.
        assert!((s.waited_over_maximum_share - 0.39).abs() < 1e-9, "{}", s.waited_over_maximum_share);
        let overall = outcomes.overall();
        assert_eq!((overall.completed, overall.unserved), (100, 1));
        assert!((overall.waited_over_maximum_share - 0.39).abs() < 1e-9);
        let hours = outcomes.hours();
        assert_eq!(hours.len(), 1, "every one arrived in the same hour");
        assert_eq!(hours[0].completed, 100);
        assert!((hours[0].wait.p50_s - s.wait.p50_s).abs() < 1e-9);
        let (n, europe) = outcomes.region_hour(&west, hours[0].hour);
        assert_eq!(n, 10);
        assert!((europe.max_s - 9.0).abs() < 0.1, "{europe:?}");
        assert_eq!(outcomes.region_hour(&west, hours[0].hour + Duration::hours(1)).0, 0);
    }
}
