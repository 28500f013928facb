use axum::Json;
use utoipa::OpenApi;

use crate::routes;

/// The OpenAPI 3.1 document, generated from the handlers' annotations so it cannot drift from them.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Incident Commander control plane", description = "Scaling, replicas, cost and health of the LLM-agent incident-response fleet. Every error is an RFC 9457 problem document."),
    paths(
        routes::health::health,
        routes::scaling::status,
        routes::policies::list,
        routes::policies::get,
        routes::policies::put,
        routes::optimize::optimize,
        routes::regions::list,
        routes::regions::set_health,
        routes::replicas::heartbeat,
        routes::selection::select,
        routes::selection::release,
        routes::cost::prices,
        routes::cost::put_prices,
        routes::cost::optimize,
        routes::cost::report,
        routes::usage::record,
        routes::models::select,
        routes::models::report,
        routes::warm::warm,
        routes::performance::metrics,
        routes::performance::recommendations,
        document,
    ),
    components(schemas(crate::Problem)),
    tags(
        (name = "health"), (name = "scaling"), (name = "regions"), (name = "replicas"), (name = "cost"), (name = "warming"), (name = "performance"), (name = "meta"),
    )
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
