//! The scaler binary run as Lambda runs it, under a Runtime API served by the test, handling the
//! real alarm fixtures against the DynamoDB-API server.

use std::sync::Arc;

use integration_tests::runtime_api::{Function, RuntimeApi};
use serde_json::Value;
use shared::clock::SystemClock;
use shared::domain::{AgentType, Region, ReplicaId};
use shared::scaling::{FleetState, ReplicaHeartbeat};
use shared::store::DynamoStore;

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaler_binary_handles_ticks_and_both_alarm_forms() {
    let Some(endpoint) = integration_tests::dynamodb_endpoint("scaler under a local Lambda Runtime API")
    else {
        return;
    };
    let table = format!("scaler-{}", uuid::Uuid::new_v4().simple());
    shared::store::create_table(&shared::aws::local_dynamodb(&endpoint), &table).await.unwrap();
    // Two detection replicas at 95 %, reporting as the api records heartbeats.
    let store = Arc::new(DynamoStore::new(
        shared::aws::local_dynamodb(&endpoint),
        table.clone(),
        Arc::new(SystemClock),
    ));
    let fleet = FleetState::new(store);
    for (id, region) in [("a", "us-east-1"), ("b", "us-west-2")] {
        let beat = ReplicaHeartbeat {
            agent_type: AgentType::parse("detection").unwrap(),
            replica_id: ReplicaId::parse(id).unwrap(),
            region: Region::parse(region).unwrap(),
            load: 19.0,
            capacity: 20,
            healthy: true,
            performance_score: 0.9,
        };
        fleet.record_heartbeat(&beat.at(chrono::Utc::now()), chrono::Duration::minutes(10)).await.unwrap();
    }
    let ping = serde_json::json!({"warmer": {"correlation_id": "w", "concurrency": 1, "hold_ms": 0}});
    // Transitions of now: older ones are too old to act on.
    let direct =
        integration_tests::alarm_at(fixture("cloudwatch-alarm-direct-high.json"), chrono::Utc::now());
    let events = [
        ("tick", fixture("eventbridge-scheduled-event.json")),
        ("tick-again", fixture("eventbridge-scheduled-event.json")),
        ("direct", direct.clone()),
        ("direct-again", direct),
        (
            "bridged",
            integration_tests::alarm_at(
                fixture("eventbridge-alarm-state-change-low.json"),
                chrono::Utc::now(),
            ),
        ),
        (
            "not-an-alarm",
            serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
        ),
        ("ping", ping),
    ];
    let mut runtime = RuntimeApi::serve(&events).await;
    let function = Function::spawn(
        env!("CARGO_BIN_EXE_scaler"),
        "commander-scaler",
        &runtime.address,
        &[("COMMANDER_TABLE_NAME", &table), ("COMMANDER_DYNAMODB_ENDPOINT", &endpoint)],
    );
    let answers = runtime.answers(events.len()).await;
    println!(
        "scaler binary (debug build): {} ms from process start to its first `next` poll",
        runtime.first_poll().unwrap().duration_since(function.started).as_millis()
    );
    let answer = |id: &str| answers[id].clone().unwrap_or_else(|e| panic!("{id}: invocation error {e}"));
    assert_eq!(answer("tick")["status"], "ticked", "{}", answer("tick"));
    let evaluations = answer("tick")["tick"]["evaluations"].as_array().unwrap().clone();
    assert_eq!(evaluations.len(), 5);
    let detection = evaluations.iter().find(|e| e["agent_type"] == "detection").unwrap();
    assert_eq!(
        (detection["current"].as_u64(), detection["desired"].as_u64()),
        (Some(2), Some(3)),
        "{detection}"
    );
    assert_eq!(answer("tick-again")["status"], "replayed");
    // The alarm (its transition at a fixed time in the fixture) evaluates on the same live signals.
    assert_eq!(answer("direct")["status"], "applied", "{}", answer("direct"));
    assert_eq!(answer("direct")["evaluation"]["trigger"], "alarm");
    assert_eq!(answer("direct")["evaluation"]["in_force"], 3, "the tick's decision is in force");
    assert_eq!(answer("direct-again")["status"], "replayed");
    assert_eq!(answer("bridged")["status"], "applied");
    assert_eq!(answer("bridged")["evaluation"]["agent_type"], "diagnosis");
    assert_eq!(answer("not-an-alarm")["status"], "ignored");
    assert_eq!(answer("ping")["warm"], true, "a warm ping is answered, not handled as an event");
    assert_eq!(answer("ping")["cold_start"], false);
    function.stop().await;
    integration_tests::assert_reported(&endpoint, &table, "scaler").await;
}

/// Lambda drops JSON lines below the function's log level, and a line without a `level` counts
/// as INFO: every EMF line the bootstrap prints must survive each `LogLevel` the template allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_reach_cloudwatch_at_every_log_level() {
    let Some(endpoint) =
        integration_tests::dynamodb_endpoint("scaler EMF lines under Lambda's log-level filter")
    else {
        return;
    };
    let events = vec![("tick", fixture("eventbridge-scheduled-event.json"))];
    let lines = integration_tests::emf::assert_metrics_survive_every_log_level(
        env!("CARGO_BIN_EXE_scaler"),
        "commander-scaler",
        &endpoint,
        &events,
        &[],
        &["QueryCount"],
    )
    .await;
    let counts: Vec<(&str, usize)> = lines.iter().map(|(level, l)| (*level, l.len())).collect();
    println!("scaler: EMF lines per log level {counts:?}");
}
