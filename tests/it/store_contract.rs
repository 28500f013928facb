//! The store contract: every backend must behave identically. Each case below runs against the
//! in-memory store, the embedded (redb) store on a temporary file, and the DynamoDB store on a
//! real DynamoDB-API server on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Duration;
use serde_json::{Map, Value, json};
use shared::clock::{Clock, ManualClock};
use shared::store::{
    Condition, EmbeddedStore, Idempotency, IdempotencyError, IdempotencyOutcome, Item, Key, MemoryStore,
    Page, Query, Store, StoreError, Update,
};

struct Fixture {
    /// `memory`, `embedded` or `dynamodb`.
    backend: &'static str,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    _dir: Option<tempfile::TempDir>,
}

fn clock() -> Arc<ManualClock> {
    integration_tests::test_clock()
}

async fn memory() -> Option<Fixture> {
    let clock = clock();
    Some(Fixture { backend: "memory", store: Arc::new(MemoryStore::new(clock.clone())), clock, _dir: None })
}

async fn embedded() -> Option<Fixture> {
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("state.redb"), clock.clone()).unwrap();
    Some(Fixture { backend: "embedded", store: Arc::new(store), clock, _dir: Some(dir) })
}

async fn dynamodb() -> Option<Fixture> {
    let endpoint = integration_tests::dynamodb_endpoint("store contract on DynamoDB")?;
    let clock = clock();
    let store = integration_tests::fresh_dynamo_store(&endpoint, clock.clone()).await;
    Some(Fixture { backend: "dynamodb", store: Arc::new(store), clock, _dir: None })
}

