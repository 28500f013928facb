//! The discrete-event engine: simulated time on a manual clock, the suite's own state store in
//! memory, and the decision code the Lambdas run (the autoscaler with its policy limits and
//! cooldowns, replica selection and release, region health) driven by the scenario's incidents.
//! Only the fleet itself is simulated: replicas that start, report every heartbeat interval and
//! work on incidents for their service time.
//!
//! First cut: scaling, selection and outages. Cost sweeps, model selection, warming and the
//! baselines are still to come.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use thiserror::Error;

use super::arrivals::Incident;
use super::events::Agenda;
use super::outcomes::{Outcomes, TypeSummary};
use super::scenario::Scenario;
use crate::balancing::Strategy;
use crate::balancing::assignments::{AssignError, Assignments, ReleaseError};
use crate::clock::{Clock, ManualClock};
use crate::domain::{AgentType, Region, Replica, ReplicaId, Severity};
use crate::performance::cache::{CacheSpec, Caches};
use crate::scaling::actuator::RecordActuator;
use crate::scaling::cost_gate::CostGate;
use crate::scaling::records::RegionHealth;
use crate::scaling::service::{Scaler, ScalingError, ScalingRequest};
use crate::scaling::{FleetState, ScalingPolicy};
use crate::store::{MemoryStore, StoreError};

/// Replicas report this often (the suite's default heartbeat interval).
const HEARTBEAT: Duration = Duration::seconds(30);
/// The autoscaler evaluates every type this often (a CloudWatch alarm's period).
const EVALUATE: Duration = Duration::seconds(60);
/// A new replica takes this long to start before it reports.
const REPLICA_START: Duration = Duration::seconds(5);

#[derive(Debug, Error)]
pub enum SimulationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Scaling(#[from] ScalingError),
    #[error("release failed: {0}")]
    Release(#[from] ReleaseError),
}

#[derive(Debug)]
enum Event {
    Arrival(usize),
    Done { incident: usize, replica: String, assigned: DateTime<Utc> },
    Heartbeat,
    Evaluate,
    Outage { region: Region, down: bool },
}

#[derive(Debug, Clone)]
struct SimReplica {
    id: String,
    region: Region,
    capacity: u32,
    active: u32,
    /// Stopping: reports unhealthy so it gets no new work, and goes once idle.
    draining: bool,
    ready_at: DateTime<Utc>,
}

/// The fleet of one agent type at one sample time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub agent_type: AgentType,
    /// Ready replicas per region.
    pub replicas: BTreeMap<String, u32>,
    /// What the autoscaler wants per region.
    pub desired: BTreeMap<String, u32>,
    /// Active incidents over the capacity of ready, healthy replicas.
    pub utilization: f64,
    pub waiting: usize,
}

/// A run's results.
#[derive(Debug, Clone, Serialize)]
pub struct DayRun {
    pub scenario: String,
    pub incidents: usize,
    pub outcomes: BTreeMap<AgentType, TypeSummary>,
    /// One sample per type each evaluation.
    pub samples: Vec<Sample>,
}

struct Engine<'a> {
    scenario: &'a Scenario,
    incidents: &'a [Incident],
    clock: Arc<ManualClock>,
    fleet: FleetState,
    scaler: Scaler,
    assignments: Assignments,
    agenda: Agenda<Event>,
    replicas: BTreeMap<AgentType, Vec<SimReplica>>,
    /// Incidents one replica of a type works on at once (its policy's, fixed for the run).
    capacity: BTreeMap<AgentType, u32>,
    waiting: BTreeMap<AgentType, VecDeque<usize>>,
    down: BTreeSet<Region>,
    outcomes: Outcomes,
    samples: Vec<Sample>,
    next_replica: u64,
}

/// Runs `scenario` over `incidents` (from [`super::incidents`]) to its end.
pub async fn run(scenario: &Scenario, incidents: &[Incident]) -> Result<DayRun, SimulationError> {
    let clock = Arc::new(ManualClock::new(scenario.start));
    let store: Arc<dyn crate::store::Store> = Arc::new(MemoryStore::new(clock.clone()));
    let fleet = FleetState::new(Arc::clone(&store));
    let regions: Vec<Region> = scenario.regions.keys().cloned().collect();
    let scaler = Scaler::new(fleet.clone(), regions, CostGate::default(), Arc::new(RecordActuator));
    let assignments = Assignments::new(store, scenario.seed).with_caches(
        &Caches::new(),
        CacheSpec::QUERY_RESULTS,
        clock.clone() as Arc<dyn Clock>,
    );
    let mut engine = Engine {
        scenario,
        incidents,
        clock,
        fleet,
        scaler,
        assignments,
        agenda: Agenda::new(),
        replicas: BTreeMap::new(),
        capacity: BTreeMap::new(),
        waiting: BTreeMap::new(),
        down: BTreeSet::new(),
        outcomes: Outcomes::new(),
        samples: Vec::new(),
        next_replica: 0,
    };
    engine.start().await?;
    engine.run_to_end().await?;
    Ok(DayRun {
        scenario: scenario.name.clone(),
        incidents: incidents.len(),
        outcomes: engine.outcomes.summary(),
        samples: engine.samples,
    })
}

