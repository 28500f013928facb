//! Spreading a type's replicas over regions, noticing failed replicas, and N+1 sizing. Pure.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::domain::{PerRegion, Proximity, Region, Replica};

/// Envoy's over-provisioning factor: a region at 72 % health or better keeps its whole share.
const OVERPROVISIONING: f64 = 1.4;

/// What the distribution needs to know about one region.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionView {
    pub region: Region,
    /// Relative share (operator-set; 1 by default).
    pub weight: f64,
    /// False when an operator marked the region unhealthy.
    pub marked_healthy: bool,
    /// Healthy share of the region's live replicas; `None` while it has none.
    pub healthy_fraction: Option<f64>,
    /// Marked unhealthy because its replicas went silent: it keeps one replica (beyond the
    /// split) so it can prove it is back, as Envoy keeps health-checking an ejected host.
    pub probe: bool,
}

impl RegionView {
    /// Envoy locality weighting: weight x min(1, 1.4 x available share); 0 when marked unhealthy.
    pub fn effective_weight(&self) -> f64 {
        if !self.marked_healthy || !self.weight.is_finite() || self.weight <= 0.0 {
            return 0.0;
        }
        let available = self.healthy_fraction.unwrap_or(1.0).clamp(0.0, 1.0);
        self.weight * (OVERPROVISIONING * available).min(1.0)
    }
}

/// Splits `total` replicas over the regions (one count per region, in their order).
///
/// Each region's share follows its operator weight x min(1, 1.4 x its healthy share) (Envoy's
/// locality weighting), by largest remainder with ties to the earlier region. A region marked
/// unhealthy first gets its share as if it were healthy, then gives it away one replica at a
/// time to the regions that can serve, nearest first by `proximity` (and round again), so the
/// replacements land as close to their region as possible. If no region can serve, the operator
/// weights decide. A probed region (see [`RegionView::probe`]) keeps one replica on top.
pub fn distribute(total: u32, regions: &[RegionView], proximity: &Proximity) -> Vec<u32> {
    let serving: Vec<bool> = regions.iter().map(|r| r.effective_weight() > 0.0).collect();
    let mut counts = if serving.iter().any(|s| *s) {
        // Marked regions take their natural share first, to hand it on below.
        let weights: Vec<f64> = regions
            .iter()
            .zip(&serving)
            .map(|(r, s)| {
                if *s {
                    r.effective_weight()
                } else if !r.marked_healthy && r.weight.is_finite() && r.weight > 0.0 {
                    r.weight
                } else {
                    0.0
                }
            })
            .collect();
        let mut counts = largest_remainder(total, &weights);
        for from in 0..regions.len() {
            if serving[from] || counts[from] == 0 {
                continue;
            }
            let order: Vec<usize> = proximity
                .nearest_first(&regions[from].region, regions.iter().map(|r| &r.region))
                .iter()
                .filter_map(|near| regions.iter().position(|r| &r.region == near))
                .filter(|i| serving[*i])
                .collect();
            for i in order.iter().cycle().take(counts[from] as usize) {
                counts[*i] += 1;
            }
            counts[from] = 0;
        }
        counts
    } else {
        let weights: Vec<f64> =
            regions.iter().map(|r| if r.marked_healthy { r.weight.max(0.0) } else { 0.0 }).collect();
        let weights = if weights.iter().sum::<f64>() > 0.0 { weights } else { vec![1.0; regions.len()] };
        largest_remainder(total, &weights)
    };
    if total > 0 {
        for (count, region) in counts.iter_mut().zip(regions) {
            if region.probe && !region.marked_healthy {
                *count = (*count).max(1);
            }
        }
    }
    counts
}

/// `total` in proportion to `weights` (some positive), by largest remainder, ties to the earlier.
fn largest_remainder(total: u32, weights: &[f64]) -> Vec<u32> {
    let sum: f64 = weights.iter().sum();
    if sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| f64::from(total) * w / sum).collect();
    let mut counts: Vec<u32> = exact.iter().map(|e| e.floor() as u32).collect();
    let mut left = total.saturating_sub(counts.iter().sum::<u32>());
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| {
        (exact[*b] - exact[*b].floor()).total_cmp(&(exact[*a] - exact[*a].floor())).then(a.cmp(b))
    });
    for i in order.into_iter().cycle().take(weights.len() * 2) {
        if left == 0 {
            break;
        }
        if weights[i] > 0.0 {
            counts[i] += 1;
            left -= 1;
        }
    }
    counts
}

/// The healthy share of each region's live replicas.
pub fn healthy_fractions(replicas: &[Replica]) -> BTreeMap<&Region, f64> {
    let mut counts: BTreeMap<&Region, (u32, u32)> = BTreeMap::new();
    for r in replicas {
        let entry = counts.entry(&r.region).or_default();
        entry.0 += u32::from(r.healthy);
        entry.1 += 1;
    }
    counts.into_iter().map(|(region, (healthy, all))| (region, f64::from(healthy) / f64::from(all))).collect()
}

