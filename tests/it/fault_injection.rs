//! Faults against the DynamoDB-API server, through a relay that cuts the connection and restores
//! it: the api answers 503 with Retry-After while the store is away and serves again without a
//! restart, and a request refused meanwhile leaves no state behind; a scaler run cut off in the
//! middle fails so Lambda retries, and the retry applies the alarm exactly once.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{DateTime, Duration};
use integration_tests::relay::Relay;
use integration_tests::{dynamodb_endpoint, fresh_dynamo_store};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use shared::config::Config;
use shared::domain::{AgentType, Region};
use shared::scaling::FleetState;
use shared::scaling::actuator::RecordActuator;
use shared::scaling::cost_gate::CostGate;
use shared::scaling::service::Scaler;
use shared::store::{DynamoStore, Store};
use tower::ServiceExt;

fn clock() -> Arc<ManualClock> {
    integration_tests::test_clock()
}

/// A store reaching the server through `relay`, on the table `direct` created.
fn through(relay: &Relay, direct: &DynamoStore, clock: Arc<ManualClock>) -> Arc<dyn Store> {
    Arc::new(DynamoStore::new(shared::aws::local_dynamodb(&relay.url), direct.table_name().to_owned(), clock))
}

struct Answer {
    status: StatusCode,
    content_type: String,
    retry_after: Option<String>,
    body: Value,
}

