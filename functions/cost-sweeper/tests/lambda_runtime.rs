//! The cost-sweeper binary run as Lambda runs it, under a Runtime API served by the test, handling
//! the real EventBridge scheduled-event sample against the DynamoDB-API server.

#![allow(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

use integration_tests::runtime_api::{Function, RuntimeApi};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeper_binary_sweeps_once_per_scheduled_event() {
    let Some(endpoint) =
        integration_tests::dynamodb_endpoint("cost-sweeper under a local Lambda Runtime API")
    else {
        return;
    };
    let table = format!("sweeper-{}", uuid::Uuid::new_v4().simple());
    shared::store::create_table(&shared::aws::local_dynamodb(&endpoint), &table).await.unwrap();
    let scheduled = fixture("eventbridge-scheduled-event.json");
    let mut next = scheduled.clone();
    next["id"] = "7bf73129-1428-4cd3-a780-95db273d1602".into();
    let ping = serde_json::json!({"warmer": {"correlation_id": "w", "concurrency": 1, "hold_ms": 0}});
    let events = [
        ("first", scheduled.clone()),
        ("retried", scheduled),
        ("next", next),
        ("alarm", fixture("eventbridge-alarm-state-change-low.json")),
        ("ping", ping),
    ];
    let mut runtime = RuntimeApi::serve(&events).await;
    let function = Function::spawn(
        env!("CARGO_BIN_EXE_cost-sweeper"),
        "commander-cost-sweeper",
        &runtime.address,
        &[
            ("COMMANDER_TABLE_NAME", &table),
            ("COMMANDER_DYNAMODB_ENDPOINT", &endpoint),
            // Never CloudWatch or the Lambda API from a test: the suite's own counters only.
            ("COMMANDER_COST_SOURCES", "none"),
        ],
    );
    let answers = runtime.answers(events.len()).await;
    println!(
        "cost-sweeper binary (debug build): {} ms from process start to its first `next` poll",
        runtime.first_poll().unwrap().duration_since(function.started).as_millis()
    );
    let answer = |id: &str| answers[id].clone().unwrap_or_else(|e| panic!("{id}: invocation error {e}"));
    assert_eq!(answer("first")["status"], "swept", "{}", answer("first"));
    assert_eq!(answer("first")["level"], "low");
    assert_eq!(answer("first")["missing_sources"].as_array().unwrap().len(), 3);
    assert_eq!(answer("retried")["status"], "replayed", "a retried delivery does not sweep again");
    assert_eq!(answer("next")["status"], "swept");
    assert_eq!(answer("alarm")["status"], "ignored");
    assert_eq!(answer("ping")["warm"], true, "a warm ping is answered, not handled as an event");
    assert_eq!(answer("ping")["cold_start"], false);
    function.stop().await;
    // Each run ended with the container's figures in the table: its store calls timed per
    // access pattern, and the AWS pool that carried them.
    let reports = integration_tests::performance_reports(&endpoint, &table, "cost-sweeper").await;
    let report = reports.iter().max_by_key(|r| r.flushed_at).expect("a performance report");
    let snapshot_writes: u64 = reports
        .iter()
        .filter_map(|r| r.patterns.get("put COST#SNAPSHOT/*"))
        .map(|p| p.micros.iter().map(|(_, n)| n).sum::<u64>())
        .sum();
    assert!(snapshot_writes >= 2, "two sweeps stored their snapshots: {:?}", report.patterns.keys());
    let aws = report.pools.iter().find(|p| p.service == "aws").unwrap();
    assert!(aws.requests > 0 && aws.max == 50, "{aws:?}");
}

/// Lambda drops JSON lines below the function's log level, and a line without a `level` counts
/// as INFO: every EMF line the bootstrap prints must survive each `LogLevel` the template allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_reach_cloudwatch_at_every_log_level() {
    let Some(endpoint) =
        integration_tests::dynamodb_endpoint("cost-sweeper EMF lines under Lambda's log-level filter")
    else {
        return;
    };
    let events = vec![("sweep", fixture("eventbridge-scheduled-event.json"))];
    let lines = integration_tests::emf::assert_metrics_survive_every_log_level(
        env!("CARGO_BIN_EXE_cost-sweeper"),
        "commander-cost-sweeper",
        &endpoint,
        &events,
        &[("COMMANDER_COST_SOURCES", "none")],
        &["HourlyCost"],
    )
    .await;
    let counts: Vec<(&str, usize)> = lines.iter().map(|(level, l)| (*level, l.len())).collect();
    println!("cost-sweeper: EMF lines per log level {counts:?}");
}
