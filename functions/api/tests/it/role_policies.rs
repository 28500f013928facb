//! The route table (`api::access::ROUTES`) is the router's, and the stack's three role policies
//! (template.yaml, generated from it) each admit exactly their role's routes, judged as IAM
//! judges them: every route of the router turned into the execute-api ARN API Gateway checks,
//! matched against each policy's resource patterns.

use std::collections::BTreeSet;

use api::access::{self, ROUTES, Role, RouteAccess};
use axum::http::{Method, StatusCode};

use crate::common::app;

fn template_path() -> String {
    format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"))
}

/// The role policies' lines in the template, from the begin marker to the end marker.
fn template_block(template: &str) -> Option<(usize, usize)> {
    let begin = template.find(access::TEMPLATE_BEGIN)?;
    let end = template[begin..].find(access::TEMPLATE_END)? + begin;
    let end = end + template[end..].find('\n').map_or(template.len() - end, |n| n + 1);
    Some((begin, end))
}

#[test]
fn role_policies_in_the_template_are_generated_from_the_route_table() {
    let template = std::fs::read_to_string(template_path()).unwrap();
    let (begin, end) = template_block(&template).expect("the role policies' markers in template.yaml");
    let generated = access::template_policies();
    if std::env::var("UPDATE_ROLE_POLICIES").is_ok() {
        let updated = format!("{}{generated}{}", &template[..begin], &template[end..]);
        std::fs::write(template_path(), updated).unwrap();
        return;
    }
    assert_eq!(
        &template[begin..end],
        generated,
        "template.yaml's role policies differ from the route table: run UPDATE_ROLE_POLICIES=1 cargo test -p api --test it role_policies"
    );
    for role in Role::ALL {
        assert!(
            template.contains(&format!("Value: !Ref {}\n", role.policy_resource())),
            "the stack outputs the {} policy",
            role.name()
        );
    }
}

/// The resource patterns of each policy in the template, with the stack's names filled in.
fn policies(template: &str) -> Vec<(String, Vec<String>)> {
    let (begin, end) = template_block(template).unwrap();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in template[begin..end].lines() {
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':'))
            && !name.starts_with(' ')
        {
            out.push((name.to_owned(), Vec::new()));
        } else if let Some(resource) = line.trim().strip_prefix("- !Sub \"").and_then(|l| l.strip_suffix('"'))
        {
            let filled = resource
                .replace("${AWS::Partition}", "aws")
                .replace("${AWS::Region}", "us-east-1")
                .replace("${AWS::AccountId}", "123456789012")
                .replace("${HttpApi}", "a1b2c3d4e5");
            out.last_mut().expect("a resource under a policy").1.push(filled);
        }
    }
    out
}

/// IAM's resource matching: `*` any run of characters (slashes included), `?` any one.
fn iam_matches(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    let mut reach = vec![false; v.len() + 1];
    reach[0] = true;
    for &c in &p {
        let mut next = vec![false; v.len() + 1];
        for i in 0..=v.len() {
            if !reach[i] {
                continue;
            }
            match c {
                '*' => next[i..].iter_mut().for_each(|n| *n = true),
                '?' if i < v.len() => next[i + 1] = true,
                _ if i < v.len() && v[i] == c => next[i + 1] = true,
                _ => {}
            }
        }
        reach = next;
    }
    reach[v.len()]
}

/// A path of the route with its parameters filled in.
fn concrete(route: &RouteAccess) -> String {
    route.path.replace("{agent_type}", "detection").replace("{region}", "us-east-1")
}

/// The ARN API Gateway authorizes a request to `route` against.
fn invoke_arn(route: &RouteAccess, api_id: &str) -> String {
    format!(
        "arn:aws:execute-api:us-east-1:123456789012:{api_id}/$default/{}{}",
        route.method,
        concrete(route)
    )
}

#[test]
fn each_role_policy_admits_exactly_its_routes() {
    let template = std::fs::read_to_string(template_path()).unwrap();
    let policies = policies(&template);
    assert_eq!(policies.len(), 3, "{policies:?}");
    for role in Role::ALL {
        let (_, patterns) = policies.iter().find(|(name, _)| name == role.policy_resource()).unwrap();
        let admitted =
            |route: &RouteAccess, api: &str| patterns.iter().any(|p| iam_matches(p, &invoke_arn(route, api)));
        for route in ROUTES {
            assert_eq!(
                admitted(route, "a1b2c3d4e5"),
                role.admits(route),
                "{} policy on {} {}",
                role.name(),
                route.method,
                route.path
            );
            assert!(!admitted(route, "otherapi01"), "the {} policy admits another API", role.name());
        }
    }
    // The roles as the issues of record name them (an agent drains and deregisters itself).
    let agent: BTreeSet<String> =
        ROUTES.iter().filter(|r| r.least == Role::Agent).map(RouteAccess::action).collect();
    let expected: BTreeSet<String> = [
        "POST /replicas/heartbeat",
        "POST /replicas/drain",
        "POST /replicas/deregister",
        "POST /replicas/select",
        "POST /replicas/release",
        "POST /usage",
        "POST /models/select",
        "POST /models/report",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(agent, expected);
    assert!(
        ROUTES.iter().filter(|r| r.least == Role::Viewer).all(|r| r.method == "GET"),
        "viewers only read"
    );
}

#[test]
fn the_iam_matcher_matches_as_iam_does() {
    for (pattern, value, expected) in [
        ("a/*/GET/health", "a/$default/GET/health", true),
        ("a/*/GET/health", "a/$default/GET/healthz", false),
        ("a/*/PUT/scaling/policies/*", "a/$default/PUT/scaling/policies/x/pause", true),
        ("a/*/GET/", "a/$default/GET/", true),
        ("a/*/GET/", "a/$default/GET/health", false),
        ("a/?/GET", "a/xy/GET", false),
    ] {
        assert_eq!(iam_matches(pattern, value), expected, "{pattern} ~ {value}");
    }
}

/// Every entry of the table is a route the router serves, and the OpenAPI document documents
/// exactly the table's routes but the dashboard's files.
#[tokio::test]
async fn the_route_table_is_the_routers() {
    let app = app();
    for route in ROUTES {
        let body = if route.method == "GET" { Vec::new() } else { b"{}".to_vec() };
        let answer = app.send(route.method(), &concrete(route), Some("application/json"), body).await;
        assert_ne!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{} {}", route.method, route.path);
        assert_ne!(answer.body["detail"], "no such route", "{} {}", route.method, route.path);
    }
    let doc = serde_json::to_value(<api::ApiDoc as utoipa::OpenApi>::openapi()).unwrap();
    let mut documented = BTreeSet::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let table: BTreeSet<String> = ROUTES
        .iter()
        .filter(|r| r.path != "/" && !r.path.starts_with("/dashboard"))
        .map(RouteAccess::action)
        .collect();
    assert_eq!(documented, table);
    // A method outside the table on a table path is refused by the router, not served.
    let refused = app.send(Method::PATCH, "/cost/prices", Some("application/json"), b"{}".to_vec()).await;
    assert_eq!(refused.status, StatusCode::METHOD_NOT_ALLOWED);
}
