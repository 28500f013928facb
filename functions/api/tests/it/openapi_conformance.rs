//! Hostile requests against every route, checked against the API's own OpenAPI document: whatever
//! is sent, the answer is never a 5xx (bar the documented 503s), always problem+json when it is an
//! error, documented for that route and status with a body that matches the documented schema,
//! and a rejected request leaves the store exactly as it was. The document itself is written to
//! `target/openapi.json`, where `scripts/test` validates it against the OpenAPI 3.1 schema.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use proptest::prelude::*;
use serde_json::{Value, json};
use shared::config::Config;
use shared::store::MemoryStore;
use tower::ServiceExt;

struct Api {
    router: axum::Router,
    store: Arc<MemoryStore>,
}

fn api() -> Api {
    let clock = integration_tests::test_clock();
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let router = api::router(api::AppState::new(store.clone(), clock, Config::default()));
    Api { router, store }
}

async fn send(
    router: &axum::Router,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    let response = router.clone().oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
    let ct = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned());
    let status = response.status();
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    (status, ct, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
}

fn document() -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, _, doc) =
        runtime.block_on(send(&api().router, Method::GET, "/openapi.json", None, Vec::new()));
    assert_eq!(status, StatusCode::OK);
    doc
}

/// The documented path template `path` falls under, if any.
fn template<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    doc["paths"].as_object().unwrap().keys().map(String::as_str).find(|t| {
        let parts: Vec<&str> = t.split('/').collect();
        parts.len() == segments.len()
            && parts.iter().zip(&segments).all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s)
    })
}

/// What the document says about this answer: `Err` explains a mismatch.
fn conforms(
    doc: &Value,
    method: &Method,
    path: &str,
    status: StatusCode,
    content_type: Option<&str>,
    body: &Value,
) -> Result<(), String> {
    let Some(route) = template(doc, path) else {
        return if status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(format!("{status} for undocumented {path}"))
        };
    };
    let operation = &doc["paths"][route][method.as_str().to_ascii_lowercase()];
    if operation.is_null() {
        return if status == StatusCode::METHOD_NOT_ALLOWED {
            Ok(())
        } else {
            Err(format!("{status} for undocumented {method} {route}"))
        };
    }
    let response = &operation["responses"][status.as_str()];
    if response.is_null() {
        return Err(format!("{method} {route} answered {status}, which its document does not list"));
    }
    let Some(content) = response["content"].as_object() else { return Ok(()) };
    let media = content_type.unwrap_or_default().split(';').next().unwrap_or_default().trim();
    let Some(schema) = content.get(media).map(|c| &c["schema"]) else {
        return Err(format!(
            "{method} {route} {status}: content type {media:?} is not among {:?}",
            content.keys().collect::<Vec<_>>()
        ));
    };
    let mut rooted = json!({"allOf": [schema], "components": doc["components"]});
    if schema.is_null() {
        rooted = json!({});
    }
    let validator = jsonschema::draft202012::new(&rooted)
        .map_err(|e| format!("{method} {route} {status}: bad schema: {e}"))?;
    let errors: Vec<String> =
        validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    if errors.is_empty() { Ok(()) } else { Err(format!("{method} {route} {status}: {errors:?} in {body}")) }
}

#[test]
fn the_document_is_written_for_the_validator_and_lists_every_route() {
    let doc = document();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    for route in [
        "/scaling/status",
        "/replicas/select",
        "/cost/report",
        "/performance/metrics",
        "/lambda/warm",
        "/warming/status",
    ] {
        assert!(doc["paths"][route].is_object(), "{route} is documented");
    }
    let target = format!("{}/../../target", env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(format!("{target}/openapi.json"), serde_json::to_string_pretty(&doc).unwrap()).unwrap();
}

#[test]
fn well_formed_calls_answer_as_documented() {
    let doc = document();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let api = api();
    let heartbeat = json!({"agent_type": "detection", "replica_id": "r1", "region": "us-east-1", "load": 1,
                           "capacity": 20, "healthy": true, "performance_score": 0.9});
    let calls: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/health", None),
        (Method::GET, "/scaling/status", None),
        (Method::GET, "/scaling/policies", None),
        (Method::GET, "/scaling/policies/detection", None),
        (Method::POST, "/replicas/heartbeat", Some(heartbeat)),
        (Method::POST, "/replicas/select", Some(json!({"agent_type": "detection", "severity": "high"}))),
        (Method::POST, "/scaling/optimize", Some(json!({"agent_type": "detection", "dry_run": true}))),
        (Method::GET, "/regions", None),
        (Method::GET, "/cost/prices", None),
        (Method::GET, "/cost/report", None),
        (Method::POST, "/cost/optimize", Some(json!({}))),
        (Method::POST, "/models/select", Some(json!({"task_type": "diagnosis", "severity": "critical"}))),
        (
            Method::POST,
            "/usage",
            Some(json!({"model": "amazon.nova-pro", "task_type": "diagnosis", "severity": "low",
                                              "input_tokens": 10, "output_tokens": 5, "timestamp": "2027-01-15T08:00:00Z"})),
        ),
        (Method::GET, "/performance/metrics", None),
        (Method::GET, "/performance/recommendations", None),
        (Method::GET, "/warming/status", None),
        (Method::GET, "/cost/report?hours=3&limit=1", None),
    ];
    for (method, path, body) in calls {
        let (content_type, bytes) =
            body.map_or((None, Vec::new()), |b| (Some("application/json"), b.to_string().into_bytes()));
        let (status, ct, answer) =
            runtime.block_on(send(&api.router, method.clone(), path, content_type, bytes));
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        conforms(&doc, &method, path, status, ct.as_deref(), &answer).unwrap();
    }
}

