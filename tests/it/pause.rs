//! An operator pauses a type's autoscaling: ticks and alarms evaluate it and say what they would
//! do, but its desired count stays where it is, until it is resumed.

use axum::http::StatusCode;
use serde_json::{Value, json};
use shared::clock::Clock;
use shared::config::Config;
use shared::domain::AgentType;
use shared::scaling::service::ScalingRequest;

use crate::gateway::{call, request as gateway};

#[tokio::test]
async fn a_paused_type_keeps_its_desired_count_through_ticks_and_alarms() {
    let clock = integration_tests::test_clock();
    let store = std::sync::Arc::new(shared::store::MemoryStore::new(clock.clone()));
    let state = api::AppState::new(store, clock.clone(), Config::default());
    let router = api::router(state.clone());
    let detection = AgentType::parse("detection").unwrap();
    // Two replicas at 95 %: left alone, the scaler scales detection up.
    for (id, region) in [("a", "us-east-1"), ("b", "us-west-2")] {
        let beat = json!({"agent_type": "detection", "replica_id": id, "region": region, "load": 19,
                          "capacity": 20, "healthy": true, "performance_score": 0.9});
        assert_eq!(
            call(&router, gateway("POST", "/replicas/heartbeat", Some(&beat))).await.0,
            StatusCode::OK
        );
    }
    let (before, _) = state.fleet.scaling_state(&detection).await.unwrap();

    let (status, paused) = call(
        &router,
        gateway("PUT", "/scaling/policies/detection/pause", Some(&json!({"reason": "load test"}))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["paused"]["by"], "arn:aws:iam::1234567890:user/Admin", "the signer, from API Gateway");

    let tick = state.scaler.tick(clock.now()).await.unwrap();
    let evaluation = tick.evaluations.iter().find(|e| e.agent_type == detection).unwrap();
    assert!(!evaluation.applied && evaluation.paused.is_some(), "{evaluation:?}");
    assert!(evaluation.desired > evaluation.in_force, "it says what it would do: {evaluation:?}");
    assert!(evaluation.reasons[0].contains("load test"), "{:?}", evaluation.reasons);
    let alarm = ScalingRequest::alarm(detection.clone(), clock.now(), None);
    assert!(!state.scaler.evaluate(&alarm, clock.now()).await.unwrap().applied);
    let (during, _) = state.fleet.scaling_state(&detection).await.unwrap();
    assert_eq!(
        (during.desired_total, &during.desired),
        (before.desired_total, &before.desired),
        "nothing stored"
    );

    let (_, status_body) = call(&router, gateway("GET", "/scaling/status", None)).await;
    assert_eq!(status_body["paused"]["detection"]["reason"], "load test", "{}", status_body["paused"]);

    let (status, resumed) = call(&router, gateway("DELETE", "/scaling/policies/detection/pause", None)).await;
    assert_eq!((status, &resumed["paused"]), (StatusCode::OK, &Value::Null));
    clock.advance(chrono::Duration::seconds(61));
    let tick = state.scaler.tick(clock.now()).await.unwrap();
    let evaluation = tick.evaluations.iter().find(|e| e.agent_type == detection).unwrap();
    assert!(evaluation.applied && evaluation.paused.is_none(), "{evaluation:?}");
    let (after, _) = state.fleet.scaling_state(&detection).await.unwrap();
    assert!(after.desired_total > before.desired_total.max(2), "scales again once resumed: {after:?}");
}

#[tokio::test]
async fn pausing_needs_a_reason_and_a_defined_type() {
    let clock = integration_tests::test_clock();
    let store = std::sync::Arc::new(shared::store::MemoryStore::new(clock.clone()));
    let router = api::router(api::AppState::new(store, clock, Config::default()));
    let table = [
        ("/scaling/policies/detection/pause", json!({"reason": "  "}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            "/scaling/policies/detection/pause",
            json!({"reason": "x".repeat(501)}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/scaling/policies/detection/pause", json!({"why": "drill"}), StatusCode::BAD_REQUEST),
        ("/scaling/policies/undefined-type/pause", json!({"reason": "drill"}), StatusCode::NOT_FOUND),
    ];
    for (path, body, expected) in table {
        let (status, problem) = call(&router, gateway("PUT", path, Some(&body))).await;
        assert_eq!(status, expected, "{path} {body}: {problem}");
    }
    let (status, _) = call(&router, gateway("DELETE", "/scaling/policies/undefined-type/pause", None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A pause goes with an operator-defined type: a new type of the same name starts unpaused.
#[tokio::test]
async fn a_deleted_types_pause_does_not_greet_its_successor() {
    let clock = integration_tests::test_clock();
    let store = std::sync::Arc::new(shared::store::MemoryStore::new(clock.clone()));
    let router = api::router(api::AppState::new(store, clock, Config::default()));
    let policy = json!({"min_replicas": 1, "max_replicas": 4, "target_utilization": 0.7, "scale_up_threshold": 0.8,
                        "scale_down_threshold": 0.3, "cooldown_period": 120, "capacity_per_replica": 10,
                        "cost_per_replica_hour": 1.0, "version": 0});
    let define = || gateway("PUT", "/scaling/policies/triage", Some(&policy));
    let (status, created) = call(&router, define()).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let pause = json!({"reason": "drill"});
    assert_eq!(
        call(&router, gateway("PUT", "/scaling/policies/triage/pause", Some(&pause))).await.0,
        StatusCode::OK
    );
    let (_, listed) = call(&router, gateway("GET", "/scaling/status", None)).await;
    assert_eq!(listed["paused"]["triage"]["reason"], "drill");
    let version = created["version"].as_u64().unwrap();
    let deleted =
        call(&router, gateway("DELETE", &format!("/scaling/policies/triage?version={version}"), None)).await;
    assert_eq!(deleted.0, StatusCode::OK, "{}", deleted.1);
    assert_eq!(call(&router, define()).await.0, StatusCode::OK);
    let (_, listed) = call(&router, gateway("GET", "/scaling/status", None)).await;
    assert!(listed["paused"].get("triage").is_none(), "{}", listed["paused"]);
}
