//! The simulated replicas of one agent type and the balancer the api runs over them.
//!
//! The api reads a type's replica set from the table (at most once a second), picks with
//! [`Balancer`], counts its own picks and releases at once, and feeds finished work's latency to
//! the EWMA. The simulation keeps the replica set in memory instead of in the table, so it
//! refreshes the same balancer whenever the set changes (a replica ready, draining, gone, or a
//! region's health) and reports every pick and release to it as the api does between reads.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::balancing::{Balancer, Candidate, PickContext, Strategy, ewma};
use crate::domain::{Region, Severity};

/// One simulated replica.
#[derive(Debug, Clone)]
pub struct SimReplica {
    /// Unique within the run (the id's number).
    pub serial: u64,
    pub id: String,
    pub region: Region,
    pub capacity: u32,
    pub active: u32,
    /// Stopping: takes no new work and goes once idle.
    pub draining: bool,
    pub ready_at: DateTime<Utc>,
    pub latency_ewma_s: f64,
    pub latency_at: Option<DateTime<Utc>>,
}

impl SimReplica {
    /// Ready, not draining and in a region that is up: may take work and reports healthy.
    pub fn serving(&self, at: DateTime<Utc>, down: &BTreeSet<Region>) -> bool {
        self.ready_at <= at && !self.draining && !down.contains(&self.region)
    }
}

/// A type's replicas and its balancer, kept in step.
#[derive(Debug)]
pub struct TypeFleet {
    pub replicas: Vec<SimReplica>,
    pub capacity: u32,
    /// The agent function every incident of the type invokes.
    pub function: String,
    balancer: Balancer,
    stale: bool,
    /// The earliest start still to complete: the set changes then.
    next_ready: Option<DateTime<Utc>>,
}

impl TypeFleet {
    pub fn new(function: String, capacity: u32, seed: u64) -> Self {
        Self {
            replicas: Vec::new(),
            capacity,
            function,
            balancer: Balancer::new(seed),
            stale: true,
            next_ready: None,
        }
    }

    pub fn add(&mut self, serial: u64, id: String, region: Region, ready_at: DateTime<Utc>) {
        self.replicas.push(SimReplica {
            serial,
            id,
            region,
            capacity: self.capacity,
            active: 0,
            draining: false,
            ready_at,
            latency_ewma_s: 0.0,
            latency_at: None,
        });
        self.stale = true;
    }

    /// The set changed outside picks and releases (a region's health).
    pub fn invalidate(&mut self) {
        self.stale = true;
    }

    fn refresh_if_needed(&mut self, at: DateTime<Utc>, down: &BTreeSet<Region>) {
        if !self.stale && self.next_ready.is_none_or(|t| t > at) {
            return;
        }
        let candidates = self
            .replicas
            .iter()
            .map(|r| Candidate {
                id: r.id.clone(),
                region: r.region.clone(),
                active: r.active,
                capacity: r.capacity,
                healthy: r.serving(at, down),
                ejected: false,
                performance_score: 0.9,
                consecutive_failures: 0,
                weight: None,
                latency_ewma_s: r.latency_ewma_s,
                draining: false,
            })
            .collect();
        self.balancer.refresh(candidates);
        self.next_ready = self.replicas.iter().map(|r| r.ready_at).filter(|t| *t > at).min();
        self.stale = false;
    }

    /// The balancer's pick for one incident, counted as started: where the replica is in
    /// [`Self::replicas`]; `None` when no replica may take it.
    pub fn pick(
        &mut self,
        severity: Severity,
        region: &Region,
        at: DateTime<Utc>,
        down: &BTreeSet<Region>,
    ) -> Option<usize> {
        self.refresh_if_needed(at, down);
        let pick =
            self.balancer.pick(Strategy::default(), &PickContext { severity, region: Some(region) })?;
        let replica = &mut self.replicas[pick.index];
        // Envoy's panic mode routes to unhealthy replicas when too few are healthy; a replica
        // that cannot serve leaves the incident waiting instead.
        if !replica.serving(at, down) || replica.active >= replica.capacity {
            return None;
        }
        replica.active += 1;
        self.balancer.started(pick.index);
        Some(pick.index)
    }

    /// One incident done at replica `serial` after `latency_s`; a draining replica left idle goes.
    pub fn finish(&mut self, serial: u64, latency_s: f64, at: DateTime<Utc>) {
        let Some(index) = self.replicas.iter().position(|r| r.serial == serial) else { return };
        let r = &mut self.replicas[index];
        r.active = r.active.saturating_sub(1);
        let elapsed = r.latency_at.map_or(0.0, |t| (at - t).num_milliseconds() as f64 / 1000.0);
        r.latency_ewma_s = ewma::update(r.latency_ewma_s, latency_s, elapsed);
        r.latency_at = Some(at);
        if r.draining && r.active == 0 {
            self.replicas.remove(index);
            self.stale = true;
        } else if !self.stale {
            self.balancer.finished(index, Some(self.replicas[index].latency_ewma_s));
        }
    }

