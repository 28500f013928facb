//! An in-container cache on moka. moka bounds the size (LRU or TinyLFU eviction) and reclaims
//! memory after the TTL by its own clock; whether an entry is still fresh is decided by the
//! injected clock, so tests and the simulator see expiry exactly when their time says so.
//!
//! The moka cache itself is built on the first write or read: a container makes about ten of
//! these at start and building each (its channels and segments) showed in the cold start,
//! while the first request touches only a few.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::policy::EvictionPolicy;

use super::{CacheCounters, CacheSpec, Strategy};
use crate::clock::Clock;

#[derive(Debug, Clone)]
struct Stamped<V> {
    value: V,
    fresh_until: DateTime<Utc>,
}

/// A named, counted in-container cache; cheap to clone (clones share entries).
pub struct LocalCache<V> {
    spec: CacheSpec,
    entries: Arc<OnceLock<moka::future::Cache<String, Stamped<V>>>>,
    counters: Arc<CacheCounters>,
    clock: Arc<dyn Clock>,
}

impl<V> Clone for LocalCache<V> {
    fn clone(&self) -> Self {
        Self {
            spec: self.spec,
            entries: Arc::clone(&self.entries),
            counters: Arc::clone(&self.counters),
            clock: Arc::clone(&self.clock),
        }
    }
}

impl<V> std::fmt::Debug for LocalCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCache").field("spec", &self.spec).finish_non_exhaustive()
    }
}

