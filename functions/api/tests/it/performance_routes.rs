//! `GET /performance/metrics` and `/performance/recommendations` across two containers sharing
//! one table: each times its store and caches reads; one flushes, the other answers with both.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chrono::Duration;
use serde_json::{Value, json};
use shared::clock::ManualClock;
use shared::config::Config;
use shared::performance::Performance;
use shared::runtime::{Container, Settings};
use shared::store::{MemoryStore, Store};

use crate::common;

use common::App;

const MB: u64 = 1024 * 1024;

/// A container of the api: its own performance hub (resident memory as `rss_mb` says, held
/// against 512 MB), its own caches, the shared table.
fn container(
    table: &Arc<dyn Store>,
    clock: &Arc<ManualClock>,
    rss_mb: u64,
    env: &[(&str, &str)],
) -> (App, Performance) {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let settings = Settings::local(&lookup, Config::default()).unwrap();
    let mut container = Container::local(settings, clock.clone(), table.clone());
    container.performance = container.performance.with_rss_reader(move || Some(rss_mb * MB));
    let performance = container.performance.clone();
    let state = api::AppState::from_container(container);
    (App { router: api::router(state), clock: clock.clone() }, performance)
}

fn setup() -> (Arc<dyn Store>, Arc<ManualClock>) {
    let clock = integration_tests::test_clock();
    (Arc::new(MemoryStore::new(clock.clone())), clock)
}

fn advice_of<'a>(body: &'a Value, kind: &str) -> Option<&'a Value> {
    body["performance_recommendations"].as_array().unwrap().iter().find(|a| a["kind"] == kind)
}

#[tokio::test]
async fn two_containers_figures_merge_and_say_what_to_change() {
    let (table, clock) = setup();
    // Container one: policy reads never hit (TTL 0) and memory at 90 % of 512 MB.
    let memory_limit =
        [("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"), ("COMMANDER_CACHE_AGENT_CONFIGS", "100/0")];
    let (one, one_perf) = container(&table, &clock, 461, &memory_limit);
    let (two, _) = container(&table, &clock, 100, &[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")]);
    for _ in 0..5 {
        assert_eq!(one.get("/scaling/status").await.status, StatusCode::OK);
        // The container answers from its status snapshot for a second.
        clock.advance(chrono::Duration::seconds(1));
    }
    one_perf.flush().await.unwrap();

    let metrics = two.get("/performance/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK, "{}", metrics.body);
    let perf = &metrics.body["performance_optimization"];
    assert_eq!(perf["containers"], 2, "one stored, one live");
    assert_eq!(
        perf["query_response_times"]["get_many AGENT/POLICY"]["count"], 5,
        "every type's policy in one batched read per status"
    );
    assert_eq!(perf["cache_hit_rates"]["agent_configs"], 0.0);
    assert!((perf["memory_usage_percent"].as_f64().unwrap() - 461.0 / 512.0 * 100.0).abs() < 1e-6);
    let actions = perf["optimization_actions"].as_array().unwrap();
    assert!(actions.iter().any(|a| a["kind"] == "caches_shed"), "{actions:?}");
    assert_eq!(perf["connection_pools"]["aws"]["max"], 50);
    assert!(metrics.body["scaling"]["scaling_metrics"]["detection"].is_object());
    assert!(metrics.body["cost_optimization"].is_null(), "no sweep yet");

    let advice = two.get("/performance/recommendations").await;
    assert_eq!(advice.status, StatusCode::OK);
    let hit_rate = advice_of(&advice.body, "low_cache_hit_rate").unwrap();
    assert_eq!(hit_rate["target"], "agent_configs");
    // One's 25 policy reads and 5 catalog queries, and two's first reads (by /performance/metrics).
    assert!(hit_rate["evidence"].as_str().unwrap().starts_with("0 hits in 36 lookups"), "{hit_rate}");
    let memory = advice_of(&advice.body, "high_memory").unwrap();
    assert_eq!(memory["priority"], "high");
    assert_eq!(advice.body["performance_recommendations"][0]["priority"], "high", "urgent first");
    let summary = &advice.body["summary"];
    let issues = advice.body["performance_recommendations"].as_array().unwrap().len();
    assert_eq!(
        (summary["performance_issues"].as_u64(), summary["cost_optimization_opportunities"].as_u64()),
        (Some(issues as u64), Some(0))
    );
}

#[tokio::test]
async fn cost_recommendations_come_from_the_last_sweep_in_the_same_shape() {
    let (table, clock) = setup();
    let (app, _) = container(&table, &clock, 100, &[]);
    let usage = json!({"model": "anthropic.claude-sonnet-4", "task_type": "diagnosis", "severity": "low",
                       "input_tokens": 400_000, "output_tokens": 100_000, "latency_ms": 900});
    for _ in 0..10 {
        assert_eq!(app.json(Method::POST, "/usage", &usage).await.status, StatusCode::OK);
    }
    clock.advance(Duration::minutes(30));
    let sweep = app.json(Method::POST, "/cost/optimize", &json!({})).await;
    assert_eq!(sweep.status, StatusCode::OK, "{}", sweep.body);
    let swept = sweep.body["recommendations"].as_array().unwrap().clone();
    assert!(!swept.is_empty(), "{}", sweep.body);

    let advice = app.get("/performance/recommendations").await;
    let cost = advice.body["cost_recommendations"].as_array().unwrap();
    assert_eq!(cost.len(), swept.len());
    for (shown, r) in cost.iter().zip(&swept) {
        assert_eq!(
            (&shown["kind"], &shown["target"], &shown["suggestion"]),
            (&r["kind"], &r["target"], &r["title"])
        );
        assert!(!shown["target"].as_str().unwrap().is_empty());
        assert!(shown["estimated_impact"].as_str().unwrap().starts_with("saves about $"), "{shown}");
    }
    assert_eq!(advice.body["summary"]["cost_optimization_opportunities"], swept.len());
    assert_eq!(advice.body["cost_swept_at"], sweep.body["timestamp"]);
    let metrics = app.get("/performance/metrics").await;
    let cost = &metrics.body["cost_optimization"];
    assert_eq!(cost["hourly_cost"], sweep.body["current_metrics"]["hourly_cost"]);
    assert_eq!(cost["cost_threshold"], sweep.body["current_metrics"]["cost_threshold"]);
}

#[tokio::test]
async fn only_get_is_allowed() {
    let (table, clock) = setup();
    let (app, _) = container(&table, &clock, 100, &[]);
    for uri in ["/performance/metrics", "/performance/recommendations"] {
        let a = app.json(Method::POST, uri, &json!({})).await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(a.content_type, "application/problem+json");
    }
}
