//! The cost-sweeper binary run as Lambda runs it, under a Runtime API served by the test, handling
//! the real EventBridge scheduled-event sample against the DynamoDB-API server.

#![allow(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

use integration_tests::bootstrap::{Case, ping, run_cases};
use integration_tests::fixture;

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
    let cases = [
        Case::new("first", scheduled.clone()).expect("/status", "swept").expect("/level", "low"),
        Case::new("retried", scheduled).expect("/status", "replayed"),
        Case::new("next", next).expect("/status", "swept"),
        Case::new("alarm", fixture("eventbridge-alarm-state-change-low.json")).expect("/status", "ignored"),
        // A warm ping is answered, not handled as an event.
        Case::new("ping", ping("w")).expect("/warm", true).expect("/cold_start", false),
    ];
    let env = [
        ("COMMANDER_TABLE_NAME", table.as_str()),
        ("COMMANDER_DYNAMODB_ENDPOINT", &endpoint),
        // Never CloudWatch or the Lambda API from a test: the suite's own counters only.
        ("COMMANDER_COST_SOURCES", "none"),
    ];
    let ran = run_cases(env!("CARGO_BIN_EXE_cost-sweeper"), "commander-cost-sweeper", &env, &cases).await;
    assert_eq!(ran.answer("first")["missing_sources"].as_array().unwrap().len(), 3);
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
        &["HourlyCost", "EmergencyMode", "ScheduledRunSucceeded"],
    )
    .await;
    let counts: Vec<(&str, usize)> = lines.iter().map(|(level, l)| (*level, l.len())).collect();
    println!("cost-sweeper: EMF lines per log level {counts:?}");
}
