use axum::Json;
use axum::extract::State;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::AppState;
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
        routes::policies::delete,
        routes::pause::pause,
        routes::pause::resume,
        routes::optimize::optimize,
        routes::replay::replay,
        routes::regions::list,
        routes::regions::set_health,
        routes::regions::clear_health,
        routes::replicas::heartbeat,
        routes::replicas::drain,
        routes::replicas::deregister,
        routes::selection::select,
        routes::selection::release,
        routes::cost::prices,
        routes::cost::put_prices,
        routes::cost::optimize,
        routes::cost::report,
        routes::emergency::status,
        routes::emergency::put,
        routes::emergency::clear,
        routes::audit::list,
        routes::usage::record,
        routes::models::select,
        routes::models::report,
        routes::warm::warm,
        routes::warm::status,
        routes::performance::metrics,
        routes::performance::recommendations,
        routes::summary::summary,
        routes::control_plane::status,
        routes::control_plane::promote,
        document,
    ),
    components(schemas(crate::Problem)),
    modifiers(&Common),
    tags(
        (name = "health"), (name = "scaling"), (name = "regions"), (name = "replicas"), (name = "cost"), (name = "warming"), (name = "performance"), (name = "audit"), (name = "control-plane"), (name = "meta"),
    )
)]
pub struct ApiDoc;

/// What every route shares, added once instead of on each handler: the answers to a body that is
/// not JSON (415) or too large (413), to a malformed body or parameter (400), and to a store that
/// is away or a request out of time (503, with `Retry-After`), unless a handler says more about
/// them; a description for every response that has none (OpenAPI requires
/// one; the status's reason phrase says enough where the handler said nothing), and operation ids
/// unique by method and path. Also lets a policy as shown carry the fields the view adds
/// beside it (the policy's own schema refuses unknown fields, which is right for input and wrong
/// for a view that flattens it).
#[derive(Debug)]
struct Common;

impl Modify for Common {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
                )
                .build()
        };
        for (path, item) in &mut doc.paths.paths {
            let operations = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("patch", &mut item.patch),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                add_body_problems(operation, &problem);
                add_common_problems(operation, &problem);
                describe_responses(operation);
                // Handler names repeat across modules (`report`, `select`, `optimize`); the
                // method and path never do.
                operation.operation_id = Some(operation_id(method, path));
            }
        }
        if let Some(components) = doc.components.as_mut()
            && let Some(RefOr::T(Schema::Object(policy))) = components.schemas.get_mut("ScalingPolicy")
        {
            policy.additional_properties = None;
        }
    }
}

fn add_body_problems(operation: &mut Operation, problem: &impl Fn(&str) -> utoipa::openapi::Response) {
    if operation.request_body.is_none() {
        return;
    }
    let responses = &mut operation.responses.responses;
    responses
        .entry("413".into())
        .or_insert_with(|| RefOr::T(problem("The body is larger than the API accepts")));
    responses
        .entry("415".into())
        .or_insert_with(|| RefOr::T(problem("The body is not sent as application/json")));
}

/// 400 wherever the request carries input, 503 everywhere: any request may find the store away
/// or run out of its time.
fn add_common_problems(operation: &mut Operation, problem: &impl Fn(&str) -> utoipa::openapi::Response) {
    let has_input =
        operation.request_body.is_some() || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let responses = &mut operation.responses.responses;
    if has_input {
        responses.entry("400".into()).or_insert_with(|| {
            RefOr::T(problem("Malformed JSON, wrong types, unknown fields or a malformed parameter"))
        });
    }
    responses.entry("503".into()).or_insert_with(|| {
        let mut unavailable = problem(
            "The store is unavailable (Retry-After: 5) or the request ran out of its time (Retry-After: 1)",
        );
        let retry_after = utoipa::openapi::HeaderBuilder::new()
            .schema(Some(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::Integer)))
            .description(Some("Seconds to wait"))
            .build();
        unavailable.headers.insert("Retry-After".into(), RefOr::T(retry_after));
        RefOr::T(unavailable)
    });
}

/// `get_scaling_policies_agent_type` for `GET /scaling/policies/{agent_type}`.
fn operation_id(method: &str, path: &str) -> String {
    let words = path.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty());
    std::iter::once(method).chain(words).collect::<Vec<_>>().join("_")
}

fn describe_responses(operation: &mut Operation) {
    for (status, response) in &mut operation.responses.responses {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            let reason = status
                .parse::<u16>()
                .ok()
                .and_then(|code| axum::http::StatusCode::from_u16(code).ok())
                .and_then(|code| code.canonical_reason());
            reason.unwrap_or("Response").clone_into(&mut response.description);
        }
    }
}

/// The pattern of an AWS region code, as `Region::parse` holds codes to it; the annotations
/// state it literally (an attribute takes no constant) and a test checks they agree.
pub const REGION_PATTERN: &str = "^[a-z]{2}-(gov-|iso-|isob-|isof-)?(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9][0-9]?$";

/// This document, as this deployment serves it: every region a caller may name is listed as
/// well (the fleet's regions; any other well-formed code is refused), so what the document allows
/// is what the API takes.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn document(State(state): State<AppState>) -> Json<serde_json::Value> {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let regions: Vec<serde_json::Value> = state.config.regions.iter().map(|r| r.to_string().into()).collect();
    list_regions(&mut doc, &regions);
    Json(doc)
}

/// Adds `enum: regions` to every schema that states [`REGION_PATTERN`].
fn list_regions(value: &mut serde_json::Value, regions: &[serde_json::Value]) {
    match value {
        serde_json::Value::Object(map) => {
            if map.get("pattern").and_then(serde_json::Value::as_str) == Some(REGION_PATTERN) {
                map.insert("enum".into(), regions.into());
            }
            map.values_mut().for_each(|v| list_regions(v, regions));
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| list_regions(v, regions)),
        _ => {}
    }
}
