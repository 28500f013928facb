//! Records each successful operator change in the audit trail (`shared::audit`): who (the
//! caller), what (the route and path), the value before and after, when, and the request id.
//! A route that knows the value before the change says so with a [`Change`] on its response;
//! otherwise what it answered is recorded as the value after.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponseParts, Response, ResponseParts};
use serde::Serialize;
use shared::audit::AuditEntry;

use crate::AppState;
use crate::access;
use crate::caller::Caller;
use crate::request_id::RequestId;

/// A response larger than this is recorded by its size only (its value would be too).
const MAX_RECORDED_RESPONSE: usize = shared::audit::MAX_VALUE_BYTES * 4;

/// The value a change replaced and the one it left, from the handler that made it.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl Change {
    /// `before` and `after` as JSON (a value that does not serialize is recorded as absent).
    pub fn of<B: Serialize, A: Serialize>(before: Option<&B>, after: Option<&A>) -> Self {
        Self {
            before: before.and_then(|b| serde_json::to_value(b).ok()),
            after: after.and_then(|a| serde_json::to_value(a).ok()),
        }
    }
}

impl IntoResponseParts for Change {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Self::Error> {
        parts.extensions_mut().insert(self);
        Ok(parts)
    }
}

/// Records a change made by an audited route; run by the api's one per-request layer, around the
/// router (the route is found from the request's path, as the router will match it).
pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // Reads are never audited: the hot paths pass without a look at the route table.
    if request.method() == axum::http::Method::GET {
        return next.run(request).await;
    }
    let route = access::route_of(request.method(), request.uri().path()).filter(|route| route.audited());
    let Some(route) = route else {
        return next.run(request).await;
    };
    let principal = Caller::of(request.extensions()).0;
    let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
    let target = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    if !response.status().is_success() {
        return response;
    }
    let change = response.extensions_mut().remove::<Change>();
    let (change, response) = if let Some(change) = change {
        (change, response)
    } else {
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        let after = if bytes.len() > MAX_RECORDED_RESPONSE {
            serde_json::json!({ "omitted": "larger than the audit trail keeps", "bytes": bytes.len() })
        } else {
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
        };
        (Change { before: None, after: Some(after) }, Response::from_parts(parts, Body::from(bytes)))
    };
    let entry = AuditEntry {
        at: state.clock.now(),
        principal,
        action: route.action(),
        target,
        status: response.status().as_u16(),
        request_id,
        before: change.before.map(AuditEntry::bounded),
        after: change.after.map(AuditEntry::bounded),
    };
    if let Err(error) = state.audit.record(&entry).await {
        // The change stands; its record must not vanish: the whole entry goes to the log, where
        // the function's log group keeps it.
        tracing::error!(%error, entry = %serde_json::to_string(&entry).unwrap_or_default(),
            "the audit trail refused an entry; it is recorded here instead");
    }
    response
}
