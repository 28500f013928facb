//! Policies and replicas in the store: the I/O half of scaling, kept apart from decision code.
//!
//! Keys: a policy at `AGENT#<type>`/`POLICY`; a replica at `AGENT#<type>`/`REPLICA#<region>#<id>`
//! with a `ttl`; operator-defined types listed at `CATALOG`/`AGENT#<type>` so every read stays a
//! GetItem or a Query. Builtin types need no stored policy: until changed, theirs is the seed
//! default at version 0.

use std::sync::Arc;

use futures::{StreamExt as _, TryStreamExt as _};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::ScalingPolicy;
use super::records::{AgentScalingState, Pause, RegionEvent, RegionHealth, ScalingEventRecord};
use crate::cost::control::CostControl;
use crate::domain::{AgentType, BuiltinAgentType, Region, Replica, ReplicaId};
use crate::store::{Condition, GET_MANY_BATCH, Item, Key, Query, Store, StoreError, Update};
use crate::table;

/// Live replicas one agent type may have. Every id goes into the type's state item (to notice the
/// ones that stop reporting), which must stay well inside DynamoDB's 400 KB: 1,000 ids of up to
/// 128 bytes are at most about 135 KB. It is also the largest `max_replicas` a policy may set.
pub const MAX_REPLICAS_PER_TYPE: usize = ScalingPolicy::MAX_REPLICAS as usize;
/// Operator-defined agent types (besides the five builtins): status, region redistribution and
/// the scaler's tick read every type, and each has two managed alarms.
pub const MAX_OPERATOR_TYPES: usize = 45;

/// Batched policy reads in flight at once when every type's policy is read (a tick, the status).
const POLICY_READS_AT_ONCE: usize = 4;

/// A policy with the version a writer must quote to change it (0: never changed).
#[derive(Debug, Clone, PartialEq)]
pub struct VersionedPolicy {
    pub agent_type: AgentType,
    pub policy: ScalingPolicy,
    pub version: u64,
}

/// What a replica reports about itself every heartbeat interval (the body of
/// `POST /replicas/heartbeat` as it is); the time of the report is the server's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = HeartbeatRequest)]
pub struct ReplicaHeartbeat {
    #[schema(value_type = String, pattern = "^[a-z0-9-]{1,64}$")]
    pub agent_type: AgentType,
    #[schema(value_type = String, pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub replica_id: ReplicaId,
    /// One of the fleet's regions.
    #[schema(value_type = String, example = "us-east-1", pattern = "^[a-z]{2}-(gov-|iso-|isob-|isof-)?(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9][0-9]?$")]
    pub region: Region,
    /// Incidents in progress on the replica: 0 to 4 x `capacity`.
    #[schema(minimum = 0, maximum = 400_000)]
    pub load: f64,
    /// Incidents it can handle at once.
    #[schema(minimum = 1, maximum = 100_000)]
    pub capacity: u32,
    pub healthy: bool,
    #[schema(minimum = 0, maximum = 1)]
    pub performance_score: f64,
    /// True when the replica is shutting down: it takes no new work from now on (as after
    /// `POST /replicas/drain`). False or absent changes nothing: a draining replica stays
    /// draining.
    #[serde(default)]
    pub draining: bool,
}

impl ReplicaHeartbeat {
    pub fn at(self, now: DateTime<Utc>) -> Replica {
        Replica {
            replica_id: self.replica_id,
            agent_type: self.agent_type,
            region: self.region,
            load: self.load,
            capacity: self.capacity,
            healthy: self.healthy,
            performance_score: self.performance_score,
            last_heartbeat: now,
            draining: self.draining,
        }
    }
}

pub(crate) fn agent_pk(agent_type: &AgentType) -> String {
    table::agent(agent_type)
}

fn policy_key(agent_type: &AgentType) -> Key {
    table::policy(agent_type)
}

fn state_key(agent_type: &AgentType) -> Key {
    table::scaling_state(agent_type)
}

