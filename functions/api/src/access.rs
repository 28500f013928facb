//! Who may call which route: the route table the stack's role policies are made from (see
//! `template.yaml`, between the `role policies` markers), and which routes the audit trail
//! records. A test holds it equal to the router and to the OpenAPI document, and another proves
//! each role's policy admits exactly the routes this table gives it.

use std::fmt::Write as _;

use axum::http::Method;

/// The three kinds of caller. Each admits the routes of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads only: dashboards, reports, on-call engineers looking.
    Viewer,
    /// An agent: its heartbeat, selection and release, usage, model selection, and the reads.
    Agent,
    /// Everything: policies, pauses, region marks, prices, emergency overrides, optimisation,
    /// warming.
    Operator,
}

impl Role {
    pub const ALL: [Self; 3] = [Self::Viewer, Self::Agent, Self::Operator];

    /// The name of its managed policy's resource in the template.
    pub fn policy_resource(self) -> &'static str {
        match self {
            Self::Viewer => "ViewerApiPolicy",
            Self::Agent => "AgentApiPolicy",
            Self::Operator => "OperatorApiPolicy",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Agent => "agent",
            Self::Operator => "operator",
        }
    }

    /// Whether a caller in this role may call `route`.
    pub fn admits(self, route: &RouteAccess) -> bool {
        self >= route.least
    }
}

/// One route: its method, its path as the router spells it, and the least role that may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteAccess {
    pub method: &'static str,
    pub path: &'static str,
    pub least: Role,
    /// Whether a successful call changes the fleet's state (a POST may only compute: a replay).
    pub changes: bool,
}

impl RouteAccess {
    pub fn method(&self) -> Method {
        Method::from_bytes(self.method.as_bytes()).unwrap_or(Method::GET)
    }

    /// Whether a successful call is an operator's change, recorded in the audit trail. An
    /// agent's calls (heartbeats, selections, usage: many a minute per replica) change only its
    /// own records, which say who and when themselves; with the caller's ARN and the request
    /// id they are in the HTTP API's access log, and stay out of the trail operators read.
    pub fn audited(&self) -> bool {
        self.least == Role::Operator && self.method != "GET" && self.changes
    }

