//! Assigning incidents to replicas in the store: the I/O around the pure balancer.
//!
//! A replica item carries, besides what its heartbeat reports, the counters balancing keeps:
//! `assigned` and `released` since the replica's last report (atomic adds; the heartbeat resets
//! both, since its `load` counts everything the replica is working on), outlier-detection state
//! and the latency EWMA, which releases rewrite only at the `version` they read. The report is
//! authoritative: an assignment whose release never arrives (a client crash, a timeout, a
//! retried select) stops counting at the replica's next heartbeat. Every assignment and every refusal is counted per type, minute and
//! severity by the scaler's demand ledger (`scaling::demand`), which the evaluation reads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::candidate::Candidate;
use super::ejection::{self, EjectionConfig, Neighbours, OutlierState, Verdict};
use super::ewma;
use super::strategy::{Balancer, PickContext, Strategy};
use crate::clock::{Clock, SystemClock};
use crate::domain::{AgentType, Proximity, Region, Replica, Severity};
use crate::performance::cache::{CacheSpec, Caches, LocalCache};
use crate::scaling::FleetState;
use crate::scaling::demand::DemandLedger;
use crate::store::{Condition, Item, Key, Store, StoreError, Update};
use crate::sync::lock;

/// How long a container reuses a type's replica set before reading it again.
pub const REPLICA_SET_TTL: StdDuration = StdDuration::from_secs(1);

/// How long an incident's assignment is remembered: as long as an incident may last.
pub const INCIDENT_LIFETIME: chrono::Duration = chrono::Duration::hours(24);

/// Picks an assignment tries when the replica picked has just expired.
const ASSIGN_ATTEMPTS: u32 = 3;
/// Reads and conditional writes a release tries before reporting contention.
const RELEASE_ATTEMPTS: u32 = 8;

/// The balancing counters on a replica item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicaLoad {
    /// Assignments since the replica's last heartbeat.
    #[serde(default)]
    pub assigned: f64,
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default)]
    pub times_ejected: u32,
    #[serde(default)]
    pub ejected_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub latency_ewma_s: f64,
    #[serde(default)]
    pub latency_at: Option<DateTime<Utc>>,
    /// Releases since the replica's last heartbeat.
    #[serde(default)]
    pub released: f64,
}

impl ReplicaLoad {
    /// Incidents the replica is working on: what it last reported, plus what was assigned to it
    /// since, less what it finished since.
    pub fn in_progress(&self, reported: f64) -> f64 {
        (reported + self.assigned - self.released).max(0.0)
    }
}

/// One replica as cached: what the balancer needs and where it is stored.
#[derive(Debug, Clone)]
struct Entry {
    candidate: Candidate,
    key: Key,
}

/// One read of a type's replicas, numbered so a balancer knows whether it has it already.
#[derive(Debug, Default)]
struct ReadSet {
    generation: u64,
    entries: Vec<Entry>,
}

/// A type's balancer and the read it was last refreshed with (its candidates' order).
#[derive(Debug)]
struct TypeBalancer {
    balancer: Balancer,
    read: Arc<ReadSet>,
}

/// An incident's assignment, and its release once it came, as recorded under its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct IncidentRecord {
    #[serde(default)]
    assignment: Option<Assignment>,
    #[serde(default)]
    release: Option<Released>,
    /// A release was claimed (and may have been counted) before its result was recorded.
    #[serde(default)]
    releasing: bool,
}

fn incident_key(agent_type: &AgentType, incident_id: &str) -> Key {
    crate::table::incident(agent_type, incident_id)
}

/// The answer to an assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub replica_id: String,
    pub region: String,
    pub strategy: Strategy,
    pub reason: String,
}

#[derive(Debug, Error)]
pub enum AssignError {
    /// No replica can take the incident; the refusal was counted as demand for the scaler.
    #[error("no {0} replica can take an incident now")]
    NoReplica(AgentType),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Error)]
