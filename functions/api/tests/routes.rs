//! Handler tests: the Router driven with `oneshot` on the in-memory store and a manual clock.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{DateTime, Duration};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use shared::clock::ManualClock;
use shared::config::Config;
use shared::store::MemoryStore;
use tower::ServiceExt;

struct App {
    router: Router,
    clock: Arc<ManualClock>,
}

fn app() -> App {
    let clock = Arc::new(ManualClock::new(
        DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
    ));
    let store = Arc::new(MemoryStore::new(clock.clone()));
    App {
        router: api::router(api::AppState::new(store, clock.clone(), Config::default())),
        clock,
    }
}

struct Answer {
    status: StatusCode,
    content_type: String,
    retry_after: Option<String>,
    body: Value,
}

impl App {
    async fn send(
        &self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            content_type: headers
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            retry_after: headers
                .get(header::RETRY_AFTER)
                .map(|v| v.to_str().unwrap().to_owned()),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn get(&self, uri: &str) -> Answer {
        self.send(Method::GET, uri, None, Vec::new()).await
    }

    async fn json(&self, method: Method, uri: &str, body: &Value) -> Answer {
        self.send(
            method,
            uri,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }
}

fn heartbeat(agent: &str, id: &str, region: &str, load: f64) -> Value {
    json!({"agent_type": agent, "replica_id": id, "region": region, "load": load,
           "capacity": 20, "healthy": true, "performance_score": 0.9})
}

#[tokio::test]
async fn status_shows_the_five_types_with_seed_policies_from_the_first_call() {
    let app = app();
    let a = app.get("/scaling/status").await;
    assert_eq!(a.status, StatusCode::OK);
    let policies = a.body["scaling_policies"].as_object().unwrap();
    let names: Vec<&str> = policies.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "communication",
            "detection",
            "diagnosis",
            "prediction",
            "resolution"
        ]
    );
    let seeds = [
        ("detection", 2, 10),
        ("diagnosis", 2, 8),
        ("prediction", 1, 5),
        ("resolution", 1, 6),
        ("communication", 1, 4),
    ];
    for (t, min, max) in seeds {
        let p = &policies[t];
        assert_eq!(
            (p["min_replicas"].as_u64(), p["max_replicas"].as_u64()),
            (Some(min), Some(max)),
            "{t}"
        );
        assert_eq!(p["target_utilization"], 0.7);
        assert_eq!(p["scale_up_threshold"], 0.8);
        assert_eq!(p["scale_down_threshold"], 0.3);
        assert_eq!(p["cooldown_period"], 300);
        assert_eq!(p["version"], 0);
        assert_eq!(a.body["replica_status"][t], json!([]));
    }
    assert_eq!(
        a.body["geographic_distribution"],
        json!({"ap-southeast-1": 0, "eu-west-1": 0, "us-east-1": 0, "us-west-2": 0})
    );
    assert_eq!(a.body["timestamp"], "2027-01-15T08:00:00Z");
}

#[tokio::test]
async fn heartbeats_show_up_in_the_status_and_vanish_after_three_missed_intervals() {
    let app = app();
    for (id, region, load) in [("d1", "us-east-1", 10.0), ("d2", "eu-west-1", 5.0)] {
        let a = app
            .json(
                Method::POST,
                "/replicas/heartbeat",
                &heartbeat("detection", id, region, load),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        assert_eq!(a.body["expires_at"], "2027-01-15T08:01:30Z");
    }
    let s = app.get("/scaling/status").await.body;
    let replicas = s["replica_status"]["detection"].as_array().unwrap();
    assert_eq!(replicas.len(), 2);
    assert_eq!(replicas[0]["replica_id"], "d2", "ordered by region then id");
    assert_eq!(replicas[1]["utilization"], 0.5);
    assert_eq!(s["scaling_metrics"]["detection"]["utilization"], 0.375);
    assert_eq!(s["geographic_distribution"]["us-east-1"], 1);
    assert_eq!(s["geographic_distribution"]["eu-west-1"], 1);

    app.clock.advance(Duration::seconds(60));
    app.json(
        Method::POST,
        "/replicas/heartbeat",
        &heartbeat("detection", "d1", "us-east-1", 12.0),
    )
    .await;
    app.clock.advance(Duration::seconds(30));
    let s = app.get("/scaling/status").await.body;
    let replicas = s["replica_status"]["detection"].as_array().unwrap();
    assert_eq!(replicas.len(), 1, "d2 missed three intervals");
    assert_eq!(replicas[0]["load"], 12.0);
}

#[tokio::test]
async fn policy_changes_are_versioned() {
    let app = app();
    let current = app.get("/scaling/policies/resolution").await;
    assert_eq!(current.status, StatusCode::OK);
    assert_eq!(current.body["version"], 0);
    let mut change = current.body.clone();
    change["max_replicas"] = json!(9);
    let stored = app
        .json(Method::PUT, "/scaling/policies/resolution", &change)
        .await;
    assert_eq!(stored.status, StatusCode::OK, "{:?}", stored.body);
    assert_eq!(
        (
            stored.body["version"].clone(),
            stored.body["max_replicas"].clone()
        ),
        (json!(1), json!(9))
    );

    change["max_replicas"] = json!(3);
    let stale = app
        .json(Method::PUT, "/scaling/policies/resolution", &change)
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.content_type, "application/problem+json");
    assert_eq!(stale.body["code"], "version_conflict");
    assert!(stale.body["detail"].as_str().unwrap().contains("version 1"));
    assert_eq!(
        app.get("/scaling/policies/resolution").await.body["max_replicas"],
        9,
        "the stale write changed nothing"
    );

    let list = app.get("/scaling/policies").await;
    assert_eq!(list.body["policies"]["resolution"]["version"], 1);
    assert_eq!(list.body["policies"].as_object().unwrap().len(), 5);
}