fn attrs(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn item(pk: &str, sk: &str, value: Value) -> Item {
    Item::new(Key::new(pk, sk), attrs(value))
}

async fn collect(store: &dyn Store, mut query: Query) -> (Vec<String>, usize) {
    let mut sks = Vec::new();
    let mut pages = 0;
    while pages < 100 {
        let Page { items, next } = store.query(&query).await.unwrap();
        assert!(items.len() <= query.limit, "a page never holds more than the limit");
        pages += 1;
        sks.extend(items.into_iter().map(|i| i.key.sk));
        match next {
            Some(cursor) => query = query.after(Some(cursor)),
            None => return (sks, pages),
        }
    }
    panic!("paging never ended: {sks:?}");
}

mod cases {
    use super::*;

    pub async fn get_and_put(f: Fixture) {
        let s = f.store.as_ref();
        let key = Key::new("P", "A");
        assert_eq!(s.get(&key).await.unwrap(), None);
        let written = item(
            "P",
            "A",
            json!({"name": "a", "n": 1, "f": 2.5, "whole": 3.0, "ok": true, "nested": {"x": [1, "two", null]}}),
        );
        s.put(written, Condition::Always).await.unwrap();
        let read = s.get(&key).await.unwrap().unwrap();
        assert_eq!(read.key, key);
        assert_eq!(
            Value::Object(read.attrs),
            json!({"name": "a", "n": 1, "f": 2.5, "whole": 3, "ok": true, "nested": {"x": [1, "two", null]}}),
            "numbers come back as DynamoDB gives them: whole numbers as integers"
        );
        s.put(item("P", "A", json!({"name": "b"})), Condition::Always).await.unwrap();
        assert_eq!(
            Value::Object(s.get(&key).await.unwrap().unwrap().attrs),
            json!({"name": "b"}),
            "a put replaces the item whole"
        );
        assert_eq!(s.get(&Key::new("P", "B")).await.unwrap(), None);
        assert_eq!(s.get(&Key::new("Q", "A")).await.unwrap(), None);
    }

    pub async fn get_many_answers_in_the_order_asked(f: Fixture) {
        let s = f.store.as_ref();
        assert_eq!(s.get_many(&[]).await.unwrap(), Vec::<Option<Item>>::new());
        // More keys than one BatchGetItem takes, over several partitions, some absent, one
        // expired and one asked for twice.
        let written: Vec<Item> =
            (0..150).map(|i| item(&format!("P{}", i % 3), &format!("{i:03}"), json!({"i": i}))).collect();
        s.batch_put(written).await.unwrap();
        let soon = f.clock.now() + Duration::seconds(30);
        s.put(item("P0", "gone", json!({"v": 1})).with_ttl(soon), Condition::Always).await.unwrap();
        f.clock.advance(Duration::seconds(30));
        let mut keys: Vec<Key> =
            (0..150).rev().map(|i| Key::new(format!("P{}", i % 3), format!("{i:03}"))).collect();
        keys.insert(10, Key::new("P0", "absent"));
        keys.insert(20, Key::new("P0", "gone"));
        keys.push(Key::new("P1", "001"));
        let read = s.get_many(&keys).await.unwrap();
        assert_eq!(read.len(), keys.len(), "one answer per key asked");
        for (key, got) in keys.iter().zip(&read) {
            match key.sk.parse::<i64>() {
                Ok(i) => {
                    let got = got.as_ref().unwrap_or_else(|| panic!("{key:?} was written"));
                    assert_eq!(&got.key, key);
                    assert_eq!(got.attrs["i"], json!(i), "{key:?} answers its own item");
                }
                Err(_) => assert_eq!(got, &None, "{key:?} is absent or expired"),
            }
        }
        let too_many: Vec<Key> =
            (0..=shared::store::MAX_GET_MANY).map(|i| Key::new("P", format!("{i}"))).collect();
        assert!(matches!(s.get_many(&too_many).await, Err(StoreError::Invalid(_))), "past the bound");
        assert!(
            matches!(s.get_many(&[Key::new("", "A")]).await, Err(StoreError::Invalid(_))),
            "a key no backend takes"
        );
    }

    pub async fn conditional_put(f: Fixture) {
        let s = f.store.as_ref();
        let v1 = item("P", "A", json!({"v": "one"})).with_version(1);
        s.put(v1.clone(), Condition::Absent).await.unwrap();
        assert!(matches!(s.put(v1, Condition::Absent).await, Err(StoreError::ConditionFailed)));
        let v2 = item("P", "A", json!({"v": "two"})).with_version(2);
        assert!(matches!(s.put(v2.clone(), Condition::Version(2)).await, Err(StoreError::ConditionFailed)));
        s.put(v2.clone(), Condition::Version(1)).await.unwrap();
        assert!(
            matches!(s.put(v2, Condition::Version(1)).await, Err(StoreError::ConditionFailed)),
            "a stale version loses"
        );
        let read = s.get(&Key::new("P", "A")).await.unwrap().unwrap();
        assert_eq!((read.version(), read.attrs["v"].clone()), (Some(2), json!("two")));
        let absent = item("P", "NEW", json!({})).with_version(1);
        assert!(
            matches!(s.put(absent, Condition::Version(0)).await, Err(StoreError::ConditionFailed)),
            "no item, no version"
        );
    }

    pub async fn update_adds_atomically(f: Fixture) {
        let s = f.store.as_ref();
        let key = Key::new("USAGE#2026-11-26T10", "MODEL#m#TASK#t");
        let created = s
            .update(&key, Update::new().add("input_tokens", 500.0).add("calls", 1.0).set("model", "m"))
            .await
            .unwrap();
        assert_eq!(created.attrs["input_tokens"], json!(500));
        assert_eq!(created.attrs["model"], json!("m"));
        let again = s.update(&key, Update::new().add("input_tokens", 250.0).add("cost", 0.25)).await.unwrap();
        assert_eq!(
            (again.attrs["input_tokens"].clone(), again.attrs["calls"].clone()),
            (json!(750), json!(1))
        );
        assert_eq!(again.attrs["cost"], json!(0.25));
        let down = s.update(&key, Update::new().add("calls", -3.0)).await.unwrap();
        assert_eq!(down.attrs["calls"], json!(-2));
        assert_eq!(s.get(&key).await.unwrap().unwrap().attrs, down.attrs);
        assert!(
            matches!(s.update(&key, Update::new().add("model", 1.0)).await, Err(StoreError::Invalid(_))),
            "adding to text"
        );
        assert!(matches!(
            s.update(&key, Update::new().add("x", 1.0).set("x", 2)).await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.update(&key, Update::new().add("x", f64::NAN)).await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(s.get(&key).await.unwrap().unwrap().attrs, down.attrs, "a refused update changes nothing");
    }

    pub async fn conditional_update(f: Fixture) {
        let s = f.store.as_ref();
        let key = Key::new("P", "R");
        let refused = |r: Result<Item, StoreError>| matches!(r, Err(StoreError::ConditionFailed));
        assert!(refused(s.update(&key, Update::new().add("n", 1.0).only_if(Condition::Version(0))).await));
        assert!(refused(s.update(&key, Update::new().add("n", 1.0).only_if(Condition::Exists)).await));
        assert_eq!(s.get(&key).await.unwrap(), None, "a refused update creates nothing");
        let made = s.update(&key, Update::new().set("version", 1).only_if(Condition::Absent)).await.unwrap();
        assert_eq!(made.version(), Some(1));
        assert!(refused(s.update(&key, Update::new().add("n", 1.0).only_if(Condition::Absent)).await));
        let grown = s.update(&key, Update::new().add("n", 0.0).only_if(Condition::Exists)).await.unwrap();
        assert_eq!(grown.attrs["n"], json!(0), "a live item takes the update");
        let next = Update::new()
            .add("n", 5.0)
            .add("version", 1.0)
            .set("ttl", (f.clock.now() + Duration::seconds(60)).timestamp());
        let after = s.update(&key, next.clone().only_if(Condition::Version(1))).await.unwrap();
        assert_eq!((after.version(), after.attrs["n"].clone()), (Some(2), json!(5)));
        assert!(
            refused(s.update(&key, next.clone().only_if(Condition::Version(1))).await),
            "a stale version loses"
        );
        assert_eq!(s.get(&key).await.unwrap().unwrap().attrs, after.attrs, "and changes nothing");
        f.clock.advance(Duration::seconds(61));
        assert!(
            refused(s.update(&key, next.only_if(Condition::Version(2))).await),
            "an expired item has no version"
        );
        assert!(
            refused(s.update(&key, Update::new().add("n", 1.0).only_if(Condition::Exists)).await),
            "an expired item does not exist"
        );
        let anew = s.update(&key, Update::new().add("n", 1.0).only_if(Condition::Absent)).await.unwrap();
        assert_eq!(anew.attrs.get("n"), Some(&json!(1)), "an expired item counts as absent");
        assert_eq!(anew.version(), None);
    }

    pub async fn concurrent_adds_are_not_lost(f: Fixture) {
        let key = Key::new("COUNTER", "C");
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let store = Arc::clone(&f.store);
                let key = key.clone();
                tokio::spawn(async move { store.update(&key, Update::new().add("n", 1.0)).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(f.store.get(&key).await.unwrap().unwrap().attrs["n"], json!(20));
    }

    pub async fn query_orders_pages_and_filters(f: Fixture) {
        let s = f.store.as_ref();
        let mut items = Vec::new();
        for i in 0..7 {
            items.push(item("AGENT#detection", &format!("REPLICA#us-east-1#r{i}"), json!({"i": i})));
        }
        items.push(item("AGENT#detection", "POLICY", json!({})));
        items.push(item("AGENT#detection", "STATE", json!({})));
        items.push(item("AGENT#detectionX", "REPLICA#us-east-1#other", json!({})));
        items.push(item("AGENT#detectio", "REPLICA#us-east-1#other", json!({})));
        s.batch_put(items).await.unwrap();

        let replicas = Query::partition("AGENT#detection").prefix("REPLICA#");
        let expected: Vec<String> = (0..7).map(|i| format!("REPLICA#us-east-1#r{i}")).collect();
        let (all, pages) = collect(s, replicas.clone().limit(1000)).await;
        assert_eq!((all.clone(), pages), (expected.clone(), 1));

        let (paged, pages) = collect(s, replicas.clone().limit(3)).await;
        assert_eq!(paged, expected, "pages join up without gaps or repeats");
        assert!((3..=4).contains(&pages), "7 items in pages of 3: {pages} pages");

        let mut reversed = expected.clone();
        reversed.reverse();
        assert_eq!(collect(s, replicas.clone().descending().limit(2)).await.0, reversed);

        let first = s.query(&replicas.clone().limit(2)).await.unwrap();
        assert_eq!(first.items.len(), 2);
        assert_eq!(first.next.as_deref(), Some("REPLICA#us-east-1#r1"));

        let between =
            Query::partition("AGENT#detection").between("REPLICA#us-east-1#r2", "REPLICA#us-east-1#r4");
        assert_eq!(collect(s, between.clone()).await.0, expected[2..=4].to_vec());
        assert_eq!(
            collect(s, between.descending()).await.0,
            vec![expected[4].clone(), expected[3].clone(), expected[2].clone()]
        );

        let everything = collect(s, Query::partition("AGENT#detection")).await.0;
        assert_eq!(everything.len(), 9);
        assert_eq!(everything.first().map(String::as_str), Some("POLICY"));
        assert_eq!(everything.last().map(String::as_str), Some("STATE"));
        assert_eq!(collect(s, Query::partition("AGENT#nothing")).await.0, Vec::<String>::new());
        assert!(matches!(s.query(&Query::partition("P").limit(0)).await, Err(StoreError::Invalid(_))));
    }

    pub async fn expired_items_are_invisible(f: Fixture) {
        let s = f.store.as_ref();
        let now = f.clock.now();
        let soon = now + Duration::seconds(60);
        s.put(item("P", "A", json!({"v": 1})).with_ttl(soon).with_version(1), Condition::Always)
            .await
            .unwrap();
        s.put(item("P", "B", json!({"v": 2})), Condition::Always).await.unwrap();
        s.update(&Key::new("P", "C"), Update::new().add("n", 5.0).set("ttl", soon.timestamp()))
            .await
            .unwrap();
        assert_eq!(collect(s, Query::partition("P")).await.0, ["A", "B", "C"]);

        f.clock.advance(Duration::seconds(60));
        assert_eq!(s.get(&Key::new("P", "A")).await.unwrap(), None, "expired at its ttl second");
        assert_eq!(collect(s, Query::partition("P")).await.0, ["B"]);
        assert_eq!(collect(s, Query::partition("P").limit(1)).await.0, ["B"]);
        assert_eq!(collect(s, Query::partition("P").descending().limit(1)).await.0, ["B"]);
        assert!(
            matches!(
                s.put(item("P", "A", json!({})).with_version(2), Condition::Version(1)).await,
                Err(StoreError::ConditionFailed)
            ),
            "an expired item has no version to match"
        );
        let fresh = s.update(&Key::new("P", "C"), Update::new().add("n", 1.0)).await.unwrap();
        assert_eq!(fresh.attrs["n"], json!(1), "an update starts an expired item afresh");
        assert_eq!(fresh.ttl(), None);
        s.put(item("P", "A", json!({"v": 3})).with_version(1), Condition::Absent).await.unwrap();
        assert_eq!(
            s.get(&Key::new("P", "A")).await.unwrap().unwrap().attrs["v"],
            json!(3),
            "an expired item counts as absent"
        );
    }

    pub async fn conditional_delete(f: Fixture) {
        let s = f.store.as_ref();
        s.delete(&Key::new("P", "MISSING"), Condition::Always).await.unwrap();
        s.put(item("P", "A", json!({})).with_version(3), Condition::Always).await.unwrap();
        assert!(matches!(
            s.delete(&Key::new("P", "A"), Condition::Version(2)).await,
            Err(StoreError::ConditionFailed)
        ));
        assert!(s.get(&Key::new("P", "A")).await.unwrap().is_some(), "a refused delete keeps the item");
        s.delete(&Key::new("P", "A"), Condition::Version(3)).await.unwrap();
        assert_eq!(s.get(&Key::new("P", "A")).await.unwrap(), None);
    }

    pub async fn batch_put_chunks_and_last_write_wins(f: Fixture) {
        let s = f.store.as_ref();
        let mut items: Vec<Item> =
            (0..60).map(|i| item("BATCH", &format!("I#{i:03}"), json!({"i": i}))).collect();
        items.push(item("BATCH", "I#005", json!({"i": "last"})));
        s.batch_put(items).await.unwrap();
        let (sks, _) = collect(s, Query::partition("BATCH").limit(1000)).await;
        assert_eq!(sks.len(), 60);
        assert_eq!(s.get(&Key::new("BATCH", "I#005")).await.unwrap().unwrap().attrs["i"], json!("last"));
        s.batch_put(Vec::new()).await.unwrap();
    }

    pub async fn bad_requests_are_refused(f: Fixture) {
        let s = f.store.as_ref();
        let refused = [
            s.put(item("", "A", json!({})), Condition::Always).await,
            s.put(item("P", "A", json!({"pk": "other"})), Condition::Always).await,
            s.put(item("P", "A", json!({"ttl": "tomorrow"})), Condition::Always).await,
            s.batch_put(vec![item("P", "B", json!({})), item("P", "C", json!({"version": -1}))]).await,
        ];
        for (i, result) in refused.into_iter().enumerate() {
            assert!(matches!(result, Err(StoreError::Invalid(_))), "case {i}: {result:?}");
        }
        assert_eq!(collect(s, Query::partition("P")).await.0, Vec::<String>::new(), "nothing half-written");
        assert!(matches!(
            s.update(&Key::new("P", "A"), Update::new().set("sk", "x")).await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(s.get(&Key::new("P", "")).await, Err(StoreError::Invalid(_))));
    }

    /// What DynamoDB refuses, every backend refuses, and nothing is half-written.
    pub async fn dynamodbs_limits_hold_on_every_backend(f: Fixture) {
        let s = f.store.as_ref();
        let blob = |n: usize| item("LIMITS", "BIG", json!({"blob": "x".repeat(n)}));
        let refused = [
            s.put(blob(420 * 1024), Condition::Always).await,
            s.put(item("LIMITS", "TINY", json!({"x": 1e-200})), Condition::Always).await,
            s.put(item("LIMITS", "HUGE", json!({"x": {"y": [1, 1e130]}})), Condition::Always).await,
            s.put(item(&"P".repeat(2049), "S", json!({})), Condition::Always).await,
            s.put(item("LIMITS", &"S".repeat(1025), json!({})), Condition::Always).await,
            s.batch_put(vec![
                item("LIMITS", "OK", json!({"x": 1})),
                item("LIMITS", "NO", json!({"x": 1e-140})),
            ])
            .await,
        ];
        for (i, result) in refused.into_iter().enumerate() {
            assert!(matches!(result, Err(StoreError::Invalid(_))), "case {i}: {result:?}");
        }
        assert_eq!(
            collect(s, Query::partition("LIMITS")).await.0,
            Vec::<String>::new(),
            "nothing half-written"
        );
        s.put(blob(390 * 1024), Condition::Always).await.unwrap();
        s.put(item("LIMITS", "EDGE", json!({"x": 1e-129, "y": -9.9e125, "z": 0.0})), Condition::Always)
            .await
            .unwrap();
        let counter = Key::new("LIMITS", "COUNTER");
        s.update(&counter, Update::new().add("n", 9e125)).await.unwrap();
        let mut bad =
            vec![Update::new().add("n", 1e-200), Update::new().set("nested", json!({"deep": 1e-300}))];
        // DynamoDB refuses an add that overflows by itself (ValidationException, mapped to
        // Invalid); the DynamoDB-API server these tests run against does not, so that case
        // holds the local backends to DynamoDB's behaviour only.
        if f.backend != "dynamodb" {
            bad.push(Update::new().add("n", 9e125));
        }
        for bad in bad {
            assert!(matches!(s.update(&counter, bad.clone()).await, Err(StoreError::Invalid(_))), "{bad:?}");
        }
        let n = s.get(&counter).await.unwrap().unwrap().attrs["n"].as_f64().unwrap();
        assert!((n - 9e125).abs() < 1e112, "a refused add leaves the number alone: {n}");
    }

    pub async fn idempotency_acts_once(f: Fixture) {
        let runs = AtomicUsize::new(0);
        let idem =
            Idempotency::new(f.store.as_ref(), f.clock.as_ref()).in_progress_timeout(Duration::seconds(30));
        let work = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(json!({"scaled_to": 4}))
        };
        assert_eq!(
            idem.run("evt-1", work).await.unwrap(),
            IdempotencyOutcome::Executed(json!({"scaled_to": 4}))
        );
        assert_eq!(
            idem.run("evt-1", work).await.unwrap(),
            IdempotencyOutcome::Replayed(json!({"scaled_to": 4}))
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1, "a repeat delivery does not act again");

        let failing = || async { Err::<Value, _>("boom".to_owned()) };
        assert!(matches!(idem.run("evt-2", failing).await, Err(IdempotencyError::Handler(_))));
        assert_eq!(
            idem.run("evt-2", work).await.unwrap(),
            IdempotencyOutcome::Executed(json!({"scaled_to": 4})),
            "a failure releases the claim"
        );

        // A delivery that claims the event and never finishes (its container died).
        let stuck = Item::new(
            Key::new("IDEMPOTENCY#evt-3", "EVENT"),
            attrs(json!({
                "status": "INPROGRESS",
                "in_progress_expiration": (f.clock.now() + Duration::seconds(30)).timestamp_millis(),
            })),
        )
        .with_version(1)
        .with_ttl(f.clock.now() + Duration::hours(1));
        f.store.put(stuck, Condition::Absent).await.unwrap();
        assert!(matches!(idem.run("evt-3", work).await, Err(IdempotencyError::InProgress)));
        f.clock.advance(Duration::seconds(31));
        assert_eq!(
            idem.run("evt-3", work).await.unwrap(),
            IdempotencyOutcome::Executed(json!({"scaled_to": 4})),
            "a stale claim is taken over"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 3);

        f.clock.advance(Duration::hours(2));
        assert_eq!(
            idem.run("evt-1", work).await.unwrap(),
            IdempotencyOutcome::Executed(json!({"scaled_to": 4})),
            "records expire"
        );
    }

    /// Issue 17, item 5: a claim holds until the invoking function's deadline (the sweeper's is
    /// 120 s), not a fixed minute that let a retry run the work again beside a live invocation.
    pub async fn an_idempotency_claim_holds_until_the_invocations_deadline(f: Fixture) {
        let deadline = f.clock.now() + Duration::seconds(120);
        let claimant = Idempotency::new(f.store.as_ref(), f.clock.as_ref()).until(Some(deadline));
        // The claimant is still working (here: stopped midway, its claim left behind).
        let unfinished = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            claimant.run("evt-9", std::future::pending::<Result<Value, String>>),
        )
        .await;
        assert!(unfinished.is_err(), "the claimant did not finish");
        let retry = Idempotency::new(f.store.as_ref(), f.clock.as_ref());
        let work = || async { Ok::<_, String>(json!({"swept": true})) };
        f.clock.advance(Duration::seconds(90));
        assert!(
            matches!(retry.run("evt-9", work).await, Err(IdempotencyError::InProgress)),
            "within the claimant's deadline the claim holds"
        );
        f.clock.advance(Duration::seconds(31));
        assert_eq!(
            retry.run("evt-9", work).await.unwrap(),
            IdempotencyOutcome::Executed(json!({"swept": true})),
            "past it, a retry takes the work over"
        );
    }
}

macro_rules! contract {
    ($backend:ident: $($case:ident),+ $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(fixture) = super::$backend().await {
                        super::cases::$case(fixture).await;
                    }
                }
            )+
        }
    };
}

macro_rules! contract_on_every_backend {
    ($($case:ident),+ $(,)?) => {
        contract!(memory: $($case),+);
        contract!(embedded: $($case),+);
        contract!(dynamodb: $($case),+);
    };
}

contract_on_every_backend!(
    get_and_put,
    get_many_answers_in_the_order_asked,
    conditional_put,
    update_adds_atomically,
    conditional_update,
    concurrent_adds_are_not_lost,
    query_orders_pages_and_filters,
    expired_items_are_invisible,
    conditional_delete,
    batch_put_chunks_and_last_write_wins,
    bad_requests_are_refused,
    dynamodbs_limits_hold_on_every_backend,
    idempotency_acts_once,
    an_idempotency_claim_holds_until_the_invocations_deadline,
);

#[tokio::test]
async fn embedded_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/state.redb");
    let clock = clock();
    {
        let store = EmbeddedStore::open(&path, clock.clone()).unwrap();
        store.put(item("P", "A", json!({"kept": true})), Condition::Always).await.unwrap();
    }
    let reopened = EmbeddedStore::open(&path, clock).unwrap();
    assert_eq!(reopened.get(&Key::new("P", "A")).await.unwrap().unwrap().attrs["kept"], json!(true));
}