pub enum ReleaseError {
    #[error("no live {agent_type} replica {replica_id}")]
    NotFound { agent_type: AgentType, replica_id: String },
    /// Other releases of the same replica kept changing its counters first.
    #[error("{agent_type} replica {replica_id} is being released by too many callers at once; try again")]
    Contended { agent_type: AgentType, replica_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a release changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Released {
    pub replica_id: String,
    pub active: f64,
    pub latency_ewma_s: f64,
    /// Set when this failure ejected the replica.
    pub ejected_until: Option<DateTime<Utc>>,
    /// Why a replica that qualified was not ejected.
    pub kept_because: Option<String>,
}

/// Assignments with a per-container replica-set cache and one seeded balancer per agent type.
#[derive(Debug, Clone)]
pub struct Assignments {
    fleet: FleetState,
    demand: DemandLedger,
    store: Arc<dyn Store>,
    ejection: EjectionConfig,
    /// Replica sets, for [`REPLICA_SET_TTL`] each, in the `query_results` cache.
    cache: LocalCache<Arc<ReadSet>>,
    balancers: Arc<Mutex<HashMap<String, TypeBalancer>>>,
    generation: Arc<AtomicU64>,
    seed: u64,
    /// Spill order for the geographic strategy.
    proximity: Proximity,
}

fn candidate(replica: &Replica, load: &ReplicaLoad, now: DateTime<Utc>) -> Candidate {
    Candidate {
        id: replica.replica_id.to_string(),
        region: replica.region.clone(),
        active: load.in_progress(replica.load).ceil().clamp(0.0, f64::from(u32::MAX)) as u32,
        capacity: replica.capacity,
        healthy: replica.healthy,
        ejected: load.ejected_until.is_some_and(|until| until > now),
        performance_score: replica.performance_score,
        consecutive_failures: load.consecutive_failures,
        weight: None,
        latency_ewma_s: load.latency_ewma_s,
        draining: replica.draining,
    }
}

impl Assignments {
    pub fn new(store: Arc<dyn Store>, seed: u64) -> Self {
        Self {
            fleet: FleetState::new(Arc::clone(&store)),
            demand: DemandLedger::new(Arc::clone(&store)),
            store,
            ejection: EjectionConfig::default(),
            cache: Caches::new().local(CacheSpec::QUERY_RESULTS, Arc::new(SystemClock)),
            balancers: Arc::new(Mutex::new(HashMap::new())),
            generation: Arc::new(AtomicU64::new(0)),
            seed,
            proximity: Proximity::published(),
        }
    }

    /// Counts demand as the region at `index` of a control plane in `regions` regions (each
    /// region writes its own demand shards).
    #[must_use]
    pub fn in_region(mut self, index: usize, regions: usize) -> Self {
        self.demand = self.demand.in_region(index, regions);
        self
    }

    /// Spills geographic picks by `proximity` (the configured round trips).
    #[must_use]
    pub fn with_proximity(mut self, proximity: Proximity) -> Self {
        self.proximity = proximity;
        self
    }

    /// Keeps replica sets in `caches`' cache of `spec` (`query_results`: counted and shed with
    /// the others), fresh by `clock`.
    #[must_use]
    pub fn with_caches(mut self, caches: &Caches, spec: CacheSpec, clock: Arc<dyn Clock>) -> Self {
        self.cache = caches.local(spec, clock);
        self
    }

    async fn read_set(&self, agent_type: &AgentType, now: DateTime<Utc>) -> Result<Vec<Entry>, StoreError> {
        let items = self.fleet.replica_items(agent_type).await?;
        Ok(items
            .into_iter()
            .map(|(replica, item)| {
                let load: ReplicaLoad = item.record().unwrap_or_default();
                Entry { candidate: candidate(&replica, &load, now), key: item.key }
            })
            .collect())
    }

    async fn cached_set(
        &self,
        agent_type: &AgentType,
        now: DateTime<Utc>,
    ) -> Result<Arc<ReadSet>, StoreError> {
        let key = agent_type.to_string();
        if let Some(set) = self.cache.get(&key).await {
            return Ok(set);
        }
        let entries = self.read_set(agent_type, now).await?;
        let set =
            Arc::new(ReadSet { generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1, entries });
        self.cache.insert_for(key, Arc::clone(&set), REPLICA_SET_TTL).await;
        Ok(set)
    }

    /// Drops this container's copy of `agent_type`'s replica set, so its next pick reads the set
    /// again (after a replica was drained or deregistered here; other containers see the change
    /// within [`REPLICA_SET_TTL`]).
    pub async fn forget(&self, agent_type: &AgentType) {
        self.cache.invalidate(&agent_type.to_string()).await;
    }

    /// Picks a replica for one incident and counts it as assigned there; the assignment, or the
    /// refusal when no replica has room, is counted as demand (under the incident's id when it
    /// has one, so retries of a refused incident count once a minute and its success as waited).
    ///
    /// Under an incident id the choice is recorded before the replica's count (at
    /// `AGENT#<type>`/`INCIDENT#<id>`, kept as long as an incident may last): a retry, after any
    /// failure or a function killed midway, answers the recorded replica and never counts the
    /// incident twice (at worst once too few, which the replica's next heartbeat mends).
    pub async fn assign(
        &self,
        agent_type: &AgentType,
        severity: Severity,
        region: Option<&Region>,
        strategy: Strategy,
        incident_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Assignment, AssignError> {
        let record = incident_id.map(|id| incident_key(agent_type, id));
        if let Some(key) = &record
            && let Some(done) = self.recorded(key).await?
        {
            return Ok(done);
        }
        for _ in 0..ASSIGN_ATTEMPTS {
            let Some((entry, reason)) = self.choose(agent_type, severity, region, strategy, now).await?
            else {
                break;
            };
            let assignment = Assignment {
                replica_id: entry.candidate.id.clone(),
                region: entry.candidate.region.to_string(),
                strategy,
                reason,
            };
            if let Some(key) = &record {
                let done =
                    IncidentRecord { assignment: Some(assignment.clone()), release: None, releasing: false };
                let item =
                    Item::from_record(key.clone(), &done)?.with_version(1).with_ttl(now + INCIDENT_LIFETIME);
                match self.store.put(item, Condition::Absent).await {
                    Ok(()) => {}
                    // The same incident, chosen at the same moment elsewhere: that choice stands.
                    Err(StoreError::ConditionFailed) => {
                        if let Some(done) = self.recorded(key).await? {
                            return Ok(done);
                        }
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            // Only a live replica takes the incident: one that expired since the read leaves no
            // counter behind, and the next attempt reads the replicas again.
            match self
                .store
                .update(&entry.key, Update::new().add("assigned", 1.0).only_if(Condition::Exists))
                .await
            {
                Ok(_) => {
                    self.demand.served(agent_type, severity, incident_id, now).await?;
                    return Ok(assignment);
                }
                Err(StoreError::ConditionFailed) => {
                    if let Some(key) = &record {
                        self.store.delete(key, Condition::Version(1)).await.or_else(|e| match e {
                            StoreError::ConditionFailed => Ok(()),
                            e => Err(e),
                        })?;
                    }
                    self.cache.invalidate(&agent_type.to_string()).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.demand.refused(agent_type, severity, incident_id, now).await?;
        Err(AssignError::NoReplica(agent_type.clone()))
    }

    /// The assignment recorded under an incident's key, if any.
    async fn recorded(&self, key: &Key) -> Result<Option<Assignment>, StoreError> {
        let record: Option<IncidentRecord> =
            self.store.get(key).await?.map(|item| item.record()).transpose()?;
        Ok(record.and_then(|r| r.assignment))
    }

    /// The balancer's pick from the cached replica set, counted as started in this container.
    async fn choose(
        &self,
        agent_type: &AgentType,
        severity: Severity,
        region: Option<&Region>,
        strategy: Strategy,
        now: DateTime<Utc>,
    ) -> Result<Option<(Entry, String)>, StoreError> {
        let read = self.cached_set(agent_type, now).await?;
        let mut balancers = lock(&self.balancers);
        let typed = balancers.entry(agent_type.to_string()).or_insert_with(|| TypeBalancer {
            balancer: Balancer::new(self.seed).with_proximity(self.proximity.clone()),
            read: Arc::new(ReadSet::default()),
        });
        if typed.read.generation < read.generation {
            typed.balancer.refresh(read.entries.iter().map(|e| e.candidate.clone()).collect());
            typed.read = read;
        }
        let ctx = PickContext { severity, region };
        Ok(typed.balancer.pick(strategy, &ctx).map(|pick| {
            // This container's own picks count at once; others' within the cache's second.
            typed.balancer.started(pick.index);
            (typed.read.entries[pick.index].clone(), pick.to_string())
        }))
    }

    /// Incidents assigned in the last full minute.
    pub async fn incidents_per_minute(
        &self,
        agent_type: &AgentType,
        now: DateTime<Utc>,
    ) -> Result<f64, StoreError> {
        self.demand.served_last_minute(agent_type, now).await
    }

    /// Ends an assignment: one more released, the latency fed to the EWMA, the outcome to outlier
    /// detection. The replica is found in this container's replica set (read at most once a
    /// second) and its item read by key; its counters are rewritten only if no other release
    /// changed them since (the item's version); a release that loses the race reads again.
    pub async fn release(
        &self,
        agent_type: &AgentType,
        replica_id: &str,
        ok: bool,
        latency_s: f64,
        incident_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Released, ReleaseError> {
        let Some(id) = incident_id else {
            return self.release_counted(agent_type, replica_id, ok, latency_s, now).await;
        };
        // Under the incident's id the release is claimed in the incident's record before it is
        // counted, and its result recorded after: a retry answers the recorded result, or, when
        // an earlier attempt claimed it and stopped midway, the replica as it stands, and never
        // counts the release twice (at worst once too few, which the next heartbeat mends).
        let key = incident_key(agent_type, id);
        for _ in 0..RELEASE_ATTEMPTS {
            let existing = self.store.get(&key).await?;
            let mut record: IncidentRecord = match existing.as_ref().map(Item::record).transpose()? {
                Some(record) => record,
                None => IncidentRecord { assignment: None, release: None, releasing: false },
            };
            if let Some(done) = record.release.clone() {
                return Ok(done);
            }
            if record.releasing {
                return self.current(agent_type, replica_id, now).await;
            }
            let version = existing.as_ref().and_then(Item::version);
            record.releasing = true;
            let claimed = self.put_record(&key, &record, version, now).await;
            match claimed {
                Ok(()) => {}
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
            let claimed_version = version.unwrap_or(0) + 1;
            let released = match self.release_counted(agent_type, replica_id, ok, latency_s, now).await {
                Ok(released) => released,
                Err(e) => {
                    // Not counted (or, after a timeout, not known to be): the claim goes, so a
                    // retry counts it.
                    record.releasing = false;
                    if let Err(undo) = self.put_record(&key, &record, Some(claimed_version), now).await {
                        tracing::warn!(error = %undo, incident = id, "could not withdraw a release claim");
                    }
                    return Err(e);
                }
            };
            record.release = Some(released.clone());
            if let Err(e) = self.put_record(&key, &record, Some(claimed_version), now).await {
                // Counted; a retry finds the claim and answers the replica as it stands.
                tracing::warn!(error = %e, incident = id, "could not record a release's result");
            }
            return Ok(released);
        }
        Err(ReleaseError::Contended { agent_type: agent_type.clone(), replica_id: replica_id.to_owned() })
    }

    /// Writes an incident's record over `version` (absent when `None`), kept as long as an
    /// incident may last.
    async fn put_record(
        &self,
        key: &Key,
        record: &IncidentRecord,
        version: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let item = Item::from_record(key.clone(), record)?
            .with_version(version.unwrap_or(0) + 1)
            .with_ttl(now + INCIDENT_LIFETIME);
        let condition = version.map_or(Condition::Absent, Condition::Version);
        self.store.put(item, condition).await
    }

    /// A replica's counters as they stand, for a release already counted.
    async fn current(
        &self,
        agent_type: &AgentType,
        replica_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Released, ReleaseError> {
        let not_found =
            || ReleaseError::NotFound { agent_type: agent_type.clone(), replica_id: replica_id.to_owned() };
        let read = self.cached_set(agent_type, now).await?;
        let entry = read.entries.iter().find(|e| e.candidate.id == replica_id).ok_or_else(not_found)?;
        let item = self.store.get(&entry.key).await?.ok_or_else(not_found)?;
        let reported: Replica = item.record()?;
        let load: ReplicaLoad = item.record().unwrap_or_default();
        Ok(Released {
            replica_id: replica_id.to_owned(),
            active: load.in_progress(reported.load),
            latency_ewma_s: load.latency_ewma_s,
            ejected_until: load.ejected_until.filter(|until| *until > now),
            kept_because: None,
        })
    }

    /// [`Self::release`] without an incident id: counted every time it is called.
    async fn release_counted(
        &self,
        agent_type: &AgentType,
        replica_id: &str,
        ok: bool,
        latency_s: f64,
        now: DateTime<Utc>,
    ) -> Result<Released, ReleaseError> {
        let not_found =
            || ReleaseError::NotFound { agent_type: agent_type.clone(), replica_id: replica_id.to_owned() };
        let mut read = self.cached_set(agent_type, now).await?;
        if !read.entries.iter().any(|e| e.candidate.id == replica_id) {
            // Reported since the set was read: read it again, once.
            self.cache.invalidate(&agent_type.to_string()).await;
            read = self.cached_set(agent_type, now).await?;
        }
        let Some(entry) = read.entries.iter().find(|e| e.candidate.id == replica_id) else {
            return Err(not_found());
        };
        let others = read.entries.iter().filter(|e| e.candidate.id != replica_id);
        let neighbours = Neighbours {
            total: read.entries.len(),
            ejected: others.clone().filter(|e| e.candidate.ejected).count(),
            available: others.filter(|e| e.candidate.available()).count(),
        };
        for _ in 0..RELEASE_ATTEMPTS {
            match self.try_release(&entry.key, neighbours, ok, latency_s, now).await {
                Err(ReleaseError::Store(StoreError::ConditionFailed)) => {}
                // Expired since the set was read.
                Ok(None) => return Err(not_found()),
                Ok(Some(released)) => {
                    if released.ejected_until.is_some() {
                        // Rare, and the next pick must not choose it: read the set again.
                        self.cache.invalidate(&agent_type.to_string()).await;
                    }
                    self.finished(agent_type, replica_id, released.latency_ewma_s);
                    return Ok(Released { replica_id: replica_id.to_owned(), ..released });
                }
                Err(e) => return Err(e),
            }
        }
        Err(ReleaseError::Contended { agent_type: agent_type.clone(), replica_id: replica_id.to_owned() })
    }

    /// This container's balancer counts the release at once (as it counts its own picks).
    fn finished(&self, agent_type: &AgentType, replica_id: &str, latency_ewma_s: f64) {
        let mut balancers = lock(&self.balancers);
        if let Some(typed) = balancers.get_mut(agent_type.as_str())
            && let Some(index) = typed.read.entries.iter().position(|e| e.candidate.id == replica_id)
        {
            typed.balancer.finished(index, Some(latency_ewma_s));
        }
    }

    async fn try_release(
        &self,
        key: &Key,
        neighbours: Neighbours,
        ok: bool,
        latency_s: f64,
        now: DateTime<Utc>,
    ) -> Result<Option<Released>, ReleaseError> {
        let Some(item) = self.store.get(key).await? else {
            return Ok(None);
        };
        let reported: Replica = item.record().map_err(ReleaseError::Store)?;
        let load: ReplicaLoad = item.record().unwrap_or_default();
        let Some(version) = item.version() else {
            // A replica never released before has no version yet: give it one (adding 0 leaves a
            // concurrent first release's version alone; a replica that expired meanwhile is left
            // alone, and the next read no longer finds it) and read again.
            let update = Update::new().add("version", 0.0).only_if(Condition::Exists);
            return match self.store.update(key, update).await {
                Ok(_) | Err(StoreError::ConditionFailed) => {
                    Err(ReleaseError::Store(StoreError::ConditionFailed))
                }
                Err(e) => Err(e.into()),
            };
        };
        let mut outlier = OutlierState {
            consecutive_failures: load.consecutive_failures,
            times_ejected: load.times_ejected,
            ejected_until: load.ejected_until,
        };
        let verdict = ejection::record(&self.ejection, &mut outlier, ok, now, neighbours);
        let elapsed = load.latency_at.map_or(0.0, |at| (now - at).num_milliseconds() as f64 / 1000.0);
        let latency_ewma_s = ewma::update(load.latency_ewma_s, latency_s, elapsed);
        let mut update = Update::new()
            .add("released", 1.0)
            .add("version", 1.0)
            .set("consecutive_failures", outlier.consecutive_failures)
            .set("times_ejected", outlier.times_ejected)
            .set("latency_ewma_s", latency_ewma_s)
            .set("latency_at", now.to_rfc3339())
            .only_if(Condition::Version(version));
        update = match outlier.ejected_until {
            Some(until) => update.set("ejected_until", until.to_rfc3339()),
            None => update.set("ejected_until", serde_json::Value::Null),
        };
        let after = self.store.update(key, update).await?;
        let after_load: ReplicaLoad = after.record().unwrap_or_default();
        let (ejected_until, kept_because) = match verdict {
            Verdict::Ejected { until } => (Some(until), None),
            Verdict::Kept { reason } => (None, Some(reason)),
            Verdict::Unchanged => (None, None),
        };
        Ok(Some(Released {
            replica_id: String::new(),
            active: after_load.in_progress(reported.load),
            latency_ewma_s,
            ejected_until,
            kept_because,
        }))
    }
}
