//! The scaler binary run as Lambda runs it, under a Runtime API served by the test, handling the
//! real alarm fixtures against the DynamoDB-API server.

use std::sync::Arc;

use integration_tests::bootstrap::{Case, ping, run_cases};
use integration_tests::fixture;
use shared::clock::SystemClock;
use shared::domain::{AgentType, Region, ReplicaId};
use shared::scaling::{FleetState, ReplicaHeartbeat};
use shared::store::DynamoStore;

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
            draining: false,
        };
        fleet.record_heartbeat(&beat.at(chrono::Utc::now()), chrono::Duration::minutes(10)).await.unwrap();
    }
    // Transitions of now: older ones are too old to act on.
    let direct =
        integration_tests::alarm_at(fixture("cloudwatch-alarm-direct-high.json"), chrono::Utc::now());
    let bridged =
        integration_tests::alarm_at(fixture("eventbridge-alarm-state-change-low.json"), chrono::Utc::now());
    let cases = [
        Case::new("tick", fixture("eventbridge-scheduled-event.json")).expect("/status", "ticked"),
        Case::new("tick-again", fixture("eventbridge-scheduled-event.json")).expect("/status", "replayed"),
        // The alarm evaluates on the same live signals, with the tick's decision in force.
        Case::new("direct", direct.clone())
            .expect("/status", "applied")
            .expect("/evaluation/trigger", "alarm")
            .expect("/evaluation/in_force", 3),
        Case::new("direct-again", direct).expect("/status", "replayed"),
        Case::new("bridged", bridged)
            .expect("/status", "applied")
            .expect("/evaluation/agent_type", "diagnosis"),
        Case::new(
            "not-an-alarm",
            serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
        )
        .expect("/status", "ignored"),
        // A warm ping is answered, not handled as an event.
        Case::new("ping", ping("w")).expect("/warm", true).expect("/cold_start", false),
    ];
    let env = [("COMMANDER_TABLE_NAME", table.as_str()), ("COMMANDER_DYNAMODB_ENDPOINT", &endpoint)];
    let ran = run_cases(env!("CARGO_BIN_EXE_scaler"), "commander-scaler", &env, &cases).await;
    let evaluations = ran.answer("tick")["tick"]["evaluations"].as_array().unwrap().clone();
    assert_eq!(evaluations.len(), 5);
    let detection = evaluations.iter().find(|e| e["agent_type"] == "detection").unwrap();
    assert_eq!(
        (detection["current"].as_u64(), detection["desired"].as_u64()),
        (Some(2), Some(3)),
        "{detection}"
    );
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
        &["QueryCount", "ScheduledRunSucceeded", "DesiredReplicas", "RegionFailovers"],
    )
    .await;
    let counts: Vec<(&str, usize)> = lines.iter().map(|(level, l)| (*level, l.len())).collect();
    println!("scaler: EMF lines per log level {counts:?}");
}
