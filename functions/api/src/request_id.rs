//! Every answer names its request: the `x-request-id` header on each response, and `request_id`
//! in each problem document, so a caller's report leads to the log lines of that request. In
//! Lambda it is API Gateway's request id (the one in its access log); under `commander serve`,
//! a fresh one.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use lambda_http::request::RequestContext;

/// The header that carries it.
pub const HEADER: &str = "x-request-id";

/// Problem documents are small; a larger body is passed on as it is.
const MAX_PROBLEM_BYTES: usize = 64 * 1024;

/// The id of `request`: API Gateway's, else a new one.
fn of(request: &Request) -> String {
    let from_gateway = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        Some(RequestContext::ApiGatewayV1(context)) => context.request_id.clone(),
        _ => None,
    };
    from_gateway
        .filter(|id| !id.is_empty() && id.len() <= 128)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The request's id, for the layers and handlers inside (the audit trail records it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Names `request` for the layers and handlers inside (the audit trail records it), and answers
/// its id for [`name_the_response`].
pub fn name_the_request(request: &mut Request) -> String {
    let id = of(request);
    request.extensions_mut().insert(RequestId(id.clone()));
    id
}

/// Names the response (its header) and, if it is a problem, its body.
pub async fn name_the_response(mut response: Response, id: String) -> Response {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        let (mut parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_PROBLEM_BYTES).await.unwrap_or_default();
        let named = match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(serde_json::Value::Object(mut problem)) => {
                problem.insert("request_id".into(), id.as_str().into());
                Bytes::from(serde_json::to_vec(&problem).unwrap_or_else(|_| bytes.to_vec()))
            }
            _ => bytes,
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        response = Response::from_parts(parts, Body::from(named));
    }
    // The id's own bytes become the header's (no copy), under a name made at compile time.
    if let Ok(value) = HeaderValue::from_maybe_shared(Bytes::from(id)) {
        response.headers_mut().insert(HeaderName::from_static(HEADER), value);
    }
    response
}
