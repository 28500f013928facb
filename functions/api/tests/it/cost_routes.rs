//! The cost routes: prices in force and their override, usage intake, model selection and
//! cool-down, sweeps on demand and the stored report.

use axum::http::{Method, StatusCode};
use chrono::Duration;
use serde_json::{Value, json};

use crate::common;

use common::{app, assert_refused, case, json_case, with, without};

fn usage(model: &str, input: u64, output: u64) -> Value {
    json!({"model": model, "task_type": "diagnosis", "severity": "high",
           "input_tokens": input, "output_tokens": output, "latency_ms": 900})
}

fn select(task: &str, severity: &str) -> Value {
    json!({"task_type": task, "severity": severity})
}

#[tokio::test]
async fn prices_are_served_and_an_override_is_versioned() {
    let app = app();
    let a = app.get("/cost/prices").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!((a.body["source"].as_str(), a.body["version"].as_u64()), (Some("bundled"), Some(0)));
    assert_eq!(a.body["prices"]["price_as_of"], "2025-07-20");
    let mut table = a.body["prices"].clone();
    table["models"][6]["input_per_1k"] = json!(0.002);
    let put = app.json(Method::PUT, "/cost/prices", &json!({"prices": table, "version": 0})).await;
    assert_eq!(put.status, StatusCode::OK, "{:?}", put.body);
    assert_eq!(put.body["version"], 1);
    let now = app.get("/cost/prices").await;
    assert_eq!((now.body["source"].as_str(), now.body["version"].as_u64()), (Some("control_item"), Some(1)));
    assert_eq!(now.body["prices"]["models"][6]["input_per_1k"], 0.002);
    let stale = app.json(Method::PUT, "/cost/prices", &json!({"prices": table, "version": 0})).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    let mut broken = table.clone();
    broken["lambda"]["request_per_million"] = json!(-1);
    let bad = app.json(Method::PUT, "/cost/prices", &json!({"prices": broken, "version": 1})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["field"], "lambda.request_per_million");
}

