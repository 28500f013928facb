//! Issue 17, item 10: a request never outlives its deadline (a clean 503 problem, well inside
//! the api's 15 s function timeout, instead of API Gateway's timeout), and the container's
//! performance figures are flushed off the request's path, backing off after a failure instead
//! of retrying on every request. Time is tokio's, paused: the store's delays are virtual.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use chrono::Duration;
use serde_json::json;
use shared::config::Config;
use shared::runtime::{Container, Settings};
use shared::store::{Condition, Item, Key, MemoryStore, Page, Query, Store, StoreError, Update};

/// The in-memory store, slow when told to, counting (and, when told to, refusing) writes of
/// performance reports.
#[derive(Debug)]
struct Store2 {
    inner: MemoryStore,
    slow: AtomicBool,
    refuse_reports: AtomicBool,
    report_writes: AtomicUsize,
}

impl Store2 {
    async fn pace(&self) {
        if self.slow.load(Ordering::SeqCst) {
            tokio::time::sleep(StdDuration::from_secs(30)).await;
        }
    }
    fn report(&self, items: &[&Item]) -> Result<(), StoreError> {
        if items.iter().any(|i| i.key.pk.starts_with("PERF#")) {
            self.report_writes.fetch_add(1, Ordering::SeqCst);
            if self.refuse_reports.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable { message: "throttled".into(), source: None });
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Store for Store2 {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.pace().await;
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.pace().await;
        self.report(&[&item])?;
        self.inner.put(item, condition).await
    }
    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        self.pace().await;
        self.inner.update(key, update).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.pace().await;
        self.inner.query(query).await
    }
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        self.pace().await;
        self.inner.delete(key, condition).await
    }
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.pace().await;
        self.report(&items.iter().collect::<Vec<_>>())?;
        self.inner.batch_put(items).await
    }
}

fn setup() -> (common::App, Arc<Store2>) {
    let clock = integration_tests::test_clock();
    let store = Arc::new(Store2 {
        inner: MemoryStore::new(clock.clone()),
        slow: AtomicBool::new(false),
        refuse_reports: AtomicBool::new(false),
        report_writes: AtomicUsize::new(0),
    });
    let container = Container::local(Settings::defaults(Config::default()), clock.clone(), store.clone());
    let state = api::AppState::from_container(container);
    (common::App { router: api::router(state), clock }, store)
}

#[tokio::test(start_paused = true)]
async fn a_request_that_outlives_its_deadline_is_a_clean_503() {
    let (app, store) = setup();
    store.slow.store(true, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    let answer = app.get("/scaling/status").await;
    let took = started.elapsed();
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.retry_after.as_deref(), Some("1"));
    assert_eq!(answer.body["code"], "retry_later");
    assert!(took >= api::REQUEST_DEADLINE && took < StdDuration::from_secs(11), "{took:?}");
    assert!(api::REQUEST_DEADLINE < StdDuration::from_secs(15), "inside the function's timeout");
}

#[tokio::test(start_paused = true)]
async fn figures_are_flushed_off_the_request_path_and_back_off_after_a_failure() {
    let (app, store) = setup();
    store.refuse_reports.store(true, Ordering::SeqCst);
    let beat = json!({"agent_type": "detection", "replica_id": "d-1", "region": "us-east-1", "load": 1.0,
                      "capacity": 10, "healthy": true, "performance_score": 0.9});
    // A request every 10 s for five minutes while the table refuses the reports.
    for _ in 0..30 {
        assert_eq!(app.json(Method::POST, "/replicas/heartbeat", &beat).await.status, StatusCode::OK);
        // Let a flush the request started run its course.
        tokio::time::sleep(StdDuration::from_millis(10)).await;
        app.clock.advance(Duration::seconds(10));
    }
    // Tries at 0 s, then after 1, 2 and 4 minutes (60, 180 and 420 s): the last falls outside.
    let tries = store.report_writes.load(Ordering::SeqCst);
    assert_eq!(tries, 3, "one try per backoff step, not one per request");
    // The table is back: the next due flush delivers, and the request never waited for it.
    store.refuse_reports.store(false, Ordering::SeqCst);
    app.clock.advance(Duration::minutes(5));
    store.slow.store(true, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    assert_eq!(app.get("/openapi.json").await.status, StatusCode::OK);
    assert!(started.elapsed() < StdDuration::from_secs(1), "the response did not wait for the flush");
    store.slow.store(false, Ordering::SeqCst);
    tokio::time::sleep(StdDuration::from_secs(60)).await;
    assert_eq!(store.report_writes.load(Ordering::SeqCst), 4, "delivered after the backoff");
}
