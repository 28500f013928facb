//! A store that times every call into `QueryStats` by access pattern, around any backend.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::query_stats::{QueryStats, pattern_of};
use crate::store::{Condition, Item, Key, Page, Query, Store, StoreError, Update};

#[derive(Debug, Clone)]
pub struct InstrumentedStore {
    inner: Arc<dyn Store>,
    stats: Arc<QueryStats>,
}

impl InstrumentedStore {
    pub fn new(inner: Arc<dyn Store>, stats: Arc<QueryStats>) -> Self {
        Self { inner, stats }
    }

    fn done<T>(&self, op: &str, pattern: &str, started: Instant, result: &Result<T, StoreError>) {
        // A failed condition is an answer, not a fault of the store.
        let ok = matches!(result, Ok(_) | Err(StoreError::ConditionFailed));
        self.stats.record(format!("{op} {pattern}"), started.elapsed(), ok);
    }
}

#[async_trait]
impl Store for InstrumentedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let started = Instant::now();
        let result = self.inner.get(key).await;
        self.done("get", &pattern_of(&key.pk, Some(&key.sk)), started, &result);
        result
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        let pattern = keys.first().map_or_else(|| "EMPTY".to_owned(), |k| pattern_of(&k.pk, Some(&k.sk)));
        let started = Instant::now();
        let result = self.inner.get_many(keys).await;
        self.done("get_many", &pattern, started, &result);
        result
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let pattern = pattern_of(&item.key.pk, Some(&item.key.sk));
        let started = Instant::now();
        let result = self.inner.put(item, condition).await;
        self.done("put", &pattern, started, &result);
        result
    }

    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        let started = Instant::now();
        let result = self.inner.update(key, update).await;
        self.done("update", &pattern_of(&key.pk, Some(&key.sk)), started, &result);
        result
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let started = Instant::now();
        let result = self.inner.query(query).await;
        self.done("query", &pattern_of(&query.pk, None), started, &result);
        result
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.inner.delete(key, condition).await;
        self.done("delete", &pattern_of(&key.pk, Some(&key.sk)), started, &result);
        result
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let pattern = items.first().map_or_else(|| "EMPTY".to_owned(), |i| pattern_of(&i.key.pk, None));
        let started = Instant::now();
        let result = self.inner.batch_put(items).await;
        self.done("batch_put", &pattern, started, &result);
        result
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn every_call_is_counted_under_its_pattern() {
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
        let stats = Arc::new(QueryStats::new(clock.clone()));
        let store = InstrumentedStore::new(Arc::new(MemoryStore::new(clock)), stats.clone());
        for i in 0..3 {
            store
                .update(&Key::new(format!("AGENT#t{i}"), "STATE"), Update::new().add("n", 1.0))
                .await
                .unwrap();
        }
        store.get(&Key::new("AGENT#t0", "STATE")).await.unwrap();
        let refused = store
            .put(Item::new(Key::new("AGENT#t0", "STATE"), serde_json::Map::new()), Condition::Absent)
            .await;
        assert!(matches!(refused, Err(StoreError::ConditionFailed)));
        store.query(&Query::partition("AGENT#t1")).await.unwrap();
        let s = stats.summary(100.0);
        assert_eq!(s["update AGENT/STATE"].count, 3);
        assert_eq!(s["get AGENT/STATE"].count, 1);
        assert_eq!(
            (s["put AGENT/STATE"].count, s["put AGENT/STATE"].errors),
            (1, 0),
            "a failed condition is no error"
        );
        assert_eq!(s["query AGENT"].count, 1);
    }
}