    /// Replicas of `region` that are not draining (ready or starting).
    pub fn kept(&self, region: &Region) -> u32 {
        self.replicas.iter().filter(|r| &r.region == region && !r.draining).count() as u32
    }

    /// Drains `n` of `region`'s replicas: idle ones first, newest first.
    pub fn drain(&mut self, region: &Region, n: u32) {
        let mut order: Vec<usize> = (0..self.replicas.len())
            .filter(|&i| &self.replicas[i].region == region && !self.replicas[i].draining)
            .collect();
        order.sort_by_key(|&i| {
            let r = &self.replicas[i];
            (r.active > 0, std::cmp::Reverse(r.ready_at), std::cmp::Reverse(r.serial))
        });
        for &i in order.iter().take(n as usize) {
            self.replicas[i].draining = true;
        }
        self.replicas.retain(|r| !(r.draining && r.active == 0));
        self.stale = true;
    }

    /// Active incidents over the capacity of serving replicas.
    pub fn utilization(&self, at: DateTime<Utc>, down: &BTreeSet<Region>) -> f64 {
        self.utilization_of(|r| r.serving(at, down))
    }

    /// The same for one region.
    pub fn region_utilization(&self, region: &Region, at: DateTime<Utc>, down: &BTreeSet<Region>) -> f64 {
        self.utilization_of(|r| &r.region == region && r.serving(at, down))
    }

    fn utilization_of(&self, counted: impl Fn(&SimReplica) -> bool) -> f64 {
        let (mut active, mut capacity) = (0u64, 0u64);
        for r in self.replicas.iter().filter(|r| counted(r)) {
            active += u64::from(r.active);
            capacity += u64::from(r.capacity);
        }
        if capacity == 0 { if active > 0 { 1.0 } else { 0.0 } } else { active as f64 / capacity as f64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn region(name: &str) -> Region {
        Region::parse(name).unwrap()
    }

    /// The serial of the replica a high-severity incident goes to.
    fn serial(
        fleet: &mut TypeFleet,
        region: &Region,
        at: DateTime<Utc>,
        down: &BTreeSet<Region>,
    ) -> Option<u64> {
        fleet.pick(Severity::High, region, at, down).map(|i| fleet.replicas[i].serial)
    }

    #[test]
    fn picks_respect_capacity_readiness_and_region_health() {
        let mut fleet = TypeFleet::new("detection-agent".into(), 2, 1);
        let (east, west) = (region("us-east-1"), region("us-west-2"));
        fleet.add(1, "detection-us-east-1-1".into(), east.clone(), t(0));
        fleet.add(2, "detection-us-west-2-2".into(), west.clone(), t(10));
        let none = BTreeSet::new();
        // Only the east replica is ready at first: two incidents, then it is full.
        assert_eq!(serial(&mut fleet, &east, t(1), &none), Some(1));
        assert_eq!(serial(&mut fleet, &east, t(1), &none), Some(1));
        assert_eq!(serial(&mut fleet, &east, t(1), &none), None);
        // Once the west one is ready it takes work, until both are full.
        assert_eq!(serial(&mut fleet, &east, t(11), &none), Some(2));
        assert_eq!(serial(&mut fleet, &east, t(11), &none), Some(2));
        assert_eq!(serial(&mut fleet, &east, t(11), &none), None);
        // A release makes room at once.
        fleet.finish(1, 5.0, t(12));
        assert_eq!(serial(&mut fleet, &east, t(12), &none), Some(1));
        // East down: nothing goes there even with room.
        fleet.finish(1, 5.0, t(13));
        fleet.finish(2, 5.0, t(13));
        let down = BTreeSet::from([east.clone()]);
        fleet.invalidate();
        assert_eq!(serial(&mut fleet, &east, t(14), &down), Some(2));
        assert_eq!(serial(&mut fleet, &east, t(14), &down), None);
        assert!((fleet.utilization(t(14), &down) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn draining_takes_idle_replicas_first_and_busy_ones_leave_when_done() {
        let mut fleet = TypeFleet::new("detection-agent".into(), 1, 1);
        let east = region("us-east-1");
        for serial in 1..=3 {
            fleet.add(serial, format!("detection-us-east-1-{serial}"), east.clone(), t(0));
        }
        let none = BTreeSet::new();
        let busy = fleet.pick(Severity::Low, &east, t(1), &none).map(|i| fleet.replicas[i].serial).unwrap();
        fleet.drain(&east, 2);
        assert_eq!(fleet.kept(&east), 1);
        assert_eq!(
            fleet.replicas.len(),
            1,
            "the idle one drained at once, the busy one kept: {:?}",
            fleet.replicas
        );
        fleet.drain(&east, 1);
        assert_eq!(fleet.replicas.len(), 1, "busy: it finishes first");
        fleet.finish(busy, 2.0, t(3));
        assert!(fleet.replicas.is_empty());
    }
}
