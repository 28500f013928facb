//! A replica's way out: drained (no new incidents, keeps its work, shown draining), then
//! deregistered (gone at once), over sequences of requests as agents make them.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{App, app};

fn beat(id: &str, load: f64) -> Value {
    json!({"agent_type": "resolution", "replica_id": id, "region": "us-east-1", "load": load,
           "capacity": 5, "healthy": true, "performance_score": 0.9})
}

fn named(id: &str) -> Value {
    json!({"agent_type": "resolution", "region": "us-east-1", "replica_id": id})
}

async fn report(app: &App, body: &Value) {
    let answer = app.json(Method::POST, "/replicas/heartbeat", body).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
}

async fn select(app: &App) -> (StatusCode, Value) {
    let pick = json!({"agent_type": "resolution", "severity": "high", "strategy": "least_connections"});
    let answer = app.json(Method::POST, "/replicas/select", &pick).await;
    (answer.status, answer.body)
}

async fn shown(app: &App) -> Vec<Value> {
    let status = app.get("/scaling/status").await.body;
    status["replica_status"]["resolution"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_drained_replica_gets_no_new_incidents_and_keeps_its_work() {
    let app = app();
    report(&app, &beat("r-a", 0.0)).await;
    report(&app, &beat("r-b", 0.0)).await;
    // Least connections would alternate between the two; r-a works on one before it drains.
    let (status, first) = select(&app).await;
    assert_eq!(status, StatusCode::OK);
    let busy = first["replica_id"].as_str().unwrap().to_owned();
    let other = if busy == "r-a" { "r-b" } else { "r-a" };

    let drained = app.json(Method::POST, "/replicas/drain", &named(&busy)).await;
    assert_eq!(drained.status, StatusCode::OK, "{:?}", drained.body);
    assert_eq!(drained.body["draining"], true);
    // The other has room for five; four more picks all go there.
    for _ in 0..4 {
        let (status, picked) = select(&app).await;
        assert_eq!(status, StatusCode::OK, "{picked:?}");
        assert_eq!(picked["replica_id"], other, "a draining replica is passed over");
    }
    // Its next heartbeat (which does not say draining) leaves it draining.
    report(&app, &beat(&busy, 1.0)).await;
    let replicas = shown(&app).await;
    let view = replicas.iter().find(|r| r["replica_id"] == busy.as_str()).unwrap();
    assert_eq!(view["draining"], true, "{view:?}");
    let metrics = &app.get("/scaling/status").await.body["scaling_metrics"]["resolution"];
    assert_eq!(metrics["draining_replicas"], 1);
    // It finishes the work it had: its release still counts.
    let release = json!({"agent_type": "resolution", "replica_id": busy, "ok": true, "latency_ms": 500.0});
    let released = app.json(Method::POST, "/replicas/release", &release).await;
    assert_eq!(released.status, StatusCode::OK, "{:?}", released.body);
    // Draining twice is no error (a retried call).
    let again = app.json(Method::POST, "/replicas/drain", &named(&busy)).await;
    assert_eq!(again.status, StatusCode::OK);
}

#[tokio::test]
async fn a_heartbeat_saying_draining_drains_and_the_last_one_draining_refuses_work() {
    let app = app();
    let mut leaving = beat("r-only", 0.0);
    report(&app, &leaving).await;
    assert_eq!(select(&app).await.0, StatusCode::OK);
    leaving["draining"] = json!(true);
    report(&app, &leaving).await;
    let (status, body) = select(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "no replica takes work: {body:?}");
    assert_eq!(shown(&app).await[0]["draining"], true);
}

#[tokio::test]
async fn a_deregistered_replica_vanishes_at_once_and_a_retry_is_harmless() {
    let app = app();
    report(&app, &beat("r-a", 0.0)).await;
    report(&app, &beat("r-b", 0.0)).await;
    assert_eq!(shown(&app).await.len(), 2);
    let gone = app.json(Method::POST, "/replicas/deregister", &named("r-a")).await;
    assert_eq!(gone.status, StatusCode::OK, "{:?}", gone.body);
    assert_eq!(gone.body["deregistered"], true);
    let replicas = shown(&app).await;
    assert_eq!(replicas.len(), 1, "{replicas:?}");
    assert_eq!(replicas[0]["replica_id"], "r-b");
    for _ in 0..4 {
        assert_eq!(select(&app).await.1["replica_id"], "r-b");
    }
    let retried = app.json(Method::POST, "/replicas/deregister", &named("r-a")).await;
    assert_eq!(retried.status, StatusCode::OK);
    assert_eq!(retried.body["deregistered"], false, "nothing was live to remove");
    // A replica that reports again is live again.
    report(&app, &beat("r-a", 0.0)).await;
    assert_eq!(shown(&app).await.len(), 2);
}

#[tokio::test]
async fn draining_an_unknown_replica_or_region_is_refused_by_name() {
    let app = app();
    let missing = app.json(Method::POST, "/replicas/drain", &named("nobody")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.content_type, "application/problem+json");
    let mut elsewhere = named("nobody");
    elsewhere["region"] = json!("sa-east-1");
    for route in ["/replicas/drain", "/replicas/deregister"] {
        let answer = app.json(Method::POST, route, &elsewhere).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{route}: {:?}", answer.body);
        assert!(answer.body.to_string().contains("region"), "{route}: {:?}", answer.body);
        let mut stray = named("nobody");
        stray["extra"] = json!(1);
        assert!(app.json(Method::POST, route, &stray).await.status.is_client_error());
    }
    // A drain left nothing behind: the replica was never live.
    assert!(shown(&app).await.is_empty());
}
