//! Write-behind: writes are kept in the container and flushed to the store in batches, once per
//! invocation rather than once per write. A flush the store cannot take now keeps every write it
//! could not deliver (a newer write to the same key wins) and reports the error; the next flush
//! tries again. A write the store refuses for what it is (too large, a number it cannot keep) is
//! dropped and logged, never retried forever; the buffer holds at most its capacity. Reads see
//! the buffered writes first.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{CacheCounters, CacheSpec, Caches, Strategy};
use crate::store::{Item, Key, Store, StoreError};

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct WriteBehind {
    store: Arc<dyn Store>,
    pending: Arc<Mutex<BTreeMap<Key, Item>>>,
    /// Serialises flushes, so two never deliver the same write at once.
    flushing: Arc<tokio::sync::Mutex<()>>,
    counters: Arc<CacheCounters>,
}

impl WriteBehind {
    pub const SPEC: CacheSpec = CacheSpec {
        name: "write_behind",
        strategy: Strategy::WriteBehind,
        capacity: 10_000,
        ttl: std::time::Duration::ZERO,
    };

    pub fn new(store: Arc<dyn Store>, caches: &Caches) -> Self {
        Self {
            store,
            pending: Arc::default(),
            flushing: Arc::default(),
            counters: caches.counters(Self::SPEC),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Item>> {
        crate::sync::lock(&self.pending)
    }

    /// Buffers `item`, replacing any buffered write to its key; `false` (the write dropped, and
    /// logged) when the buffer already holds its capacity of other keys.
    pub fn write(&self, item: Item) -> bool {
        let mut pending = self.lock();
        if pending.len() >= Self::SPEC.capacity as usize && !pending.contains_key(&item.key) {
            drop(pending);
            self.counters.dropped(1);
            tracing::warn!(pk = %item.key.pk, capacity = Self::SPEC.capacity, "write-behind buffer full: write dropped");
            return false;
        }
        pending.insert(item.key.clone(), item);
        true
    }

    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    /// The buffered write to `key`, else the stored item.
    pub async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        if let Some(item) = self.lock().get(key).cloned() {
            self.counters.hit();
            return Ok(Some(item));
        }
        self.counters.miss();
        self.store.get(key).await
    }

    /// Delivers every buffered write (in batches of the store's size); answers how many. On
    /// failure the undelivered writes stay buffered and the error is returned.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let _one_at_a_time = self.flushing.lock().await;
        let batch: Vec<Item> = std::mem::take(&mut *self.lock()).into_values().collect();
        if batch.is_empty() {
            return Ok(0);
        }
        let n = batch.len();
        match self.store.batch_put(batch.clone()).await {
            Ok(()) => {
                self.counters.wrote(n as u64);
                Ok(n)
            }
            // The store refused something for what it is: deliver the rest one by one, drop
            // (and log) what it refuses, keep what it cannot take now.
            Err(e) if !e.is_retryable() => self.deliver_one_by_one(batch).await,
            Err(e) => {
                self.keep(batch);
                Err(e)
            }
        }
    }

    /// Puts back writes a flush could not deliver (a newer write buffered meanwhile wins).
    fn keep(&self, items: Vec<Item>) {
        let mut pending = self.lock();
        for item in items {
            pending.entry(item.key.clone()).or_insert(item);
        }
    }

