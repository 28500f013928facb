//! The dashboard as the api serves it: the page and its two assets from the binary, locked to this
//! origin, and every API path its script calls answered by the same Router.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::common;

use common::app;

struct Served {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

async fn fetch(router: &axum::Router, method: Method, uri: &str) -> Served {
    let request = Request::builder().method(method).uri(uri).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Served { status, headers, text: String::from_utf8(bytes.to_vec()).unwrap() }
}

fn header(served: &Served, name: header::HeaderName) -> &str {
    served.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or_default()
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_from_the_binary_for_this_origin_only() {
    let app = app();
    let cases = [
        ("/", "text/html; charset=utf-8"),
        ("/dashboard", "text/html; charset=utf-8"),
        ("/dashboard/dashboard.css", "text/css; charset=utf-8"),
        ("/dashboard/dashboard.js", "text/javascript; charset=utf-8"),
    ];
    for (uri, content_type) in cases {
        let served = fetch(&app.router, Method::GET, uri).await;
        assert_eq!(served.status, StatusCode::OK, "{uri}");
        assert_eq!(header(&served, header::CONTENT_TYPE), content_type, "{uri}");
        assert_eq!(header(&served, header::CONTENT_SECURITY_POLICY), api::CONTENT_SECURITY_POLICY, "{uri}");
        assert_eq!(header(&served, header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{uri}");
        assert_eq!(header(&served, header::CACHE_CONTROL), "no-cache", "{uri}");
        // Nothing from elsewhere: no absolute or protocol-relative address but the SVG namespace.
        let text = served.text.replace("http://www.w3.org/2000/svg", "");
        for foreign in ["http://", "https://", "src=\"//", "href=\"//", "url(//"] {
            assert!(!text.contains(foreign), "{uri} refers to another origin ({foreign})");
        }
    }
    for directive in
        ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]
    {
        assert!(api::CONTENT_SECURITY_POLICY.contains(directive), "{directive}");
    }
    let page = fetch(&app.router, Method::GET, "/").await.text;
    assert!(page.contains(r#"<script src="dashboard/dashboard.js" defer></script>"#));
    assert!(page.contains(r#"<link rel="stylesheet" href="dashboard/dashboard.css">"#));
    assert!(
        !page.contains("<script>") && !page.contains(" style="),
        "no inline script or style for the policy to refuse"
    );
    assert_eq!(fetch(&app.router, Method::POST, "/").await.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(fetch(&app.router, Method::GET, "/dashboard/other.js").await.status, StatusCode::NOT_FOUND);
}

/// The quoted relative API paths the script reads (`path: "…"`) and acts on (`api("…"` or
/// ``api(`…` ``).
fn paths_called(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    for marker in ["path: \"", "api(\"", "api(`"] {
        for (i, _) in script.match_indices(marker) {
            let rest = &script[i + marker.len()..];
            let end = rest.find(['"', '`']).unwrap();
            out.push(rest[..end].to_owned());
        }
    }
    out
}

#[tokio::test]
async fn every_path_the_script_calls_is_a_route_of_this_api() {
    let app = app();
    let script = fetch(&app.router, Method::GET, "/dashboard/dashboard.js").await.text;
    let paths = paths_called(&script);
    for expected in [
        "summary",
        "scaling/status",
        "regions",
        "cost/report?hours=24&limit=1",
        "warming/status",
        "performance/recommendations",
        "scaling/optimize",
        "cost/optimize",
        "lambda/warm",
        "regions/${encodeURIComponent(region)}/health",
    ] {
        assert!(paths.iter().any(|p| p == expected), "the script calls {expected}: {paths:?}");
    }
    for path in paths {
        assert!(!path.starts_with('/'), "{path}: relative, so a stage prefix or proxy in front still works");
        let uri = format!("/{}", path.replace("${encodeURIComponent(region)}", "us-east-1"));
        let get = fetch(&app.router, Method::GET, &uri).await.status;
        let post = fetch(&app.router, Method::POST, &uri).await.status;
        let put = fetch(&app.router, Method::PUT, &uri).await.status;
        assert!(
            [get, post, put]
                .iter()
                .any(|s| *s != StatusCode::NOT_FOUND && *s != StatusCode::METHOD_NOT_ALLOWED),
            "{uri} is not a route ({get}, {post}, {put})"
        );
    }
}

fn json(served: &Served) -> serde_json::Value {
    serde_json::from_str(&served.text).unwrap_or_else(|e| panic!("{e}: {}", served.text))
}

/// One poll, one request: `GET /summary` carries each read the script names (its `READS`), each
/// part what its own route answers, and a part whose read failed as its problem beside the rest.
#[tokio::test]
async fn the_summary_is_every_read_of_the_dashboard_in_one_answer() {
    let clock = integration_tests::test_clock();
    // The store refuses the audit trail's reads, and only those.
    let store = common::Watched::new(clock.clone(), |request, partition| {
        if request == "query" && partition == shared::table::AUDIT {
            return Err(shared::store::StoreError::Unavailable { message: "throttled".into(), source: None });
        }
        Ok(())
    });
    let app = common::app_on(std::sync::Arc::new(store), clock);
    let summary = fetch(&app.router, Method::GET, "/summary").await;
    assert_eq!(summary.status, StatusCode::OK, "{}", summary.text);
    assert_eq!(header(&summary, header::CONTENT_TYPE), "application/json");
    let summary = json(&summary);

    let script = fetch(&app.router, Method::GET, "/dashboard/dashboard.js").await.text;
    let reads = script.split("const READS = {").nth(1).and_then(|r| r.split("};").next()).unwrap();
    let mut names: Vec<&str> =
        reads.lines().filter_map(|l| l.trim().split_once(": {")).map(|(name, _)| name).collect();
    names.sort_unstable();
    let mut answered: Vec<&str> = summary["parts"].as_object().unwrap().keys().map(String::as_str).collect();
    answered.extend(summary["problems"].as_object().unwrap().keys().map(String::as_str));
    answered.sort_unstable();
    assert_eq!(answered, names, "one answer for each read the script shows");

    let problem = &summary["problems"]["audit"];
    assert_eq!(
        (problem["status"].as_u64(), problem["code"].as_str()),
        (Some(503), Some("store_unavailable")),
        "{problem}"
    );
    assert!(summary["parts"].get("audit").is_none());
    for (part, path) in
        [("regions", "/regions"), ("emergency", "/cost/emergency"), ("warming", "/warming/status")]
    {
        let alone = json(&fetch(&app.router, Method::GET, path).await);
        assert_eq!(summary["parts"][part], alone, "{part} is what {path} answers");
    }
    let status = &summary["parts"]["status"];
    assert_eq!(status["scaling_policies"].as_object().map(serde_json::Map::len), Some(5), "{status}");
}
