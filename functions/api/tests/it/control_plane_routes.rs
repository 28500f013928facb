//! `GET /control-plane` and `POST /control-plane/promote`: a single-region stack has no lease
//! (404); in a two-region stack the routes show this region's role and hand the lease over.

use crate::common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::json;
use shared::store::MemoryStore;

/// The api of the `here` region of a stack in us-east-1 (home) and us-west-2.
fn two_region_app(here: &'static str) -> common::App {
    let clock = integration_tests::test_clock();
    let store = Arc::new(MemoryStore::new(clock.clone()));
    two_region_app_on(here, store, clock)
}

/// The same, over a given store (both regions' APIs on one table).
fn two_region_app_on(
    here: &'static str,
    store: Arc<MemoryStore>,
    clock: Arc<shared::clock::ManualClock>,
) -> common::App {
    let env = move |name: &str| match name {
        "COMMANDER_CONTROL_PLANE_REGIONS" => Some("us-east-1,us-west-2".to_owned()),
        "AWS_REGION" => Some(here.to_owned()),
        _ => None,
    };
    let container = integration_tests::container_with_env(&env, clock.clone(), store);
    common::App { router: api::router(api::AppState::from_container(container)), clock }
}

#[tokio::test]
async fn each_region_counts_usage_and_demand_in_its_own_items_and_readers_add_them_up() {
    use shared::clock::Clock;
    let clock = integration_tests::test_clock();
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let home = two_region_app_on("us-east-1", Arc::clone(&store), clock.clone());
    let standby = two_region_app_on("us-west-2", Arc::clone(&store), clock.clone());
    let call = json!({"model": "anthropic.claude-sonnet-4", "task_type": "diagnosis", "severity": "high",
                      "input_tokens": 1_000, "output_tokens": 100});
    // Agents failing over report through both regions' APIs within one hour.
    for app in [&home, &standby, &standby] {
        assert_eq!(app.json(Method::POST, "/usage", &call).await.status, StatusCode::OK);
    }
    let hour = shared::cost::usage::hour_of(clock.now());
    let items = shared::store::Store::query(
        store.as_ref(),
        &shared::store::Query::partition(shared::table::usage_partition(hour)),
    )
    .await
    .unwrap()
    .items;
    let mut keys: Vec<&str> = items.iter().map(|i| i.key.sk.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "MODEL#anthropic.claude-sonnet-4#TASK#diagnosis#FROM#us-east-1",
            "MODEL#anthropic.claude-sonnet-4#TASK#diagnosis#FROM#us-west-2"
        ],
        "one item per region, never both writing one"
    );
    let counted = shared::cost::usage::UsageCounters::new(store.clone()).hour(hour).await.unwrap();
    assert_eq!(counted.len(), 1);
    assert!((counted[0].calls - 3.0).abs() < 1e-9 && (counted[0].input_tokens - 3_000.0).abs() < 1e-9);

    // Selection's demand counters: the home region's selections land on even shards, the
    // standby's on odd ones; the scaler reads them all.
    let beat = json!({"agent_type": "detection", "replica_id": "r1", "region": "us-east-1", "load": 0.0,
                      "capacity": 20, "healthy": true, "performance_score": 0.9});
    assert_eq!(home.json(Method::POST, "/replicas/heartbeat", &beat).await.status, StatusCode::OK);
    let select = json!({"agent_type": "detection", "severity": "high"});
    for app in [&home, &home, &standby, &standby, &standby] {
        assert_eq!(app.json(Method::POST, "/replicas/select", &select).await.status, StatusCode::OK);
    }
    let detection = shared::domain::AgentType::parse("detection").unwrap();
    let mut written = Vec::new();
    for shard in 0..shared::scaling::demand::SHARDS {
        let partition = shared::table::demand_partition(&detection, shard);
        let query = shared::store::Query::partition(partition);
        if !shared::store::Store::query(store.as_ref(), &query).await.unwrap().items.is_empty() {
            written.push(shard);
        }
    }
    assert_eq!(written, [0, 1, 2, 3, 5], "home: 0 and 2; standby: 1, 3 and 5");
    let window =
        shared::scaling::demand::DemandLedger::new(store).window(&detection, clock.now()).await.unwrap();
    assert!((window.served.high - 5.0).abs() < 1e-9, "{window:?}");
}

