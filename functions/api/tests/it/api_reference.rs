//! `docs/api-reference.md` is the OpenAPI document rendered: it must be the current one.

use serde_json::json;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api-reference.md");

#[test]
fn the_reference_in_docs_is_the_served_document_rendered() {
    let rendered = api::reference::markdown();
    if std::env::var_os("UPDATE_API_REFERENCE").is_some() {
        std::fs::write(PATH, &rendered).unwrap();
    }
    let stored = std::fs::read_to_string(PATH).unwrap_or_default();
    assert!(
        stored == rendered,
        "docs/api-reference.md is stale: run `UPDATE_API_REFERENCE=1 cargo test -p api --test it api_reference`"
    );
    for route in
        ["### `GET /scaling/status`", "### `POST /replicas/select`", "### `DELETE /regions/{region}/health`"]
    {
        assert!(rendered.contains(route), "{route}");
    }
}

#[test]
fn operations_and_schemas_show_their_constraints() {
    let doc = json!({
        "info": {"title": "T", "version": "1"},
        "paths": {"/things/{id}": {"put": {
            "description": "Replaces\n a thing.",
            "parameters": [{"name": "id", "in": "path", "required": true,
                            "schema": {"type": "string", "maxLength": 64, "pattern": "^[a-z]+$"}}],
            "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
            "responses": {"200": {"description": "Done", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                          "422": {"description": "A bound | broken"}}}}},
        "components": {"schemas": {"Thing": {"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 1, "maximum": 10, "description": "How big"},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 4}}}}}
    });
    let md = api::reference::render(&doc);
    for expected in [
        "### `PUT /things/{id}`",
        "Replaces a thing.",
        "| `id` | path | yes | string | length <= 64; pattern `^[a-z]+$` |  |",
        "Body (`application/json`): [Thing](#thing)",
        "| 200 | [Thing](#thing) (`application/json`) | Done |",
        "| 422 |  | A bound \\| broken |",
        "| `size` | integer | yes | >= 1; <= 10 | How big |",
        "| `kind` | one of `a`, `b` | no |  |  |",
        "| `tags` | array of string | no | items <= 4 |  |",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
}

/// The region pattern the document states accepts exactly the codes `Region::parse` does, so a
/// caller validating against the document and the API agree.
#[test]
fn the_documented_region_pattern_is_the_apis_rule() {
    let doc = serde_json::to_value(<api::ApiDoc as utoipa::OpenApi>::openapi()).unwrap();
    let pattern = doc["paths"]["/regions/{region}/health"]["put"]["parameters"][0]["schema"]["pattern"]
        .as_str()
        .expect("the region parameter states its pattern")
        .to_owned();
    let schema = json!({"type": "string", "pattern": pattern});
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    for code in [
        "us-east-1",
        "eu-west-3",
        "ap-southeast-12",
        "us-gov-west-1",
        "cn-north-1",
        "us-iso-east-1",
        "US-east-1",
        "us-east-0",
        "us-east",
        "useast-1",
        "us-middle-1",
        "us-east-123",
        "",
        "us-gov-1",
    ] {
        let documented = validator.is_valid(&json!(code));
        let parsed = shared::domain::Region::parse(code).is_ok();
        assert_eq!(documented, parsed, "{code:?}");
    }
    assert_eq!(
        pattern,
        api::REGION_PATTERN,
        "the served document lists the fleet's regions where it states this"
    );
    let body = &doc["components"]["schemas"]["HeartbeatRequest"]["properties"]["region"]["pattern"];
    assert_eq!(body.as_str(), Some(pattern.as_str()), "bodies state the same rule");
    let selection = &doc["components"]["schemas"]["SelectRequest"]["properties"]["region"]["pattern"];
    assert_eq!(selection.as_str(), Some(pattern.as_str()), "bodies state the same rule");
}

/// The document a deployment serves lists its fleet's regions wherever a region is named.
#[tokio::test]
async fn the_served_document_lists_the_fleets_regions() {
    let answer = crate::common::app().get("/openapi.json").await;
    let doc = answer.body;
    let fleet: Vec<String> =
        shared::config::Config::default().regions.iter().map(ToString::to_string).collect();
    let listed = |v: &serde_json::Value| -> Vec<String> {
        v["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("no enum in {v}"))
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    };
    let path_param = &doc["paths"]["/regions/{region}/health"]["delete"]["parameters"][0]["schema"];
    assert_eq!(listed(path_param), fleet);
    assert_eq!(listed(&doc["components"]["schemas"]["HeartbeatRequest"]["properties"]["region"]), fleet);
}
