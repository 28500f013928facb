//! The caches and statistics that need a real table: write-behind through a connection that
//! fails and comes back, the distributed cache seen from two containers (two clients), and
//! DynamoDB's consumed capacity in the query statistics.

#![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

use std::sync::Arc;
use std::time::Duration;

use integration_tests::relay::Relay;
use integration_tests::{dynamodb_endpoint, fresh_dynamo_store};
use serde_json::json;
use shared::clock::{Clock, ManualClock};
use shared::performance::cache::{Caches, DistributedCache, WriteBehind};
use shared::performance::{InstrumentedStore, QueryStats};
use shared::store::{Condition, DynamoStore, Item, Key, Query, Store, StoreError};

fn clock() -> Arc<ManualClock> {
    integration_tests::test_clock()
}

fn item(sk: &str, n: u64) -> Item {
    Item::new(Key::new("PERF#test", sk), json!({"n": n}).as_object().unwrap().clone())
}

#[tokio::test]
async fn write_behind_keeps_every_write_through_an_outage_and_delivers_it_once_back() {
    let Some(endpoint) = dynamodb_endpoint("write_behind_outage") else { return };
    let clock = clock();
    let direct = fresh_dynamo_store(&endpoint, clock.clone()).await;
    let relay = Relay::start(&endpoint).await;
    let through_relay: Arc<dyn Store> = Arc::new(DynamoStore::new(
        shared::aws::local_dynamodb(&relay.url),
        direct.table_name().to_owned(),
        clock.clone(),
    ));
    let buffer = WriteBehind::new(through_relay, &Caches::new());
    buffer.write(item("warm-up", 0));
    assert_eq!(buffer.flush().await.unwrap(), 1, "delivered while the relay is up");

    relay.set(false);
    for i in 0..40 {
        buffer.write(item(&format!("c{i:02}"), i));
    }
    let failed = buffer.flush().await.unwrap_err();
    assert!(matches!(failed, StoreError::Unavailable { .. }), "{failed}");
    assert_eq!(buffer.pending(), 40, "nothing dropped");
    buffer.write(item("c00", 1000));

    relay.set(true);
    // Connections the outage broke are replaced; the retried flush delivers everything.
    let mut delivered = None;
    for _ in 0..5 {
        if let Ok(n) = buffer.flush().await {
            delivered = Some(n);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(delivered, Some(40));
    let stored = direct.query(&Query::partition("PERF#test")).await.unwrap().items;
    assert_eq!(stored.len(), 41, "the warm-up and all forty");
    assert_eq!(stored.iter().find(|i| i.key.sk == "c00").unwrap().attrs["n"], 1000, "the newer write won");
    assert_eq!(buffer.flush().await.unwrap(), 0, "and nothing is written twice");
}

#[tokio::test]
async fn the_distributed_cache_is_shared_by_two_containers_until_its_ttl() {
    let Some(endpoint) = dynamodb_endpoint("distributed_cache") else { return };
    let clock = clock();
    let one = fresh_dynamo_store(&endpoint, clock.clone()).await;
    // A second container: its own client and connection pool, the same table.
    let two =
        DynamoStore::new(shared::aws::local_dynamodb(&endpoint), one.table_name().to_owned(), clock.clone());
    let (caches_one, caches_two) = (Caches::new(), Caches::new());
    let ttl = Duration::from_secs(30);
    let a = DistributedCache::new("warm_profiles", ttl, Arc::new(one), &caches_one);
    let b = DistributedCache::new("warm_profiles", ttl, Arc::new(two), &caches_two);

    let now = clock.now();
    let computed =
        a.get_or_compute("w", now, async { Ok::<_, StoreError>(json!({"p95_ms": 4.5})) }).await.unwrap();
    let seen = b
        .get_or_compute("w", now, async {
            Err::<serde_json::Value, _>(StoreError::Invalid("computed twice".into()))
        })
        .await
        .unwrap();
    assert_eq!(seen, computed);
    assert_eq!(caches_two.stats()[0].hits, 1);
    clock.advance(chrono::Duration::seconds(32));
    assert_eq!(b.get::<serde_json::Value>("w").await.unwrap(), None, "expired for every container");
}

#[tokio::test]
async fn consumed_capacity_reaches_the_query_statistics() {
    let Some(endpoint) = dynamodb_endpoint("consumed_capacity") else { return };
    let clock = clock();
    let stats = Arc::new(QueryStats::new(clock.clone() as Arc<dyn Clock>));
    let dynamo = fresh_dynamo_store(&endpoint, clock.clone()).await.with_capacity_sink(stats.clone());
    let store = InstrumentedStore::new(Arc::new(dynamo), stats.clone());
    store.put(item("a", 1), Condition::Always).await.unwrap();
    store.get(&Key::new("PERF#test", "a")).await.unwrap();
    store.query(&Query::partition("PERF#test")).await.unwrap();
    let summary = stats.summary(100.0);
    for pattern in ["put PERF/*", "get PERF/*", "query PERF"] {
        let s = &summary[pattern];
        assert_eq!(s.count, 1, "{pattern}");
        assert!(s.capacity_units > 0.0, "{pattern}: {s:?}");
    }
}
