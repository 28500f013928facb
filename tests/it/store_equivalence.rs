//! Model-free equivalence: random sequences of operations (with time moving on) give the same
//! answers on every backend. The contract suite checks chosen cases; this looks for the cases
//! nobody thought of, such as paging backwards over expired items.

use std::sync::Arc;

use chrono::{DateTime, Duration};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use shared::clock::{Clock, ManualClock};
use shared::store::{Condition, EmbeddedStore, Item, Key, MemoryStore, Query, Store, StoreError, Update};

#[derive(Debug, Clone)]
enum Op {
    Put {
        key: Key,
        value: i64,
        ttl: Option<i64>,
        version: Option<u64>,
        condition: Condition,
    },
    Add {
        key: Key,
        by: i64,
        ttl: Option<i64>,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    Get {
        key: Key,
    },
    Query {
        pk: String,
        prefix: Option<String>,
        between: Option<(String, String)>,
        descending: bool,
        limit: usize,
    },
    Batch {
        items: Vec<(Key, i64)>,
    },
    Advance {
        seconds: i64,
    },
}

fn key() -> impl Strategy<Value = Key> {
    (prop::sample::select(vec!["A", "B"]), prop::sample::select(vec!["a", "ab", "b", "c#1", "c#2", "c#3"]))
        .prop_map(|(pk, sk)| Key::new(pk, sk))
}

fn condition() -> impl Strategy<Value = Condition> {
    prop_oneof![Just(Condition::Always), Just(Condition::Absent), (0u64..3).prop_map(Condition::Version)]
}

fn op() -> impl Strategy<Value = Op> {
    let ttl = prop::option::of(-5i64..30);
    prop_oneof![
        3 => (key(), 0i64..100, ttl.clone(), prop::option::of(0u64..3), condition())
            .prop_map(|(key, value, ttl, version, condition)| Op::Put { key, value, ttl, version, condition }),
        2 => (key(), -5i64..5, ttl).prop_map(|(key, by, ttl)| Op::Add { key, by, ttl }),
        1 => (key(), condition()).prop_map(|(key, condition)| Op::Delete { key, condition }),
        1 => key().prop_map(|key| Op::Get { key }),
        2 => (
            prop::sample::select(vec!["A", "B"]),
            prop::option::of(prop::sample::select(vec!["a", "c#", "b", "z"])),
            prop::option::of((prop::sample::select(vec!["a", "ab", "b"]), prop::sample::select(vec!["b", "c#2", "d"]))),
            any::<bool>(),
            1usize..4,
        )
            .prop_map(|(pk, prefix, between, descending, limit)| Op::Query {
                pk: pk.into(),
                prefix: prefix.map(Into::into),
                between: between.map(|(lo, hi)| (lo.into(), hi.into())),
                descending,
                limit,
            }),
        1 => prop::collection::vec((key(), 0i64..100), 0..5).prop_map(|items| Op::Batch { items }),
        1 => (1i64..20).prop_map(|seconds| Op::Advance { seconds }),
    ]
}

struct Backend {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
}

fn start() -> DateTime<chrono::Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

/// The outcome of one operation in a form comparable across backends (JSON objects compare
/// without regard to key order).
fn outcome<T: serde::Serialize>(result: Result<T, StoreError>) -> Value {
    match result {
        Ok(v) => json!({"ok": v}),
        Err(StoreError::ConditionFailed) => json!("condition failed"),
        Err(StoreError::Invalid(_)) => json!("invalid"),
        Err(other) => panic!("backend failure: {other}"),
    }
}

async fn apply(b: &Backend, op: &Op) -> Value {
    let s = b.store.as_ref();
    let now = b.clock.now();
    match op.clone() {
        Op::Put { key, value, ttl, version, condition } => {
            let mut item = Item::new(key, Map::from_iter([("v".to_owned(), json!(value))]));
            if let Some(t) = ttl {
                item = item.with_ttl(now + Duration::seconds(t));
            }
            if let Some(v) = version {
                item = item.with_version(v);
            }
            outcome(s.put(item, condition).await)
        }
        Op::Add { key, by, ttl } => {
            let mut update = Update::new().add("n", by as f64);
            if let Some(t) = ttl {
                update = update.set("ttl", (now + Duration::seconds(t)).timestamp());
            }
            outcome(s.update(&key, update).await.map(|i| Value::Object(i.attrs)))
        }
        Op::Delete { key, condition } => outcome(s.delete(&key, condition).await),
        Op::Get { key } => outcome(s.get(&key).await.map(|i| i.map(|i| Value::Object(i.attrs)))),
        Op::Query { pk, prefix, between, descending, limit } => {
            let mut query = Query::partition(pk).limit(limit);
            if let Some(p) = prefix {
                query = query.prefix(p);
            } else if let Some((lo, hi)) = between {
                query = query.between(lo, hi);
            }
            if descending {
                query = query.descending();
            }
            let mut seen = Vec::new();
            for _ in 0..50 {
                let page = s.query(&query).await.unwrap();
                seen.extend(page.items.into_iter().map(|i| (i.key.sk, Value::Object(i.attrs))));
                match page.next {
                    Some(next) => query = query.after(Some(next)),
                    None => return json!(seen),
                }
            }
            json!({"no end after 50 pages": seen})
        }
        Op::Batch { items } => {
            let items =
                items.into_iter().map(|(k, v)| Item::new(k, Map::from_iter([("v".to_owned(), json!(v))])));
            outcome(s.batch_put(items.collect()).await)
        }
        Op::Advance { seconds } => {
            b.clock.advance(Duration::seconds(seconds));
            Value::Null
        }
    }
}

async fn backends(dir: &std::path::Path) -> Vec<(&'static str, Backend)> {
    let clock = || Arc::new(ManualClock::new(start()));
    let memory = clock();
    let embedded = clock();
    let mut all = vec![
        ("memory", Backend { store: Arc::new(MemoryStore::new(memory.clone())), clock: memory }),
        (
            "embedded",
            Backend {
                store: Arc::new(EmbeddedStore::open(&dir.join("state.redb"), embedded.clone()).unwrap()),
                clock: embedded,
            },
        ),
    ];
    if let Ok(endpoint) = std::env::var(integration_tests::ENDPOINT_VAR) {
        let dynamo = clock();
        let store = integration_tests::fresh_dynamo_store(&endpoint, dynamo.clone()).await;
        all.push(("dynamodb", Backend { store: Arc::new(store), clock: dynamo }));
    }
    all
}

proptest! {
    // Each case makes a table on the DynamoDB-API server when one is configured: keep them few.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_backend_gives_the_same_answers(ops in prop::collection::vec(op(), 1..30)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        runtime.block_on(async {
            let backends = backends(dir.path()).await;
            for (step, op) in ops.iter().enumerate() {
                let (first_name, first) = &backends[0];
                let expected = apply(first, op).await;
                for (name, backend) in &backends[1..] {
                    let got = apply(backend, op).await;
                    prop_assert_eq!(&got, &expected, "step {} {:?}: {} vs {}", step, op, name, first_name);
                }
            }
            Ok(())
        })?;
    }
}
