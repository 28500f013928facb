//! A store that answers chosen access patterns from in-container caches and writes through:
//! the store is written first, then the cache takes what the store answered, so this container
//! always reads its own writes. Other containers see a change once their entry's TTL runs out;
//! only patterns that tolerate that are routed here.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{CacheSpec, Caches, LocalCache, SeedCaches};
use crate::clock::Clock;
use crate::store::{Condition, Item, Key, Page, Query, Store, StoreError, Update};

/// Which reads a cache serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// GetItem of keys whose partition starts with `pk` and whose sort key starts with `sk`.
    Item { pk: &'static str, sk: &'static str, fresh_for: Option<Duration> },
    /// Every query of the partition `pk`.
    Partition { pk: &'static str },
}

impl Route {
    fn holds_item(&self, key: &Key) -> bool {
        matches!(self, Self::Item { pk, sk, .. } if key.pk.starts_with(pk) && key.sk.starts_with(sk))
    }

    fn holds_query_of(&self, pk: &str) -> bool {
        matches!(self, Self::Partition { pk: p } if pk == *p)
    }
}

#[derive(Debug, Clone)]
enum Cached {
    Item(Option<Item>),
    Page(Page),
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct CachingStore {
    inner: Arc<dyn Store>,
    routes: Arc<Vec<(Route, LocalCache<Cached>)>>,
    clock: Arc<dyn Clock>,
}

fn item_key(key: &Key) -> String {
    format!("{}\u{1f}{}", key.pk, key.sk)
}

fn query_prefix(pk: &str) -> String {
    format!("{pk}\u{1f}?")
}

/// When an item's own `ttl` ends, if it has one.
fn item_expiry(item: &Item) -> Option<DateTime<Utc>> {
    item.attrs.get("ttl").and_then(serde_json::Value::as_i64).and_then(|t| DateTime::from_timestamp(t, 0))
}

impl CachingStore {
    /// `inner` with the given routes, each served by a cache registered in `caches`.
    pub fn new(
        inner: Arc<dyn Store>,
        caches: &Caches,
        clock: Arc<dyn Clock>,
        routes: impl IntoIterator<Item = (CacheSpec, Route)>,
    ) -> Self {
        // Routes naming the same cache share one instance (and so its capacity).
        let mut by_name: std::collections::HashMap<&'static str, LocalCache<Cached>> =
            std::collections::HashMap::new();
        let routes = routes
            .into_iter()
            .map(|(spec, route)| {
                let cache =
                    by_name.entry(spec.name).or_insert_with(|| caches.local(spec, Arc::clone(&clock)));
                (route, cache.clone())
            })
            .collect();
        Self { inner, routes: Arc::new(routes), clock }
    }

    /// The suite's routes: policies and the agent-type catalogue (`agent_configs`), the price
    /// table (`business_rules`), region health for a second (`query_results`, the same bound
    /// selection already accepts for replica sets) and the warming targets' traffic profiles
    /// (`incident_patterns`, in front of their table-wide cache).
    pub fn seeded(inner: Arc<dyn Store>, caches: &Caches, clock: Arc<dyn Clock>, specs: &SeedCaches) -> Self {
        Self::new(
            inner,
            caches,
            clock,
            [
                (specs.agent_configs, Route::Item { pk: "AGENT#", sk: "POLICY", fresh_for: None }),
                (specs.agent_configs, Route::Partition { pk: "CATALOG" }),
                (specs.business_rules, Route::Item { pk: "CONTROL", sk: "PRICES", fresh_for: None }),
                (
                    specs.query_results,
                    Route::Item { pk: "REGION#", sk: "HEALTH", fresh_for: Some(Duration::from_secs(1)) },
                ),
                (specs.incident_patterns, Route::Item { pk: "CACHE#warm_profiles", sk: "", fresh_for: None }),
            ],
        )
    }

    fn item_route(&self, key: &Key) -> Option<&(Route, LocalCache<Cached>)> {
        self.routes.iter().find(|(route, _)| route.holds_item(key))
    }

    /// Keeps what the store now holds under `key` (`None`: nothing).
    async fn remember(&self, key: &Key, item: Option<Item>) {
        let Some((route, cache)) = self.item_route(key) else { return };
        let mut ttl = match route {
            Route::Item { fresh_for: Some(d), .. } => *d,
            _ => cache.spec().ttl,
        };
        if let Some(expiry) = item.as_ref().and_then(item_expiry) {
            let left = (expiry - self.clock.now()).to_std().unwrap_or(Duration::ZERO);
            ttl = ttl.min(left);
        }
        cache.insert_for(item_key(key), Cached::Item(item), ttl).await;
    }

    /// After any write to `key` (or a failed one, whose effect is unknown): forgets the item and
    /// every cached query of its partition.
    async fn forget(&self, key: &Key) {
        if let Some((_, cache)) = self.item_route(key) {
            cache.invalidate(&item_key(key)).await;
        }
        self.forget_queries(&key.pk);
    }

