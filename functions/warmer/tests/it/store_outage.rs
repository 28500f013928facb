//! The warmer when the store fails in the middle of a run: every target is still pinged and
//! reported, the run says what it could not record and fails so Lambda retries, and the retry
//! (once the store is back) warms and records everything. Real warmer containers behind a Lambda
//! service on loopback; the DynamoDB-API server behind a relay that cuts itself mid-run.

use std::sync::Arc;

use chrono::{DateTime, Duration};
use integration_tests::local_lambda::LocalLambda;
use integration_tests::relay::Relay;
use integration_tests::{dynamodb_endpoint, fresh_dynamo_store};
use serde_json::Value;
use shared::clock::{Clock, ManualClock};
use shared::store::{DynamoStore, Key, Store};
use warmer::{Status, WarmerDeps, handle_schedule};

fn scheduled_event() -> Value {
    let path =
        format!("{}/../../tests/fixtures/eventbridge-scheduled-event.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_the_store_fails_midway_reports_a_partial_failure_and_its_retry_records_it() {
    let Some(endpoint) = dynamodb_endpoint("warmer store outage") else { return };
    let lambda = LocalLambda::start(
        "commander-target",
        env!("CARGO_BIN_EXE_warmer"),
        2,
        &[("COMMANDER_TABLE_NAME", "unused"), ("COMMANDER_DYNAMODB_ENDPOINT", "http://127.0.0.1:9")],
    )
    .await;
    // Monday 09:30 in New York: inside business hours.
    let clock =
        Arc::new(ManualClock::new(DateTime::parse_from_rfc3339("2026-11-30T14:30:00Z").unwrap().into()));
    let direct = fresh_dynamo_store(&endpoint, clock.clone()).await;
    let relay = Relay::start(&endpoint).await;
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(
        shared::aws::local_dynamodb(&relay.url),
        direct.table_name().to_owned(),
        clock.clone(),
    ));
    let config = serde_json::json!({
        "targets": [{"function": "commander-target", "regions": ["us-east-1", "eu-west-1"], "concurrency": 2}],
        "hold_ms": 100,
    })
    .to_string();
    let env = |name: &str| match name {
        "COMMANDER_WARM_CONFIG" => Some(config.clone()),
        "COMMANDER_LAMBDA_ENDPOINT" => Some(lambda.endpoint.clone()),
        _ => None,
    };
    let deps = WarmerDeps {
        warmer: integration_tests::container_with_env(&env, clock.clone(), store.clone()).warmer(),
        store,
        clock: clock.clone() as Arc<dyn Clock>,
        metrics: shared::telemetry::EmfSink::off(),
        leadership: None,
    };

    // The run's claim, its two state reads and the price read pass; then the store is gone.
    relay.cut_after(4);
    let failed = handle_schedule(&deps, &scheduled_event(), None).await.unwrap_err().to_string();
    assert!(failed.starts_with("partial failure: 2 targets warmed and 0 failed"), "{failed}");
    assert!(
        failed.contains("commander-target in us-east-1") && failed.contains("commander-target in eu-west-1"),
        "{failed}"
    );
    assert!(failed.contains("warming cost"), "{failed}");
    let stored = || {
        let direct = direct.clone();
        async move {
            let mut n = 0;
            for region in ["us-east-1", "eu-west-1"] {
                let key = Key::new(format!("WARM#commander-target#{region}"), "STATE");
                n += usize::from(direct.get(&key).await.unwrap().is_some());
            }
            n
        }
    };
    assert_eq!(stored().await, 0, "nothing recorded while the store was gone");

    relay.set(true);
    // Lambda retries after the claim's in-progress timeout.
    clock.set(clock.now() + Duration::seconds(61));
    let mut retried = None;
    for _ in 0..10 {
        if let Ok(outcome) = handle_schedule(&deps, &scheduled_event(), None).await {
            retried = Some(outcome);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let retried = retried.unwrap();
    assert_eq!(retried.status, Status::Warmed, "{retried:?}");
    let run = retried.run.unwrap();
    assert!(run.unrecorded.is_empty() && run.successful_warmings == 2, "{run:?}");
    assert_eq!(stored().await, 2, "both targets' warming state recorded");
    let hour = Key::new("COST#WARMING", clock.now().format("%Y-%m-%dT%H").to_string());
    assert!(direct.get(&hour).await.unwrap().is_some(), "the warming cost recorded");
    lambda.stop().await;
}
