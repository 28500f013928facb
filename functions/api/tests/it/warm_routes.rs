//! `POST /lambda/warm` without a reachable Lambda API (as in `commander serve` with no endpoint).

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common;

use common::{app, assert_refused, json_case};

#[tokio::test]
async fn says_plainly_that_nothing_is_reachable_and_reports_unknown_functions() {
    let app = app();
    let a = app.send(Method::POST, "/lambda/warm", None, Vec::new()).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["warming_triggered"], false);
    assert!(a.body["unreachable"].as_str().unwrap().starts_with("no target is reachable"));
    assert!(a.body["timestamp"].is_string());
    let listed = app.json(Method::POST, "/lambda/warm", &json!(["detection-agent", "no-such-fn"])).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(
        listed.body["results"]["no-such-fn"]["*"]["error"].as_str().unwrap().contains("not a configured")
    );
    let object =
        app.json(Method::POST, "/lambda/warm", &json!({"regions": ["us-east-1"], "concurrency": 2})).await;
    assert_eq!(object.status, StatusCode::OK);
    assert_eq!(object.body["successful_warmings"], 0);
}

#[tokio::test]
async fn bad_warm_requests_get_problems() {
    let app = app();
    let w =
        |name, body| json_case(name, Method::POST, "/lambda/warm", &body, StatusCode::UNPROCESSABLE_ENTITY);
    let bad = |name, body| json_case(name, Method::POST, "/lambda/warm", &body, StatusCode::BAD_REQUEST);
    assert_refused(
        &app,
        vec![
            w("no concurrency", json!({"concurrency": 0})),
            w("too much concurrency", json!({"concurrency": 1000})),
            bad("unknown field", json!({"functions": [], "warm": true})),
            bad("not names", json!([1, 2])),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_warming_status_lists_every_target_with_its_regions_zone() {
    let app = app();
    let a = app.get("/warming/status").await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let targets = a.body["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 20, "five agent functions in four regions");
    let first = &targets[0];
    assert_eq!(first["function"], "detection-agent");
    assert_eq!(first["region"], "us-east-1");
    assert_eq!(first["timezone"], "America/New_York");
    assert!(first["last_run"].is_null(), "never warmed");
    // 1_800_000_000 is 2027-01-15 08:00 UTC, a Friday: 03:00 in New York, 16:00 in Singapore.
    let in_window = |region: &str| {
        targets.iter().find(|t| t["region"] == region).map(|t| t["in_window"].as_bool().unwrap()).unwrap()
    };
    assert!(!in_window("us-east-1"));
    assert!(in_window("ap-southeast-1"));
    assert_eq!(
        app.send(Method::POST, "/warming/status", None, Vec::new()).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}
