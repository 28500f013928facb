//! Issue 17, item 12: what input can grow is bounded. An agent type has at most 1,000 live
//! replicas (every id goes into its state item, which DynamoDB caps at 400 KB), and there are at
//! most 45 operator-defined types; past either, a 422 naming the field, and what is there keeps
//! working.

use crate::common;

use axum::http::{Method, StatusCode};
use chrono::Duration;
use serde_json::{Value, json};
use shared::scaling::{MAX_OPERATOR_TYPES, MAX_REPLICAS_PER_TYPE};

fn heartbeat(id: &str) -> Value {
    json!({"agent_type": "detection", "replica_id": id, "region": "us-east-1", "load": 1.0,
           "capacity": 20, "healthy": true, "performance_score": 0.9})
}

/// The longest id there may be (128 bytes), made unique by `i`.
fn long_id(i: usize) -> String {
    format!("{i:05}-{}", "r".repeat(122))
}

#[tokio::test]
async fn a_type_takes_at_most_its_replica_limit_and_its_state_still_stores() {
    let app = common::app();
    for i in 0..MAX_REPLICAS_PER_TYPE {
        let a = app.json(Method::POST, "/replicas/heartbeat", &heartbeat(&long_id(i))).await;
        assert_eq!(a.status, StatusCode::OK, "replica {i}: {:?}", a.body);
    }
    let one_more = app.json(Method::POST, "/replicas/heartbeat", &heartbeat(&long_id(9_999))).await;
    assert_eq!(one_more.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", one_more.body);
    assert_eq!(one_more.body["field"], "replica_id");
    // A replica already live keeps reporting.
    let again = app.json(Method::POST, "/replicas/heartbeat", &heartbeat(&long_id(7))).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);

    // With the most replicas a type may have, the scaler still evaluates and stores its state
    // (every live id in it); before the limit, a few thousand ids took it past 400 KB.
    let scaled = app
        .json(Method::POST, "/scaling/optimize", &json!({"agent_type": "detection", "dry_run": false}))
        .await;
    assert_eq!(scaled.status, StatusCode::OK, "{:?}", scaled.body);
    let status = app.get("/scaling/status").await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.body["replica_status"]["detection"].as_array().unwrap().len(), MAX_REPLICAS_PER_TYPE);

    // Once a replica stops reporting (three missed intervals), a new one takes its place.
    app.clock.advance(Duration::seconds(60));
    for i in 1..MAX_REPLICAS_PER_TYPE {
        app.json(Method::POST, "/replicas/heartbeat", &heartbeat(&long_id(i))).await;
    }
    app.clock.advance(Duration::seconds(31));
    let replaced = app.json(Method::POST, "/replicas/heartbeat", &heartbeat(&long_id(9_999))).await;
    assert_eq!(replaced.status, StatusCode::OK, "replica 0 expired: {:?}", replaced.body);
}

#[tokio::test]
async fn operator_defined_types_are_limited_and_a_deleted_one_makes_room() {
    let app = common::app();
    let policy = app.get("/scaling/policies/detection").await.body;
    let define = |name: String| {
        let mut change = policy.clone();
        change["agent_type"] = json!(name);
        change["version"] = json!(0);
        change
    };
    for i in 0..MAX_OPERATOR_TYPES {
        let name = format!("op-{i}");
        let created =
            app.json(Method::PUT, &format!("/scaling/policies/{name}"), &define(name.clone())).await;
        assert_eq!(created.status, StatusCode::OK, "{name}: {:?}", created.body);
    }
    let refused = app.json(Method::PUT, "/scaling/policies/one-more", &define("one-more".into())).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", refused.body);
    assert_eq!(refused.body["field"], "agent_type");
    assert_eq!(
        app.get("/scaling/policies/one-more").await.status,
        StatusCode::NOT_FOUND,
        "nothing half-written"
    );

    // Defined types stay editable at the limit; builtins were never counted.
    let mut edit = app.get("/scaling/policies/op-3").await.body;
    edit["max_replicas"] = json!(7);
    assert_eq!(app.json(Method::PUT, "/scaling/policies/op-3", &edit).await.status, StatusCode::OK);
    let mut builtin = policy.clone();
    builtin["max_replicas"] = json!(7);
    assert_eq!(app.json(Method::PUT, "/scaling/policies/detection", &builtin).await.status, StatusCode::OK);

    let delete = app.send(Method::DELETE, "/scaling/policies/op-0?version=1", None, Vec::new()).await;
    assert!(delete.status.is_success(), "{:?}", delete.body);
    let created = app.json(Method::PUT, "/scaling/policies/one-more", &define("one-more".into())).await;
    assert_eq!(created.status, StatusCode::OK, "{:?}", created.body);
    let list = app.get("/scaling/policies").await;
    assert_eq!(list.body["policies"].as_object().unwrap().len(), 5 + MAX_OPERATOR_TYPES);
}
