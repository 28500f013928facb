//! Property tests: whatever a caller sends, the API answers 2xx or a 4xx problem document, never
//! a 5xx and never a panic.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, header};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use shared::config::Config;
use shared::store::MemoryStore;
use tower::ServiceExt;

fn router() -> axum::Router {
    let clock = integration_tests::test_clock();
    api::router(api::AppState::new(Arc::new(MemoryStore::new(clock.clone())), clock, Config::default()))
}

/// Any JSON value, including numbers at the edges of their types and long or odd strings.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN", |f| f.is_finite()).prop_map(Value::from),
        Just(json!(1e308)),
        Just(json!(-0.0)),
        ".{0,40}".prop_map(Value::from),
        "[a-z0-9-]{1,70}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A heartbeat or policy body with some fields replaced by anything at all.
fn mangled(base: Value) -> impl Strategy<Value = Value> {
    let fields: Vec<String> = base.as_object().unwrap().keys().cloned().collect();
    prop::collection::vec((prop::sample::select(fields), prop::option::of(any_json())), 0..4).prop_map(
        move |changes| {
            let mut body: Map<String, Value> = base.as_object().unwrap().clone();
            for (field, value) in changes {
                match value {
                    Some(v) => body.insert(field, v),
                    None => body.remove(&field),
                };
            }
            Value::Object(body)
        },
    )
}

fn heartbeat() -> Value {
    json!({"agent_type": "detection", "replica_id": "r1", "region": "us-east-1", "load": 1,
           "capacity": 20, "healthy": true, "performance_score": 0.5})
}

fn policy() -> Value {
    json!({"min_replicas": 2, "max_replicas": 10, "target_utilization": 0.7, "scale_up_threshold": 0.8,
           "scale_down_threshold": 0.3, "cooldown_period": 300, "capacity_per_replica": 20,
           "cost_per_replica_hour": 2.0, "version": 0,
           "predictive": {"enabled": true, "min_weeks": 2, "lead_seconds": 600, "max_error": 0.5}})
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => mangled(heartbeat()).prop_map(|v| v.to_string().into_bytes()),
        3 => mangled(policy()).prop_map(|v| v.to_string().into_bytes()),
        1 => mangled(json!({"agent_type": "detection", "dry_run": true, "severity": "high"})).prop_map(|v| v.to_string().into_bytes()),
        1 => mangled(json!({"healthy": false, "weight": 2.0, "reason": "drill"})).prop_map(|v| v.to_string().into_bytes()),
        1 => mangled(json!({"agent_type": "detection", "severity": "high", "strategy": "peak_ewma", "incident_id": "i-1"})).prop_map(|v| v.to_string().into_bytes()),
        1 => mangled(json!({"agent_type": "detection", "replica_id": "r1", "ok": false, "latency_ms": 12.5})).prop_map(|v| v.to_string().into_bytes()),
        1 => mangled(json!({"model": "amazon.nova-pro", "task_type": "diagnosis", "severity": "low",
                            "input_tokens": 10, "output_tokens": 5, "latency_ms": 90})).prop_map(|v| v.to_string().into_bytes()),
        1 => mangled(json!({"task_type": "detection", "severity": "critical", "required_accuracy": 0.9,
                            "max_cost_per_1k": 0.02, "expected_input_tokens": 100})).prop_map(|v| v.to_string().into_bytes()),
        1 => mangled(json!({"model": "amazon.nova-pro", "ok": false})).prop_map(|v| v.to_string().into_bytes()),
        1 => any_json().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/replicas/heartbeat".to_owned()),
        Just("/scaling/policies/detection".to_owned()),
        Just("/scaling/status".to_owned()),
        Just("/health".to_owned()),
        Just("/scaling/optimize".to_owned()),
        Just("/replicas/select".to_owned()),
        Just("/replicas/release".to_owned()),
        Just("/regions/us-east-1/health".to_owned()),
        Just("/usage".to_owned()),
        Just("/models/select".to_owned()),
        Just("/models/report".to_owned()),
        Just("/cost/prices".to_owned()),
        Just("/cost/optimize".to_owned()),
        Just("/lambda/warm".to_owned()),
        "[a-z0-9=&]{0,20}".prop_map(|q| format!("/cost/report?{q}")),
        "[a-z0-9-]{0,20}".prop_map(|s| format!("/regions/{s}/health")),
        "[a-zA-Z0-9_%-]{0,80}".prop_map(|s| format!("/scaling/policies/{s}")),
        "[a-z/]{0,30}".prop_map(|s| format!("/{s}")),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH])
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop::sample::select(vec![
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("text/plain"),
        None,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_input_yields_a_server_error(
        method in method(), path in path(), content_type in content_type(), body in body_bytes(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (status, problem_type, body) = runtime.block_on(async {
            let mut request = Request::builder().method(method).uri(&path);
            if let Some(ct) = content_type {
                request = request.header(header::CONTENT_TYPE, ct);
            }
            let response = router().oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
            let ct = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned());
            let status = response.status();
            let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
            (status, ct, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
        });
        // A well-formed selection on a fleet with no replicas is answered 503 by design (no
        // replica has room; retry later). That is the only 5xx allowed.
        let no_capacity = status == axum::http::StatusCode::SERVICE_UNAVAILABLE && body["code"] == "no_replica_available";
        prop_assert!(!status.is_server_error() || no_capacity, "{status} for {path}: {body}");
        if status.is_client_error() || status.is_server_error() {
            prop_assert_eq!(problem_type.as_deref(), Some("application/problem+json"));
        }
    }
}