fn region_key(region: &Region) -> Key {
    table::region_health(region)
}

pub(crate) fn replica_key(replica: &Replica) -> Key {
    table::replica(&replica.agent_type, &replica.region, replica.replica_id.as_str())
}

/// The policy stored for `agent_type` as `item`; without one, a builtin's seed default
/// (version 0) or `None` for an operator-defined type.
fn policy_in_force(
    agent_type: &AgentType,
    item: Option<Item>,
) -> Result<Option<VersionedPolicy>, StoreError> {
    if let Some(item) = item {
        let policy: ScalingPolicy = item.record()?;
        let version = item.version().unwrap_or(0);
        return Ok(Some(VersionedPolicy { agent_type: agent_type.clone(), policy, version }));
    }
    Ok(agent_type.builtin().map(|_| VersionedPolicy {
        agent_type: agent_type.clone(),
        policy: ScalingPolicy::default_for(agent_type),
        version: 0,
    }))
}

/// A type's scaling state read as `item`, with its version; never written: the default at 0.
pub(crate) fn scaling_state_of(item: Option<&Item>) -> Result<(AgentScalingState, u64), StoreError> {
    match item {
        Some(item) => Ok((item.record()?, item.version().unwrap_or(0))),
        None => Ok((AgentScalingState::default(), 0)),
    }
}

/// A type's pause read as `item` (none: not paused).
pub(crate) fn pause_of(item: Option<&Item>) -> Result<Option<Pause>, StoreError> {
    item.map(Item::record).transpose()
}

/// Typed access to the fleet's policies and replicas.
#[derive(Debug, Clone)]
pub struct FleetState {
    store: Arc<dyn Store>,
}

impl FleetState {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The store it reads and writes.
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// The policy in force for `agent_type`, or `None` for an operator-defined type nobody has
    /// defined yet.
    pub async fn policy(&self, agent_type: &AgentType) -> Result<Option<VersionedPolicy>, StoreError> {
        policy_in_force(agent_type, self.store.get(&policy_key(agent_type)).await?)
    }

