//! The table's keys, in one place: one constructor per kind of item, and [`LAYOUT`], the kinds
//! as docs/architecture.md lists them (a test holds the two together). Every module that reads
//! or writes an item takes its key from here, so a kind of item has one spelling.

use chrono::{DateTime, Utc};

use crate::domain::{AgentType, Region};
use crate::store::Key;

/// One kind of item: its partition and sort key patterns, as documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemKind {
    pub pk: &'static str,
    pub sk: &'static str,
}

const fn kind(pk: &'static str, sk: &'static str) -> ItemKind {
    ItemKind { pk, sk }
}

/// Every kind of item the suite stores.
pub const LAYOUT: [ItemKind; 31] = [
    kind("AGENT#<type>", "POLICY"),
    kind("AGENT#<type>", "REPLICA#<region>#<id>"),
    kind("CATALOG", "AGENT#<type>"),
    kind("AGENT#<type>", "STATE"),
    kind("AGENT#<type>", "PAUSE"),
    kind("AGENT#<type>", "EVENT#<ts>#<n>"),
    kind("REGION#<region>", "HEALTH"),
    kind("REGION#<region>", "EVENT#<ts>#<n>"),
    kind("CONTROL", "COST"),
    kind("CONTROL", "PRICES"),
    kind("CONTROL", "CAPS"),
    kind("CONTROL", "LEADER"),
    kind("USAGE#<YYYY-MM-DDTHH>", "MODEL#<model>#TASK#<task>"),
    kind("USAGE#<YYYY-MM-DDTHH>", "MODEL#<model>#TASK#<task>#FROM#<region>"),
    kind("MODELS", "HEALTH#<model>"),
    kind("COST#HOUR", "<YYYY-MM-DDTHH>"),
    kind("COST#SNAPSHOT", "<timestamp>"),
    kind("COST#ACTION", "<timestamp>#<n>"),
    kind("COST#WARMING", "<YYYY-MM-DDTHH>"),
    kind("COST#PROVISIONED", "LEDGER"),
    kind("WARM#<function>#<region>", "STATE"),
    kind("COST#REPRICE", "<YYYY-MM-DDTHH>"),
    kind("WARM#ON_DEMAND", "<YYYY-MM-DDTHH:MM>"),
    kind("CACHE#<cache>", "<key>"),
    kind("PERF#<window start, epoch s>", "<function>#<container>"),
    kind("AGENT#<type>#DEMAND#<0-7>", "DEMAND#<YYYY-MM-DDTHH:MM>"),
    kind("AGENT#<type>#RECORD", "<YYYY-MM-DDTHH>"),
    kind("AGENT#<type>", "WAITING#<incident id>"),
    kind("AGENT#<type>", "INCIDENT#<incident id>"),
    kind("IDEMPOTENCY#<event id>", "EVENT"),
    kind("AUDIT", "<timestamp>#<request id>"),
];

/// How an hour is named in sort keys.
pub fn hour_name(hour: DateTime<Utc>) -> String {
    hour.format("%Y-%m-%dT%H").to_string()
}

fn minute_name(minute: DateTime<Utc>) -> String {
    minute.format("%Y-%m-%dT%H:%M").to_string()
}

/// An agent type's partition: its policy, state, replicas, events, waiting and incidents.
pub fn agent(agent_type: &AgentType) -> String {
    format!("AGENT#{agent_type}")
}

pub fn policy(agent_type: &AgentType) -> Key {
    Key::new(agent(agent_type), "POLICY")
}

pub fn scaling_state(agent_type: &AgentType) -> Key {
    Key::new(agent(agent_type), "STATE")
}

/// An operator's pause of a type's autoscaling.
pub fn scaling_pause(agent_type: &AgentType) -> Key {
    Key::new(agent(agent_type), "PAUSE")
}

/// Sort keys of a type's replicas start with this.
pub const REPLICA_PREFIX: &str = "REPLICA#";

pub fn replica(agent_type: &AgentType, region: &Region, replica_id: &str) -> Key {
    Key::new(agent(agent_type), format!("{REPLICA_PREFIX}{region}#{replica_id}"))
}

/// The catalog of operator-defined types.
pub const CATALOG: &str = "CATALOG";
/// Sort keys of the catalog's entries start with this.
pub const CATALOG_PREFIX: &str = "AGENT#";

pub fn catalog_entry(agent_type: &AgentType) -> Key {
    Key::new(CATALOG, format!("{CATALOG_PREFIX}{agent_type}"))
}

/// A scaling or region event under its partition (`agent(..)` or `region(..)`): time first, so
/// a partition query lists events in order, then `tail` (random), so two events of the same
/// millisecond never overwrite each other.
pub fn event(pk: String, at: DateTime<Utc>, tail: &str) -> Key {
    Key::new(pk, format!("{EVENT_PREFIX}{}#{tail}", at.format("%Y-%m-%dT%H:%M:%S%.3fZ")))
}

/// Sort keys of events start with this.
pub const EVENT_PREFIX: &str = "EVENT#";

/// A region's partition: its health mark and events.
pub fn region(region: &Region) -> String {
    format!("REGION#{region}")
}

pub fn region_health(r: &Region) -> Key {
    Key::new(region(r), "HEALTH")
}