    fn forget_queries(&self, pk: &str) {
        for (_, cache) in self.routes.iter().filter(|(r, _)| r.holds_query_of(pk)) {
            cache.invalidate_prefix(&query_prefix(pk));
        }
    }
}

#[async_trait]
impl Store for CachingStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let Some((_, cache)) = self.item_route(key) else { return self.inner.get(key).await };
        if let Some(Cached::Item(item)) = cache.get(&item_key(key)).await {
            return Ok(item);
        }
        let item = self.inner.get(key).await?;
        self.remember(key, item.clone()).await;
        Ok(item)
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        // Cached items answer from the cache; the rest go to the backend in one read.
        let mut answers: Vec<Option<Option<Item>>> = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        for key in keys {
            let cached = match self.item_route(key) {
                Some((_, cache)) => match cache.get(&item_key(key)).await {
                    Some(Cached::Item(item)) => Some(item),
                    _ => None,
                },
                None => None,
            };
            if cached.is_none() {
                missing.push(key.clone());
            }
            answers.push(cached);
        }
        // Everything cached: no call at all (an empty one would still be timed as a read).
        let read = if missing.is_empty() { Vec::new() } else { self.inner.get_many(&missing).await? };
        let mut read = read.into_iter();
        let mut items = Vec::with_capacity(keys.len());
        for (key, answer) in keys.iter().zip(answers) {
            let item = if let Some(item) = answer {
                item
            } else {
                let item = read.next().flatten();
                self.remember(key, item.clone()).await;
                item
            };
            items.push(item);
        }
        Ok(items)
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let key = item.key.clone();
        let kept = item.clone();
        match self.inner.put(item, condition).await {
            Ok(()) => {
                self.forget_queries(&key.pk);
                self.remember(&key, Some(kept)).await;
                Ok(())
            }
            Err(e) => {
                self.forget(&key).await;
                Err(e)
            }
        }
    }

    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        match self.inner.update(key, update).await {
            Ok(item) => {
                self.forget_queries(&key.pk);
                self.remember(key, Some(item.clone())).await;
                Ok(item)
            }
            Err(e) => {
                self.forget(key).await;
                Err(e)
            }
        }
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let Some((_, cache)) = self.routes.iter().find(|(r, _)| r.holds_query_of(&query.pk)) else {
            return self.inner.query(query).await;
        };
        let key = format!("{}{query:?}", query_prefix(&query.pk));
        if let Some(Cached::Page(page)) = cache.get(&key).await {
            return Ok(page);
        }
        let page = self.inner.query(query).await?;
        cache.insert(key, Cached::Page(page.clone())).await;
        Ok(page)
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        let result = self.inner.delete(key, condition).await;
        self.forget(key).await;
        result
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let keys: Vec<Key> = items.iter().map(|i| i.key.clone()).collect();
        let result = self.inner.batch_put(items).await;
        for key in &keys {
            self.forget(key).await;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::json;

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    fn setup() -> (Arc<ManualClock>, Arc<MemoryStore>, CachingStore, Caches) {
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
        let inner = Arc::new(MemoryStore::new(clock.clone()));
        let caches = Caches::new();
        let store = CachingStore::seeded(inner.clone(), &caches, clock.clone(), &SeedCaches::default());
        (clock, inner, store, caches)
    }

    fn item(pk: &str, sk: &str, n: u64) -> Item {
        Item::new(Key::new(pk, sk), json!({"n": n}).as_object().unwrap().clone())
    }

    fn stats(caches: &Caches, name: &str) -> (u64, u64) {
        let s = caches.stats().into_iter().find(|s| s.name == name).unwrap();
        (s.hits, s.misses)
    }

    #[tokio::test]
    async fn routed_reads_are_served_from_the_cache_until_their_ttl() {
        let (clock, inner, store, caches) = setup();
        let key = Key::new("AGENT#detection", "POLICY");
        inner.put(item("AGENT#detection", "POLICY", 1), Condition::Always).await.unwrap();
        assert_eq!(store.get(&key).await.unwrap().unwrap().attrs["n"], 1);
        // Another container changes it behind this one's back: the cache answers until its TTL.
        inner.put(item("AGENT#detection", "POLICY", 2), Condition::Always).await.unwrap();
        assert_eq!(store.get(&key).await.unwrap().unwrap().attrs["n"], 1);
        assert_eq!(stats(&caches, "agent_configs"), (1, 1));
        clock.advance(chrono::Duration::seconds(301));
        assert_eq!(store.get(&key).await.unwrap().unwrap().attrs["n"], 2);
        // Unrouted keys always go to the store.
        inner.put(item("AGENT#detection", "STATE", 7), Condition::Always).await.unwrap();
        assert_eq!(store.get(&Key::new("AGENT#detection", "STATE")).await.unwrap().unwrap().attrs["n"], 7);
        assert_eq!(stats(&caches, "agent_configs"), (1, 2));
    }

    #[tokio::test]
    async fn get_many_answers_cached_keys_from_the_cache_and_reads_the_rest_in_order() {
        let (_, inner, store, caches) = setup();
        let policy = Key::new("AGENT#detection", "POLICY");
        let state = Key::new("AGENT#detection", "STATE");
        inner.put(item("AGENT#detection", "POLICY", 1), Condition::Always).await.unwrap();
        inner.put(item("AGENT#detection", "STATE", 7), Condition::Always).await.unwrap();
        assert_eq!(store.get(&policy).await.unwrap().unwrap().attrs["n"], 1, "cached now");
        // Changed behind this container's back: the cached policy answers, the unrouted state is read.
        inner.put(item("AGENT#detection", "POLICY", 2), Condition::Always).await.unwrap();
        let absent = Key::new("AGENT#triage", "POLICY");
        let read = store.get_many(&[state.clone(), policy.clone(), absent.clone()]).await.unwrap();
        let n: Vec<Option<serde_json::Value>> =
            read.iter().map(|i| i.as_ref().map(|i| i.attrs["n"].clone())).collect();
        assert_eq!(n, vec![Some(json!(7)), Some(json!(1)), None]);
        assert_eq!(
            stats(&caches, "agent_configs"),
            (1, 2),
            "one hit, the first read and the absent one missed"
        );
        // The absent policy's answer is remembered like a get's.
        assert_eq!(store.get_many(&[absent]).await.unwrap(), vec![None]);
        assert_eq!(stats(&caches, "agent_configs"), (2, 2));
    }

    #[tokio::test]
    async fn writes_go_through_the_store_first_then_the_cache() {
        let (_, inner, store, caches) = setup();
        let key = Key::new("CONTROL", "PRICES");
        assert_eq!(store.get(&key).await.unwrap(), None, "absence is cached too");
        store.put(item("CONTROL", "PRICES", 3).with_version(1), Condition::Absent).await.unwrap();
        assert_eq!(inner.get(&key).await.unwrap().unwrap().attrs["n"], 3, "the store has it");
        assert_eq!(store.get(&key).await.unwrap().unwrap().attrs["n"], 3, "and this container reads it");
        let updated =
            store.update(&key, Update::new().add("n", 1.0).only_if(Condition::Version(1))).await.unwrap();
        assert_eq!(updated.attrs["n"], 4.0);
        assert_eq!(store.get(&key).await.unwrap().unwrap().attrs["n"], 4.0);
        assert_eq!(stats(&caches, "business_rules"), (2, 1));
    }

    #[tokio::test]
    async fn a_failed_condition_forgets_the_entry_so_a_retry_reads_the_store() {
        let (_, inner, store, _) = setup();
        let key = Key::new("CONTROL", "PRICES");
        store.put(item("CONTROL", "PRICES", 1).with_version(1), Condition::Absent).await.unwrap();
        // Another container moves the item on to version 2.
        inner.put(item("CONTROL", "PRICES", 2).with_version(2), Condition::Always).await.unwrap();
        let stale = store.get(&key).await.unwrap().unwrap();
        assert_eq!(stale.version(), Some(1));
        let refused = store.put(item("CONTROL", "PRICES", 9).with_version(2), Condition::Version(1)).await;
        assert!(matches!(refused, Err(StoreError::ConditionFailed)));
        assert_eq!(store.get(&key).await.unwrap().unwrap().version(), Some(2), "the retry sees the truth");
    }

    #[tokio::test]
    async fn cached_queries_are_dropped_when_their_partition_is_written() {
        let (_, _, store, caches) = setup();
        let q = Query::partition("CATALOG").prefix("AGENT#");
        assert!(store.query(&q).await.unwrap().items.is_empty());
        assert!(store.query(&q).await.unwrap().items.is_empty());
        store.put(item("CATALOG", "AGENT#triage", 1), Condition::Absent).await.unwrap();
        assert_eq!(store.query(&q).await.unwrap().items.len(), 1);
        assert_eq!(stats(&caches, "agent_configs"), (1, 2));
    }

    #[tokio::test]
    async fn an_item_is_not_served_past_its_own_ttl_or_the_routes_freshness() {
        let (clock, inner, store, _) = setup();
        let at = clock.now().timestamp();
        let mut short = item("CACHE#warm_profiles", "f#us-east-1", 1);
        short.attrs.insert("ttl".into(), json!(at + 10));
        store.put(short, Condition::Always).await.unwrap();
        clock.advance(chrono::Duration::seconds(11));
        assert_eq!(store.get(&Key::new("CACHE#warm_profiles", "f#us-east-1")).await.unwrap(), None);
        // Region health is cached for one second only.
        let health = Key::new("REGION#us-east-1", "HEALTH");
        inner.put(item("REGION#us-east-1", "HEALTH", 1), Condition::Always).await.unwrap();
        store.get(&health).await.unwrap();
        inner.put(item("REGION#us-east-1", "HEALTH", 0), Condition::Always).await.unwrap();
        clock.advance(chrono::Duration::milliseconds(1001));
        assert_eq!(store.get(&health).await.unwrap().unwrap().attrs["n"], 0);
    }
}
