//! Every answer names its request: API Gateway's request id in Lambda, a fresh one otherwise.

use axum::http::StatusCode;
use tower::ServiceExt;

/// The real API Gateway v2 sample event, sent to a route that does not exist.
fn gateway_request(path: &str) -> lambda_http::Request {
    let mut event = integration_tests::fixture("apigw-v2-get-scaling-status.json");
    event["rawPath"] = path.into();
    event["requestContext"]["http"]["path"] = path.into();
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

async fn answer(request: lambda_http::Request) -> (StatusCode, Option<String>, serde_json::Value) {
    let router = crate::common::app().router;
    let (parts, body) = request.into_parts();
    let request = axum::http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()));
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let header = response.headers().get(api::request_id::HEADER).map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, header, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[tokio::test]
async fn a_problem_names_api_gateways_request() {
    let (status, header, problem) = answer(gateway_request("/no/such/route")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(header.as_deref(), Some("JKJaXmPLvHcESHA="), "the header carries the gateway's id");
    assert_eq!(problem["request_id"], "JKJaXmPLvHcESHA=", "{problem}");
    assert_eq!(problem["code"], "not_found", "the rest of the problem is intact: {problem}");
}

#[tokio::test]
async fn without_a_gateway_each_request_gets_its_own_id() {
    let plain = || axum::http::Request::get("/no/such/route").body(lambda_http::Body::Empty).unwrap();
    let (_, first_header, first) = answer(plain()).await;
    let (_, _, second) = answer(plain()).await;
    let first_id = first["request_id"].as_str().expect("an id").to_owned();
    assert_eq!(first_header.as_deref(), Some(first_id.as_str()));
    assert_ne!(first["request_id"], second["request_id"]);
    let (status, header, _) = answer(gateway_request("/health")).await;
    assert_eq!(
        (status, header.as_deref()),
        (StatusCode::OK, Some("JKJaXmPLvHcESHA=")),
        "successes carry it too"
    );
}

/// A panic in a handler (here, in the store under `GET /health`, once) is a bug, never the
/// caller's doing: a 500 problem that names its request, and the next request is served.
#[tokio::test]
async fn a_panic_answers_a_named_problem_and_the_next_request_is_served() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let clock = integration_tests::test_clock();
    let panicked = AtomicBool::new(false);
    let store = crate::common::Watched::new(clock.clone(), move |request, partition| {
        assert!(
            !(request == "get" && partition == "HEALTH" && !panicked.swap(true, Ordering::SeqCst)),
            "the store fell over"
        );
        Ok(())
    });
    let router = crate::common::app_on(std::sync::Arc::new(store), clock).router;
    let health = || axum::http::Request::get("/health").body(axum::body::Body::empty()).unwrap();
    let response = router.clone().oneshot(health()).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let header = response.headers().get(api::request_id::HEADER).map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(problem["status"], 500, "{problem}");
    assert_eq!(problem["code"], "internal_error", "{problem}");
    assert_eq!(problem["request_id"].as_str(), header.as_deref(), "{problem}");
    let next = router.oneshot(health()).await.unwrap();
    assert_eq!(next.status(), StatusCode::OK);
}
