//! The API reference as Markdown, rendered from the OpenAPI document so the two cannot drift:
//! `docs/api-reference.md` is this function's output, and a test fails when it is stale.

use std::fmt::Write as _;

use serde_json::Value;
use utoipa::OpenApi as _;

/// The reference of the API this crate serves.
pub fn markdown() -> String {
    let doc = serde_json::to_value(crate::openapi::ApiDoc::openapi()).unwrap_or_default();
    render(&doc)
}

/// Renders an OpenAPI 3.1 document: every operation (parameters, body, answers), then every schema
/// (fields, types, bounds).
pub fn render(doc: &Value) -> String {
    let mut out = String::new();
    let title = doc.pointer("/info/title").and_then(Value::as_str).unwrap_or("API");
    let version = doc.pointer("/info/version").and_then(Value::as_str).unwrap_or("");
    let _ = writeln!(out, "# {title} {version}: reference\n");
    out.push_str(
        "Generated from the OpenAPI document the api serves at `GET /openapi.json` \
         (`cargo test -p api --test it api_reference` checks it is current; \
         `UPDATE_API_REFERENCE=1` on that command rewrites it). Concepts, errors and limits: \
         [api.md](api.md).\n\n",
    );
    out.push_str("## Operations\n\n");
    let paths = doc.get("paths").and_then(Value::as_object).cloned().unwrap_or_default();
    for (path, item) in &paths {
        for method in ["get", "put", "post", "delete", "patch"] {
            if let Some(op) = item.get(method) {
                operation(&mut out, method, path, op);
            }
        }
    }
    out.push_str("## Schemas\n\n");
    let schemas = doc.pointer("/components/schemas").and_then(Value::as_object).cloned().unwrap_or_default();
    for (name, schema) in &schemas {
        schema_section(&mut out, name, schema);
    }
    out
}

fn operation(out: &mut String, method: &str, path: &str, op: &Value) {
    let _ = writeln!(out, "### `{} {path}`\n", method.to_ascii_uppercase());
    if let Some(text) = op.get("description").or_else(|| op.get("summary")).and_then(Value::as_str) {
        let _ = writeln!(out, "{}\n", one_paragraph(text));
    }
    if let Some(params) = op.get("parameters").and_then(Value::as_array).filter(|p| !p.is_empty()) {
        out.push_str(
            "| parameter | in | required | type | constraints | description |\n|---|---|---|---|---|---|\n",
        );
        for p in params {
            let schema = p.get("schema").unwrap_or(&Value::Null);
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                str_of(p, "/name"),
                str_of(p, "/in"),
                if p.get("required").and_then(Value::as_bool).unwrap_or(false) { "yes" } else { "no" },
                type_of(schema),
                constraints(schema),
                cell(str_of(p, "/description")),
            );
        }
        out.push('\n');
    }
    if let Some(content) = op.pointer("/requestBody/content").and_then(Value::as_object) {
        for (media, body) in content {
            let _ =
                writeln!(out, "Body (`{media}`): {}\n", type_of(body.get("schema").unwrap_or(&Value::Null)));
        }
    }
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        out.push_str("| status | answer | description |\n|---|---|---|\n");
        for (status, response) in responses {
            let answer = response
                .get("content")
                .and_then(Value::as_object)
                .map(|c| {
                    c.iter()
                        .map(|(media, m)| {
                            let schema = m.get("schema").map(type_of).unwrap_or_default();
                            if schema.is_empty() {
                                format!("`{media}`")
                            } else {
                                format!("{schema} (`{media}`)")
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let _ = writeln!(out, "| {status} | {answer} | {} |", cell(str_of(response, "/description")));
        }
        out.push('\n');
    }
}

fn schema_section(out: &mut String, name: &str, schema: &Value) {
    let _ = writeln!(out, "### {name}\n");
    if let Some(text) = schema.get("description").and_then(Value::as_str) {
        let _ = writeln!(out, "{}\n", one_paragraph(text));
    }
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        let _ = writeln!(out, "{}\n", type_of(schema));
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("| field | type | required | constraints | description |\n|---|---|---|---|---|\n");
    for (field, property) in properties {
        let _ = writeln!(
            out,
            "| `{field}` | {} | {} | {} | {} |",
            type_of(property),
            if required.contains(&field.as_str()) { "yes" } else { "no" },
            constraints(property),
            cell(str_of(property, "/description")),
        );
    }
    out.push('\n');
}

/// A schema's type in a few words: a link to a named schema, `array of ...`, `one of ...`.
fn type_of(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("[{name}](#{})", name.to_ascii_lowercase());
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(parts) = schema.get(combinator).and_then(Value::as_array) {
            let kinds: Vec<String> = parts.iter().map(type_of).filter(|k| k != "null").collect();
            let nullable = parts.iter().any(|p| p.get("type").and_then(Value::as_str) == Some("null"));
            let joined = kinds.join(" or ");
            return if nullable { format!("{joined} or null") } else { joined };
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values
            .iter()
            .map(|v| format!("`{}`", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect();
        return format!("one of {}", values.join(", "));
    }
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" or "),
        _ if schema.get("properties").is_some() => "object".into(),
        _ => String::new(),
    };
    if kind.starts_with("array") {
        let items = schema.get("items").map(type_of).unwrap_or_default();
        return format!("{kind} of {items}");
    }
    if kind == "object"
        && let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object())
    {
        return format!("map of {}", type_of(values));
    }
    kind
}

/// Bounds, lengths, patterns and formats the document states.
fn constraints(schema: &Value) -> String {
    let mut parts = Vec::new();
    for (key, label) in [
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
        ("minLength", "length >="),
        ("maxLength", "length <="),
        ("minItems", "items >="),
        ("maxItems", "items <="),
    ] {
        if let Some(v) = schema.get(key) {
            parts.push(format!("{label} {v}"));
        }
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        parts.push(format!("pattern `{}`", pattern.replace('|', "\\|")));
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str) {
        parts.push(format!("format {format}"));
    }
    parts.join("; ")
}

fn str_of<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Text fit for one table cell.
fn cell(text: &str) -> String {
    one_paragraph(text).replace('|', "\\|")
}

fn one_paragraph(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
