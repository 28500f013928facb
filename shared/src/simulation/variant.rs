//! What runs the fleet in a simulation: the suite itself, or one of the two baselines it is
//! measured against on the same incidents.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::arrivals::Incident;
use crate::domain::{AgentType, Region};
use crate::scaling::ScalingPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// The suite: proportional autoscaling with cooldowns, the cost gate and regional failover,
    /// model selection under the cost controls.
    Suite,
    /// The suite with predictive scale-out turned off in every policy: reactive scaling alone,
    /// on the same incidents, to show what scaling ahead of the load changes.
    SuiteReactive,
    /// Replicas fixed at what each type and region needs at its peak; the suite's model selection.
    StaticPeak,
    /// The prototype's rules: one replica per step with a 300 s cooldown, new replicas where
    /// there are fewest, and always the cheapest model.
    PrototypeRules,
}

impl Variant {
    pub const ALL: [Self; 4] = [Self::Suite, Self::SuiteReactive, Self::StaticPeak, Self::PrototypeRules];

    /// Whether the suite's own loop runs the fleet (with predictive scale-out or without).
    pub fn is_suite(self) -> bool {
        matches!(self, Self::Suite | Self::SuiteReactive)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Suite => "suite",
            Self::SuiteReactive => "suite, reactive only",
            Self::StaticPeak => "static peak capacity",
            Self::PrototypeRules => "prototype rules",
        }
    }
}

/// The prototype's autoscaler for one type: above the scale-up threshold one replica more (in the
/// region with fewest), below the scale-down threshold one fewer (from the region with most),
/// nothing within the cooldown of the last change. Answers the new replicas per region, if any.
pub fn prototype_step(
    current: &BTreeMap<Region, u32>,
    utilization: f64,
    policy: &ScalingPolicy,
    last_change: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<BTreeMap<Region, u32>> {
    let cooldown = Duration::seconds(i64::try_from(policy.cooldown_period).unwrap_or(i64::MAX / 1000));
    if last_change.is_some_and(|at| now - at < cooldown) {
        return None;
    }
    let total: u32 = current.values().sum();
    let mut next = current.clone();
    if utilization > policy.scale_up_threshold && total < policy.max_replicas {
        let (region, _) = current.iter().min_by_key(|(_, n)| **n)?;
        *next.entry(region.clone()).or_default() += 1;
    } else if utilization < policy.scale_down_threshold && total > policy.min_replicas {
        // The last region among those with most, so scaling down does not undo the step up.
        let (region, _) = current.iter().rev().max_by_key(|(_, n)| **n)?;
        *next.entry(region.clone()).or_default() -= 1;
    } else {
        return None;
    }
    Some(next)
}

/// Replicas per type and region that carry each one's peak of concurrent incidents.
pub fn static_peak(
    incidents: &[Incident],
    capacity: &BTreeMap<AgentType, u32>,
) -> BTreeMap<AgentType, BTreeMap<Region, u32>> {
    /// Starts (+1) and ends (-1) of work, per type and region.
    type Edges = Vec<(DateTime<Utc>, i32)>;
    let mut edges: BTreeMap<(AgentType, Region), Edges> = BTreeMap::new();
    for i in incidents {
        let e = edges.entry((i.agent_type.clone(), i.region.clone())).or_default();
        e.push((i.at, 1));
        e.push((i.at + Duration::microseconds((i.service_s * 1e6) as i64), -1));
    }
    let mut out: BTreeMap<AgentType, BTreeMap<Region, u32>> = BTreeMap::new();
    for ((agent_type, region), mut e) in edges {
        e.sort_unstable();
        let (mut now, mut peak) = (0i32, 0i32);
        for (_, d) in e {
            now += d;
            peak = peak.max(now);
        }
        let per = capacity.get(&agent_type).copied().unwrap_or(1).max(1);
        let n = u32::try_from(peak).unwrap_or(0).div_ceil(per).max(1);
        out.entry(agent_type).or_default().insert(region, n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Severity;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn regions(counts: &[(&str, u32)]) -> BTreeMap<Region, u32> {
        counts.iter().map(|(r, n)| (Region::parse(r).unwrap(), *n)).collect()
    }

    type Row = (f64, Option<i64>, Option<BTreeMap<Region, u32>>);

    #[test]
    fn the_prototype_moves_one_replica_at_a_time_and_waits_out_its_cooldown() {
        let policy = ScalingPolicy::default_for(&AgentType::parse("diagnosis").unwrap());
        let now = regions(&[("eu-west-1", 2), ("us-east-1", 1)]);
        // (utilization, last change seconds ago, expected)
        let table: [Row; 5] = [
            (0.95, None, Some(regions(&[("eu-west-1", 2), ("us-east-1", 2)]))),
            (0.95, Some(299), None),
            (0.95, Some(300), Some(regions(&[("eu-west-1", 2), ("us-east-1", 2)]))),
            (0.10, None, Some(regions(&[("eu-west-1", 1), ("us-east-1", 1)]))),
            (0.50, None, None),
        ];
        for (utilization, ago, expected) in table {
            let last = ago.map(|s| t(1000 - s));
            assert_eq!(
                prototype_step(&now, utilization, &policy, last, t(1000)),
                expected,
                "{utilization} {ago:?}"
            );
        }
        let full = regions(&[("eu-west-1", 4), ("us-east-1", 4)]);
        assert_eq!(prototype_step(&full, 0.99, &policy, None, t(0)), None, "the policy's maximum holds");
    }

    #[test]
    fn static_capacity_covers_each_regions_peak() {
        let east = Region::parse("us-east-1").unwrap();
        let detection = AgentType::parse("detection").unwrap();
        let incident = |at: i64, service_s: f64| Incident {
            id: 0,
            at: t(at),
            region: east.clone(),
            agent_type: detection.clone(),
            severity: Severity::Low,
            service_s,
        };
        // Five at once between 10 and 20 s; capacity 2 per replica: 3 replicas.
        let day: Vec<Incident> = (0..5).map(|k| incident(10 + k, 10.0)).chain([incident(100, 1.0)]).collect();
        let sizing = static_peak(&day, &BTreeMap::from([(detection.clone(), 2)]));
        assert_eq!(sizing[&detection][&east], 3);
    }
}