async fn call(router: &Router, method: Method, path: &str, body: Option<&Value>) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request.body(body.map_or_else(Body::empty, |b| Body::from(b.to_string()))).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (content_type, retry_after) =
        (header(header::CONTENT_TYPE).unwrap_or_default(), header(header::RETRY_AFTER));
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    Answer { status, content_type, retry_after, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

fn heartbeat(id: &str) -> Value {
    json!({"agent_type": "detection", "replica_id": id, "region": "us-east-1", "load": 1.0,
           "capacity": 20, "healthy": true, "performance_score": 0.9})
}

fn replica_ids(status: &Answer) -> Vec<String> {
    status.body["replica_status"]["detection"]
        .as_array()
        .map(|rs| rs.iter().filter_map(|r| r["replica_id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Calls until the answer is not a 503 (connections the outage broke are replaced on use).
async fn once_back(router: &Router, method: Method, path: &str, body: Option<&Value>) -> Answer {
    for _ in 0..20 {
        let a = call(router, method.clone(), path, body).await;
        if a.status != StatusCode::SERVICE_UNAVAILABLE {
            return a;
        }
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    }
    panic!("{method} {path} still unavailable after the store came back");
}

#[tokio::test]
async fn the_api_answers_503_while_the_store_is_away_and_recovers_without_a_restart() {
    let Some(endpoint) = dynamodb_endpoint("api store outage") else { return };
    let clock = clock();
    let direct = fresh_dynamo_store(&endpoint, clock.clone()).await;
    let relay = Relay::start(&endpoint).await;
    let store = through(&relay, &direct, clock.clone());
    let router = api::router(api::AppState::new(store, clock.clone() as Arc<dyn Clock>, Config::default()));

    assert!(
        call(&router, Method::POST, "/replicas/heartbeat", Some(&heartbeat("d1"))).await.status.is_success()
    );
    assert_eq!(replica_ids(&call(&router, Method::GET, "/scaling/status", None).await), ["d1"]);

    let detection = AgentType::parse("detection").unwrap();
    let direct_fleet = FleetState::new(Arc::new(direct.clone()));
    let stored_policy = || async {
        direct_fleet.policy(&detection).await.unwrap().map(|v| (v.policy.min_replicas, v.version))
    };
    let before = stored_policy().await;

    relay.set(false);
    // The status read before the outage is a second old: the next one goes to the store.
    clock.advance(chrono::Duration::seconds(1));
    // A change that would be accepted were the store there.
    let policy = json!({"version": before.map_or(0, |(_, v)| v), "min_replicas": 3, "max_replicas": 9, "target_utilization": 0.7,
        "scale_up_threshold": 0.8, "scale_down_threshold": 0.3, "cooldown_period": 300,
        "capacity_per_replica": 20, "cost_per_replica_hour": 2.0});
    for a in [
        call(&router, Method::GET, "/scaling/status", None).await,
        call(&router, Method::POST, "/replicas/heartbeat", Some(&heartbeat("d2"))).await,
        call(&router, Method::PUT, "/scaling/policies/detection", Some(&policy)).await,
    ] {
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", a.body);
        assert_eq!(a.content_type, "application/problem+json");
        assert_eq!(a.retry_after.as_deref(), Some("5"));
    }

    relay.set(true);
    let status = once_back(&router, Method::GET, "/scaling/status", None).await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(replica_ids(&status), ["d1"], "the refused heartbeat left nothing behind");
    assert_eq!(stored_policy().await, before, "the refused policy change was not applied");
    assert!(
        call(&router, Method::POST, "/replicas/heartbeat", Some(&heartbeat("d2"))).await.status.is_success()
    );
    let mut ids = replica_ids(&call(&router, Method::GET, "/scaling/status", None).await);
    ids.sort();
    assert_eq!(ids, ["d1", "d2"], "the same router serves again");
}

/// The direct alarm fixture, its transition at the test clock's start.
fn alarm() -> Value {
    let path = format!("{}/fixtures/cloudwatch-alarm-direct-high.json", env!("CARGO_MANIFEST_DIR"));
    let event = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    integration_tests::alarm_at(event, DateTime::from_timestamp(1_800_000_000, 0).unwrap())
}

#[tokio::test]
async fn a_scaler_run_cut_off_midway_fails_for_a_retry_that_applies_the_alarm_once() {
    let Some(endpoint) = dynamodb_endpoint("scaler store outage") else { return };
    let clock = clock();
    let direct = fresh_dynamo_store(&endpoint, clock.clone()).await;
    let relay = Relay::start(&endpoint).await;
    let store = through(&relay, &direct, clock.clone());
    let fleet = FleetState::new(Arc::clone(&store));
    let scaler_deps = scaler::ScalerDeps {
        scaler: Scaler::new(fleet, Region::defaults(), CostGate::default(), Arc::new(RecordActuator)),
        store,
        clock: clock.clone(),
        metrics: shared::telemetry::EmfSink::off(),
        leadership: None,
    };
    let detection = AgentType::parse("detection").unwrap();
    let direct_fleet = FleetState::new(Arc::new(direct.clone()));
    // Two detection replicas at 95 %: the alarm's evaluation scales the type to three.
    for (id, region) in [("a", "us-east-1"), ("b", "us-west-2")] {
        let beat = shared::scaling::ReplicaHeartbeat {
            agent_type: detection.clone(),
            replica_id: shared::domain::ReplicaId::parse(id).unwrap(),
            region: Region::parse(region).unwrap(),
            load: 19.0,
            capacity: 20,
            healthy: true,
            performance_score: 0.9,
            draining: false,
        };
        direct_fleet.record_heartbeat(&beat.at(clock.now()), Duration::minutes(10)).await.unwrap();
    }

    // The outage begins after the run's first request (its idempotency claim): the claim is
    // stored, the evaluation is not.
    relay.cut_after(1);
    let first = scaler::handle(&scaler_deps, LambdaEvent::new(alarm(), Context::default())).await;
    assert!(first.is_err(), "a run the outage cut off fails, so Lambda retries: {first:?}");
    let (_, version) = direct_fleet.scaling_state(&detection).await.unwrap();
    assert_eq!(version, 0, "nothing applied yet");

    relay.set(true);
    let mut early = Ok(());
    for _ in 0..10 {
        // Until the claim's in-progress timeout passes, a retry is told to come back later.
        early = scaler::handle(&scaler_deps, LambdaEvent::new(alarm(), Context::default())).await.map(|_| ());
        if early.as_ref().is_err_and(|e| e.to_string().contains("being handled")) {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    }
    let early = early.unwrap_err().to_string();
    assert!(
        early.contains("being handled"),
        "the claim the cut-off run stored holds off an early retry: {early}"
    );
    // Lambda's retry comes later than the in-progress claim's timeout (60 s).
    clock.set(clock.now() + Duration::seconds(61));
    let mut retried = None;
    for _ in 0..10 {
        match scaler::handle(&scaler_deps, LambdaEvent::new(alarm(), Context::default())).await {
            Ok(outcome) => {
                retried = Some(outcome);
                break;
            }
            Err(_) => tokio::time::sleep(StdDuration::from_millis(200)).await,
        }
    }
    assert_eq!(retried.unwrap().status, scaler::Status::Applied);
    let again = scaler::handle(&scaler_deps, LambdaEvent::new(alarm(), Context::default())).await.unwrap();
    assert_eq!(again.status, scaler::Status::Replayed, "a further delivery changes nothing");
    let (state, version) = direct_fleet.scaling_state(&detection).await.unwrap();
    assert_eq!((state.desired_total, version), (3, 1), "applied exactly once");
}