/// The local backends drop expired items instead of keeping them for ever (`commander serve`
/// purges hourly): the file shrinks back, and what is live stays.
#[tokio::test]
async fn the_local_backends_purge_expired_items() {
    for fixture in [memory().await.unwrap(), embedded().await.unwrap()] {
        let s = fixture.store.as_ref();
        let now = fixture.clock.now();
        for i in 0..50 {
            let ttl = now.timestamp() + if i % 5 == 0 { 3_600 } else { 60 };
            s.put(item("P", &format!("{i:02}"), json!({"ttl": ttl})), Condition::Always).await.unwrap();
        }
        s.put(item("P", "forever", json!({"kept": true})), Condition::Always).await.unwrap();
        assert_eq!(s.purge_expired().await.unwrap(), 0, "{}: nothing has expired yet", fixture.backend);
        fixture.clock.advance(chrono::Duration::seconds(60));
        assert_eq!(s.purge_expired().await.unwrap(), 40, "{}", fixture.backend);
        assert_eq!(s.purge_expired().await.unwrap(), 0, "{}: already gone", fixture.backend);
        let (left, _) = collect(s, Query::partition("P").limit(100)).await;
        assert_eq!(left.len(), 11, "{}: {left:?}", fixture.backend);
        // Gone from storage, not only hidden: they stay gone when the clock is turned back.
        fixture.clock.advance(chrono::Duration::seconds(-120));
        let (all, _) = collect(s, Query::partition("P").limit(100)).await;
        assert_eq!(all.len(), 11, "{}: {all:?}", fixture.backend);
    }
}
