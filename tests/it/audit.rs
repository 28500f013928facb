//! The audit trail: every operator change made through the api is recorded with the principal
//! API Gateway verified, the request id, and the value before and after; `GET /audit` reads it
//! back filtered and paged. On the in-memory store and on the DynamoDB-API server (an entry
//! holds nested before/after values, which DynamoDB must take as they are).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};
use shared::clock::Clock;
use shared::config::Config;
use shared::store::{MemoryStore, Store};

use crate::gateway::{SIGNER, call, request};

/// Makes one change through every audited route, in an order in which each succeeds; answers
/// the request id of each call by its action.
async fn change_everything(router: &axum::Router) -> Vec<(String, String)> {
    let policy = call(router, request("GET", "/scaling/policies/detection", None)).await.1;
    let mut triage = policy.clone();
    triage["agent_type"] = json!("triage");
    let prices = call(router, request("GET", "/cost/prices", None)).await.1;
    let steps: Vec<(&str, &str, &str, Option<Value>)> = vec![
        // First, so this region acts (a two-region stack's standby refuses the actions below).
        ("POST", "/control-plane/promote", "/control-plane/promote", Some(json!({"region": "us-east-1"}))),
        ("PUT", "/scaling/policies/{agent_type}", "/scaling/policies/triage", Some(triage)),
        (
            "PUT",
            "/scaling/policies/{agent_type}/pause",
            "/scaling/policies/detection/pause",
            Some(json!({"reason": "load test"})),
        ),
        ("DELETE", "/scaling/policies/{agent_type}/pause", "/scaling/policies/detection/pause", None),
        (
            "PUT",
            "/regions/{region}/health",
            "/regions/us-west-2/health",
            Some(json!({"healthy": false, "reason": "provider incident"})),
        ),
        ("DELETE", "/regions/{region}/health", "/regions/us-west-2/health", None),
        ("PUT", "/cost/prices", "/cost/prices", Some(json!({"prices": prices["prices"], "version": 0}))),
        (
            "PUT",
            "/cost/emergency",
            "/cost/emergency",
            Some(json!({"emergency_mode": true, "reason": "drill", "minutes": 30})),
        ),
        ("DELETE", "/cost/emergency", "/cost/emergency", None),
        ("POST", "/cost/optimize", "/cost/optimize", None),
        ("POST", "/scaling/optimize", "/scaling/optimize", None),
        ("POST", "/lambda/warm", "/lambda/warm", None),
        ("DELETE", "/scaling/policies/{agent_type}", "/scaling/policies/triage?version=1", None),
    ];
    let mut ids = Vec::new();
    for (method, template, path, body) in steps {
        let req = request(method, path, body.as_ref());
        let id = req
            .extensions()
            .get::<lambda_http::request::RequestContext>()
            .and_then(|c| match c {
                lambda_http::request::RequestContext::ApiGatewayV2(c) => c.request_id.clone(),
                _ => None,
            })
            .unwrap();
        let (status, answer) = call(router, req).await;
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        ids.push((format!("{method} {template}"), id));
    }
    ids
}