impl<V: Clone + Send + Sync + 'static> LocalCache<V> {
    pub fn new(spec: CacheSpec, clock: Arc<dyn Clock>, counters: Arc<CacheCounters>) -> Self {
        Self { spec, entries: Arc::default(), counters, clock }
    }

    /// The moka cache, built now if nothing has used this cache yet.
    fn entries(&self) -> &moka::future::Cache<String, Stamped<V>> {
        self.entries.get_or_init(|| {
            let policy = match self.spec.strategy {
                Strategy::Lru => EvictionPolicy::lru(),
                _ => EvictionPolicy::tiny_lfu(),
            };
            moka::future::Cache::builder()
                .name(self.spec.name)
                .max_capacity(self.spec.capacity)
                .eviction_policy(policy)
                // moka reclaims by its own clock and needs a TTL above zero; freshness is ours.
                .time_to_live(self.spec.ttl.max(Duration::from_secs(1)))
                .support_invalidation_closures()
                .build()
        })
    }

    pub fn spec(&self) -> CacheSpec {
        self.spec
    }

    /// The fresh value under `key`, counting a hit or a miss.
    pub async fn get(&self, key: &str) -> Option<V> {
        // A cache nothing has been written to yet holds nothing: no need to build it to say so.
        let found = match self.entries.get() {
            Some(entries) => entries.get(key).await,
            None => None,
        };
        match found {
            Some(stamped) if stamped.fresh_until > self.clock.now() => {
                self.counters.hit();
                Some(stamped.value)
            }
            Some(_) => {
                self.invalidate(key).await;
                self.counters.miss();
                None
            }
            None => {
                self.counters.miss();
                None
            }
        }
    }

    /// Keeps `value` for the cache's TTL.
    pub async fn insert(&self, key: String, value: V) {
        self.insert_for(key, value, self.spec.ttl).await;
    }

    /// Keeps `value` for `ttl` (at most the cache's own TTL): for data that goes stale sooner.
    pub async fn insert_for(&self, key: String, value: V, ttl: Duration) {
        let ttl = ttl.min(self.spec.ttl);
        let fresh_until =
            self.clock.now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::zero());
        self.counters.wrote(1);
        self.entries().insert(key, Stamped { value, fresh_until }).await;
    }

    pub async fn invalidate(&self, key: &str) {
        if let Some(entries) = self.entries.get() {
            entries.invalidate(key).await;
        }
    }

    /// Drops every entry whose key starts with `prefix`.
    pub fn invalidate_prefix(&self, prefix: &str) {
        let prefix = prefix.to_owned();
        // Only fails without support_invalidation_closures, which the builder sets.
        let Some(entries) = self.entries.get() else { return };
        let _ = entries.invalidate_entries_if(move |k, _| k.starts_with(&prefix));
    }

    /// The value under `key`, loading and keeping it on a miss.
    pub async fn get_or_load<E>(&self, key: &str, load: impl Future<Output = Result<V, E>>) -> Result<V, E> {
        if let Some(value) = self.get(key).await {
            return Ok(value);
        }
        let value = load.await?;
        self.insert(key.to_owned(), value.clone()).await;
        Ok(value)
    }

    pub fn clear(&self) {
        if let Some(entries) = self.entries.get() {
            entries.invalidate_all();
        }
    }

    pub fn entry_count(&self) -> u64 {
        self.entries.get().map_or(0, moka::future::Cache::entry_count)
    }

    /// Applies pending evictions now (moka does it lazily); for counts that must be exact.
    pub async fn settle(&self) {
        if let Some(entries) = self.entries.get() {
            entries.run_pending_tasks().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::clock::ManualClock;
    use crate::performance::cache::Caches;

    fn clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()))
    }

    #[tokio::test]
    async fn ttl_is_decided_by_the_injected_clock_and_counted() {
        let clock = clock();
        let caches = Caches::new();
        let cache: LocalCache<u32> = caches.local(CacheSpec::AGENT_CONFIGS, clock.clone());
        assert_eq!(cache.get("a").await, None);
        cache.insert("a".into(), 1).await;
        cache.insert_for("b".into(), 2, Duration::from_secs(1)).await;
        assert_eq!((cache.get("a").await, cache.get("b").await), (Some(1), Some(2)));
        clock.advance(chrono::Duration::seconds(2));
        assert_eq!((cache.get("a").await, cache.get("b").await), (Some(1), None), "b lived 1 s");
        clock.advance(chrono::Duration::seconds(299));
        assert_eq!(cache.get("a").await, None, "a lived the cache's 300 s");
        let stats = &caches.stats()[0];
        assert_eq!((stats.name.as_str(), stats.hits, stats.misses), ("agent_configs", 3, 3));
        assert_eq!(stats.hit_rate, Some(0.5));
    }

    #[tokio::test]
    async fn the_moka_cache_is_built_by_the_first_write_not_before() {
        let cache: LocalCache<u32> = Caches::new().local(CacheSpec::AGENT_CONFIGS, clock());
        let twin = cache.clone();
        assert_eq!(cache.get("a").await, None);
        cache.invalidate("a").await;
        cache.invalidate_prefix("a");
        cache.clear();
        assert_eq!(cache.entry_count(), 0);
        assert!(cache.entries.get().is_none(), "reads and drops of an empty cache build nothing");
        twin.insert("a".into(), 1).await;
        assert!(cache.entries.get().is_some(), "a clone's write builds it for both");
        assert_eq!(cache.get("a").await, Some(1));
        cache.settle().await;
        assert_eq!(cache.entry_count(), 1);
    }

    #[tokio::test]
    async fn lru_evicts_the_least_recently_used() {
        let spec = CacheSpec { capacity: 3, ..CacheSpec::QUERY_RESULTS };
        let cache: LocalCache<u32> = Caches::new().local(spec, clock());
        for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
            cache.insert(k.into(), i as u32).await;
            cache.settle().await;
        }
        assert!(cache.get("a").await.is_some(), "a is now the most recently used");
        cache.settle().await;
        cache.insert("d".into(), 3).await;
        cache.settle().await;
        assert_eq!(cache.entry_count(), 3);
        assert!(cache.get("b").await.is_none(), "b was the least recently used");
        assert!(cache.get("a").await.is_some() && cache.get("d").await.is_some());
    }

    #[tokio::test]
    async fn tiny_lfu_keeps_the_frequent_against_a_scan() {
        let spec = CacheSpec { capacity: 10, strategy: Strategy::TinyLfu, ..CacheSpec::QUERY_RESULTS };
        let cache: LocalCache<u32> = Caches::new().local(spec, clock());
        for round in 0..5 {
            for k in 0..10u32 {
                if round == 0 {
                    cache.insert(format!("hot{k}"), k).await;
                } else {
                    cache.get(&format!("hot{k}")).await;
                }
            }
            cache.settle().await;
        }
        // A scan of 100 keys seen once each.
        for k in 0..100u32 {
            cache.insert(format!("cold{k}"), k).await;
        }
        cache.settle().await;
        let mut kept = 0;
        for k in 0..10u32 {
            kept += u32::from(cache.get(&format!("hot{k}")).await.is_some());
        }
        assert!(kept >= 8, "TinyLFU kept only {kept} of 10 frequent keys through a scan");
    }

    #[tokio::test]
    async fn shedding_empties_every_cache_of_the_registry() {
        let caches = Caches::new();
        let a: LocalCache<u32> = caches.local(CacheSpec::AGENT_CONFIGS, clock());
        let b: LocalCache<String> = caches.local(CacheSpec::QUERY_RESULTS, clock());
        a.insert("x".into(), 1).await;
        b.insert("y".into(), "z".into()).await;
        a.settle().await;
        b.settle().await;
        assert_eq!(caches.shed(), 2);
        assert_eq!((a.get("x").await, b.get("y").await), (None, None));
    }
}