#[tokio::test]
async fn a_single_region_stack_has_no_lease() {
    let app = common::app();
    for (method, uri) in [(Method::GET, "/control-plane"), (Method::POST, "/control-plane/promote")] {
        let answer = app.json(method, uri, &json!({"region": "us-east-1"})).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}: {:?}", answer.body);
        assert_eq!(answer.content_type, "application/problem+json");
    }
}

#[tokio::test]
async fn the_routes_show_the_role_and_hand_the_lease_over() {
    let app = two_region_app("us-west-2");
    let before = app.get("/control-plane").await;
    assert_eq!(before.status, StatusCode::OK);
    assert_eq!(before.body["region"], "us-west-2");
    assert_eq!(before.body["home"], "us-east-1");
    assert_eq!(before.body["role"], json!({"role": "standby", "holder": null, "epoch": 0, "until": null}));
    assert_eq!(before.body["lease"], serde_json::Value::Null);

    let promoted = app.json(Method::POST, "/control-plane/promote", &json!({"region": "us-west-2"})).await;
    assert_eq!(promoted.status, StatusCode::OK, "{:?}", promoted.body);
    assert_eq!(
        (promoted.body["holder"].as_str(), promoted.body["epoch"].as_u64()),
        (Some("us-west-2"), Some(1))
    );
    let after = app.get("/control-plane").await;
    assert_eq!(after.body["role"], json!({"role": "active", "epoch": 1}));

    let back = app.json(Method::POST, "/control-plane/promote", &json!({"region": "us-east-1"})).await;
    assert_eq!((back.body["holder"].as_str(), back.body["epoch"].as_u64()), (Some("us-east-1"), Some(2)));
    let role = &app.get("/control-plane").await.body["role"];
    assert_eq!(
        (role["role"].as_str(), role["holder"].as_str(), role["epoch"].as_u64()),
        (Some("standby"), Some("us-east-1"), Some(2))
    );

    for (body, field) in [(json!({"region": "eu-west-1"}), "region"), (json!({"region": "mars-1"}), "region")]
    {
        let refused = app.json(Method::POST, "/control-plane/promote", &body).await;
        assert!(refused.status.is_client_error(), "{body}: {:?}", refused.body);
        assert_eq!(refused.content_type, "application/problem+json");
        assert!(refused.body.to_string().contains(field), "{body}: {:?}", refused.body);
    }
    let role = &app.get("/control-plane").await.body["role"];
    assert_eq!(role["epoch"].as_u64(), Some(2), "a refused promotion changed nothing");

    // Standing by, this region's API refuses to act (the holder's does), and stores nothing.
    for (method, uri, body) in [
        (Method::POST, "/scaling/optimize", json!({})),
        (Method::POST, "/cost/optimize", json!({})),
        (Method::POST, "/lambda/warm", json!({})),
        (Method::PUT, "/regions/us-east-1/health", json!({"healthy": false, "reason": "test"})),
        (Method::DELETE, "/regions/us-east-1/health", json!({})),
    ] {
        let refused = app.json(method.clone(), uri, &body).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{method} {uri}: {:?}", refused.body);
        assert!(
            refused.body["detail"].as_str().unwrap().contains("us-east-1 holds the control-plane lease"),
            "{:?}",
            refused.body
        );
    }
    assert!(
        app.get("/regions").await.body.to_string().find("test").is_none(),
        "the refused mark was not stored"
    );
    let dry = app.json(Method::POST, "/scaling/optimize", &json!({"dry_run": true})).await;
    assert_eq!(dry.status, StatusCode::OK, "a dry run acts on nothing: {:?}", dry.body);

    // The dashboard's one read carries it too (a single-region stack's summary has no such part).
    let summary = app.get("/summary").await;
    assert_eq!(summary.body["parts"]["control_plane"]["role"]["holder"], "us-east-1", "{:?}", summary.body);
    let single = common::app().get("/summary").await;
    assert!(single.body["parts"].get("control_plane").is_none());
    assert!(single.body["problems"].get("control_plane").is_none());
}