fn hostile_body() -> impl Strategy<Value = Vec<u8>> {
    let base = prop_oneof![
        Just(
            json!({"agent_type": "detection", "replica_id": "r1", "region": "us-east-1", "load": 1, "capacity": 20, "healthy": true, "performance_score": 0.5})
        ),
        Just(
            json!({"min_replicas": 2, "max_replicas": 10, "target_utilization": 0.7, "scale_up_threshold": 0.8, "scale_down_threshold": 0.3, "cooldown_period": 300, "capacity_per_replica": 20, "cost_per_replica_hour": 2.0, "version": 1})
        ),
        Just(json!({"agent_type": "detection", "severity": "high", "strategy": "peak_ewma"})),
        Just(json!({"agent_type": "detection", "replica_id": "r1", "ok": false, "latency_ms": 12.5})),
        Just(
            json!({"model": "amazon.nova-pro", "task_type": "diagnosis", "severity": "low", "input_tokens": 10, "output_tokens": 5})
        ),
        Just(json!({"task_type": "detection", "severity": "critical", "required_accuracy": 0.9})),
        Just(json!({"healthy": false, "weight": 2.0, "reason": "drill"})),
        Just(json!({"functions": ["detection-agent"], "concurrency": 2})),
    ];
    let odd = prop_oneof![
        Just(json!(null)),
        Just(json!(-1)),
        Just(json!(u64::MAX)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!("")),
        Just(json!("unknown_value")),
        Just(json!([])),
        Just(json!({})),
        Just(json!(true)),
        "\\PC{0,300}".prop_map(Value::from),
    ];
    let mangled = (base, prop::collection::vec((0usize..12, prop::option::of(odd)), 1..4)).prop_map(
        |(base, changes)| {
            let mut body = base.as_object().unwrap().clone();
            let fields: Vec<String> = body.keys().cloned().collect();
            for (i, value) in changes {
                let field = fields[i % fields.len()].clone();
                match value {
                    Some(v) => body.insert(field, v),
                    None => body.remove(&field),
                };
            }
            Value::Object(body).to_string().into_bytes()
        },
    );
    prop_oneof![
        6 => mangled,
        // What JSON cannot say, said anyway; text that is not UTF-8; far too much of it.
        1 => prop::sample::select(vec![r#"{"load": NaN}"#, r#"{"load": Infinity}"#, r#"{"capacity": 1e999}"#, "{", "[1,2"])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|mut b| { b.insert(0, 0xff); b }),
        1 => Just(vec![b' '; 3 * 1024 * 1024]),
    ]
}

fn any_route() -> impl Strategy<Value = (Method, String)> {
    let methods =
        prop::sample::select(vec![Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH]);
    let paths = prop::sample::select(vec![
        "/health",
        "/scaling/status",
        "/scaling/policies",
        "/scaling/policies/detection",
        "/scaling/policies/Not%20A%20Type",
        "/scaling/optimize",
        "/regions",
        "/regions/us-east-1/health",
        "/regions/mars-north-9/health",
        "/replicas/heartbeat",
        "/replicas/select",
        "/replicas/release",
        "/cost/prices",
        "/cost/optimize",
        "/cost/report?hours=-3",
        "/cost/report?hours=99999999999",
        "/usage",
        "/models/select",
        "/models/report",
        "/lambda/warm",
        "/warming/status",
        "/cost/report?limit=0",
        "/performance/metrics",
        "/performance/recommendations",
        "/openapi.json",
        "/nope",
    ]);
    (methods, paths.prop_map(str::to_owned))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn hostile_requests_are_answered_as_documented_and_change_nothing(
        (method, path) in any_route(),
        content_type in prop::sample::select(vec![Some("application/json"), Some("text/plain"), Some("application/x-www-form-urlencoded"), None]),
        body in hostile_body(),
    ) {
        let doc = document();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let api = api();
        // Some state to keep: the seeded policies and one replica.
        runtime.block_on(send(&api.router, Method::GET, "/scaling/status", None, Vec::new()));
        let beat = json!({"agent_type": "detection", "replica_id": "r0", "region": "us-east-1", "load": 1, "capacity": 20, "healthy": true, "performance_score": 0.9});
        runtime.block_on(send(&api.router, Method::POST, "/replicas/heartbeat", Some("application/json"), beat.to_string().into_bytes()));
        let before = api.store.snapshot();
        let (status, ct, answer) = runtime.block_on(send(&api.router, method.clone(), &path, content_type, body));
        let no_capacity = status == StatusCode::SERVICE_UNAVAILABLE && answer["code"] == "no_replica_available";
        prop_assert!(!status.is_server_error() || no_capacity, "{} for {} {}: {}", status, method, path, answer);
        if !status.is_success() {
            prop_assert_eq!(ct.as_deref(), Some("application/problem+json"), "{} {} {}", method, path, status);
            prop_assert!(api.store.snapshot() == before, "a rejected {} {} ({}) changed the store", method, path, status);
        }
        if let Err(mismatch) = conforms(&doc, &method, &path, status, ct.as_deref(), &answer) {
            prop_assert!(false, "{}", mismatch);
        }
    }
}
