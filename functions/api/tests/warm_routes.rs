//! `POST /lambda/warm` without a reachable Lambda API (as in `commander serve` with no endpoint).

#![allow(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

use axum::http::{Method, StatusCode};
use serde_json::json;

mod common;

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
