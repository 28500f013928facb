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
