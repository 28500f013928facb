//! The suite's HTTP API: one axum Router, served by lambda_http behind API Gateway and by
//! `commander serve` locally. Handlers only translate HTTP; the work is in `shared`.

pub mod access;
mod audit;
pub mod caller;
mod dashboard;
mod extract;
pub mod lambda;
mod openapi;
mod problem;
pub mod reference;
pub mod request_id;
mod routes;
mod snapshot;
mod state;

use std::any::Any;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};

pub use dashboard::CONTENT_SECURITY_POLICY;
pub use openapi::{ApiDoc, REGION_PATTERN};
pub use problem::{ApiError, Problem};
pub use state::{AppState, Services};

/// Bodies above this size are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The longest a request may run: well inside the api's 15 s function timeout (and API
/// Gateway's 30 s), so a slow store or AWS call ends as a clean 503 problem the caller can
/// retry, not as a timeout with no answer. Inside Lambda, never past the invocation's own
/// deadline less [`DEADLINE_MARGIN`].
pub const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);
/// Kept back from the invocation's deadline for writing the answer.
const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether the Router writes an access-log line per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessLog {
    /// None: in Lambda, API Gateway's access log already has one line per request (caller,
    /// request id, route, status, latencies) and a second line here would be a paid CloudWatch
    /// Logs line per request; under `commander serve`, the default, as it costs throughput.
    #[default]
    Off,
    /// One INFO line per request (method, path, status, latency) inside a span that names it:
    /// `commander serve --access-log`.
    On,
}

/// Every route of the API, without an access log (see [`AccessLog`]).
pub fn router(state: AppState) -> Router {
    router_with(state, AccessLog::Off)
}

/// Every route of the API, with or without an access log.
pub fn router_with(state: AppState, access_log: AccessLog) -> Router {
    let app = Router::new()
        .route("/", get(dashboard::page))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/dashboard.css", get(dashboard::style))
        .route("/dashboard/dashboard.js", get(dashboard::script))
        .route("/health", get(routes::health::health))
        .route("/audit", get(routes::audit::list))
        .route("/scaling/status", get(routes::scaling::status))
        .route("/scaling/policies", get(routes::policies::list))
        .route(
            "/scaling/policies/{agent_type}",
            get(routes::policies::get).put(routes::policies::put).delete(routes::policies::delete),
        )
        .route(
            "/scaling/policies/{agent_type}/pause",
            put(routes::pause::pause).delete(routes::pause::resume),
        )
        .route("/scaling/optimize", post(routes::optimize::optimize))
        .route("/scaling/replay", post(routes::replay::replay))
        .route("/regions", get(routes::regions::list))
        .route(
            "/regions/{region}/health",
            put(routes::regions::set_health).delete(routes::regions::clear_health),
        )
        .route("/replicas/heartbeat", post(routes::replicas::heartbeat))
        .route("/replicas/drain", post(routes::replicas::drain))
        .route("/replicas/deregister", post(routes::replicas::deregister))
        .route("/replicas/select", post(routes::selection::select))
        .route("/replicas/release", post(routes::selection::release))
        .route("/cost/prices", get(routes::cost::prices).put(routes::cost::put_prices))
        .route(
            "/cost/emergency",
            get(routes::emergency::status).put(routes::emergency::put).delete(routes::emergency::clear),
        )
        .route("/cost/optimize", post(routes::cost::optimize))
        .route("/cost/report", get(routes::cost::report))
        .route("/usage", post(routes::usage::record))
        .route("/models/select", post(routes::models::select))
        .route("/models/report", post(routes::models::report))
        .route("/lambda/warm", post(routes::warm::warm))
        .route("/warming/status", get(routes::warm::status))
        .route("/performance/metrics", get(routes::performance::metrics))
        .route("/performance/recommendations", get(routes::performance::recommendations))
        .route("/control-plane", get(routes::control_plane::status))
        .route("/control-plane/promote", post(routes::control_plane::promote))
        .route("/openapi.json", get(openapi::document));
    // The summary reads the other routes themselves (without the layers below, inside which the
    // summary request itself runs).
    let reads = routes::summary::Reads::new(app.clone(), state.clone());
    let app = app
        .route("/summary", get(routes::summary::summary).layer(axum::Extension(reads)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    // The layers go around the whole router, not (as `Router::layer` puts them) around each
    // route: a layered route is cloned, box by nested box, for every request it serves, which
    // made about 40 of a `GET /health`'s 80 allocations.
    let layered = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(state.clone(), envelope))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .service(app.with_state(state));
    let app = Router::new().fallback_service(layered);
    match access_log {
        AccessLog::Off => app,
        // One access-log line per request, in a span around all of it (the line shows the
        // request id the envelope put on the answer).
        AccessLog::On => app.layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        ),
    }
}

/// What every request passes through, in one layer (each layer of its own costs a boxed future
/// and a clone of the route's service stack per request, and moves of the futures nested in it,
/// a large share of a cheap request's time): its name (the `x-request-id` of the answer and of
/// a problem's body), its deadline, a panic caught and answered as a problem, the audit trail
/// of changes, the performance figures' flush after it, and the status snapshot dropped after
/// a write.
async fn envelope(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = request_id::name_the_request(&mut request);
    let reads_only = matches!(*request.method(), axum::http::Method::GET | axum::http::Method::HEAD);
    let budget = deadline_budget(&request);
    let audited = audit::record(axum::extract::State(state.clone()), request, next);
    // This container's performance figures go to the table after the request if a minute has
    // passed (or an earlier flush left writes behind), on their own task, so the response never
    // waits for them (and a failing flush backs off instead of retrying on every request).
    let guarded = AssertUnwindSafe(state.performance.after_in_background(audited)).catch_unwind();
    let response = match tokio::time::timeout(budget, guarded).await {
        Ok(Ok(response)) => response,
        Ok(Err(payload)) => panicked(payload),
        Err(_) => {
            tracing::warn!(budget_ms = budget.as_millis(), "a request ran out of time");
            ApiError::Retry(
                format!(
                    "the request did not finish within {} ms (the state store or AWS is slow); retry",
                    budget.as_millis()
                ),
                1,
            )
            .into_response()
        }
    };
    // After anything that may write (whatever it answered, and also when it ran out of time or
    // panicked: the write may have landed), this container's next status read takes a new
    // snapshot.
    if !reads_only {
        state.status_snapshot.invalidate();
    }
    request_id::name_the_response(response, id).await
}

/// How long a request may run: [`REQUEST_DEADLINE`], or less when the invocation's own deadline
/// (less a margin for the answer) comes sooner.
fn deadline_budget(request: &axum::extract::Request) -> std::time::Duration {
    request
        .extensions()
        .get::<lambda_http::Context>()
        .and_then(|context| {
            let deadline = std::time::UNIX_EPOCH + std::time::Duration::from_millis(context.deadline);
            deadline.duration_since(std::time::SystemTime::now()).ok()
        })
        .map_or(REQUEST_DEADLINE, |left| left.saturating_sub(DEADLINE_MARGIN).min(REQUEST_DEADLINE))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// A panic is a bug, never the caller's doing: log it, answer a plain 500 problem.
#[allow(clippy::needless_pass_by_value, reason = "catch_unwind hands the payload over by value")]
fn panicked(payload: Box<dyn Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    ApiError::Internal(format!("handler panicked: {message}")).into_response()
}
