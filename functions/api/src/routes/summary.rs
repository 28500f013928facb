//! `GET /summary`: every read the dashboard shows, in one request. An open dashboard polls every
//! few seconds; as seven requests that was seven Lambda invocations (and seven API Gateway
//! requests) per poll, as one it is one. Each part is what its own route answers (the same
//! handler, run inside this request against the same store, concurrently), so the parts cannot
//! drift from the routes; a part whose read failed is in `problems` with its problem document
//! while the others are still answered.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::Extension;
use axum::http::Request;
use axum::{Json, Router};
use futures::future::join_all;
use http_body_util::BodyExt;
use serde::Serialize;
use serde_json::Value;
use tower::ServiceExt;
use utoipa::ToSchema;

/// The parts and the route each comes from, as the dashboard reads them.
pub const PARTS: &[(&str, &str)] = &[
    ("status", "/scaling/status"),
    ("regions", "/regions"),
    ("cost", "/cost/report?hours=24&limit=1"),
    ("warming", "/warming/status"),
    ("recommendations", "/performance/recommendations"),
    ("emergency", "/cost/emergency"),
    ("audit", "/audit?limit=8"),
];

/// A part only a stack whose control plane runs in several regions has: which region acts.
pub const CONTROL_PLANE: (&str, &str) = ("control_plane", "/control-plane");

/// The routes the parts are read from (the API's own, without its outer layers: the summary
/// request already runs inside them), given their state on the first summary, not at the
/// container's start (that converts every route again, which a cold start need not pay).
#[derive(Debug, Clone)]
pub struct Reads {
    routes: Router<crate::AppState>,
    state: crate::AppState,
    ready: Arc<OnceLock<Router>>,
}

impl Reads {
    pub fn new(routes: Router<crate::AppState>, state: crate::AppState) -> Self {
        Self { routes, state, ready: Arc::default() }
    }

    fn router(&self) -> Router {
        self.ready.get_or_init(|| self.routes.clone().with_state(self.state.clone())).clone()
    }
}

/// One answer per part: the part's body, or its problem.
#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    /// Each part that was read, by name (`status`, `regions`, `cost`, `warming`,
    /// `recommendations`, `emergency`, `audit`): what `GET /scaling/status`, `GET /regions`,
    /// `GET /cost/report?hours=24&limit=1`, `GET /warming/status`,
    /// `GET /performance/recommendations`, `GET /cost/emergency` and `GET /audit?limit=8` answer;
    /// and, where the control plane runs in several regions, `control_plane` (`GET /control-plane`).
    #[schema(value_type = BTreeMap<String, Object>)]
    pub parts: BTreeMap<&'static str, Value>,
    /// Each part whose read failed, by name: its problem document.
    #[schema(value_type = BTreeMap<String, crate::Problem>)]
    pub problems: BTreeMap<&'static str, Value>,
}

/// Every read the dashboard shows, in one request.
#[utoipa::path(get, path = "/summary", tag = "meta",
    responses(
        (status = 200, body = Summary),
    ))]
pub async fn summary(Extension(reads): Extension<Reads>) -> Json<Summary> {
    let routes = reads.router();
    let several_regions = reads.state.leadership.is_some();
    let parts = PARTS.iter().chain(several_regions.then_some(&CONTROL_PLANE));
    let answers = join_all(parts.map(|&(name, path)| {
        let routes = routes.clone();
        async move { (name, read(routes, path).await) }
    }))
    .await;
    let mut summary = Summary { parts: BTreeMap::new(), problems: BTreeMap::new() };
    for (name, (ok, body)) in answers {
        if ok {
            summary.parts.insert(name, body)
        } else {
            summary.problems.insert(name, body)
        };
    }
    Json(summary)
}

/// What `GET path` answers: whether it succeeded, and its JSON body.
async fn read(routes: Router, path: &str) -> (bool, Value) {
    let request = Request::get(path).body(Body::empty()).unwrap_or_default();
    let Ok(response) = routes.oneshot(request).await;
    let ok = response.status().is_success();
    let status = response.status().as_u16();
    match response.into_body().collect().await.map(|b| serde_json::from_slice::<Value>(&b.to_bytes())) {
        Ok(Ok(body)) => (ok, body),
        _ => (
            false,
            serde_json::json!({"type": "about:blank", "title": "unreadable answer", "status": status,
                               "detail": format!("{path} did not answer JSON"), "code": "internal"}),
        ),
    }
}
