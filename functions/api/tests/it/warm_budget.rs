//! Issue 17, item 11: warming on demand cannot exhaust account concurrency. One call sends at
//! most 200 pings (`{"concurrency": 100}` over the 20 seed targets would send 2,000) and all calls,
//! from every container, at most 400 a minute; past either, nothing is pinged. The pings go to a
//! real bootstrap binary of the suite behind a Lambda service on loopback.

use crate::common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chrono::DateTime;
use integration_tests::local_lambda::LocalLambda;
use serde_json::json;
use shared::clock::{Clock, ManualClock};
use shared::store::{MemoryStore, Store};
use shared::warming::budget::{self, MAX_PINGS_PER_MINUTE};

#[tokio::test]
async fn one_call_sends_at_most_its_share_of_pings() {
    let app = common::app();
    // Twenty seed targets at concurrency 100: 2,000 synchronous invocations before the cap.
    let all = app.json(Method::POST, "/lambda/warm", &json!({"concurrency": 100})).await;
    assert_eq!(all.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", all.body);
    assert_eq!(all.body["field"], "concurrency");
    assert!(all.body["detail"].as_str().unwrap().contains("2000 pings"), "{:?}", all.body);
    // Ten targets at 20 are exactly the cap.
    let ten = app
        .json(
            Method::POST,
            "/lambda/warm",
            &json!({"regions": ["us-east-1", "eu-west-1"], "concurrency": 20}),
        )
        .await;
    assert_eq!(ten.status, StatusCode::OK, "{:?}", ten.body);
    let names: Vec<String> = (0..65).map(|i| format!("fn-{i}")).collect();
    let many = app.json(Method::POST, "/lambda/warm", &json!(names)).await;
    assert_eq!(many.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", many.body);
    assert_eq!(many.body["field"], "functions");
    let long = app.json(Method::POST, "/lambda/warm", &json!({"regions": ["x".repeat(141)]})).await;
    assert_eq!(
        (long.status, long.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("regions"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_minutes_budget_is_shared_by_every_call_and_refills_the_next_minute() {
    let lambda = LocalLambda::start(
        "commander-target",
        env!("CARGO_BIN_EXE_api"),
        2,
        // The containers never get past pings, so their store is never reached.
        &[("COMMANDER_TABLE_NAME", "unused"), ("COMMANDER_DYNAMODB_ENDPOINT", "http://127.0.0.1:9")],
    )
    .await;
    let clock =
        Arc::new(ManualClock::new(DateTime::parse_from_rfc3339("2026-11-30T14:30:40Z").unwrap().into()));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
    let config = json!({
        "targets": [{"function": "commander-target", "regions": ["us-east-1"], "concurrency": 2}],
        "hold_ms": 20,
    })
    .to_string();
    let env = |name: &str| match name {
        "COMMANDER_WARM_CONFIG" => Some(config.clone()),
        "COMMANDER_LAMBDA_ENDPOINT" => Some(lambda.endpoint.clone()),
        _ => None,
    };
    let state = api::AppState::from_container(integration_tests::container_with_env(
        &env,
        clock.clone(),
        store.clone(),
    ));
    let app = common::App { router: api::router(state), clock: clock.clone() };

    // Other calls (any container's) have sent all but one ping of this minute.
    budget::reserve(store.as_ref(), MAX_PINGS_PER_MINUTE - 1, clock.now()).await.unwrap();
    let refused = app.json(Method::POST, "/lambda/warm", &json!({"concurrency": 2})).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", refused.body);
    assert_eq!(refused.content_type, "application/problem+json");
    assert_eq!(refused.retry_after.as_deref(), Some("20"), "until the next minute");
    assert!(refused.body["detail"].as_str().unwrap().contains("399 were sent"), "{:?}", refused.body);
    let status = app.get("/warming/status").await;
    assert!(status.body["targets"][0]["last_run"].is_null(), "nothing was pinged: {:?}", status.body);

    // The next minute the call goes through and its pings reach the containers.
    clock.advance(chrono::Duration::seconds(20));
    let warmed = app.json(Method::POST, "/lambda/warm", &json!({"concurrency": 2})).await;
    assert_eq!(warmed.status, StatusCode::OK, "{:?}", warmed.body);
    let result = &warmed.body["results"]["commander-target"]["us-east-1"];
    assert_eq!((result["ok"].as_bool(), result["pings"].as_u64()), (Some(true), Some(2)), "{result}");
}