    async fn deliver_one_by_one(&self, batch: Vec<Item>) -> Result<usize, StoreError> {
        let mut delivered = 0;
        let mut kept = Vec::new();
        let mut first_error = None;
        for item in batch {
            match self.store.batch_put(vec![item.clone()]).await {
                Ok(()) => delivered += 1,
                Err(e) if !e.is_retryable() => {
                    self.counters.dropped(1);
                    tracing::warn!(pk = %item.key.pk, sk = %item.key.sk, error = %e, "write refused by the store: dropped");
                }
                Err(e) => {
                    kept.push(item);
                    first_error.get_or_insert(e);
                }
            }
        }
        self.counters.wrote(delivered as u64);
        self.keep(kept);
        first_error.map_or(Ok(delivered), Err)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;
    use chrono::DateTime;
    use serde_json::json;

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::{Condition, MemoryStore, Page, Query, Update};

    /// A store that refuses every call while `down` (as a store that cannot be reached does).
    #[derive(Debug)]
    struct Flaky {
        inner: MemoryStore,
        down: AtomicBool,
    }

    impl Flaky {
        fn check(&self) -> Result<(), StoreError> {
            if self.down.load(Ordering::SeqCst) {
                Err(StoreError::Unavailable { message: "the store is down".into(), source: None })
            } else {
                Ok(())
            }
        }
    }

    #[async_trait]
    impl Store for Flaky {
        async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
            self.check()?;
            self.inner.get(key).await
        }
        async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
            self.check()?;
            self.inner.put(item, condition).await
        }
        async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
            self.check()?;
            self.inner.update(key, update).await
        }
        async fn query(&self, query: &Query) -> Result<Page, StoreError> {
            self.check()?;
            self.inner.query(query).await
        }
        async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
            self.check()?;
            self.inner.delete(key, condition).await
        }
        async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
            self.check()?;
            self.inner.batch_put(items).await
        }
    }

    fn item(sk: &str, n: u64) -> Item {
        Item::new(Key::new("PERF#t", sk), json!({"n": n}).as_object().unwrap().clone())
    }

    #[tokio::test]
    async fn writes_survive_a_failing_store_and_arrive_once_it_is_back() {
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
        let store = Arc::new(Flaky { inner: MemoryStore::new(clock), down: AtomicBool::new(true) });
        let buffer = WriteBehind::new(store.clone(), &Caches::new());
        for i in 0..30 {
            buffer.write(item(&format!("c{i}"), i));
        }
        assert!(matches!(buffer.flush().await, Err(StoreError::Unavailable { .. })));
        assert_eq!(buffer.pending(), 30, "nothing dropped");
        // Written again while the store is down: the newer value is the one delivered.
        buffer.write(item("c0", 100));
        assert!(buffer.flush().await.is_err());
        assert_eq!(buffer.get(&Key::new("PERF#t", "c0")).await.unwrap().unwrap().attrs["n"], 100);
        store.down.store(false, Ordering::SeqCst);
        assert_eq!(buffer.flush().await.unwrap(), 30);
        assert_eq!(buffer.pending(), 0);
        let stored = store.inner.query(&Query::partition("PERF#t")).await.unwrap().items;
        assert_eq!(stored.len(), 30, "every write arrived");
        let c0 = stored.iter().find(|i| i.key.sk == "c0").unwrap();
        assert_eq!(c0.attrs["n"], 100);
        assert_eq!(buffer.flush().await.unwrap(), 0, "and none twice");
    }

    /// Issue 17, item 1: a report the store refused (over DynamoDB's 400 KB) was retried on
    /// every flush forever, and the buffer grew without bound.
    #[tokio::test]
    async fn refused_writes_are_dropped_and_the_buffer_is_bounded() {
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
        let store = Arc::new(MemoryStore::new(clock));
        let caches = Caches::new();
        let buffer = WriteBehind::new(store.clone(), &caches);
        let huge = Item::new(
            Key::new("PERF#t", "huge"),
            json!({"blob": "x".repeat(500 * 1024)}).as_object().unwrap().clone(),
        );
        buffer.write(huge);
        buffer.write(item("fine", 1));
        assert_eq!(buffer.flush().await.unwrap(), 1, "the good write is delivered");
        assert_eq!(buffer.pending(), 0, "the refused one is not kept");
        assert_eq!(buffer.flush().await.unwrap(), 0);
        assert!(store.get(&Key::new("PERF#t", "fine")).await.unwrap().is_some());
        let capacity = WriteBehind::SPEC.capacity as usize;
        let accepted = (0..capacity + 5).filter(|i| buffer.write(item(&format!("k{i}"), 0))).count();
        assert_eq!((accepted, buffer.pending()), (capacity, capacity));
        assert!(buffer.write(item("k0", 9)), "a newer write to a buffered key is always taken");
        let stats = caches.stats();
        let counted = stats.iter().find(|c| c.name == "write_behind").unwrap();
        assert_eq!(counted.dropped, 6, "one refused, five over capacity: {counted:?}");
    }
}
