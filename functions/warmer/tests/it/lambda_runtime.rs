//! The warmer binary run as Lambda runs it, under a Runtime API served by the test, handling the
//! real EventBridge scheduled-event sample: it warms a target served by a local Lambda service.

use integration_tests::bootstrap::{Case, ping, run_cases};
use integration_tests::fixture;
use integration_tests::local_lambda::LocalLambda;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn warmer_binary_warms_once_per_scheduled_event() {
    let Some(endpoint) = integration_tests::dynamodb_endpoint("warmer under a local Lambda Runtime API")
    else {
        return;
    };
    let table = format!("warmer-{}", uuid::Uuid::new_v4().simple());
    shared::store::create_table(&shared::aws::local_dynamodb(&endpoint), &table).await.unwrap();
    let target = LocalLambda::start(
        "always-warm",
        env!("CARGO_BIN_EXE_warmer"),
        2,
        &[("COMMANDER_TABLE_NAME", "unused"), ("COMMANDER_DYNAMODB_ENDPOINT", "http://127.0.0.1:9")],
    )
    .await;
    // Open every hour of every day, so the test does not depend on when it runs.
    let config = serde_json::json!({
        "targets": [{"function": "always-warm", "regions": ["us-east-1"], "concurrency": 2}],
        "calendars": {"us-east-1": {"timezone": "UTC", "opens": "00:00:00", "closes": "23:59:59",
                                     "lead_minutes": 0, "weekend_factor": 1.0}},
        "hold_ms": 200,
    })
    .to_string();
    let scheduled = fixture("eventbridge-scheduled-event.json");
    let cases = [
        Case::new("first", scheduled.clone())
            .expect("/status", "warmed")
            .expect("/run/results/always-warm/us-east-1/ok", true)
            .expect("/run/results/always-warm/us-east-1/containers", 2),
        Case::new("retried", scheduled).expect("/status", "replayed"),
        Case::new("ping", ping("w")).expect("/warm", true),
    ];
    let env = [
        ("COMMANDER_TABLE_NAME", table.as_str()),
        ("COMMANDER_DYNAMODB_ENDPOINT", &endpoint),
        ("COMMANDER_LAMBDA_ENDPOINT", &target.endpoint),
        ("COMMANDER_WARM_CONFIG", &config),
    ];
    run_cases(env!("CARGO_BIN_EXE_warmer"), "commander-warmer", &env, &cases).await;
    integration_tests::assert_reported(&endpoint, &table, "warmer").await;
    target.stop().await;
}

/// Lambda drops JSON lines below the function's log level, and a line without a `level` counts
/// as INFO: every EMF line the bootstrap prints must survive each `LogLevel` the template allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_reach_cloudwatch_at_every_log_level() {
    let Some(endpoint) =
        integration_tests::dynamodb_endpoint("warmer EMF lines under Lambda's log-level filter")
    else {
        return;
    };
    let events = vec![("warm", fixture("eventbridge-scheduled-event.json"))];
    let lines = integration_tests::emf::assert_metrics_survive_every_log_level(
        env!("CARGO_BIN_EXE_warmer"),
        "commander-warmer",
        &endpoint,
        &events,
        &[
            ("COMMANDER_LAMBDA_ENDPOINT", "http://127.0.0.1:9"),
            (
                "COMMANDER_WARM_CONFIG",
                r#"{"targets": [{"function": "nowhere", "regions": ["us-east-1"], "concurrency": 1}]}"#,
            ),
        ],
        &["QueryCount", "ScheduledRunSucceeded"],
    )
    .await;
    let counts: Vec<(&str, usize)> = lines.iter().map(|(level, l)| (*level, l.len())).collect();
    println!("warmer: EMF lines per log level {counts:?}");
}
