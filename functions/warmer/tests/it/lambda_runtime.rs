//! The warmer binary run as Lambda runs it, under a Runtime API served by the test, handling the
//! real EventBridge scheduled-event sample: it warms a target served by a local Lambda service.

use integration_tests::local_lambda::LocalLambda;
use integration_tests::runtime_api::{Function, RuntimeApi};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

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
    let events = [
        ("first", scheduled.clone()),
        ("retried", scheduled),
        ("ping", serde_json::json!({"warmer": {"correlation_id": "w", "hold_ms": 0}})),
    ];
    let mut runtime = RuntimeApi::serve(&events).await;
    let function = Function::spawn(
        env!("CARGO_BIN_EXE_warmer"),
        "commander-warmer",
        &runtime.address,
        &[
            ("COMMANDER_TABLE_NAME", &table),
            ("COMMANDER_DYNAMODB_ENDPOINT", &endpoint),
            ("COMMANDER_LAMBDA_ENDPOINT", &target.endpoint),
            ("COMMANDER_WARM_CONFIG", &config),
        ],
    );
    let answers = runtime.answers(events.len()).await;
    println!(
        "warmer binary (debug build): {} ms from process start to its first `next` poll",
        runtime.first_poll().unwrap().duration_since(function.started).as_millis()
    );
    let answer = |id: &str| answers[id].clone().unwrap_or_else(|e| panic!("{id}: invocation error {e}"));
    let first = answer("first");
    assert_eq!(first["status"], "warmed", "{first}");
    let result = &first["run"]["results"]["always-warm"]["us-east-1"];
    assert_eq!((result["ok"].as_bool(), result["containers"].as_u64()), (Some(true), Some(2)), "{first}");
    assert_eq!(answer("retried")["status"], "replayed", "a retried delivery warms nothing again");
    assert_eq!(answer("ping")["warm"], true);
    function.stop().await;
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
        &["QueryCount"],
    )
    .await;
    let counts: Vec<(&str, usize)> = lines.iter().map(|(level, l)| (*level, l.len())).collect();
    println!("warmer: EMF lines per log level {counts:?}");
}