    /// `METHOD /path`, as recorded.
    pub fn action(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

const fn route(method: &'static str, path: &'static str, least: Role) -> RouteAccess {
    RouteAccess { method, path, least, changes: !matches!(method.as_bytes(), b"GET") }
}

/// A route that only computes, whatever its method: nothing to audit.
const fn computes(method: &'static str, path: &'static str, least: Role) -> RouteAccess {
    RouteAccess { method, path, least, changes: false }
}

use Role::{Agent, Operator, Viewer};

/// Every route of the API.
pub const ROUTES: &[RouteAccess] = &[
    route("GET", "/", Viewer),
    route("GET", "/dashboard", Viewer),
    route("GET", "/dashboard/dashboard.css", Viewer),
    route("GET", "/dashboard/dashboard.js", Viewer),
    route("GET", "/openapi.json", Viewer),
    route("GET", "/health", Viewer),
    route("GET", "/summary", Viewer),
    route("GET", "/audit", Viewer),
    route("GET", "/control-plane", Viewer),
    route("POST", "/control-plane/promote", Operator),
    route("GET", "/scaling/status", Viewer),
    route("GET", "/scaling/policies", Viewer),
    route("GET", "/scaling/policies/{agent_type}", Viewer),
    route("PUT", "/scaling/policies/{agent_type}", Operator),
    route("DELETE", "/scaling/policies/{agent_type}", Operator),
    route("PUT", "/scaling/policies/{agent_type}/pause", Operator),
    route("DELETE", "/scaling/policies/{agent_type}/pause", Operator),
    route("POST", "/scaling/optimize", Operator),
    // Operators only: it is seconds of this container's CPU.
    computes("POST", "/scaling/replay", Operator),
    route("GET", "/regions", Viewer),
    route("PUT", "/regions/{region}/health", Operator),
    route("DELETE", "/regions/{region}/health", Operator),
    route("POST", "/replicas/heartbeat", Agent),
    route("POST", "/replicas/drain", Agent),
    route("POST", "/replicas/deregister", Agent),
    route("POST", "/replicas/select", Agent),
    route("POST", "/replicas/release", Agent),
    route("GET", "/cost/prices", Viewer),
    route("PUT", "/cost/prices", Operator),
    route("GET", "/cost/emergency", Viewer),
    route("PUT", "/cost/emergency", Operator),
    route("DELETE", "/cost/emergency", Operator),
    route("POST", "/cost/optimize", Operator),
    route("GET", "/cost/report", Viewer),
    route("POST", "/usage", Agent),
    route("POST", "/models/select", Agent),
    route("POST", "/models/report", Agent),
    route("POST", "/lambda/warm", Operator),
    route("GET", "/warming/status", Viewer),
    route("GET", "/performance/metrics", Viewer),
    route("GET", "/performance/recommendations", Viewer),
];

/// The route a request for `path` reaches, as the router matches it: a `{parameter}` segment
/// takes any one non-empty segment, and where two routes match, the one with more literal
/// segments wins (the router prefers literals). It lets the layer around the whole router (which
/// runs before the router has matched anything) tell which route a request is for.
pub fn route_of(method: &Method, path: &str) -> Option<&'static RouteAccess> {
    ROUTES
        .iter()
        .filter(|r| r.method == method.as_str())
        .filter_map(|r| literal_segments_matched(r.path, path).map(|literals| (literals, r)))
        .max_by_key(|(literals, _)| *literals)
        .map(|(_, r)| r)
}

/// How many literal segments of `template` `path` matched, if it matches it at all.
fn literal_segments_matched(template: &str, path: &str) -> Option<usize> {
    let (mut template, mut path) = (template.split('/'), path.split('/'));
    let mut literals = 0;
    loop {
        match (template.next(), path.next()) {
            (None, None) => return Some(literals),
            (Some(t), Some(p)) if t.starts_with('{') && t.ends_with('}') && !p.is_empty() => {}
            (Some(t), Some(p)) if t == p => literals += usize::from(!t.is_empty()),
            _ => return None,
        }
    }
}

/// The resource paths of `role`'s policy: `METHOD/path` under the API's ARN, path parameters as
/// `*` (IAM's wildcard; API Gateway matches it against the request's path).
pub fn policy_resources(role: Role) -> Vec<String> {
    ROUTES.iter().filter(|r| role.admits(r)).map(|r| format!("{}{}", r.method, iam_path(r.path))).collect()
}

fn iam_path(path: &str) -> String {
    path.split('/')
        .map(|segment| if segment.starts_with('{') { "*" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

/// The first line of the role policies in `template.yaml`.
pub const TEMPLATE_BEGIN: &str = "  # BEGIN role policies";
/// The line after them.
pub const TEMPLATE_END: &str = "  # END role policies";

/// The role policies as `template.yaml` holds them, between [`TEMPLATE_BEGIN`] and
/// [`TEMPLATE_END`]: one managed policy per role, admitting `execute-api:Invoke` on exactly its
/// routes, in any stage of the stack's HTTP API.
pub fn template_policies() -> String {
    let mut out = format!(
        "{TEMPLATE_BEGIN}: generated from functions/api/src/access.rs; to change, edit the route table\n  \
         # there and run UPDATE_ROLE_POLICIES=1 cargo test -p api --test it role_policies\n"
    );
    for role in Role::ALL {
        let what = match role {
            Role::Viewer => "reads only",
            Role::Agent => {
                "an agent's calls (heartbeat, drain, deregister, select, release, usage, models) and the reads"
            }
            Role::Operator => "every route",
        };
        let _ = write!(
            out,
            "  {resource}:\n    Type: AWS::IAM::ManagedPolicy\n    Properties:\n      \
             Description: !Sub \"${{AWS::StackName}} API, {name} role: {what}\"\n      \
             PolicyDocument:\n        Version: \"2012-10-17\"\n        Statement:\n          \
             - Sid: {sid}Routes\n            Effect: Allow\n            Action: execute-api:Invoke\n            \
             Resource:\n",
            resource = role.policy_resource(),
            name = role.name(),
            sid = role.policy_resource().trim_end_matches("ApiPolicy"),
        );
        for path in policy_resources(role) {
            let _ = writeln!(
                out,
                "              - !Sub \"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{HttpApi}}/*/{path}\""
            );
        }
    }
    out.push_str(TEMPLATE_END);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `template` with each `{parameter}` filled in as a caller would.
    fn concrete(template: &str) -> String {
        template
            .split('/')
            .map(|segment| if segment.starts_with('{') { "us-east-1" } else { segment })
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn every_route_is_found_from_a_request_path() {
        for route in ROUTES {
            let found = route_of(&route.method(), &concrete(route.path));
            assert_eq!(found, Some(route), "{} {}", route.method, route.path);
        }
    }

    #[test]
    fn paths_the_router_would_not_match_find_no_route() {
        for (method, path) in [
            (Method::PUT, "/scaling/policies/"),
            (Method::PUT, "/scaling/policies/detection/"),
            (Method::PUT, "/scaling/policies//pause"),
            (Method::PUT, "/scaling/policies/detection/pause/now"),
            (Method::DELETE, "/health"),
            (Method::POST, "/nowhere"),
            (Method::GET, ""),
        ] {
            assert_eq!(route_of(&method, path), None, "{method} {path}");
        }
    }

    #[test]
    fn a_literal_segment_wins_over_a_parameter() {
        assert_eq!(
            literal_segments_matched("/scaling/policies/{agent_type}", "/scaling/policies/x"),
            Some(2)
        );
        assert_eq!(literal_segments_matched("/scaling/{what}/pause", "/scaling/policies/pause"), Some(2));
        // Were both routes there, the one spelling `policies` out would be the one reached.
        let both = ["/scaling/{what}/{agent_type}", "/scaling/policies/{agent_type}"];
        let best = both.iter().max_by_key(|t| literal_segments_matched(t, "/scaling/policies/x"));
        assert_eq!(best, Some(&"/scaling/policies/{agent_type}"));
    }
}
