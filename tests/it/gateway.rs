//! Requests as API Gateway delivers them to the api: the real HTTP API (v2) sample event, signed
//! by its IAM user (`arn:aws:iam::1234567890:user/Admin`), turned into the request the router
//! sees exactly as lambda_http does in Lambda.

use axum::http::StatusCode;
use serde_json::Value;
use tower::ServiceExt;

/// The principal of the sample event.
pub const SIGNER: &str = "arn:aws:iam::1234567890:user/Admin";

/// `method path` with `body`, under a request id of its own.
pub fn request(method: &str, path: &str, body: Option<&Value>) -> axum::http::Request<axum::body::Body> {
    let mut event = integration_tests::fixture("apigw-v2-post-heartbeat.json");
    let (path_only, query) = path.split_once('?').unwrap_or((path, ""));
    event["routeKey"] = format!("{method} {path_only}").into();
    event["rawPath"] = path_only.into();
    event["rawQueryString"] = query.into();
    event["requestContext"]["http"]["method"] = method.into();
    event["requestContext"]["http"]["path"] = path_only.into();
    event["requestContext"]["requestId"] = uuid::Uuid::new_v4().to_string().into();
    event["body"] = body.map_or(Value::Null, |b| b.to_string().into());
    let (parts, body) = lambda_http::request::from_str(&event.to_string()).unwrap().into_parts();
    axum::http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()))
}

/// Sends `request` through `router`: the status and the JSON body (null if not JSON).
pub async fn call(
    router: &axum::Router,
    request: axum::http::Request<axum::body::Body>,
) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}