pub fn incident(agent_type: &AgentType, incident_id: &str) -> Key {
    Key::new(agent(agent_type), format!("INCIDENT#{incident_id}"))
}

pub fn waiting(agent_type: &AgentType, incident_id: &str) -> Key {
    Key::new(agent(agent_type), format!("WAITING#{incident_id}"))
}

/// One of a type's demand counter partitions.
pub fn demand_partition(agent_type: &AgentType, shard: usize) -> String {
    format!("{}#DEMAND#{shard}", agent(agent_type))
}

pub fn demand(agent_type: &AgentType, shard: usize, minute: DateTime<Utc>) -> Key {
    Key::new(demand_partition(agent_type, shard), format!("DEMAND#{}", minute_name(minute)))
}

/// A type's recorded demand, one item per hour (`scaling::recorded`).
pub fn demand_record_partition(agent_type: &AgentType) -> String {
    format!("{}#RECORD", agent(agent_type))
}

pub fn demand_record(agent_type: &AgentType, hour: DateTime<Utc>) -> Key {
    Key::new(demand_record_partition(agent_type), hour_name(hour))
}

/// The audit trail's partition: one entry per change, newest last.
pub const AUDIT: &str = "AUDIT";

/// An audit entry: time first (millisecond, so the partition lists entries in order), then the
/// request id that made the change, so two changes in the same millisecond never collide.
pub fn audit_entry(at: DateTime<Utc>, request_id: &str) -> Key {
    Key::new(AUDIT, format!("{}#{request_id}", at.format("%Y-%m-%dT%H:%M:%S%.3fZ")))
}

pub fn cost_control() -> Key {
    Key::new("CONTROL", "COST")
}

pub fn prices() -> Key {
    Key::new("CONTROL", "PRICES")
}

pub fn caps() -> Key {
    Key::new("CONTROL", "CAPS")
}

/// The control-plane lease of a stack deployed in several regions (`leadership`).
pub fn leader() -> Key {
    Key::new("CONTROL", "LEADER")
}

/// An hour's usage partition.
pub fn usage_partition(hour: DateTime<Utc>) -> String {
    format!("USAGE#{}", hour_name(hour))
}

/// Sort keys of usage counters start with this.
pub const USAGE_PREFIX: &str = "MODEL#";

pub fn usage(hour: DateTime<Utc>, model: &str, task_type: &str) -> Key {
    Key::new(usage_partition(hour), format!("{USAGE_PREFIX}{model}#TASK#{task_type}"))
}

/// A usage counter a region of a control plane in several regions adds to: its own item, so two
/// regions adding at once never write one item (a global table's last writer would win).
pub fn usage_from(hour: DateTime<Utc>, model: &str, task_type: &str, region: &Region) -> Key {
    Key::new(usage_partition(hour), format!("{USAGE_PREFIX}{model}#TASK#{task_type}#FROM#{region}"))
}

/// Model health's partition.
pub const MODELS: &str = "MODELS";
/// Sort keys of model health start with this.
pub const MODEL_HEALTH_PREFIX: &str = "HEALTH#";

pub fn model_health(model: &str) -> Key {
    Key::new(MODELS, format!("{MODEL_HEALTH_PREFIX}{model}"))
}

pub const COST_HOUR: &str = "COST#HOUR";

pub fn cost_hour(hour: DateTime<Utc>) -> Key {
    Key::new(COST_HOUR, hour_name(hour))
}

pub const COST_SNAPSHOT: &str = "COST#SNAPSHOT";

pub fn cost_snapshot(at: DateTime<Utc>) -> Key {
    Key::new(COST_SNAPSHOT, at.to_rfc3339())
}

pub const COST_ACTION: &str = "COST#ACTION";

pub fn cost_action(at: DateTime<Utc>, n: usize) -> Key {
    Key::new(COST_ACTION, format!("{}#{n:02}", at.to_rfc3339()))
}

pub fn warming_cost(hour: DateTime<Utc>) -> Key {
    Key::new("COST#WARMING", hour_name(hour))
}

pub fn provisioned_ledger() -> Key {
    Key::new("COST#PROVISIONED", "LEDGER")
}

pub const COST_REPRICE: &str = "COST#REPRICE";

pub fn reprice(hour: DateTime<Utc>) -> Key {
    Key::new(COST_REPRICE, hour_name(hour))
}

pub fn warm_state(function: &str, region: &str) -> Key {
    Key::new(format!("WARM#{function}#{region}"), "STATE")
}

pub fn warm_on_demand(minute: DateTime<Utc>) -> Key {
    Key::new("WARM#ON_DEMAND", minute_name(minute))
}

pub fn cache_entry(cache: &str, key: &str) -> Key {
    Key::new(format!("CACHE#{cache}"), key)
}

/// A performance window's partition.
pub fn perf_window(window_start: i64) -> String {
    format!("PERF#{window_start}")
}

pub fn perf_report(window_start: i64, function: &str, container: &str) -> Key {
    Key::new(perf_window(window_start), format!("{function}#{container}"))
}

/// What `GET /health` reads to see the store answer (never written).
pub fn health_probe() -> Key {
    Key::new("HEALTH", "PROBE")
}
