//! A cache every container shares, kept in the table: one item per entry under
//! `CACHE#<name>`/`<key>`, with the entry's `ttl`, so DynamoDB forgets it without being asked.
//! Worth it for values that cost more to compute than one GetItem (aggregates over many items),
//! where each container computing its own would multiply the work.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{CacheCounters, CacheSpec, Caches, Strategy};
use crate::store::{Condition, Item, Key, Store, StoreError};

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct DistributedCache {
    name: &'static str,
    ttl: Duration,
    store: Arc<dyn Store>,
    counters: Arc<CacheCounters>,
}

impl DistributedCache {
    pub fn new(name: &'static str, ttl: Duration, store: Arc<dyn Store>, caches: &Caches) -> Self {
        let spec = CacheSpec { name, strategy: Strategy::Distributed, capacity: 0, ttl };
        Self { name, ttl, store, counters: caches.counters(spec) }
    }

    fn key(&self, key: &str) -> Key {
        crate::table::cache_entry(self.name, key)
    }

    /// The entry under `key`, if a container stored one that has not expired. An entry that no
    /// longer reads as `T` counts as a miss.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let found = self
            .store
            .get(&self.key(key))
            .await?
            .and_then(|item| item.attrs.get("value").cloned())
            .and_then(|v| serde_json::from_value(v).ok());
        if found.is_some() {
            self.counters.hit();
        } else {
            self.counters.miss();
        }
        Ok(found)
    }

    /// Stores `value` for every container until the TTL (counted from `now`) runs out.
    pub async fn put<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let value = serde_json::to_value(value).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let expires = now + chrono::Duration::from_std(self.ttl).unwrap_or_default();
        let mut attrs = Map::new();
        attrs.insert("value".into(), value);
        // DynamoDB's TTL has one-second resolution; round up so an entry never ends early.
        attrs.insert("ttl".into(), Value::from(expires.timestamp() + 1));
        self.store.put(Item::new(self.key(key), attrs), Condition::Always).await?;
        self.counters.wrote(1);
        Ok(())
    }

    /// The entry under `key`, computing and sharing it on a miss.
    pub async fn get_or_compute<T, E>(
        &self,
        key: &str,
        now: DateTime<Utc>,
        compute: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        E: From<StoreError>,
    {
        if let Some(value) = self.get(key).await? {
            return Ok(value);
        }
        let value = compute.await?;
        self.put(key, &value, now).await?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn an_entry_is_shared_by_containers_until_its_ttl() {
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
        let table: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
        // Two containers: their own registries and cache handles, one table.
        let (one, two) = (Caches::new(), Caches::new());
        let a = DistributedCache::new("aggregates", Duration::from_secs(10), table.clone(), &one);
        let b = DistributedCache::new("aggregates", Duration::from_secs(10), table, &two);
        let now = clock.now();
        let computed =
            a.get_or_compute("w1", now, async { Ok::<_, StoreError>(vec![1, 2, 3]) }).await.unwrap();
        assert_eq!(computed, vec![1, 2, 3]);
        let seen: Vec<i32> = b
            .get_or_compute("w1", now, async { Err(StoreError::Invalid("must not compute again".into())) })
            .await
            .unwrap();
        assert_eq!(seen, vec![1, 2, 3]);
        assert_eq!((one.stats()[0].misses, two.stats()[0].hits), (1, 1));
        clock.advance(chrono::Duration::seconds(12));
        assert_eq!(b.get::<Vec<i32>>("w1").await.unwrap(), None, "expired for everyone");
    }
}
