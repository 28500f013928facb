//! Warming end to end: a real bootstrap binary of the suite (the warmer's own, which answers pings
//! like every function of the suite) runs as N containers behind a Lambda service on loopback; the
//! warmer invokes it through the AWS SDK.

use std::sync::Arc;

use chrono::DateTime;
use integration_tests::local_lambda::LocalLambda;
use shared::clock::{Clock, ManualClock};
use shared::store::{MemoryStore, Store};
use shared::warming::warmer::WarmRequest;

const CONTAINERS: usize = 3;

fn config() -> String {
    serde_json::json!({
        "targets": [
            {"function": "commander-target", "regions": ["us-east-1"], "qualifier": "live", "concurrency": 3,
             "memory_mb": 512, "architecture": "arm64"},
            {"function": "missing-agent", "regions": ["us-east-1"], "concurrency": 2},
        ],
        "hold_ms": 300,
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn n_concurrent_pings_reach_n_containers_and_a_failing_target_fails_alone() {
    let lambda = LocalLambda::start(
        "commander-target",
        env!("CARGO_BIN_EXE_warmer"),
        CONTAINERS,
        // The containers never get past pings, so their store is never reached.
        &[("COMMANDER_TABLE_NAME", "unused"), ("COMMANDER_DYNAMODB_ENDPOINT", "http://127.0.0.1:9")],
    )
    .await;
    // Monday 09:30 in New York: inside business hours.
    let clock =
        Arc::new(ManualClock::new(DateTime::parse_from_rfc3339("2026-11-30T14:30:00Z").unwrap().into()));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
    let env = |name: &str| match name {
        "COMMANDER_WARM_CONFIG" => Some(config()),
        "COMMANDER_LAMBDA_ENDPOINT" => Some(lambda.endpoint.clone()),
        _ => None,
    };
    let warmer = integration_tests::container_with_env(&env, clock.clone(), store.clone()).warmer();

    let run = warmer.scheduled(clock.now()).await.unwrap();
    let target = &run.results["commander-target"]["us-east-1"];
    assert!(target.ok, "{run:?}");
    assert_eq!(target.containers, 3, "three pings held 300 ms each land on three containers");
    assert_eq!(target.cold_starts, 3, "each container's first invocation");
    let missing = &run.results["missing-agent"]["us-east-1"];
    assert!(!missing.ok && missing.errors == 2, "{missing:?}");
    assert!(missing.error.as_deref().unwrap().contains("ResourceNotFound"), "{missing:?}");
    assert_eq!((run.successful_warmings, run.failed_warmings), (1, 1));
    assert!(run.estimated_cost > 0.0);

    // Five minutes later: warm containers answer again; more pings than containers share them.
    clock.advance(chrono::Duration::minutes(5));
    let more = WarmRequest {
        functions: Some(vec!["commander-target".into(), "nope".into()]),
        regions: None,
        concurrency: Some(5),
    };
    let again = warmer.on_demand(&more, clock.now()).await.unwrap();
    let target = &again.results["commander-target"]["us-east-1"];
    assert_eq!((target.containers, target.cold_starts), (3, 0), "five pings, three containers, all warm");
    assert!(again.results["nope"]["*"].error.as_deref().unwrap().contains("not a configured"));

    // The scheduled plan skips what was warmed under 300 s ago.
    clock.advance(chrono::Duration::seconds(60));
    let skipped = warmer.scheduled(clock.now()).await.unwrap();
    let entry = skipped.plan.iter().find(|e| e.function == "commander-target").unwrap();
    assert_eq!(entry.skip_reason.as_deref(), Some("warmed 60 s ago"));
    lambda.stop().await;
}