/// A replica that was live at the last evaluation and has missed three heartbeats since.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FailedReplica {
    pub region: Region,
    pub replica_id: String,
}

/// Replica ids per region, as remembered between evaluations.
pub type KnownReplicas = BTreeMap<Region, BTreeSet<String>>;

/// At most [`super::MAX_REPLICAS_PER_TYPE`] ids, so the state item stays bounded even if
/// concurrent first heartbeats took a type past its limit.
pub fn known_replicas(replicas: &[Replica]) -> KnownReplicas {
    let mut known = KnownReplicas::new();
    for r in replicas.iter().take(super::MAX_REPLICAS_PER_TYPE) {
        known.entry(r.region.clone()).or_default().insert(r.replica_id.to_string());
    }
    known
}

/// How many replicas each region has.
pub fn live_by_region(known: &KnownReplicas) -> PerRegion<u32> {
    known.iter().map(|(region, ids)| (region.clone(), u32::try_from(ids.len()).unwrap_or(u32::MAX))).collect()
}

/// Replicas known before that are no longer live: their records expired after three missed
/// heartbeats, so they count as failed and their region's desired count brings replacements.
pub fn failed_replicas(before: &KnownReplicas, now: &KnownReplicas) -> Vec<FailedReplica> {
    before
        .iter()
        .flat_map(|(region, ids)| {
            ids.iter()
                .filter(|id| !now.get(region).is_some_and(|live| live.contains(*id)))
                .map(|id| FailedReplica { region: region.clone(), replica_id: id.clone() })
        })
        .collect()
}