    /// Every known agent type: the builtins, then operator-defined ones in name order.
    pub async fn agent_types(&self) -> Result<Vec<AgentType>, StoreError> {
        let mut types: Vec<AgentType> = BuiltinAgentType::ALL.iter().map(|b| b.agent_type()).collect();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .query(
                    &Query::partition(table::CATALOG).prefix(table::CATALOG_PREFIX).limit(1000).after(cursor),
                )
                .await?;
            for item in page.items {
                let name = item.key.sk.trim_start_matches(table::CATALOG_PREFIX);
                let agent_type = AgentType::parse(name)
                    .map_err(|e| StoreError::Corrupt(format!("catalog entry {name:?}: {e}")))?;
                if agent_type.builtin().is_none() {
                    types.push(agent_type);
                }
            }
            cursor = page.next;
            if cursor.is_none() {
                return Ok(types);
            }
        }
    }

    /// All policies in force, in [`Self::agent_types`] order: one store request per hundred
    /// types (BatchGetItem), at most `POLICY_READS_AT_ONCE` of them in flight.
    pub async fn policies(&self) -> Result<Vec<VersionedPolicy>, StoreError> {
        let types = self.agent_types().await?;
        let keys: Vec<Key> = types.iter().map(policy_key).collect();
        let reads: Vec<_> = keys.chunks(GET_MANY_BATCH).map(|chunk| self.store.get_many(chunk)).collect();
        let items: Vec<Vec<Option<Item>>> =
            futures::stream::iter(reads).buffered(POLICY_READS_AT_ONCE).try_collect().await?;
        let mut policies = Vec::with_capacity(types.len());
        for (agent_type, item) in types.iter().zip(items.into_iter().flatten()) {
            // A catalog entry whose policy write never landed is not a defined type.
            policies.extend(policy_in_force(agent_type, item)?);
        }
        Ok(policies)
    }

    /// Replaces the policy if it is still at `expected_version`; fails with `ConditionFailed`
    /// when someone else changed it since. Answers the stored policy with its new version.
    pub async fn put_policy(
        &self,
        agent_type: &AgentType,
        policy: ScalingPolicy,
        expected_version: u64,
    ) -> Result<VersionedPolicy, StoreError> {
        let condition = if expected_version == 0 {
            if agent_type.builtin().is_none() {
                // Listed first: a catalog entry without a policy is skipped by readers, while a
                // policy without its entry would be invisible to them.
                let entry = Item::new(table::catalog_entry(agent_type), serde_json::Map::new());
                self.store.put(entry, Condition::Always).await?;
            }
            Condition::Absent
        } else {
            Condition::Version(expected_version)
        };
        let version = expected_version + 1;
        let item = Item::from_record(policy_key(agent_type), &policy)?.with_version(version);
        self.store.put(item, condition).await?;
        Ok(VersionedPolicy { agent_type: agent_type.clone(), policy, version })
    }

    /// Deletes a policy still at `version` (at least 1: a stored one): an operator-defined type
    /// leaves the catalog with it; a builtin type is back on its seed policy.
    pub async fn delete_policy(&self, agent_type: &AgentType, version: u64) -> Result<(), StoreError> {
        if version == 0 {
            // A builtin never changed: nothing stored to delete.
            return if agent_type.builtin().is_some() { Ok(()) } else { Err(StoreError::ConditionFailed) };
        }
        self.store.delete(&policy_key(agent_type), Condition::Version(version)).await?;
        if agent_type.builtin().is_none() {
            // After the policy: readers skip a catalog entry without a policy.
            self.store.delete(&table::catalog_entry(agent_type), Condition::Always).await?;
            // A pause of a type that no longer exists would greet a new type of the same name.
            self.store.delete(&table::scaling_pause(agent_type), Condition::Always).await?;
        }
        Ok(())
    }

    /// The operator's pause of `agent_type`'s autoscaling, if any.
    pub async fn pause(&self, agent_type: &AgentType) -> Result<Option<Pause>, StoreError> {
        pause_of(self.store.get(&table::scaling_pause(agent_type)).await?.as_ref())
    }

    /// Pauses `agent_type`'s autoscaling (a later pause replaces an earlier one: who and why).
    pub async fn set_pause(&self, agent_type: &AgentType, pause: &Pause) -> Result<(), StoreError> {
        self.store.put(Item::from_record(table::scaling_pause(agent_type), pause)?, Condition::Always).await
    }

    /// Resumes `agent_type`'s autoscaling; answers whether it was paused.
    pub async fn clear_pause(&self, agent_type: &AgentType) -> Result<bool, StoreError> {
        let key = table::scaling_pause(agent_type);
        match self.store.delete(&key, Condition::Exists).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether `agent_type` may be defined: a builtin, a type already defined, or room left for
    /// another operator-defined one.
    pub async fn room_for_type(&self, agent_type: &AgentType) -> Result<bool, StoreError> {
        if agent_type.builtin().is_some() || self.store.get(&policy_key(agent_type)).await?.is_some() {
            return Ok(true);
        }
        let defined = self.agent_types().await?.len() - BuiltinAgentType::ALL.len();
        Ok(defined < MAX_OPERATOR_TYPES)
    }

    /// Whether `replica` may report: it is already live, or its type has room for one more.
    /// (A new replica is rare, so its count costs a query only then.)
    pub async fn room_for_replica(&self, replica: &Replica) -> Result<bool, StoreError> {
        if self.store.get(&replica_key(replica)).await?.is_some() {
            return Ok(true);
        }
        Ok(self.replica_items(&replica.agent_type).await?.len() < MAX_REPLICAS_PER_TYPE)
    }

    /// Records a heartbeat. Only the reported fields are set, so counters other components keep on
    /// the replica item survive; the record expires `ttl` after this report.
    pub async fn record_heartbeat(&self, replica: &Replica, ttl: Duration) -> Result<(), StoreError> {
        let Item { attrs, .. } = Item::from_record(replica_key(replica), replica)?;
        // The report counts everything the replica is working on: the assignments and releases
        // counted before it are in it, so it is the new starting point (and an assignment whose
        // release never arrives stops counting here).
        let mut update = Update::new()
            .set("ttl", (replica.last_heartbeat + ttl).timestamp())
            .set("assigned", 0.0)
            .set("released", 0.0);
        for (name, value) in attrs {
            update = update.set(name, value);
        }
        self.store.update(&replica_key(replica), update).await?;
        Ok(())
    }

    /// Marks a live replica draining (idempotent) and answers it as it is now; `None` when no
    /// replica of that id is live. Only the flag is written, conditional on the item existing, so
    /// a replica that expired meanwhile is not brought back.
    pub async fn drain_replica(
        &self,
        agent_type: &AgentType,
        region: &Region,
        replica_id: &ReplicaId,
    ) -> Result<Option<Replica>, StoreError> {
        let key = table::replica(agent_type, region, replica_id.as_str());
        let update = Update::new().set("draining", true).only_if(Condition::Exists);
        match self.store.update(&key, update).await {
            // An item of counters only (a release racing the replica's expiry) is no replica.
            Ok(item) => Ok(item.record::<Replica>().ok()),
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes a replica at once (it stops being selectable and counted); answers whether one
    /// was live. Deregistering an absent replica is not an error, so a retry is safe.
    pub async fn deregister_replica(
        &self,
        agent_type: &AgentType,
        region: &Region,
        replica_id: &ReplicaId,
    ) -> Result<bool, StoreError> {
        let key = table::replica(agent_type, region, replica_id.as_str());
        match self.store.delete(&key, Condition::Exists).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The live replicas of one type, ordered by region then id.
    pub async fn replicas(&self, agent_type: &AgentType) -> Result<Vec<Replica>, StoreError> {
        Ok(self.replica_items(agent_type).await?.into_iter().map(|(replica, _)| replica).collect())
    }

    /// The live replica items of one type with the replica each describes. An item that does not
    /// describe a replica (counters left behind by a release racing with the replica's expiry) is
    /// skipped: it carries the replica's past `ttl` and vanishes with it.
    pub async fn replica_items(&self, agent_type: &AgentType) -> Result<Vec<(Replica, Item)>, StoreError> {
        let mut replicas = Vec::new();
        let mut cursor = None;
        loop {
            let query = Query::partition(agent_pk(agent_type))
                .prefix(table::REPLICA_PREFIX)
                .limit(1000)
                .after(cursor);
            let page = self.store.query(&query).await?;
            for item in page.items {
                match item.record::<Replica>() {
                    Ok(replica) => replicas.push((replica, item)),
                    Err(e) => {
                        tracing::warn!(key = %item.key.sk, error = %e, "skipping a replica item without a replica");
                    }
                }
            }
            cursor = page.next;
            if cursor.is_none() {
                return Ok(replicas);
            }
        }
    }
}

impl FleetState {
    /// The scaler's state for a type and its version (0: never written).
    pub async fn scaling_state(
        &self,
        agent_type: &AgentType,
    ) -> Result<(AgentScalingState, u64), StoreError> {
        scaling_state_of(self.store.get(&state_key(agent_type)).await?.as_ref())
    }

    /// Writes the state if it is still at `version`; `ConditionFailed` when another evaluation won.
    pub async fn put_scaling_state(
        &self,
        agent_type: &AgentType,
        state: &AgentScalingState,
        version: u64,
    ) -> Result<u64, StoreError> {
        let condition = if version == 0 { Condition::Absent } else { Condition::Version(version) };
        let item = Item::from_record(state_key(agent_type), state)?.with_version(version + 1);
        self.store.put(item, condition).await?;
        Ok(version + 1)
    }

    /// Records that the decision stored at `version` is applied, if the state is still at it;
    /// `ConditionFailed` when a newer decision was stored meanwhile.
    pub async fn mark_applied(&self, agent_type: &AgentType, version: u64) -> Result<(), StoreError> {
        let update = Update::new().set("applied_version", version).only_if(Condition::Version(version));
        self.store.update(&state_key(agent_type), update).await.map(|_| ())
    }

    /// Keeps each event as its own item for `ttl`, beyond the few the state item carries.
    pub async fn record_events(
        &self,
        agent_type: &AgentType,
        events: &[ScalingEventRecord],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let items = events
            .iter()
            .map(|e| {
                let tail = uuid::Uuid::new_v4().simple().to_string();
                let key = table::event(agent_pk(agent_type), e.at, &tail[..12]);
                Ok(Item::from_record(key, e)?.with_ttl(e.at + ttl))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.store.batch_put(items).await
    }

    /// The newest events of a type, newest first.
    pub async fn events(
        &self,
        agent_type: &AgentType,
        limit: usize,
    ) -> Result<Vec<ScalingEventRecord>, StoreError> {
        let page = self
            .store
            .query(
                &Query::partition(agent_pk(agent_type)).prefix(table::EVENT_PREFIX).descending().limit(limit),
            )
            .await?;
        page.items.iter().map(Item::record).collect()
    }

    /// Each region's operator mark; regions never marked are healthy with weight 1.
    pub async fn region_health(
        &self,
        regions: &[Region],
    ) -> Result<Vec<(Region, Option<RegionHealth>)>, StoreError> {
        Ok(self
            .region_marks(regions)
            .await?
            .into_iter()
            .map(|(region, mark)| (region, mark.map(|(health, _)| health)))
            .collect())
    }

    /// Each region's mark with its version (regions never marked: `None`).
    pub async fn region_marks(
        &self,
        regions: &[Region],
    ) -> Result<Vec<(Region, Option<(RegionHealth, u64)>)>, StoreError> {
        // Every region's mark in one request.
        let keys: Vec<Key> = regions.iter().map(region_key).collect();
        let items = self.store.get_many(&keys).await?;
        let mut out = Vec::with_capacity(regions.len());
        for (region, item) in regions.iter().zip(items) {
            let mark = match item {
                Some(item) => Some((item.record()?, item.version().unwrap_or(0))),
                None => None,
            };
            out.push((region.clone(), mark));
        }
        Ok(out)
    }

    /// An operator's mark: replaces whatever is there (an automatic mark included), versioned so
    /// a tick that read the previous mark cannot overwrite it.
    pub async fn set_region_health(&self, region: &Region, health: &RegionHealth) -> Result<(), StoreError> {
        for _ in 0..8 {
            let current = self.store.get(&region_key(region)).await?;
            let (condition, version) = match current.as_ref().map(|i| i.version().unwrap_or(0)) {
                None => (Condition::Absent, 1),
                Some(v) => (Condition::Version(v), v + 1),
            };
            let item = Item::from_record(region_key(region), health)?.with_version(version);
            match self.store.put(item, condition).await {
                Err(StoreError::ConditionFailed) => {}
                done => return done,
            }
        }
        Err(StoreError::ConditionFailed)
    }

    /// Writes an automatic mark if the stored one is still at `expected` (`None`: absent).
    pub async fn put_region_mark(
        &self,
        region: &Region,
        health: &RegionHealth,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        let (condition, version) = match expected {
            None => (Condition::Absent, 1),
            Some(v) => (Condition::Version(v), v + 1),
        };
        let item = Item::from_record(region_key(region), health)?.with_version(version);
        self.store.put(item, condition).await
    }

    /// Removes a region's mark: at `expected` version (an automatic mark that cleared), or
    /// whatever it is (`None`: an operator handing the region back to the scaler).
    pub async fn clear_region_mark(&self, region: &Region, expected: Option<u64>) -> Result<(), StoreError> {
        let condition = expected.map_or(Condition::Always, Condition::Version);
        self.store.delete(&region_key(region), condition).await
    }

    /// Keeps a region mark or clearance as its own item for 30 days.
    pub async fn record_region_event(&self, event: &RegionEvent) -> Result<(), StoreError> {
        let tail = uuid::Uuid::new_v4().simple().to_string();
        let key = table::event(table::region(&event.region), event.at, &tail[..12]);
        let item = Item::from_record(key, event)?.with_ttl(event.at + Duration::days(30));
        self.store.put(item, Condition::Always).await
    }

    /// A region's newest mark events, newest first.
    pub async fn region_events(&self, region: &Region, limit: usize) -> Result<Vec<RegionEvent>, StoreError> {
        let page = self
            .store
            .query(
                &Query::partition(table::region(region))
                    .prefix(table::EVENT_PREFIX)
                    .descending()
                    .limit(limit),
            )
            .await?;
        page.items.iter().map(Item::record).collect()
    }

    /// Current spend and emergency mode as the cost sweeper recorded them (zero and off until then).
    pub async fn cost_control(&self) -> Result<CostControl, StoreError> {
        Ok(self.store.get(&table::cost_control()).await?.map(|i| i.record()).transpose()?.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::store::MemoryStore;

    fn setup() -> (FleetState, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
        (FleetState::new(Arc::new(MemoryStore::new(clock.clone()))), clock)
    }

    fn t(name: &str) -> AgentType {
        AgentType::parse(name).unwrap()
    }

    #[tokio::test]
    async fn builtins_have_default_policies_and_customs_must_be_defined() {
        let (state, _) = setup();
        let p = state.policy(&t("diagnosis")).await.unwrap().unwrap();
        assert_eq!((p.version, p.policy.max_replicas), (0, 8));
        assert!(state.policy(&t("triage")).await.unwrap().is_none());
        assert_eq!(state.policies().await.unwrap().len(), 5);

        let custom = ScalingPolicy::default_for(&t("triage"));
        let stored = state.put_policy(&t("triage"), custom.clone(), 0).await.unwrap();
        assert_eq!(stored.version, 1);
        let all = state.policies().await.unwrap();
        assert_eq!(all.len(), 6);
        assert_eq!(all[5].agent_type, t("triage"));
    }

    #[tokio::test]
    async fn stale_versions_are_refused() {
        let (state, _) = setup();
        let mut p = ScalingPolicy::default_for(&t("detection"));
        p.max_replicas = 12;
        assert_eq!(state.put_policy(&t("detection"), p.clone(), 0).await.unwrap().version, 1);
        assert!(matches!(
            state.put_policy(&t("detection"), p.clone(), 0).await,
            Err(StoreError::ConditionFailed)
        ));
        assert!(matches!(
            state.put_policy(&t("detection"), p.clone(), 5).await,
            Err(StoreError::ConditionFailed)
        ));
        p.max_replicas = 14;
        assert_eq!(state.put_policy(&t("detection"), p, 1).await.unwrap().version, 2);
        assert_eq!(state.policy(&t("detection")).await.unwrap().unwrap().policy.max_replicas, 14);
    }

    #[tokio::test]
    async fn heartbeats_expire_after_their_ttl() {
        let (state, clock) = setup();
        let beat = ReplicaHeartbeat {
            agent_type: t("detection"),
            replica_id: ReplicaId::parse("r1").unwrap(),
            region: Region::parse("us-east-1").unwrap(),
            load: 4.0,
            capacity: 20,
            healthy: true,
            performance_score: 0.8,
            draining: false,
        };
        state.record_heartbeat(&beat.clone().at(clock.now()), Duration::seconds(90)).await.unwrap();
        let replicas = state.replicas(&t("detection")).await.unwrap();
        assert_eq!(replicas.len(), 1);
        assert_eq!(replicas[0].last_heartbeat, clock.now());
        clock.advance(Duration::seconds(89));
        assert_eq!(state.replicas(&t("detection")).await.unwrap().len(), 1);
        clock.advance(Duration::seconds(1));
        assert!(state.replicas(&t("detection")).await.unwrap().is_empty());
    }
}
