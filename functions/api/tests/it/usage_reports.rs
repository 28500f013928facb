//! Issue 17, item 14: `POST /usage` retried with its `request_id` counts once, and usage reported
//! for an hour the sweeps have already priced is priced by the next sweep.

#![allow(clippy::float_cmp, reason = "the counters hold whole numbers, exact in f64")]

use crate::common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use shared::clock::Clock;
use shared::config::Config;
use shared::cost::usage::{UsageCounters, hour_of};
use shared::store::MemoryStore;

fn setup() -> (common::App, api::AppState, Arc<MemoryStore>) {
    let clock = integration_tests::test_clock();
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let state = api::AppState::new(store.clone(), clock.clone(), Config::default());
    (common::App { router: api::router(state.clone()), clock }, state, store)
}

fn call(tokens: u64, extra: &Value) -> Value {
    let mut body = json!({"model": "anthropic.claude-sonnet-4", "task_type": "diagnosis", "severity": "high",
                          "input_tokens": tokens, "output_tokens": 1_000});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn calls_in(store: &Arc<MemoryStore>, hour: DateTime<Utc>) -> f64 {
    UsageCounters::new(store.clone()).hour(hour).await.unwrap().iter().map(|u| u.calls).sum()
}

#[tokio::test]
async fn a_retried_report_counts_once() {
    let (app, _, store) = setup();
    let now = app.clock.now();
    let first =
        app.json(Method::POST, "/usage", &call(10_000, &json!({"request_id": "agent-7:call-42"}))).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body["counted"], true);
    app.clock.advance(Duration::seconds(3));
    let retry =
        app.json(Method::POST, "/usage", &call(10_000, &json!({"request_id": "agent-7:call-42"}))).await;
    assert_eq!(retry.status, StatusCode::OK, "{:?}", retry.body);
    assert_eq!(
        (retry.body["counted"].as_bool(), &retry.body["timestamp"]),
        (Some(false), &first.body["timestamp"])
    );
    assert_eq!(calls_in(&store, hour_of(now)).await, 1.0, "the retry counted again");

    let other = app.json(Method::POST, "/usage", &call(99, &json!({"request_id": "agent-7:call-42"}))).await;
    assert_eq!(other.status, StatusCode::CONFLICT, "another call under a used id: {:?}", other.body);
    for bad in ["", "has space", &"x".repeat(129)] {
        let refused = app.json(Method::POST, "/usage", &call(1, &json!({"request_id": bad}))).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        assert_eq!(refused.body["field"], "request_id");
    }
    // Without an id every report counts, as before.
    app.json(Method::POST, "/usage", &call(1, &json!({}))).await;
    app.json(Method::POST, "/usage", &call(1, &json!({}))).await;
    assert_eq!(calls_in(&store, hour_of(now)).await, 3.0);
}

#[tokio::test]
async fn usage_reported_late_is_priced_by_the_next_sweep() {
    let (app, state, _) = setup();
    let now = app.clock.now();
    // Sweeps have priced the last hours already (an empty fleet: nothing spent).
    state.sweeper.sweep(now).await.unwrap();
    let late = hour_of(now) - Duration::hours(5);
    let reported = app
        .json(Method::POST, "/usage", &call(1_000_000, &json!({"timestamp": late + Duration::minutes(10)})))
        .await;
    assert_eq!(reported.status, StatusCode::OK, "{:?}", reported.body);

    let report = state.sweeper.sweep(now + Duration::minutes(15)).await.unwrap();
    assert_eq!(report.repriced_hours, [late]);
    let hours = state.sweeper.hourly(24, now + Duration::minutes(15)).await.unwrap();
    let priced = hours.iter().find(|h| h.hour == late).expect("the late hour is priced");
    // A million input tokens of Claude Sonnet 4 at $3 and a thousand output at $15 per million.
    assert!((priced.cost - 3.015).abs() < 1e-6, "{priced:?}");

    let again = state.sweeper.sweep(now + Duration::minutes(30)).await.unwrap();
    assert!(again.repriced_hours.is_empty(), "priced once: {:?}", again.repriced_hours);
    let hours = state.sweeper.hourly(24, now + Duration::minutes(30)).await.unwrap();
    assert!((hours.iter().find(|h| h.hour == late).unwrap().cost - 3.015).abs() < 1e-6);
}