async fn every_operator_change_is_recorded_on(store: Arc<dyn Store>, clock: Arc<shared::clock::ManualClock>) {
    // A control plane in two regions, this one the home region: every audited route exists.
    let env = |name: &str| match name {
        "COMMANDER_CONTROL_PLANE_REGIONS" => Some("us-east-1,us-west-2".to_owned()),
        "AWS_REGION" => Some("us-east-1".to_owned()),
        _ => None,
    };
    let container = integration_tests::container_with_env(&env, clock.clone(), store);
    let router = api::router(api::AppState::from_container(container));
    let beat = json!({"agent_type": "detection", "replica_id": "a", "region": "us-east-1", "load": 3,
                      "capacity": 20, "healthy": true, "performance_score": 0.9});
    let (status, answer) = call(&router, request("POST", "/replicas/heartbeat", Some(&beat))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let started = clock.now();
    let calls = change_everything(&router).await;

    let (status, trail) = call(&router, request("GET", "/audit?limit=100", None)).await;
    assert_eq!(status, StatusCode::OK, "{trail}");
    let entries = trail["entries"].as_array().unwrap();
    let recorded: BTreeSet<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    let audited: BTreeSet<String> =
        api::access::ROUTES.iter().filter(|r| r.audited()).map(api::access::RouteAccess::action).collect();
    assert_eq!(
        recorded,
        audited.iter().map(String::as_str).collect(),
        "one entry per audited route, and the agent's heartbeat is not among them"
    );
    for (action, id) in &calls {
        let entry =
            entries.iter().find(|e| e["request_id"] == id.as_str()).unwrap_or_else(|| panic!("{action}"));
        assert_eq!(entry["action"], action.as_str());
        assert_eq!(entry["principal"], SIGNER, "{action}: the IAM principal from the request context");
        assert_eq!(entry["status"], 200);
        assert!(entry["at"].as_str().unwrap() >= started.to_rfc3339().as_str());
    }
    let by_action = |action: &str| entries.iter().find(|e| e["action"] == action).unwrap();
    let pause = by_action("PUT /scaling/policies/{agent_type}/pause");
    assert_eq!(
        (pause["target"].as_str(), &pause["before"]),
        (Some("/scaling/policies/detection/pause"), &Value::Null)
    );
    assert_eq!(pause["after"]["reason"], "load test");
    let resume = by_action("DELETE /scaling/policies/{agent_type}/pause");
    assert_eq!((resume["before"]["reason"].as_str(), &resume["after"]), (Some("load test"), &Value::Null));
    let mark = by_action("PUT /regions/{region}/health");
    assert_eq!((&mark["before"], &mark["after"]["healthy"]), (&Value::Null, &json!(false)));
    let cleared = by_action("DELETE /regions/{region}/health");
    assert_eq!(cleared["before"]["reason"], "provider incident");
    let policy = by_action("PUT /scaling/policies/{agent_type}");
    assert_eq!((&policy["before"], &policy["after"]["version"]), (&Value::Null, &json!(1)));
    let deleted = by_action("DELETE /scaling/policies/{agent_type}");
    assert_eq!((&deleted["before"]["version"], &deleted["after"]), (&json!(1), &Value::Null));
    let forced = by_action("PUT /cost/emergency");
    assert_eq!(
        (&forced["before"]["emergency_mode"], &forced["after"]["emergency_mode"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(forced["after"]["operator_override"]["by"], SIGNER);
    let prices = by_action("PUT /cost/prices");
    assert!(prices["before"]["models"].is_array() && prices["after"]["models"].is_array(), "{prices}");
    let optimized = by_action("POST /cost/optimize");
    assert!(optimized["after"]["hourly_cost"].is_number() || optimized["after"].is_object(), "{optimized}");
}

#[tokio::test]
async fn every_operator_change_is_recorded_with_who_before_and_after() {
    let clock = integration_tests::test_clock();
    every_operator_change_is_recorded_on(Arc::new(MemoryStore::new(clock.clone())), clock).await;
}

#[tokio::test]
async fn dynamodb_takes_every_audit_entry() {
    let Some(endpoint) = integration_tests::dynamodb_endpoint("dynamodb_takes_every_audit_entry") else {
        return;
    };
    let clock = integration_tests::test_clock();
    let store = integration_tests::fresh_dynamo_store(&endpoint, clock.clone()).await;
    every_operator_change_is_recorded_on(Arc::new(store), clock).await;
}

#[tokio::test]
async fn the_trail_is_filtered_paged_and_bounded() {
    let clock = integration_tests::test_clock();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
    let router = api::router(api::AppState::new(store, clock.clone(), Config::default()));
    for i in 0..5 {
        let reason = json!({"reason": format!("pause {i}")});
        let (status, _) =
            call(&router, request("PUT", "/scaling/policies/detection/pause", Some(&reason))).await;
        assert_eq!(status, StatusCode::OK);
        clock.advance(chrono::Duration::seconds(10));
    }
    // Newest first, two at a time, until the cursor runs out.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/audit?limit=2&cursor={}", urlencode(c)),
            None => "/audit?limit=2".to_owned(),
        };
        let (status, page) = call(&router, request("GET", &path, None)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 2);
        seen.extend(entries.iter().map(|e| e["after"]["reason"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["pause 4", "pause 3", "pause 2", "pause 1", "pause 0"]);

    let since = (integration_tests::test_clock().now() + chrono::Duration::seconds(25)).to_rfc3339();
    let (_, recent) =
        call(&router, request("GET", &format!("/audit?since={}", urlencode(&since)), None)).await;
    assert_eq!(recent["entries"].as_array().unwrap().len(), 2, "{recent}");
    let (_, nobody) = call(&router, request("GET", "/audit?principal=arn:aws:iam::1:user/other", None)).await;
    assert_eq!(nobody["entries"], json!([]));
    let (_, by_signer) = call(
        &router,
        request("GET", &format!("/audit?principal={}&action=PUT%20/scaling", urlencode(SIGNER)), None),
    )
    .await;
    assert_eq!(by_signer["entries"].as_array().unwrap().len(), 5);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("since=yesterday", "since"),
        ("since=2027-01-15T09:00:00Z&until=2027-01-15T08:00:00Z", "since"),
        ("principal=", "principal"),
    ] {
        let (status, problem) = call(&router, request("GET", &format!("/audit?{query}"), None)).await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{query}"
        );
    }
    let long = "x".repeat(201);
    let (status, _) = call(&router, request("GET", &format!("/audit?cursor={long}"), None)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An operator's forced emergency holds until it expires, then spend decides again; the sweep
/// that finds it expired records so.
#[tokio::test]
async fn a_forced_emergency_expires() {
    let clock = integration_tests::test_clock();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
    let state = api::AppState::new(store, clock.clone(), Config::default());
    let router = api::router(state.clone());
    let force = json!({"emergency_mode": true, "reason": "known cost spike", "minutes": 30});
    let (status, forced) = call(&router, request("PUT", "/cost/emergency", Some(&force))).await;
    assert_eq!(status, StatusCode::OK, "{forced}");
    assert_eq!(
        (&forced["emergency_mode"], &forced["emergency_mode_from_spend"]),
        (&json!(true), &json!(false))
    );
    let control = state.fleet.cost_control().await.unwrap();
    assert!(
        shared::scaling::cost_gate::Spend::of(&control, clock.now()).emergency,
        "the cost gate sees it at once"
    );
    let report = state.sweeper.sweep(clock.now()).await.unwrap();
    assert!(report.emergency_mode, "a sweep keeps it while it lasts");

    clock.advance(chrono::Duration::minutes(31));
    let (_, after) = call(&router, request("GET", "/cost/emergency", None)).await;
    assert_eq!((&after["emergency_mode"], &after["operator_override"]), (&json!(false), &Value::Null));
    let report = state.sweeper.sweep(clock.now()).await.unwrap();
    assert!(!report.emergency_mode);
    assert!(
        report
            .actions
            .iter()
            .any(|a| matches!(a, shared::cost::control::ControlChange::OverrideExpired { reason }
            if reason.contains("known cost spike"))),
        "{:?}",
        report.actions
    );
    assert_eq!(state.fleet.cost_control().await.unwrap().operator_override, None, "the sweep dropped it");

    for (body, field) in [
        (json!({"emergency_mode": true, "reason": "", "minutes": 30}), "reason"),
        (json!({"emergency_mode": true, "reason": "x", "minutes": 0}), "minutes"),
        (json!({"emergency_mode": true, "reason": "x", "minutes": 1441}), "minutes"),
    ] {
        let (status, problem) = call(&router, request("PUT", "/cost/emergency", Some(&body))).await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}"
        );
    }
}