impl Engine<'_> {
    async fn start(&mut self) -> Result<(), SimulationError> {
        let start = self.scenario.start;
        for agent_type in self.scenario.agent_mix.keys() {
            let mut policy = ScalingPolicy::default_for(agent_type);
            if let Some(limits) = self.scenario.limits.get(agent_type) {
                policy.min_replicas = limits.min_replicas;
                policy.max_replicas = limits.max_replicas;
            }
            let capacity = policy.capacity_per_replica;
            self.capacity.insert(agent_type.clone(), capacity);
            let min = policy.min_replicas.max(1);
            self.fleet.put_policy(agent_type, policy, 0).await?;
            // The fleet starts at its minimum, spread over the regions.
            let regions: Vec<Region> = self.scenario.regions.keys().cloned().collect();
            for i in 0..min {
                let region = regions[i as usize % regions.len()].clone();
                self.add_replica(agent_type, region, capacity, start);
            }
            self.waiting.insert(agent_type.clone(), VecDeque::new());
        }
        for (i, incident) in self.incidents.iter().enumerate() {
            self.agenda.schedule(incident.at, Event::Arrival(i));
        }
        for outage in &self.scenario.outages {
            let back = outage.from + Duration::minutes(i64::from(outage.minutes));
            self.agenda.schedule(outage.from, Event::Outage { region: outage.region.clone(), down: true });
            self.agenda.schedule(back, Event::Outage { region: outage.region.clone(), down: false });
        }
        self.heartbeat(start).await?;
        self.agenda.schedule(start + HEARTBEAT, Event::Heartbeat);
        self.agenda.schedule(start + EVALUATE, Event::Evaluate);
        Ok(())
    }

    fn add_replica(
        &mut self,
        agent_type: &AgentType,
        region: Region,
        capacity: u32,
        ready_at: DateTime<Utc>,
    ) {
        self.next_replica += 1;
        let id = format!("{}-{}-{}", agent_type, region, self.next_replica);
        self.replicas.entry(agent_type.clone()).or_default().push(SimReplica {
            id,
            region,
            capacity,
            active: 0,
            draining: false,
            ready_at,
        });
    }

    async fn run_to_end(&mut self) -> Result<(), SimulationError> {
        let end = self.scenario.end();
        while let Some((at, event)) = self.agenda.next_until(end) {
            self.clock.set(at);
            match event {
                Event::Arrival(i) => self.arrive(i, at).await?,
                Event::Done { incident, replica, assigned } => {
                    self.done(incident, &replica, assigned, at).await?;
                }
                Event::Heartbeat => {
                    self.heartbeat(at).await?;
                    self.agenda.schedule(at + HEARTBEAT, Event::Heartbeat);
                }
                Event::Evaluate => {
                    self.evaluate(at).await?;
                    self.agenda.schedule(at + EVALUATE, Event::Evaluate);
                }
                Event::Outage { region, down } => {
                    let health = RegionHealth {
                        healthy: !down,
                        weight: 1.0,
                        reason: Some("simulated outage".into()),
                        updated_at: at,
                    };
                    self.fleet.set_region_health(&region, &health).await?;
                    if down {
                        self.down.insert(region);
                    } else {
                        self.down.remove(&region);
                    }
                    self.heartbeat(at).await?;
                }
            }
        }
        for queue in self.waiting.values() {
            for &i in queue {
                self.outcomes.unserved(&self.incidents[i].agent_type);
            }
        }
        // Incidents still in progress at the end.
        while let Some((_, event)) = self.agenda.next_until(DateTime::<Utc>::MAX_UTC) {
            if let Event::Done { incident, .. } = event {
                self.outcomes.unserved(&self.incidents[incident].agent_type);
            }
        }
        Ok(())
    }

    /// Every ready replica reports its load; one in a region that is down, or draining, reports
    /// unhealthy so selection passes it over.
    async fn heartbeat(&mut self, at: DateTime<Utc>) -> Result<(), SimulationError> {
        let ttl = HEARTBEAT * 3;
        for (agent_type, replicas) in &self.replicas {
            for r in replicas.iter().filter(|r| r.ready_at <= at) {
                let replica = Replica {
                    replica_id: ReplicaId::parse(&r.id).map_err(|e| StoreError::Invalid(e.to_string()))?,
                    agent_type: agent_type.clone(),
                    region: r.region.clone(),
                    load: f64::from(r.active),
                    capacity: r.capacity,
                    healthy: !r.draining && !self.down.contains(&r.region),
                    performance_score: 0.9,
                    last_heartbeat: at,
                };
                self.fleet.record_heartbeat(&replica, ttl).await?;
            }
        }
        Ok(())
    }

    async fn try_assign(&mut self, i: usize, at: DateTime<Utc>) -> Result<bool, SimulationError> {
        let incident = &self.incidents[i];
        let picked = self
            .assignments
            .assign(&incident.agent_type, incident.severity, Some(&incident.region), Strategy::default(), at)
            .await;
        match picked {
            Ok(assignment) => {
                if let Some(r) = self
                    .replicas
                    .get_mut(&incident.agent_type)
                    .and_then(|rs| rs.iter_mut().find(|r| r.id == assignment.replica_id))
                {
                    r.active += 1;
                }
                let done = at + Duration::milliseconds((incident.service_s * 1000.0) as i64);
                self.agenda.schedule(
                    done,
                    Event::Done { incident: i, replica: assignment.replica_id, assigned: at },
                );
                Ok(true)
            }
            Err(AssignError::NoReplica(_)) => Ok(false),
            Err(AssignError::Store(e)) => Err(e.into()),
        }
    }

    async fn arrive(&mut self, i: usize, at: DateTime<Utc>) -> Result<(), SimulationError> {
        let agent_type = self.incidents[i].agent_type.clone();
        let queued = self.waiting.get(&agent_type).is_some_and(|q| !q.is_empty());
        // First come, first served: while others wait, a newcomer queues behind them.
        if queued || !self.try_assign(i, at).await? {
            self.waiting.entry(agent_type).or_default().push_back(i);
        }
        Ok(())
    }

    /// Assigns waiting incidents of `agent_type` until one finds no room.
    async fn drain(&mut self, agent_type: &AgentType, at: DateTime<Utc>) -> Result<(), SimulationError> {
        while let Some(&i) = self.waiting.get(agent_type).and_then(VecDeque::front) {
            if !self.try_assign(i, at).await? {
                break;
            }
            if let Some(q) = self.waiting.get_mut(agent_type) {
                q.pop_front();
            }
        }
        Ok(())
    }

    async fn done(
        &mut self,
        i: usize,
        replica: &str,
        assigned: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), SimulationError> {
        let incident = &self.incidents[i];
        let agent_type = incident.agent_type.clone();
        self.outcomes.completed(&agent_type, incident.at, assigned, at);
        let latency_s = (at - assigned).num_milliseconds() as f64 / 1000.0;
        match self.assignments.release(&agent_type, replica, true, latency_s, at).await {
            // A replica that stopped reporting (an outage) has no counter left to release.
            Ok(_) | Err(ReleaseError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(rs) = self.replicas.get_mut(&agent_type) {
            if let Some(r) = rs.iter_mut().find(|r| r.id == replica) {
                r.active = r.active.saturating_sub(1);
            }
            rs.retain(|r| !(r.draining && r.active == 0));
        }
        self.drain(&agent_type, at).await
    }

    /// The autoscaler's round: every type evaluated on its reported load, the simulated fleet
    /// brought to what it decided per region, and a sample taken.
    async fn evaluate(&mut self, at: DateTime<Utc>) -> Result<(), SimulationError> {
        let types: Vec<AgentType> = self.replicas.keys().cloned().collect();
        for agent_type in types {
            let request = ScalingRequest {
                agent_type: agent_type.clone(),
                utilization: None,
                severity: Severity::High,
                dry_run: false,
                alarm_at: None,
            };
            self.scaler.evaluate(&request, at).await?;
            let (state, _) = self.fleet.scaling_state(&agent_type).await?;
            let capacity = self.capacity[&agent_type];
            self.reconcile(&agent_type, &state.desired, capacity, at);
            self.drain(&agent_type, at).await?;
            self.sample(&agent_type, &state.desired, at);
        }
        Ok(())
    }

    fn reconcile(
        &mut self,
        agent_type: &AgentType,
        desired: &BTreeMap<String, u32>,
        capacity: u32,
        at: DateTime<Utc>,
    ) {
        for (region, &want) in desired {
            let Ok(region) = Region::parse(region) else { continue };
            let serving = |r: &&SimReplica| r.region == region && !r.draining;
            let have = self.replicas.get(agent_type).map_or(0, |rs| rs.iter().filter(serving).count() as u32);
            for _ in have..want {
                self.add_replica(agent_type, region.clone(), capacity, at + REPLICA_START);
            }
            if have > want {
                let mut extra = have - want;
                if let Some(rs) = self.replicas.get_mut(agent_type) {
                    // Idle ones first, newest first.
                    rs.sort_by_key(|r| {
                        (r.region != region, r.draining, r.active > 0, std::cmp::Reverse(r.ready_at))
                    });
                    for r in rs.iter_mut().filter(|r| r.region == region && !r.draining) {
                        if extra == 0 {
                            break;
                        }
                        r.draining = true;
                        extra -= 1;
                    }
                    rs.retain(|r| !(r.draining && r.active == 0));
                }
            }
        }
    }

    fn sample(&mut self, agent_type: &AgentType, desired: &BTreeMap<String, u32>, at: DateTime<Utc>) {
        let rs = self.replicas.get(agent_type).map(Vec::as_slice).unwrap_or_default();
        let mut replicas = BTreeMap::new();
        let (mut active, mut capacity) = (0u64, 0u64);
        for r in rs.iter().filter(|r| r.ready_at <= at && !r.draining) {
            *replicas.entry(r.region.to_string()).or_insert(0) += 1;
            if !self.down.contains(&r.region) {
                active += u64::from(r.active);
                capacity += u64::from(r.capacity);
            }
        }
        self.samples.push(Sample {
            at,
            agent_type: agent_type.clone(),
            replicas,
            desired: desired.clone(),
            utilization: if capacity == 0 { 0.0 } else { active as f64 / capacity as f64 },
            waiting: self.waiting.get(agent_type).map_or(0, VecDeque::len),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulation::incidents;

    /// Two hours in two regions: New York's morning starts at 13:00 UTC, so load jumps almost fortyfold
    /// an hour in.
    fn scenario(extra: &str) -> Scenario {
        Scenario::parse(&format!(
            r#"{{"name": "t", "start": "2026-03-10T12:00:00Z", "hours": 2, "seed": 3,
                "regions": {{"us-east-1": {{"off_hours_per_minute": 4.0, "business_per_minute": 150.0}},
                             "us-west-2": {{"off_hours_per_minute": 4.0, "business_per_minute": 4.0}}}},
                "agent_mix": {{"detection": 1.0}},
                "severity_mix": {{"high": 1.0}},
                "service": {{"detection": {{"median_s": 20.0, "p95_s": 40.0}}}},
                "limits": {{"detection": {{"min_replicas": 2, "max_replicas": 10}}}}{extra}}}"#
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn the_autoscaler_follows_the_morning_and_every_incident_is_accounted_for() {
        let s = scenario("");
        let day = incidents(&s);
        let run = run(&s, &day).await.unwrap();
        let detection = &run.outcomes[&AgentType::parse("detection").unwrap()];
        assert_eq!(detection.completed + detection.unserved, day.len() as u64);
        let replicas = |sample: &Sample| sample.replicas.values().sum::<u32>();
        let night = run
            .samples
            .iter()
            .filter(|x| x.at < s.start + Duration::minutes(55))
            .map(replicas)
            .max()
            .unwrap();
        let morning = run
            .samples
            .iter()
            .filter(|x| x.at > s.start + Duration::minutes(90))
            .map(replicas)
            .max()
            .unwrap();
        assert!(night <= 2 && morning > night, "night {night}, morning {morning}");
        assert!(detection.over_maximum_share < 0.05, "{detection:?}");
    }
}

#[cfg(test)]
mod outage_tests {
    use super::*;
    use crate::simulation::incidents;

    #[tokio::test]
    async fn an_outage_moves_the_work_to_the_other_region() {
        let s = Scenario::parse(
            r#"{"name": "t", "start": "2026-03-10T13:00:00Z", "hours": 1, "seed": 5,
                "regions": {"us-east-1": {"off_hours_per_minute": 60.0, "business_per_minute": 60.0},
                            "us-west-2": {"off_hours_per_minute": 20.0, "business_per_minute": 20.0}},
                "agent_mix": {"detection": 1.0},
                "severity_mix": {"critical": 1.0},
                "service": {"detection": {"median_s": 20.0, "p95_s": 40.0}},
                "limits": {"detection": {"min_replicas": 2, "max_replicas": 10}},
                "outages": [{"region": "us-east-1", "from": "2026-03-10T13:20:00Z", "minutes": 20}]}"#,
        )
        .unwrap();
        let day = incidents(&s);
        let run = run(&s, &day).await.unwrap();
        let during =
            |x: &&Sample| x.at >= s.start + Duration::minutes(30) && x.at < s.start + Duration::minutes(40);
        let west: Vec<u32> = run
            .samples
            .iter()
            .filter(during)
            .map(|x| x.desired.get("us-west-2").copied().unwrap_or(0))
            .collect();
        assert!(west.iter().all(|n| *n >= 2), "the healthy region carries the fleet: {west:?}");
        let detection = &run.outcomes[&AgentType::parse("detection").unwrap()];
        assert_eq!(detection.completed + detection.unserved, day.len() as u64);
        assert!(detection.over_maximum_share < 0.05, "{detection:?}");
    }
}