/// N+1 sizing: would losing the region with the most healthy capacity push the others above the
/// scale-up threshold? Answers the warning when it would.
pub fn n_plus_one_warning(replicas: &[Replica], scale_up_threshold: f64) -> Option<String> {
    let mut capacity: BTreeMap<&Region, f64> = BTreeMap::new();
    let mut load = 0.0;
    for r in replicas.iter().filter(|r| r.takes_work()) {
        *capacity.entry(&r.region).or_default() += f64::from(r.capacity);
        load += r.load;
    }
    if capacity.len() < 2 || load <= 0.0 {
        return None;
    }
    let (largest, largest_capacity) =
        capacity.iter().max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(a.0)))?;
    let rest: f64 = capacity.values().sum::<f64>() - largest_capacity;
    let after = load / rest;
    (after > scale_up_threshold).then(|| {
        format!(
            "N+1: losing {largest} would put the other regions at {:.0} % utilization, above the {:.0} % scale-up threshold",
            after * 100.0,
            scale_up_threshold * 100.0
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AgentType, ReplicaId};
    use chrono::DateTime;
    use proptest::prelude::*;

    fn view(region: &str, weight: f64, marked_healthy: bool, healthy: Option<f64>) -> RegionView {
        RegionView {
            region: Region::parse(region).unwrap(),
            weight,
            marked_healthy,
            healthy_fraction: healthy,
            probe: false,
        }
    }

    fn four() -> Vec<RegionView> {
        Region::DEFAULTS.iter().map(|r| view(r, 1.0, true, None)).collect()
    }

    fn counts(d: &[u32], _order: &[RegionView]) -> Vec<u32> {
        d.to_vec()
    }

    fn distribute(total: u32, regions: &[RegionView]) -> Vec<u32> {
        super::distribute(total, regions, &Proximity::published())
    }

    #[test]
    fn an_unhealthy_regions_share_goes_to_the_nearest_first() {
        // us-east-1's natural share of 5 over four regions is 2; from it, us-west-2 is nearest,
        // then eu-west-1, then ap-southeast-1 (published round trips).
        let mut regions = four();
        regions[0].marked_healthy = false;
        assert_eq!(distribute(5, &regions), [0, 2, 2, 1]);
        assert_eq!(distribute(4, &regions), [0, 2, 1, 1]);
        // From ap-southeast-1, us-west-2 (165 ms) comes before eu-west-1 (175) and us-east-1 (215).
        let mut regions = four();
        regions[3].marked_healthy = false;
        assert_eq!(distribute(4, &regions), [1, 2, 1, 0]);
        let far_first =
            Proximity::published().with_overrides(r#"{"ap-southeast-1": {"us-east-1": 10}}"#).unwrap();
        assert_eq!(super::distribute(4, &regions, &far_first), [2, 1, 1, 0], "overrides decide");
    }

    #[test]
    fn a_probed_region_keeps_one_replica_on_top() {
        let mut regions = four();
        regions[0].marked_healthy = false;
        regions[0].probe = true;
        // Six over four is [2, 2, 1, 1]; us-east-1's two go to us-west-2 and eu-west-1, nearest
        // first; then one probe replica on top.
        assert_eq!(distribute(6, &regions), [1, 3, 2, 1]);
        assert_eq!(distribute(0, &regions), [0, 0, 0, 0], "nothing to run, nothing to probe");
    }

    #[test]
    fn distribution_by_weight_and_health() {
        let mut regions = four();
        assert_eq!(counts(&distribute(8, &regions), &regions), [2, 2, 2, 2]);
        assert_eq!(
            counts(&distribute(6, &regions), &regions),
            [2, 2, 1, 1],
            "remainder to the earlier regions"
        );
        regions[0].weight = 2.0;
        assert_eq!(counts(&distribute(10, &regions), &regions), [4, 2, 2, 2]);

        let mut regions = four();
        regions[0].marked_healthy = false;
        assert_eq!(
            counts(&distribute(9, &regions), &regions),
            [0, 3, 3, 3],
            "an unhealthy region spills its share"
        );

        let mut regions = four();
        regions[1].healthy_fraction = Some(0.75);
        assert_eq!(
            counts(&distribute(8, &regions), &regions),
            [2, 2, 2, 2],
            "75 % x 1.4 > 100 %: full share"
        );
        regions[1].healthy_fraction = Some(0.25);
        assert_eq!(counts(&distribute(8, &regions), &regions), [3, 1, 2, 2], "25 % x 1.4 = 35 % of a share");

        let regions: Vec<RegionView> = Region::DEFAULTS.iter().map(|r| view(r, 1.0, false, None)).collect();
        assert_eq!(
            counts(&distribute(4, &regions), &regions),
            [1, 1, 1, 1],
            "all marked unhealthy: spread anyway"
        );
    }

    fn replica(id: &str, region: &str, load: f64, capacity: u32, healthy: bool) -> Replica {
        Replica {
            replica_id: ReplicaId::parse(id).unwrap(),
            agent_type: AgentType::parse("detection").unwrap(),
            region: Region::parse(region).unwrap(),
            load,
            capacity,
            healthy,
            performance_score: 0.9,
            last_heartbeat: DateTime::UNIX_EPOCH,
            draining: false,
        }
    }

    #[test]
    fn failed_replicas_are_the_ones_that_vanished() {
        let before = known_replicas(&[
            replica("a", "us-east-1", 1.0, 10, true),
            replica("b", "eu-west-1", 1.0, 10, true),
        ]);
        let now = known_replicas(&[
            replica("a", "us-east-1", 1.0, 10, true),
            replica("c", "eu-west-1", 1.0, 10, true),
        ]);
        assert_eq!(
            failed_replicas(&before, &now),
            [FailedReplica { region: Region::parse("eu-west-1").unwrap(), replica_id: "b".into() }]
        );
        assert!(failed_replicas(&now, &now).is_empty());
    }

    #[test]
    fn n_plus_one() {
        let spread = [
            replica("a", "us-east-1", 10.0, 20, true),
            replica("b", "us-west-2", 5.0, 20, true),
            replica("c", "eu-west-1", 5.0, 20, true),
        ];
        let warning = n_plus_one_warning(&spread, 0.8);
        assert!(warning.is_none(), "20 load on 40 capacity after losing one: 50 %");
        let hot = [
            replica("a", "us-east-1", 18.0, 20, true),
            replica("b", "us-west-2", 16.0, 20, true),
            replica("c", "eu-west-1", 15.0, 20, false),
        ];
        let warning = n_plus_one_warning(&hot, 0.8).unwrap();
        assert!(warning.contains("losing us-east-1") && warning.contains("170 %"), "{warning}");
        assert!(n_plus_one_warning(&spread[..1], 0.8).is_none(), "one region: nothing to fail over to");
    }

    proptest! {
        #[test]
        fn every_replica_is_placed_and_none_where_they_cannot_serve(
            total in 0u32..200,
            weights in prop::collection::vec((0.0f64..5.0, any::<bool>(), prop::option::of(0.0f64..=1.0)), 1..6),
        ) {
            let regions: Vec<RegionView> = weights.iter().enumerate()
                .map(|(i, (w, ok, h))| view(&format!("eu-west-{}", i + 1), *w, *ok, *h)).collect();
            let d = distribute(total, &regions);
            prop_assert_eq!(d.iter().sum::<u32>(), total);
            if regions.iter().any(|r| r.effective_weight() > 0.0) {
                for (r, n) in regions.iter().zip(&d) {
                    if r.effective_weight() == 0.0 {
                        prop_assert_eq!(*n, 0);
                    }
                }
            }
        }
    }
}
