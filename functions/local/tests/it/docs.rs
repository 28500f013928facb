//! The docs name only what exists: every repository path (in a link, or in code spans), every
//! route (`GET /scaling/status`) and every `commander` subcommand that README.md and docs/*.md
//! mention is checked against the repository, the api's OpenAPI document and the CLI.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use clap::CommandFactory;
use serde_json::Value;
use shared::config::Config;
use shared::store::MemoryStore;
use tower::ServiceExt;

/// Top-level folders a repository path starts with.
const TOP: [&str; 8] = ["functions/", "shared/", "tests/", "docs/", "scripts/", "bench/", ".ci/", "target/"];
/// Routes served besides the api's document: `commander serve`'s alarm intake and the dashboard.
const EXTRA_ROUTES: [(&str, &str); 5] = [
    ("POST", "/local/alarms"),
    ("GET", "/"),
    ("GET", "/dashboard"),
    ("GET", "/dashboard/dashboard.css"),
    ("GET", "/dashboard/dashboard.js"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn documents() -> Vec<PathBuf> {
    let mut docs = vec![root().join("README.md"), root().join("BENCHMARKS.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    docs
}

/// The text outside fenced code blocks.
fn prose(text: &str) -> String {
    let mut fenced = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Inline code spans.
fn spans(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(|s| s.replace('\n', " ")).collect()
}

/// Targets of markdown links `[label](target)`.
fn links(text: &str) -> Vec<String> {
    text.match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &text[at + 2..];
            rest.find(')').map(|end| rest[..end].to_owned())
        })
        .collect()
}

async fn api_routes() -> Vec<(String, String)> {
    let clock = integration_tests::test_clock();
    let state = api::AppState::new(Arc::new(MemoryStore::new(clock.clone())), clock, Config::default());
    let request = Request::get("/openapi.json").body(Body::empty()).unwrap();
    let response = api::router(state).oneshot(request).await.unwrap();
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    let document: Value = serde_json::from_slice(&bytes).unwrap();
    let mut routes: Vec<(String, String)> =
        EXTRA_ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

/// A route as the docs write it matches a documented one: segment by segment, a `{param}` (on
/// either side) matches anything.
fn route_matches(doc: &str, known: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (doc.split('/').collect(), known.split('/').collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x == y || x.starts_with('{') || y.starts_with('{') || x.starts_with('<'))
}

fn path_like(span: &str) -> Option<&str> {
    let span = span.trim_end_matches([',', '.', ':']);
    let top_level = !span.contains('/') && std::fs::metadata(root().join(span)).is_ok();
    let plausible = TOP.iter().any(|t| span.starts_with(t))
        && !span.contains(['*', '<', '{', ' ', '$', '…'])
        && !span.starts_with("target/");
    (plausible || top_level).then_some(span)
}

#[tokio::test]
async fn the_docs_name_only_paths_routes_and_commands_that_exist() {
    let routes = api_routes().await;
    let cli = local::Cli::command();
    let mut missing = Vec::new();
    let mut checked = (0, 0, 0);
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let name = doc.strip_prefix(root()).unwrap_or(&doc).display().to_string();
        let text = prose(&text);
        for target in links(&text) {
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let file = target.split('#').next().unwrap();
            checked.0 += 1;
            if !doc.parent().unwrap().join(file).exists() {
                missing.push(format!("{name}: link to {target}, which does not exist"));
            }
        }
        for span in spans(&text) {
            let words: Vec<&str> = span.split_whitespace().collect();
            match words.as_slice() {
                // (`GET /*` is an IAM pattern, not a route.)
                [method @ ("GET" | "POST" | "PUT" | "DELETE"), path, ..]
                    if path.starts_with('/') && !path.contains('*') =>
                {
                    let path = path.split('?').next().unwrap().trim_end_matches([',', '.']);
                    checked.1 += 1;
                    if !routes.iter().any(|(m, p)| m == method && route_matches(path, p)) {
                        missing.push(format!("{name}: route {method} {path}, which the api does not serve"));
                    }
                }
                ["commander", first, rest @ ..] if !first.starts_with('-') => {
                    checked.2 += 1;
                    match cli.find_subcommand(first) {
                        None => missing.push(format!("{name}: `commander {first}`, which is no subcommand")),
                        Some(sub) if sub.has_subcommands() => {
                            if let Some(second) = rest.first().filter(|s| !s.starts_with('-'))
                                && sub.find_subcommand(second).is_none()
                            {
                                missing.push(format!(
                                    "{name}: `commander {first} {second}`, which is no subcommand"
                                ));
                            }
                        }
                        Some(_) => {}
                    }
                }
                _ => {
                    if let Some(path) = path_like(&span) {
                        checked.0 += 1;
                        if !root().join(path).exists() {
                            missing.push(format!("{name}: path {path}, which does not exist"));
                        }
                    }
                }
            }
        }
    }
    println!("checked {} paths, {} routes, {} commands", checked.0, checked.1, checked.2);
    assert!(
        checked.0 > 50 && checked.1 > 20 && checked.2 > 5,
        "the check found what it looks for: {checked:?}"
    );
    assert!(missing.is_empty(), "the docs name what does not exist:\n  {}", missing.join("\n  "));
}
