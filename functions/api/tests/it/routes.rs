//! Handler tests: the Router driven with `oneshot` on the in-memory store and a manual clock.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chrono::Duration;
use serde_json::{Value, json};
use shared::config::Config;

use crate::common;

use common::{App, Case, app, assert_refused, case, json_case, with, without};

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
    assert_eq!(names, ["communication", "detection", "diagnosis", "prediction", "resolution"]);
    let seeds = [
        ("detection", 2, 10),
        ("diagnosis", 2, 8),
        ("prediction", 1, 5),
        ("resolution", 1, 6),
        ("communication", 1, 4),
    ];
    for (t, min, max) in seeds {
        let p = &policies[t];
        assert_eq!((p["min_replicas"].as_u64(), p["max_replicas"].as_u64()), (Some(min), Some(max)), "{t}");
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
        let a =
            app.json(Method::POST, "/replicas/heartbeat", &heartbeat("detection", id, region, load)).await;
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
    app.json(Method::POST, "/replicas/heartbeat", &heartbeat("detection", "d1", "us-east-1", 12.0)).await;
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
    let stored = app.json(Method::PUT, "/scaling/policies/resolution", &change).await;
    assert_eq!(stored.status, StatusCode::OK, "{:?}", stored.body);
    assert_eq!((stored.body["version"].clone(), stored.body["max_replicas"].clone()), (json!(1), json!(9)));

    change["max_replicas"] = json!(3);
    let stale = app.json(Method::PUT, "/scaling/policies/resolution", &change).await;
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
    assert_eq!(app.get("/scaling/policies/triage").await.status, StatusCode::NOT_FOUND);
    let beat =
        app.json(Method::POST, "/replicas/heartbeat", &heartbeat("triage", "t1", "us-east-1", 1.0)).await;
    assert_eq!(beat.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(beat.body["field"], "agent_type");

    let mut policy = app.get("/scaling/policies/detection").await.body;
    policy["agent_type"] = json!("triage");
    let created = app.json(Method::PUT, "/scaling/policies/triage", &policy).await;
    assert_eq!(created.status, StatusCode::OK, "{:?}", created.body);
    assert_eq!(created.body["version"], 1);
    let beat =
        app.json(Method::POST, "/replicas/heartbeat", &heartbeat("triage", "t1", "us-east-1", 1.0)).await;
    assert_eq!(beat.status, StatusCode::OK);
    let status = app.get("/scaling/status").await.body;
    assert_eq!(status["replica_status"]["triage"][0]["replica_id"], "t1");
}

#[tokio::test]
async fn bad_routes_methods_and_paths_get_problems() {
    let app = app();
    let overlong = format!("/scaling/policies/{}", "a".repeat(65));
    assert_refused(
        &app,
        vec![
            case("unknown route", Method::GET, "/nope", StatusCode::NOT_FOUND),
            case("wrong method", Method::DELETE, "/scaling/status", StatusCode::METHOD_NOT_ALLOWED),
            case("GET on heartbeat", Method::GET, "/replicas/heartbeat", StatusCode::METHOD_NOT_ALLOWED),
            case(
                "bad agent type in path",
                Method::GET,
                "/scaling/policies/Not_Valid",
                StatusCode::BAD_REQUEST,
            ),
            case("overlong agent type", Method::GET, &overlong, StatusCode::BAD_REQUEST),
            case("undefined agent type", Method::GET, "/scaling/policies/triage", StatusCode::NOT_FOUND),
        ],
    )
    .await;
}

#[tokio::test]
async fn bad_heartbeats_get_problems() {
    use StatusCode as S;
    let app = app();
    let beat = heartbeat("detection", "r1", "us-east-1", 1.0);
    let uri = "/replicas/heartbeat";
    let post = |name, body: &Value, expected| json_case(name, Method::POST, uri, body, expected);
    let raw = |name, content_type, body: &[u8], expected| Case {
        content_type,
        body: body.to_vec(),
        ..case(name, Method::POST, uri, expected)
    };
    assert_refused(
        &app,
        vec![
            raw("malformed JSON", Some("application/json"), b"{\"agent_type\":", S::BAD_REQUEST),
            raw("non-UTF-8 body", Some("application/json"), &[0xff, 0xfe, 0x00], S::BAD_REQUEST),
            raw("JSON array", Some("application/json"), b"[]", S::BAD_REQUEST),
            raw("no content type", None, beat.to_string().as_bytes(), S::UNSUPPORTED_MEDIA_TYPE),
            raw(
                "text content type",
                Some("text/plain"),
                beat.to_string().as_bytes(),
                S::UNSUPPORTED_MEDIA_TYPE,
            ),
            raw("oversized body", Some("application/json"), &[b' '; 70 * 1024], S::PAYLOAD_TOO_LARGE),
            post("wrong type", &with(&beat, "load", json!("high")), S::BAD_REQUEST),
            post("missing field", &without(&beat, "healthy"), S::BAD_REQUEST),
            post("negative capacity", &with(&beat, "capacity", json!(-1)), S::BAD_REQUEST),
            post("huge capacity", &with(&beat, "capacity", json!(1e20)), S::BAD_REQUEST),
            post("bad region", &with(&beat, "region", json!("mars-east-1")), S::BAD_REQUEST),
            post("bad replica id", &with(&beat, "replica_id", json!("a#b")), S::BAD_REQUEST),
            post("negative load", &with(&beat, "load", json!(-2)), S::UNPROCESSABLE_ENTITY),
            post("score above 1", &with(&beat, "performance_score", json!(1.5)), S::UNPROCESSABLE_ENTITY),
            post("zero capacity", &with(&beat, "capacity", json!(0)), S::UNPROCESSABLE_ENTITY),
            post("unconfigured region", &with(&beat, "region", json!("sa-east-1")), S::UNPROCESSABLE_ENTITY),
        ],
    )
    .await;
}

#[tokio::test]
async fn bad_policy_changes_get_problems() {
    use StatusCode as S;
    let app = app();
    let policy =
        without(&without(&app.get("/scaling/policies/detection").await.body, "timestamp"), "agent_type");
    let put = |name, body: &Value, expected| {
        json_case(name, Method::PUT, "/scaling/policies/detection", body, expected)
    };
    assert_refused(
        &app,
        vec![
            put("unknown field", &with(&policy, "max_replica", json!(3)), S::BAD_REQUEST),
            put("missing version", &without(&policy, "version"), S::BAD_REQUEST),
            put("negative version", &with(&policy, "version", json!(-1)), S::BAD_REQUEST),
            put("NaN-like text", &with(&policy, "target_utilization", json!("NaN")), S::BAD_REQUEST),
            put("other type in body", &with(&policy, "agent_type", json!("diagnosis")), S::BAD_REQUEST),
            put("min above max", &with(&policy, "min_replicas", json!(11)), S::UNPROCESSABLE_ENTITY),
            put(
                "thresholds crossed",
                &with(&policy, "scale_down_threshold", json!(0.75)),
                S::UNPROCESSABLE_ENTITY,
            ),
            put(
                "threshold above 1",
                &with(&policy, "scale_up_threshold", json!(1.2)),
                S::UNPROCESSABLE_ENTITY,
            ),
            put("zero capacity", &with(&policy, "capacity_per_replica", json!(0)), S::UNPROCESSABLE_ENTITY),
            put(
                "predictive weeks",
                &with(&policy, "predictive", json!({"min_weeks": 9})),
                S::UNPROCESSABLE_ENTITY,
            ),
            put(
                "predictive unknown field",
                &with(&policy, "predictive", json!({"lead": 60})),
                S::BAD_REQUEST,
            ),
            put("stale version", &with(&policy, "version", json!(7)), S::CONFLICT),
            json_case(
                "undefined type, nonzero version",
                Method::PUT,
                "/scaling/policies/triage",
                &with(&policy, "version", json!(3)),
                S::CONFLICT,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn predictive_settings_are_kept_field_by_field_and_bad_ones_named() {
    let app = app();
    let policy =
        without(&without(&app.get("/scaling/policies/detection").await.body, "timestamp"), "agent_type");
    assert!(policy.get("predictive").is_none(), "left out until set: {policy}");
    let bad = app
        .json(
            Method::PUT,
            "/scaling/policies/detection",
            &with(&policy, "predictive", json!({"max_error": 2.0})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["field"], "predictive.max_error", "{}", bad.body);
    let set = with(&policy, "predictive", json!({"enabled": false, "lead_seconds": 900}));
    assert_eq!(app.json(Method::PUT, "/scaling/policies/detection", &set).await.status, StatusCode::OK);
    let read = app.get("/scaling/policies/detection").await.body;
    assert_eq!(
        read["predictive"],
        json!({"enabled": false, "min_weeks": 2, "lead_seconds": 900, "max_error": 0.5}),
        "{read}"
    );
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
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/health", "get"),
        ("/scaling/status", "get"),
        ("/scaling/policies", "get"),
        ("/scaling/policies/{agent_type}", "get"),
        ("/scaling/policies/{agent_type}", "put"),
        ("/replicas/heartbeat", "post"),
        ("/scaling/optimize", "post"),
        ("/replicas/select", "post"),
        ("/replicas/release", "post"),
        ("/replicas/drain", "post"),
        ("/replicas/deregister", "post"),
        ("/regions", "get"),
        ("/regions/{region}/health", "put"),
        ("/cost/prices", "get"),
        ("/cost/prices", "put"),
        ("/cost/optimize", "post"),
        ("/cost/report", "get"),
        ("/usage", "post"),
        ("/models/select", "post"),
        ("/models/report", "post"),
        ("/lambda/warm", "post"),
        ("/warming/status", "get"),
        ("/openapi.json", "get"),
    ];
    for (path, method) in expected {
        assert!(paths[path][method].is_object(), "{method} {path} is documented");
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
    let clock = integration_tests::test_clock();
    let client = shared::aws::local_dynamodb("http://127.0.0.1:9");
    let store = Arc::new(shared::store::DynamoStore::new(client, "commander", clock.clone()));
    App { router: api::router(api::AppState::new(store, clock.clone(), Config::default())), clock }
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

#[tokio::test]
async fn optimize_decides_and_applies_unless_dry_run() {
    let app = app();
    for i in 0..2 {
        let a = app
            .json(
                Method::POST,
                "/replicas/heartbeat",
                &heartbeat("detection", &format!("d{i}"), "us-east-1", 19.0),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
    }
    let dry = app
        .json(Method::POST, "/scaling/optimize", &json!({"agent_type": "detection", "dry_run": true}))
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{:?}", dry.body);
    let decision = &dry.body["decisions"][0];
    assert_eq!(
        (decision["current"].as_u64(), decision["desired"].as_u64()),
        (Some(2), Some(3)),
        "{decision}"
    );
    assert!(decision["reasons"].as_array().unwrap().iter().any(|r| r.as_str().unwrap().contains("ratio")));
    assert_eq!(dry.body["actions_taken"], json!([]));
    assert_eq!(dry.body["cost_impact"], 2.0);
    let status = app.get("/scaling/status").await.body;
    assert_eq!(
        status["scaling_metrics"]["detection"]["desired_replicas"],
        Value::Null,
        "a dry run changes nothing"
    );

    let applied = app.send(Method::POST, "/scaling/optimize", None, Vec::new()).await;
    assert_eq!(applied.status, StatusCode::OK, "an empty body evaluates every type: {:?}", applied.body);
    assert_eq!(applied.body["decisions"].as_array().unwrap().len(), 5);
    assert!(!applied.body["actions_taken"].as_array().unwrap().is_empty());
    let status = app.get("/scaling/status").await.body;
    let metrics = &status["scaling_metrics"]["detection"];
    assert_eq!(metrics["desired_replicas"], 3);
    assert_eq!(metrics["recent_scaling_actions"][0]["kind"], "scale_up");
    assert_eq!(status["replica_distribution"]["detection"]["us-east-1"]["current"], 2);
    let desired: u64 = status["replica_distribution"]["detection"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r["desired"].as_u64().unwrap())
        .sum();
    assert_eq!(desired, 3);
}

#[tokio::test]
async fn marking_a_region_unhealthy_moves_its_share() {
    let app = app();
    let a = app
        .json(Method::PUT, "/regions/us-east-1/health", &json!({"healthy": false, "reason": "outage"}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["region"]["healthy"], false);
    for (agent, spread) in a.body["desired_by_region"].as_object().unwrap() {
        assert_eq!(spread["us-east-1"], 0, "{agent}: {spread}");
    }
    let regions = app.get("/regions").await.body;
    assert_eq!(regions["regions"][0]["region"], "us-east-1");
    assert_eq!(regions["regions"][0]["healthy"], false);
    let zones: Vec<&str> =
        regions["regions"].as_array().unwrap().iter().map(|r| r["timezone"].as_str().unwrap()).collect();
    assert_eq!(zones, ["America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Singapore"]);
    let back =
        app.json(Method::PUT, "/regions/us-east-1/health", &json!({"healthy": true, "weight": 2})).await;
    assert!(back.body["desired_by_region"]["detection"]["us-east-1"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn bad_scaling_and_region_requests_get_problems() {
    use StatusCode as S;
    let app = app();
    assert_refused(
        &app,
        vec![
            json_case(
                "unknown type",
                Method::POST,
                "/scaling/optimize",
                &json!({"agent_type": "triage"}),
                S::NOT_FOUND,
            ),
            json_case(
                "bad type",
                Method::POST,
                "/scaling/optimize",
                &json!({"agent_type": "No!"}),
                S::BAD_REQUEST,
            ),
            json_case(
                "unknown field",
                Method::POST,
                "/scaling/optimize",
                &json!({"dryrun": true}),
                S::BAD_REQUEST,
            ),
            json_case(
                "bad severity",
                Method::POST,
                "/scaling/optimize",
                &json!({"severity": "urgent", "dry_run": true}),
                S::BAD_REQUEST,
            ),
            Case {
                content_type: Some("text/plain"),
                body: b"{}".to_vec(),
                ..case("text body", Method::POST, "/scaling/optimize", S::UNSUPPORTED_MEDIA_TYPE)
            },
            json_case(
                "bad region code",
                Method::PUT,
                "/regions/mars/health",
                &json!({"healthy": false}),
                S::BAD_REQUEST,
            ),
            json_case(
                "region not in the fleet",
                Method::PUT,
                "/regions/sa-east-1/health",
                &json!({"healthy": false}),
                S::NOT_FOUND,
            ),
            json_case(
                "zero weight",
                Method::PUT,
                "/regions/us-east-1/health",
                &json!({"healthy": true, "weight": 0}),
                S::UNPROCESSABLE_ENTITY,
            ),
            json_case(
                "missing healthy",
                Method::PUT,
                "/regions/us-east-1/health",
                &json!({"weight": 1}),
                S::BAD_REQUEST,
            ),
            json_case(
                "long reason",
                Method::PUT,
                "/regions/us-east-1/health",
                &json!({"healthy": false, "reason": "x".repeat(300)}),
                S::UNPROCESSABLE_ENTITY,
            ),
        ],
    )
    .await;
}

async fn beat_many(app: &App, agent: &str, n: usize, capacity: u32) {
    for i in 0..n {
        let mut body = heartbeat(agent, &format!("{agent}-{i:02}"), REGION_CODES[i % 4], 0.0);
        body["capacity"] = json!(capacity);
        assert_eq!(app.json(Method::POST, "/replicas/heartbeat", &body).await.status, StatusCode::OK);
    }
}

const REGION_CODES: [&str; 4] = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"];

#[tokio::test]
async fn select_and_release_count_active_incidents() {
    let app = app();
    beat_many(&app, "resolution", 2, 5).await;
    let pick = |id: Option<&str>| {
        let mut body =
            json!({"agent_type": "resolution", "severity": "medium", "strategy": "least_connections"});
        if let Some(id) = id {
            body["incident_id"] = json!(id);
        }
        body
    };
    let first = app.json(Method::POST, "/replicas/select", &pick(Some("inc-1"))).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let again = app.json(Method::POST, "/replicas/select", &pick(Some("inc-1"))).await;
    assert_eq!(
        again.body["replica_id"], first.body["replica_id"],
        "a retried selection gets the same replica"
    );
    let second = app.json(Method::POST, "/replicas/select", &pick(None)).await;
    assert_ne!(second.body["replica_id"], first.body["replica_id"], "least connections spreads the two");
    assert_eq!(second.body["strategy"], "least_connections");

    let release = json!({"agent_type": "resolution", "replica_id": first.body["replica_id"], "ok": true, "latency_ms": 850.0, "incident_id": "inc-1"});
    let released = app.json(Method::POST, "/replicas/release", &release).await;
    assert_eq!(released.status, StatusCode::OK, "{:?}", released.body);
    assert_eq!(released.body["active"], 0.0, "the retried selection counted once");
    assert!((released.body["latency_ewma_s"].as_f64().unwrap() - 0.85).abs() < 1e-9);
    let twice = app.json(Method::POST, "/replicas/release", &release).await;
    assert_eq!(twice.body["active"], 0.0, "a retried release counts once");

    app.clock.advance(Duration::seconds(60));
    let status = app.get("/scaling/status").await.body;
    assert_eq!(status["scaling_metrics"]["resolution"]["incidents_per_minute"], 2.0);
}

#[tokio::test]
async fn work_finished_since_the_last_heartbeat_frees_room_at_once() {
    let app = app();
    let full = json!({"agent_type": "diagnosis", "replica_id": "d-1", "region": "us-east-1", "load": 2.0,
                      "capacity": 2, "healthy": true, "performance_score": 0.9});
    assert_eq!(app.json(Method::POST, "/replicas/heartbeat", &full).await.status, StatusCode::OK);
    let select = json!({"agent_type": "diagnosis", "severity": "high"});
    assert_eq!(
        app.json(Method::POST, "/replicas/select", &select).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // The replica finishes one of the two it reported: room for one more before its next report.
    let release = json!({"agent_type": "diagnosis", "replica_id": "d-1", "ok": true, "latency_ms": 900.0});
    assert_eq!(app.json(Method::POST, "/replicas/release", &release).await.status, StatusCode::OK);
    assert_eq!(app.json(Method::POST, "/replicas/select", &select).await.status, StatusCode::OK);
    // Its next report counts everything it works on again; releases before it are in it.
    assert_eq!(app.json(Method::POST, "/replicas/heartbeat", &full).await.status, StatusCode::OK);
    assert_eq!(
        app.json(Method::POST, "/replicas/select", &select).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn no_room_is_a_503_and_counts_as_refused_demand_for_the_scaler() {
    let app = app();
    beat_many(&app, "communication", 1, 1).await;
    let body = json!({"agent_type": "communication", "severity": "low"});
    assert_eq!(app.json(Method::POST, "/replicas/select", &body).await.status, StatusCode::OK);
    let full = app.json(Method::POST, "/replicas/select", &body).await;
    assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", full.body);
    assert_eq!(full.body["code"], "no_replica_available");
    assert_eq!(full.retry_after.as_deref(), Some("5"));
    // Retried under one incident id, a refusal counts once a minute; without one, every time.
    let with_id = json!({"agent_type": "communication", "severity": "critical", "incident_id": "inc-7"});
    for _ in 0..3 {
        let again = app.json(Method::POST, "/replicas/select", &with_id).await;
        assert_eq!(again.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    let status = app.get("/scaling/status").await.body;
    let demand = &status["scaling_metrics"]["communication"]["demand"];
    assert_eq!(demand["refused"]["low"], 1.0, "{demand}");
    assert_eq!(demand["refused"]["critical"], 1.0, "{demand}");
    assert_eq!(demand["served"]["low"], 1.0, "{demand}");
    // The scaler reads it: the tick's evaluation weighs critical work and sizes for it.
    let optimized =
        app.json(Method::POST, "/scaling/optimize", &json!({"agent_type": "communication"})).await;
    let decision = &optimized.body["decisions"][0];
    assert_eq!(decision["severity"], "critical", "{decision}");
    assert!(decision["desired"].as_u64().unwrap() > decision["in_force"].as_u64().unwrap(), "{decision}");
}

#[tokio::test]
async fn five_failures_eject_a_replica_from_selection() {
    let app = app();
    beat_many(&app, "detection", 10, 20).await;
    let bad = "detection-00";
    let mut verdicts = Vec::new();
    for _ in 0..5 {
        let r = app
            .json(
                Method::POST,
                "/replicas/release",
                &json!({"agent_type": "detection", "replica_id": bad, "ok": false, "latency_ms": 30000}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        verdicts.push(r.body["ejected_until"].clone());
    }
    assert_eq!(
        verdicts[..4],
        [Value::Null, Value::Null, Value::Null, Value::Null],
        "four failures are not enough"
    );
    assert_eq!(verdicts[4], "2027-01-15T08:00:30Z", "the fifth ejects it for 30 s");
    for _ in 0..30 {
        let p = app
            .json(
                Method::POST,
                "/replicas/select",
                &json!({"agent_type": "detection", "severity": "low", "strategy": "round_robin"}),
            )
            .await;
        assert_ne!(p.body["replica_id"], bad, "an ejected replica takes nothing");
    }
}

#[tokio::test]
async fn bad_selection_requests_get_problems() {
    use StatusCode as S;
    let app = app();
    beat_many(&app, "detection", 1, 20).await;
    let ok = json!({"agent_type": "detection", "severity": "high"});
    let release =
        json!({"agent_type": "detection", "replica_id": "detection-00", "ok": true, "latency_ms": 10});
    assert_refused(
        &app,
        vec![
            json_case(
                "unknown strategy",
                Method::POST,
                "/replicas/select",
                &with(&ok, "strategy", json!("random")),
                S::BAD_REQUEST,
            ),
            json_case(
                "bad severity",
                Method::POST,
                "/replicas/select",
                &with(&ok, "severity", json!("urgent")),
                S::BAD_REQUEST,
            ),
            json_case(
                "missing severity",
                Method::POST,
                "/replicas/select",
                &without(&ok, "severity"),
                S::BAD_REQUEST,
            ),
            json_case(
                "undefined type",
                Method::POST,
                "/replicas/select",
                &with(&ok, "agent_type", json!("triage")),
                S::UNPROCESSABLE_ENTITY,
            ),
            json_case(
                "region outside the fleet",
                Method::POST,
                "/replicas/select",
                &with(&ok, "region", json!("sa-east-1")),
                S::UNPROCESSABLE_ENTITY,
            ),
            json_case(
                "empty incident id",
                Method::POST,
                "/replicas/select",
                &with(&ok, "incident_id", json!("")),
                S::UNPROCESSABLE_ENTITY,
            ),
            json_case(
                "negative latency",
                Method::POST,
                "/replicas/release",
                &with(&release, "latency_ms", json!(-1)),
                S::UNPROCESSABLE_ENTITY,
            ),
            json_case(
                "huge latency",
                Method::POST,
                "/replicas/release",
                &with(&release, "latency_ms", json!(1e300)),
                S::UNPROCESSABLE_ENTITY,
            ),
            json_case(
                "unknown replica",
                Method::POST,
                "/replicas/release",
                &with(&release, "replica_id", json!("ghost")),
                S::NOT_FOUND,
            ),
            json_case(
                "missing ok",
                Method::POST,
                "/replicas/release",
                &without(&release, "ok"),
                S::BAD_REQUEST,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn reported_load_counts_against_headroom() {
    let app = app();
    let mut busy = heartbeat("communication", "c-busy", "us-east-1", 25.0);
    busy["capacity"] = json!(25);
    let mut idle = heartbeat("communication", "c-idle", "us-west-2", 3.0);
    idle["capacity"] = json!(25);
    for body in [&busy, &idle] {
        assert_eq!(app.json(Method::POST, "/replicas/heartbeat", body).await.status, StatusCode::OK);
    }
    for _ in 0..5 {
        let p = app
            .json(
                Method::POST,
                "/replicas/select",
                &json!({"agent_type": "communication", "severity": "low", "strategy": "round_robin"}),
            )
            .await;
        assert_eq!(p.body["replica_id"], "c-idle", "a replica reporting full load has no room");
    }
}

/// Numbers the state store cannot keep never reach it: tiny figures read as zero, absurd ones
/// are refused, and a long-idle replica's latency average stays storable (issue: each of these
/// answered 500, or was accepted and then refused by DynamoDB, before).
#[tokio::test]
async fn numbers_from_input_are_ones_the_store_keeps() {
    let app = app();
    let tiny = app
        .json(Method::POST, "/replicas/heartbeat", &heartbeat("detection", "d-tiny", "us-east-1", 1e-200))
        .await;
    assert_eq!(tiny.status, StatusCode::OK, "{:?}", tiny.body);
    assert_eq!(tiny.body["utilization"], 0.0);
    let flood = app
        .json(Method::POST, "/replicas/heartbeat", &heartbeat("detection", "d-flood", "us-east-1", 1e9))
        .await;
    assert_eq!(
        flood.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "one report cannot drive the fleet to its maximum"
    );
    assert_eq!(flood.body["field"], "load");
    let quadruple = app
        .json(Method::POST, "/replicas/heartbeat", &heartbeat("detection", "d-queue", "us-east-1", 80.0))
        .await;
    assert_eq!(
        quadruple.status,
        StatusCode::OK,
        "a queue up to four times capacity is a report, not a fault"
    );

    let mut policy = app.get("/scaling/policies/detection").await.body;
    policy["scale_down_threshold"] = json!(1e-200);
    let refused = app.json(Method::PUT, "/scaling/policies/detection", &policy).await;
    assert_eq!(
        (refused.status, refused.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("scale_down_threshold"))
    );
    let weight =
        app.json(Method::PUT, "/regions/us-east-1/health", &json!({"healthy": true, "weight": 1e-200})).await;
    assert_eq!(
        (weight.status, weight.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("weight"))
    );

    // A release after an hour of quiet: the average decays by exp(-360), below 1E-130.
    let select = app
        .json(Method::POST, "/replicas/select", &json!({"agent_type": "detection", "severity": "low"}))
        .await;
    assert_eq!(select.status, StatusCode::OK, "{:?}", select.body);
    let id = select.body["replica_id"].as_str().unwrap().to_owned();
    let release = json!({"agent_type": "detection", "replica_id": id, "ok": true, "latency_ms": 50.0});
    assert_eq!(app.json(Method::POST, "/replicas/release", &release).await.status, StatusCode::OK);
    app.clock.advance(Duration::minutes(1));
    let beat = heartbeat("detection", &id, "us-east-1", 0.0);
    assert_eq!(app.json(Method::POST, "/replicas/heartbeat", &beat).await.status, StatusCode::OK);
    app.clock.advance(Duration::seconds(59));
    for _ in 0..60 {
        assert_eq!(app.json(Method::POST, "/replicas/heartbeat", &beat).await.status, StatusCode::OK);
        app.clock.advance(Duration::seconds(60));
    }
    let quiet = json!({"agent_type": "detection", "replica_id": id, "ok": true, "latency_ms": 1e-300});
    let later = app.json(Method::POST, "/replicas/release", &quiet).await;
    assert_eq!(later.status, StatusCode::OK, "{:?}", later.body);
    assert_eq!(later.body["latency_ewma_s"], 0.0);
    let again = app.json(Method::POST, "/replicas/release", &quiet).await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "the next release of the replica is not wedged: {:?}",
        again.body
    );
}

/// Issue 17, item 3: an assignment whose release never arrives counted forever, so a replica
/// reporting no load looked full and selections were refused. The heartbeat is authoritative.
#[tokio::test]
async fn a_leaked_assignment_stops_counting_at_the_next_heartbeat() {
    let app = app();
    let beat = json!({"agent_type": "resolution", "replica_id": "r-1", "region": "us-east-1", "load": 0.0,
                      "capacity": 2, "healthy": true, "performance_score": 0.9});
    assert_eq!(app.json(Method::POST, "/replicas/heartbeat", &beat).await.status, StatusCode::OK);
    let select = json!({"agent_type": "resolution", "severity": "high"});
    for _ in 0..2 {
        assert_eq!(app.json(Method::POST, "/replicas/select", &select).await.status, StatusCode::OK);
    }
    assert_eq!(
        app.json(Method::POST, "/replicas/select", &select).await.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "full"
    );
    // The clients that took both crashed: no release arrives. The replica reports it is idle.
    app.clock.advance(Duration::seconds(30));
    assert_eq!(app.json(Method::POST, "/replicas/heartbeat", &beat).await.status, StatusCode::OK);
    app.clock.advance(Duration::seconds(2));
    let again = app.json(Method::POST, "/replicas/select", &select).await;
    assert_eq!(again.status, StatusCode::OK, "the report is the truth: {:?}", again.body);
    // Work in progress that it reports still counts, with what was assigned since.
    let busy = json!({"agent_type": "resolution", "replica_id": "r-1", "region": "us-east-1", "load": 1.0,
                      "capacity": 2, "healthy": true, "performance_score": 0.9});
    app.clock.advance(Duration::seconds(30));
    assert_eq!(app.json(Method::POST, "/replicas/heartbeat", &busy).await.status, StatusCode::OK);
    app.clock.advance(Duration::seconds(2));
    assert_eq!(app.json(Method::POST, "/replicas/select", &select).await.status, StatusCode::OK);
    assert_eq!(
        app.json(Method::POST, "/replicas/select", &select).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let release = json!({"agent_type": "resolution", "replica_id": "r-1", "ok": true, "latency_ms": 1000.0});
    let released = app.json(Method::POST, "/replicas/release", &release).await;
    assert_eq!(
        (released.status, released.body["active"].as_f64()),
        (StatusCode::OK, Some(1.0)),
        "{:?}",
        released.body
    );
}

/// The status snapshot: a container's own writes show at once; another container's (or the
/// scaler's) within a second, never later.
#[tokio::test]
async fn status_shows_this_containers_writes_at_once_and_anothers_within_a_second() {
    let clock = integration_tests::test_clock();
    let store: Arc<dyn shared::store::Store> = Arc::new(shared::store::MemoryStore::new(clock.clone()));
    let (one, two) = (common::app_on(store.clone(), clock.clone()), common::app_on(store, clock.clone()));
    let count = |body: &Value| body["replica_status"]["detection"].as_array().map_or(0, Vec::len);
    assert_eq!(count(&one.get("/scaling/status").await.body), 0);

    let beat = heartbeat("detection", "det-1", "us-east-1", 1.0);
    assert_eq!(one.json(Method::POST, "/replicas/heartbeat", &beat).await.status, StatusCode::OK);
    assert_eq!(count(&one.get("/scaling/status").await.body), 1, "its own write shows at once");

    let beat = heartbeat("detection", "det-2", "us-east-1", 1.0);
    assert_eq!(two.json(Method::POST, "/replicas/heartbeat", &beat).await.status, StatusCode::OK);
    clock.advance(Duration::milliseconds(900));
    assert_eq!(count(&one.get("/scaling/status").await.body), 1, "another's write: the snapshot holds");
    clock.advance(Duration::milliseconds(100));
    assert_eq!(count(&one.get("/scaling/status").await.body), 2, "and shows a second after it was taken");

    // A refused write drops the snapshot too (it may have written before it failed).
    assert_eq!(
        two.json(Method::POST, "/replicas/heartbeat", &heartbeat("detection", "det-3", "us-east-1", 1.0))
            .await
            .status,
        StatusCode::OK
    );
    let refused = one.json(Method::POST, "/replicas/heartbeat", &json!({"agent_type": "detection"})).await;
    assert!(refused.status.is_client_error());
    assert_eq!(count(&one.get("/scaling/status").await.body), 3);
}

/// What one status costs the store for the five built-in types in four regions: the catalogue,
/// every policy in one batched read, each type's replicas, every type's scaling state, pause and
/// demand window (eight shards a minute) in one batched read, every region's mark in one, and
/// each region's events.
#[tokio::test]
async fn a_status_reads_each_thing_once() {
    let clock = integration_tests::test_clock();
    let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    let store = common::Watched::new(clock.clone(), move |_, _| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    });
    let app = common::app_on(Arc::new(store), clock);
    let beat = heartbeat("detection", "det-1", "us-east-1", 1.0);
    assert_eq!(app.json(Method::POST, "/replicas/heartbeat", &beat).await.status, StatusCode::OK);
    let before = requests.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(app.get("/scaling/status").await.status, StatusCode::OK);
    let made = requests.load(std::sync::atomic::Ordering::SeqCst) - before;
    // 1 catalogue query + 1 policies + 5 replica queries + 1 for the types' reads + 1 marks + 4 events.
    assert_eq!(made, 1 + 1 + 5 + 1 + 1 + 4, "store requests for one status");
}
