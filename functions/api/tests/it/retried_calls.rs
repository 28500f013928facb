//! Issue 17, item 5: a select or release retried after a failure midway counts once. A store
//! that refuses the first write after a replica's counters changed stands for a throttle or a
//! timeout at the worst moment (and, for the release, for a function stopped before it could
//! record its result).

#![allow(clippy::float_cmp, reason = "the counters hold whole numbers, exact in f64")]

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use chrono::Duration;
use serde_json::json;
use shared::balancing::assignments::ReplicaLoad;
use shared::domain::AgentType;
use shared::scaling::FleetState;
use shared::store::{Condition, Item, Key, MemoryStore, Page, Query, Store, StoreError, Update};

/// The in-memory store, refusing the first write after a replica item's counters changed, when
/// armed.
#[derive(Debug)]
struct Flaky {
    inner: MemoryStore,
    armed: AtomicBool,
    fail_next: AtomicBool,
    /// Refuses the next update of a replica's counters itself.
    fail_count: AtomicBool,
}

impl Flaky {
    fn refuse(&self) -> Result<(), StoreError> {
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Unavailable { message: "throttled".into(), source: None });
        }
        Ok(())
    }
}

#[async_trait]
impl Store for Flaky {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.refuse()?;
        self.inner.put(item, condition).await
    }
    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        self.refuse()?;
        if key.sk.starts_with("REPLICA#") && self.fail_count.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Unavailable { message: "throttled".into(), source: None });
        }
        let count = |item: Option<&Item>| {
            item.and_then(|i| i.record::<ReplicaLoad>().ok()).map_or(0.0, |l| l.assigned + l.released)
        };
        let before = count(self.inner.get(key).await?.as_ref());
        let updated = self.inner.update(key, update).await?;
        let counted = count(Some(&updated)) > before;
        if key.sk.starts_with("REPLICA#") && counted && self.armed.swap(false, Ordering::SeqCst) {
            self.fail_next.store(true, Ordering::SeqCst);
        }
        Ok(updated)
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        self.inner.delete(key, condition).await
    }
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.inner.batch_put(items).await
    }
}

fn setup() -> (common::App, Arc<Flaky>) {
    let clock = integration_tests::test_clock();
    let store = Arc::new(Flaky {
        inner: MemoryStore::new(clock.clone()),
        armed: AtomicBool::new(false),
        fail_next: AtomicBool::new(false),
        fail_count: AtomicBool::new(false),
    });
    (common::app_on(store.clone(), clock), store)
}

async fn counters(store: Arc<Flaky>) -> ReplicaLoad {
    let fleet = FleetState::new(store);
    let items = fleet.replica_items(&AgentType::parse("resolution").unwrap()).await.unwrap();
    assert_eq!(items.len(), 1);
    items[0].1.record().unwrap()
}

async fn one_replica(app: &common::App) {
    let beat = json!({"agent_type": "resolution", "replica_id": "r-1", "region": "us-east-1", "load": 0.0,
                      "capacity": 4, "healthy": true, "performance_score": 0.9});
    assert_eq!(app.json(Method::POST, "/replicas/heartbeat", &beat).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_select_retried_after_a_failure_midway_answers_the_same_replica_counted_once() {
    let (app, store) = setup();
    one_replica(&app).await;
    let select = json!({"agent_type": "resolution", "severity": "high", "incident_id": "inc-42"});
    store.armed.store(true, Ordering::SeqCst);
    let first = app.json(Method::POST, "/replicas/select", &select).await;
    assert_eq!(
        first.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the write after the count failed: {:?}",
        first.body
    );
    let retried = app.json(Method::POST, "/replicas/select", &select).await;
    assert_eq!(retried.status, StatusCode::OK, "{:?}", retried.body);
    assert_eq!(retried.body["replica_id"], "r-1");
    assert_eq!(counters(store.clone()).await.assigned, 1.0, "one incident, counted once");
    // Much later, within the incident's day, a retry still answers and still counts nothing.
    app.clock.advance(Duration::hours(3));
    one_replica(&app).await;
    let late = app.json(Method::POST, "/replicas/select", &select).await;
    assert_eq!((late.status, late.body["replica_id"].as_str()), (StatusCode::OK, Some("r-1")));
    assert_eq!(
        counters(store).await.assigned,
        0.0,
        "the heartbeat reset the count, and the retry added none"
    );
}

#[tokio::test]
async fn a_release_retried_after_a_failure_midway_counts_once() {
    let (app, store) = setup();
    one_replica(&app).await;
    let select = json!({"agent_type": "resolution", "severity": "high", "incident_id": "inc-7"});
    assert_eq!(app.json(Method::POST, "/replicas/select", &select).await.status, StatusCode::OK);
    let release = json!({"agent_type": "resolution", "replica_id": "r-1", "ok": true, "latency_ms": 900.0,
                         "incident_id": "inc-7"});
    store.armed.store(true, Ordering::SeqCst);
    let first = app.json(Method::POST, "/replicas/release", &release).await;
    // Counted; whether the caller heard so or not, its retries (now, or after any in-progress
    // timeout) count nothing more.
    for wait in [Duration::zero(), Duration::seconds(61)] {
        app.clock.advance(wait);
        let again = app.json(Method::POST, "/replicas/release", &release).await;
        assert_eq!(again.status, StatusCode::OK, "first {:?}, retry {:?}", first.body, again.body);
        assert_eq!(again.body["active"].as_f64(), Some(0.0), "{:?}", again.body);
    }
    assert_eq!(counters(store).await.released, 1.0, "one release, counted once");
}

#[tokio::test]
async fn a_release_refused_before_it_counted_counts_when_retried() {
    let (app, store) = setup();
    one_replica(&app).await;
    let select = json!({"agent_type": "resolution", "severity": "high", "incident_id": "inc-9"});
    assert_eq!(app.json(Method::POST, "/replicas/select", &select).await.status, StatusCode::OK);
    let release = json!({"agent_type": "resolution", "replica_id": "r-1", "ok": true, "latency_ms": 900.0,
                         "incident_id": "inc-9"});
    // The first release's own count is throttled: nothing counted, and the caller is told to retry.
    let version = app
        .json(
            Method::POST,
            "/replicas/release",
            &json!({"agent_type": "resolution",
        "replica_id": "r-1", "ok": true, "latency_ms": 1.0}),
        )
        .await;
    assert_eq!(version.status, StatusCode::OK, "an unrelated release gives the replica its version");
    store.fail_count.store(true, Ordering::SeqCst);
    let first = app.json(Method::POST, "/replicas/release", &release).await;
    assert_eq!(first.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", first.body);
    assert_eq!(counters(store.clone()).await.released, 1.0, "only the unrelated release");
    let retried = app.json(Method::POST, "/replicas/release", &release).await;
    assert_eq!(retried.status, StatusCode::OK, "{:?}", retried.body);
    assert_eq!(counters(store).await.released, 2.0, "the retry counted the release the failure did not");
}
