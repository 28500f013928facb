//! Caches for data the suite re-reads: in-container caches on moka (LRU or TinyLFU admission,
//! TTL freshness decided by the injected clock), a store wrapper that serves chosen access
//! patterns from them and writes through, a write-behind buffer, and a cache shared by every
//! container through the table.
//!
//! The four seed caches and what they hold:
//!
//! | cache | strategy | TTL | entries | holds |
//! |---|---|---|---|---|
//! | `incident_patterns` | LRU | 1800 s | 500 | hour-of-week traffic profiles of warming targets |
//! | `agent_configs` | TTL | 300 s | 100 | scaling policies and the operator's agent-type catalogue |
//! | `business_rules` | write-through | 3600 s | 200 | the price table in force |
//! | `query_results` | LRU | 600 s | 1000 | replica sets and region health, each for 1 s |

mod caching_store;
mod distributed;
mod local;
mod write_behind;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use caching_store::{CachingStore, Route};
pub use distributed::DistributedCache;
pub use local::LocalCache;
pub use write_behind::WriteBehind;

/// How a cache chooses what to keep and when it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
// Named apart from the balancing strategy: one OpenAPI document holds both.
#[schema(as = CacheStrategy)]
pub enum Strategy {
    /// Evicts the least recently used entry when full.
    Lru,
    /// Admits a new entry only if it is likely to be used more than the one it would evict
    /// (moka's default; resists one-off scans).
    TinyLfu,
    /// Entries live for the TTL, TinyLFU when full.
    Ttl,
    /// Writes go to the store first, then to the cache.
    WriteThrough,
    /// Writes are buffered and flushed to the store in batches.
    WriteBehind,
    /// Entries live in the table, shared by every container.
    Distributed,
}

/// A cache's name, strategy and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSpec {
    pub name: &'static str,
    pub strategy: Strategy,
    pub capacity: u64,
    pub ttl: Duration,
}

impl CacheSpec {
    pub const INCIDENT_PATTERNS: Self = Self {
        name: "incident_patterns",
        strategy: Strategy::Lru,
        capacity: 500,
        ttl: Duration::from_secs(1800),
    };
    pub const AGENT_CONFIGS: Self =
        Self { name: "agent_configs", strategy: Strategy::Ttl, capacity: 100, ttl: Duration::from_secs(300) };
    pub const BUSINESS_RULES: Self = Self {
        name: "business_rules",
        strategy: Strategy::WriteThrough,
        capacity: 200,
        ttl: Duration::from_secs(3600),
    };
    pub const QUERY_RESULTS: Self = Self {
        name: "query_results",
        strategy: Strategy::Lru,
        capacity: 1000,
        ttl: Duration::from_secs(600),
    };
}

/// The four seed caches' specs, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedCaches {
    pub incident_patterns: CacheSpec,
    pub agent_configs: CacheSpec,
    pub business_rules: CacheSpec,
    pub query_results: CacheSpec,
}

impl Default for SeedCaches {
    fn default() -> Self {
        Self {
            incident_patterns: CacheSpec::INCIDENT_PATTERNS,
            agent_configs: CacheSpec::AGENT_CONFIGS,
            business_rules: CacheSpec::BUSINESS_RULES,
            query_results: CacheSpec::QUERY_RESULTS,
        }
    }
}

/// Hit and miss counts of one cache (shared by every instance bearing its name).
#[derive(Debug, Default)]
pub struct CacheCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    writes: AtomicU64,
    dropped: AtomicU64,
}

impl CacheCounters {
    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn wrote(&self, n: u64) {
        self.writes.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }
}

/// One cache's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CacheStats {
    pub name: String,
    pub strategy: Strategy,
    pub hits: u64,
    pub misses: u64,
    pub writes: u64,
    /// Writes a write-behind buffer dropped: refused by the store, or over its capacity.
    #[serde(default)]
    pub dropped: u64,
    /// Hits over lookups; absent before the first lookup.
    pub hit_rate: Option<f64>,
    pub entries: u64,
    pub capacity: u64,
    pub ttl_s: u64,
}

impl CacheStats {
    pub fn rate(hits: u64, misses: u64) -> Option<f64> {
        let lookups = hits + misses;
        (lookups > 0).then(|| hits as f64 / lookups as f64)
    }
}

type Gauge = Box<dyn Fn() -> u64 + Send + Sync>;
type Shed = Box<dyn Fn() + Send + Sync>;

struct Registered {
    spec: CacheSpec,
    counters: Arc<CacheCounters>,
    entries: Vec<Gauge>,
    shed: Vec<Shed>,
}

/// The container's caches: their counters by name, their entry counts, and a way to empty them
/// all when memory runs short.
#[derive(Clone, Default)]
pub struct Caches {
    registered: Arc<Mutex<BTreeMap<&'static str, Registered>>>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches").field("names", &self.lock().keys().collect::<Vec<_>>()).finish()
    }
}

impl Caches {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, Registered>> {
        crate::sync::lock(&self.registered)
    }

    /// The counters of the cache named in `spec`, registering it on first use.
    pub fn counters(&self, spec: CacheSpec) -> Arc<CacheCounters> {
        let mut registered = self.lock();
        let entry = registered.entry(spec.name).or_insert_with(|| Registered {
            spec,
            counters: Arc::default(),
            entries: Vec::new(),
            shed: Vec::new(),
        });
        Arc::clone(&entry.counters)
    }

    /// An in-container cache of `spec`, counted and shed with the others of its name.
    pub fn local<V: Clone + Send + Sync + 'static>(
        &self,
        spec: CacheSpec,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> LocalCache<V> {
        let cache = LocalCache::new(spec, clock, self.counters(spec));
        let mut registered = self.lock();
        if let Some(r) = registered.get_mut(spec.name) {
            let (a, b) = (cache.clone(), cache.clone());
            r.entries.push(Box::new(move || a.entry_count()));
            r.shed.push(Box::new(move || b.clear()));
        }
        cache
    }

    /// Empties every in-container cache (the memory guard's remedy); answers how many entries
    /// were dropped.
    pub fn shed(&self) -> u64 {
        let registered = self.lock();
        let mut dropped = 0;
        for r in registered.values() {
            dropped += r.entries.iter().map(|e| e()).sum::<u64>();
            r.shed.iter().for_each(|s| s());
        }
        dropped
    }

    /// The registered name equal to `name` (names are fixed in code, so metric dimensions built
    /// from them stay bounded).
    pub fn registered_name(&self, name: &str) -> Option<&'static str> {
        self.lock().keys().find(|k| **k == name).copied()
    }

    pub fn stats(&self) -> Vec<CacheStats> {
        self.lock()
            .values()
            .map(|r| {
                let (hits, misses) =
                    (r.counters.hits.load(Ordering::Relaxed), r.counters.misses.load(Ordering::Relaxed));
                CacheStats {
                    name: r.spec.name.to_owned(),
                    strategy: r.spec.strategy,
                    hits,
                    misses,
                    writes: r.counters.writes.load(Ordering::Relaxed),
                    dropped: r.counters.dropped.load(Ordering::Relaxed),
                    hit_rate: CacheStats::rate(hits, misses),
                    entries: r.entries.iter().map(|e| e()).sum(),
                    capacity: r.spec.capacity,
                    ttl_s: r.spec.ttl.as_secs(),
                }
            })
            .collect()
    }
}