#[tokio::test]
async fn usage_is_counted_and_swept_into_a_report() {
    let app = app();
    for _ in 0..4 {
        let a = app.json(Method::POST, "/usage", &usage("anthropic.claude-sonnet-4", 10_000, 2_000)).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    }
    let earlier = with(&usage("amazon.nova-lite", 1_000, 1_000), "timestamp", json!("2027-01-15T07:30:00Z"));
    assert_eq!(app.json(Method::POST, "/usage", &earlier).await.status, StatusCode::OK);
    app.clock.advance(Duration::minutes(30));
    let sweep = app.json(Method::POST, "/cost/optimize", &json!({})).await;
    assert_eq!(sweep.status, StatusCode::OK, "{:?}", sweep.body);
    let b = &sweep.body;
    assert!((b["cost_by_model"]["anthropic.claude-sonnet-4"].as_f64().unwrap() - 0.24).abs() < 1e-9);
    assert!(b["cost_by_service"]["llm"].as_f64().unwrap() > 0.24);
    for field in ["hourly_cost", "daily_projection", "cost_threshold"] {
        assert!(!b["current_metrics"][field].is_null(), "{field}");
    }
    assert_eq!(b["current_metrics"]["cost_threshold"], "low");
    assert!(b["recommendations"].is_array() && b["applied_optimizations"].is_array());
    assert!(b["potential_savings"].is_number() && b["timestamp"].is_string());
    assert_eq!(b["sources"]["missing"].as_array().unwrap().len(), 3, "local: no CloudWatch");
    let report = app.get("/cost/report?hours=2").await;
    assert_eq!(report.status, StatusCode::OK);
    assert_eq!(report.body["snapshots"].as_array().unwrap().len(), 1);
    assert_eq!(report.body["snapshots"][0]["timestamp"], b["timestamp"]);
    // The priced hours, oldest first: the previous hour whole, the current one as far as swept.
    let hourly = report.body["hourly"].as_array().unwrap();
    assert_eq!(hourly.len(), 2, "{hourly:?}");
    assert_eq!(hourly[0]["seconds"], 3600.0);
    assert!(hourly[1]["seconds"].as_f64().unwrap() < 3600.0);
    assert_eq!(hourly[1]["hour"], b["current_hour"]["start"]);
    assert!(
        (hourly[1]["cost"].as_f64().unwrap() - b["current_hour"]["total"].as_f64().unwrap()).abs() < 1e-9
    );
    assert_eq!(report.body["thresholds"]["high"], 100.0);
    assert_eq!(report.body["thresholds"]["emergency"], 1000.0);
    // One hour back leaves the previous hour out.
    assert_eq!(app.get("/cost/report?hours=1").await.body["hourly"].as_array().unwrap().len(), 1);

    app.clock.advance(Duration::minutes(15));
    app.json(Method::POST, "/cost/optimize", &json!({})).await;
    let latest = app.get("/cost/report?limit=1").await;
    let snapshots = latest.body["snapshots"].as_array().unwrap();
    assert_eq!(snapshots.len(), 1, "only the newest of two");
    assert_ne!(snapshots[0]["timestamp"], b["timestamp"]);
    assert_eq!(latest.body["truncated"], true);
    assert_eq!(app.get("/cost/report").await.body["snapshots"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn models_follow_severity_and_failing_ones_cool_down() {
    let app = app();
    let critical = app.json(Method::POST, "/models/select", &select("resolution", "critical")).await;
    assert_eq!(critical.status, StatusCode::OK, "{:?}", critical.body);
    assert!(critical.body["accuracy"].as_f64().unwrap() >= 0.92);
    assert_eq!(critical.body["mode"], "normal");
    let low = app.json(Method::POST, "/models/select", &select("communication", "low")).await;
    assert_eq!(low.body["model"], "amazon.nova-lite", "the cheapest model at >= 0.80: {:?}", low.body);
    let best = critical.body["model"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let r = app.json(Method::POST, "/models/report", &json!({"model": best, "ok": false})).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let cooled = app.json(Method::POST, "/models/select", &select("resolution", "critical")).await;
    assert_eq!(cooled.body["model"], critical.body["fallbacks"][0], "the first fallback takes over");
    // Cool every model that can serve critical work: nothing is left for a while.
    for model in critical.body["fallbacks"].as_array().unwrap() {
        for _ in 0..3 {
            app.json(Method::POST, "/models/report", &json!({"model": model, "ok": false})).await;
        }
    }
    let none = app.json(Method::POST, "/models/select", &select("resolution", "critical")).await;
    assert_eq!(none.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", none.body);
    assert_eq!(none.retry_after.as_deref(), Some("5"));
    app.clock.advance(Duration::seconds(6));
    let back = app.json(Method::POST, "/models/select", &select("resolution", "critical")).await;
    assert_eq!(back.body["model"], critical.body["model"], "cooled down, the best is back");
}

#[tokio::test]
async fn bad_cost_requests_get_problems() {
    let app = app();
    let good = usage("amazon.nova-pro", 10, 10);
    let pick = select("detection", "medium");
    let u = |name, body: Value, status| json_case(name, Method::POST, "/usage", &body, status);
    let m = |name, body: Value, status| json_case(name, Method::POST, "/models/select", &body, status);
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    assert_refused(
        &app,
        vec![
            u("unknown model", with(&good, "model", json!("gpt-4")), unprocessable),
            u("too many tokens", with(&good, "input_tokens", json!(10_000_001)), unprocessable),
            u("negative tokens", with(&good, "output_tokens", json!(-1)), StatusCode::BAD_REQUEST),
            u("bad task", with(&good, "task_type", json!("Diagnosis!")), StatusCode::BAD_REQUEST),
            u("future call", with(&good, "timestamp", json!("2099-01-01T00:00:00Z")), unprocessable),
            u("old call", with(&good, "timestamp", json!("2020-01-01T00:00:00Z")), unprocessable),
            u("latency", with(&good, "latency_ms", json!(-5)), unprocessable),
            u("no severity", without(&good, "severity"), StatusCode::BAD_REQUEST),
            u("extra field", with(&good, "cost", json!(1)), StatusCode::BAD_REQUEST),
            m("accuracy above 1", with(&pick, "required_accuracy", json!(1.5)), unprocessable),
            m("cap of zero", with(&pick, "max_cost_per_1k", json!(0)), unprocessable),
            m("no model that cheap", with(&pick, "max_cost_per_1k", json!(0.000_01)), unprocessable),
            m("no model that good", with(&pick, "required_accuracy", json!(0.999)), unprocessable),
            json_case(
                "report on an unknown model",
                Method::POST,
                "/models/report",
                &json!({"model": "gpt-4", "ok": true}),
                unprocessable,
            ),
            case("hours of zero", Method::GET, "/cost/report?hours=0", unprocessable),
            case("hours of a year", Method::GET, "/cost/report?hours=8760", unprocessable),
            case("hours as words", Method::GET, "/cost/report?hours=many", unprocessable),
            case("unknown parameter", Method::GET, "/cost/report?days=1", StatusCode::BAD_REQUEST),
            case("limit of zero", Method::GET, "/cost/report?limit=0", unprocessable),
            case("limit over 200", Method::GET, "/cost/report?limit=201", unprocessable),
            case("limit as words", Method::GET, "/cost/report?limit=one", unprocessable),
        ],
    )
    .await;
}