#[tokio::test]
async fn operator_defined_types_are_created_with_version_zero() {
    let app = app();
    assert_eq!(
        app.get("/scaling/policies/triage").await.status,
        StatusCode::NOT_FOUND
    );
    let beat = app
        .json(
            Method::POST,
            "/replicas/heartbeat",
            &heartbeat("triage", "t1", "us-east-1", 1.0),
        )
        .await;
    assert_eq!(beat.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(beat.body["field"], "agent_type");

    let mut policy = app.get("/scaling/policies/detection").await.body;
    policy["agent_type"] = json!("triage");
    let created = app
        .json(Method::PUT, "/scaling/policies/triage", &policy)
        .await;
    assert_eq!(created.status, StatusCode::OK, "{:?}", created.body);
    assert_eq!(created.body["version"], 1);
    let beat = app
        .json(
            Method::POST,
            "/replicas/heartbeat",
            &heartbeat("triage", "t1", "us-east-1", 1.0),
        )
        .await;
    assert_eq!(beat.status, StatusCode::OK);
    let status = app.get("/scaling/status").await.body;
    assert_eq!(status["replica_status"]["triage"][0]["replica_id"], "t1");
}

#[tokio::test]
async fn bad_input_gets_a_problem_never_a_5xx() {
    let app = app();
    let good_policy = {
        let mut p = app.get("/scaling/policies/detection").await.body;
        p.as_object_mut().unwrap().remove("timestamp");
        p.as_object_mut().unwrap().remove("agent_type");
        p
    };
    let with = |base: &Value, field: &str, value: Value| {
        let mut v = base.clone();
        v[field] = value;
        v
    };
    let without = |base: &Value, field: &str| {
        let mut v = base.clone();
        v.as_object_mut().unwrap().remove(field);
        v
    };
    let beat = heartbeat("detection", "r1", "us-east-1", 1.0);
    let json_ct = Some("application/json");
    let cases: Vec<(&str, Method, &str, Option<&str>, Vec<u8>, StatusCode)> = vec![
        (
            "unknown route",
            Method::GET,
            "/nope",
            None,
            vec![],
            StatusCode::NOT_FOUND,
        ),
        (
            "wrong method",
            Method::DELETE,
            "/scaling/status",
            None,
            vec![],
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "wrong method on heartbeat",
            Method::GET,
            "/replicas/heartbeat",
            None,
            vec![],
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "bad agent type in path",
            Method::GET,
            "/scaling/policies/Not_Valid",
            None,
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "overlong agent type",
            Method::GET,
            &*Box::leak(format!("/scaling/policies/{}", "a".repeat(65)).into_boxed_str()),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "malformed JSON",
            Method::POST,
            "/replicas/heartbeat",
            json_ct,
            b"{\"agent_type\":".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "non-UTF-8 body",
            Method::POST,
            "/replicas/heartbeat",
            json_ct,
            vec![0xff, 0xfe, 0x00],
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong type",
            Method::POST,
            "/replicas/heartbeat",
            json_ct,
            with(&beat, "load", json!("high")).to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "missing field",
            Method::POST,
            "/replicas/heartbeat",
            json_ct,
            without(&beat, "healthy").to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "negative capacity",
            Method::POST,
            "/replicas/heartbeat",
            json_ct,
            with(&beat, "capacity", json!(-1)).to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "huge capacity",
            Method::POST,
            "/replicas/heartbeat",
            json_ct,
            with(&beat, "capacity", json!(1e20))
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "bad region",
            Method::POST,
            "/replicas/heartbeat",
            json_ct,
            with(&beat, "region", json!("mars-east-1"))
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "bad replica id",
            Method::POST,
            "/replicas/heartbeat",
            json_ct,
            with(&beat, "replica_id", json!("a#b"))
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "JSON array",
            Method::POST,
            "/replicas/heartbeat",
            json_ct,
            b"[]".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "no content type",
            Method::POST,
            "/replicas/heartbeat",
            None,
            beat.to_string().into_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "text content type",
            Method::POST,
            "/replicas/heartbeat",
            Some("text/plain"),
            beat.to_string().into_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "oversized body",
            Method::POST,
            "/replicas/heartbeat",
            json_ct,
            vec![b' '; 70 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "negative load",
            Method::POST,
            "/replicas/heartbeat",
            json_ct,
            with(&beat, "load", json!(-2)).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "score above 1",
            Method::POST,
            "/replicas/heartbeat",
            json_ct,
            with(&beat, "performance_score", json!(1.5))
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "zero capacity",
            Method::POST,
            "/replicas/heartbeat",
            json_ct,
            with(&beat, "capacity", json!(0)).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unconfigured region",
            Method::POST,
            "/replicas/heartbeat",
            json_ct,
            with(&beat, "region", json!("sa-east-1"))
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "policy unknown field",
            Method::PUT,
            "/scaling/policies/detection",
            json_ct,
            with(&good_policy, "max_replica", json!(3))
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "policy missing version",
            Method::PUT,
            "/scaling/policies/detection",
            json_ct,
            without(&good_policy, "version").to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "policy negative version",
            Method::PUT,
            "/scaling/policies/detection",
            json_ct,
            with(&good_policy, "version", json!(-1))
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "policy other type in body",
            Method::PUT,
            "/scaling/policies/detection",
            json_ct,
            with(&good_policy, "agent_type", json!("diagnosis"))
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "policy min above max",
            Method::PUT,
            "/scaling/policies/detection",
            json_ct,
            with(&good_policy, "min_replicas", json!(11))
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "policy thresholds crossed",
            Method::PUT,
            "/scaling/policies/detection",
            json_ct,
            with(&good_policy, "scale_down_threshold", json!(0.75))
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "policy threshold above 1",
            Method::PUT,
            "/scaling/policies/detection",
            json_ct,
            with(&good_policy, "scale_up_threshold", json!(1.2))
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "policy zero capacity",
            Method::PUT,
            "/scaling/policies/detection",
            json_ct,
            with(&good_policy, "capacity_per_replica", json!(0))
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "policy stale version",
            Method::PUT,
            "/scaling/policies/detection",
            json_ct,
            with(&good_policy, "version", json!(7))
                .to_string()
                .into_bytes(),
            StatusCode::CONFLICT,
        ),
        (
            "policy for undefined type",
            Method::PUT,
            "/scaling/policies/triage",
            json_ct,
            with(&good_policy, "version", json!(3))
                .to_string()
                .into_bytes(),
            StatusCode::CONFLICT,
        ),
    ];
    let before = app.get("/scaling/status").await.body;
    for (name, method, uri, content_type, body, expected) in cases {
        let a = app.send(method, uri, content_type, body).await;
        assert_eq!(a.status, expected, "{name}: {:?}", a.body);
        assert_eq!(a.content_type, "application/problem+json", "{name}");
        assert_eq!(a.body["status"], expected.as_u16(), "{name}");
        assert_eq!(a.body["type"], "about:blank", "{name}");
        assert!(
            !a.body["detail"].as_str().unwrap_or_default().is_empty(),
            "{name}"
        );
    }
    let mut after = app.get("/scaling/status").await.body;
    after["timestamp"] = before["timestamp"].clone();
    assert_eq!(after, before, "no rejected request changed any state");
}

#[tokio::test]
async fn health_reports_a_reachable_store() {
    let a = app().get("/health").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["store"], "reachable");
    assert!(a.retry_after.is_none());
}

#[tokio::test]
async fn openapi_document_covers_every_route_and_error() {
    let doc = app().get("/openapi.json").await.body;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/health", "get"),
        ("/scaling/status", "get"),
        ("/scaling/policies", "get"),
        ("/scaling/policies/{agent_type}", "get"),
        ("/scaling/policies/{agent_type}", "put"),
        ("/replicas/heartbeat", "post"),
        ("/openapi.json", "get"),
    ];
    for (path, method) in expected {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    let put = &paths["/scaling/policies/{agent_type}"]["put"]["responses"];
    for status in ["200", "400", "409", "413", "415", "422", "503"] {
        assert!(put[status].is_object(), "PUT policy documents {status}");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["schemas"]["ScalingStatus"].is_object());
}

/// A real DynamoDB client aimed at a loopback port where nothing listens: every call fails to
/// connect, as when the store is down.
fn app_with_unreachable_store() -> App {
    let clock = Arc::new(ManualClock::new(
        DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
    ));
    let client = shared::aws::local_dynamodb("http://127.0.0.1:9");
    let store = Arc::new(shared::store::DynamoStore::new(
        client,
        "commander",
        clock.clone(),
    ));
    App {
        router: api::router(api::AppState::new(store, clock.clone(), Config::default())),
        clock,
    }
}

#[tokio::test]
async fn an_unreachable_store_gives_503_with_retry_after() {
    let app = app_with_unreachable_store();
    let beat = heartbeat("detection", "r1", "us-east-1", 1.0);
    for a in [
        app.get("/health").await,
        app.get("/scaling/status").await,
        app.json(Method::POST, "/replicas/heartbeat", &beat).await,
    ] {
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", a.body);
        assert_eq!(a.content_type, "application/problem+json");
        assert_eq!(a.retry_after.as_deref(), Some("5"));
        assert_eq!(a.body["code"], "store_unavailable");
    }
}
