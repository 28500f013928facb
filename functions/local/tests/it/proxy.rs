//! `commander proxy` in front of the real api Router: every request arrives signed for
//! `execute-api` (checked by signing it again from what arrived, as API Gateway does), under the
//! API's stage path, with its body intact and the browser's cookies left behind; a request from
//! another site or to a name other than loopback is refused before anything is signed.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use local::SigningProxy;
use serde_json::{Value, json};
use shared::clock::SystemClock;
use shared::config::Config;
use shared::store::MemoryStore;

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "session-token-example";

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    /// `<region>/<service>` of a signature that checks out, or why it does not.
    signature: Result<String, String>,
    cookie: bool,
    body: Bytes,
    headers: header::HeaderMap,
}

type Log = Arc<Mutex<Vec<Seen>>>;
type Headers<'a> = Vec<(&'a str, &'a str)>;

fn field<'a>(authorization: &'a str, name: &str) -> Result<&'a str, String> {
    let start = authorization.find(name).ok_or(format!("no {name} in {authorization}"))? + name.len();
    let rest = &authorization[start..];
    Ok(rest.split([',', ' ']).next().unwrap_or_default())
}

/// Signs what arrived again with the known key and the request's own date and scope: the same
/// signature only if nothing signed changed on the way.
fn check_signature(parts: &Parts, body: &[u8]) -> Result<String, String> {
    let text = |name: &str| parts.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    let authorization = text("authorization").ok_or("not signed")?;
    let credential = field(&authorization, "Credential=")?;
    let signed_headers = field(&authorization, "SignedHeaders=")?;
    let signature = field(&authorization, "Signature=")?;
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[0] != KEY_ID || scope[4] != "aws4_request" {
        return Err(format!("credential scope {credential}"));
    }
    let date = text("x-amz-date").ok_or("no x-amz-date")?;
    let time: SystemTime =
        NaiveDateTime::parse_from_str(&date, "%Y%m%dT%H%M%SZ").map_err(|e| e.to_string())?.and_utc().into();
    let token = text("x-amz-security-token");
    // The signer adds the date and token headers itself.
    let headers: Vec<(String, String)> = signed_headers
        .split(';')
        .filter(|h| *h != "x-amz-date" && *h != "x-amz-security-token")
        .map(|h| (h.to_owned(), text(h).unwrap_or_default()))
        .collect();
    let uri = format!("http://{}{}", text("host").ok_or("no host")?, parts.uri.path_and_query().unwrap());
    let identity = Credentials::new(KEY_ID, SECRET, token, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(scope[2])
        .name(scope[3])
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        parts.method.as_str(),
        uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (_, expected) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
    if expected == signature {
        Ok(format!("{}/{}", scope[2], scope[3]))
    } else {
        Err(format!("signature {signature} is not the {expected} of what arrived"))
    }
}

/// API Gateway's part: only a request whose signature checks out reaches the api.
async fn gateway(State(log): State<Log>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let signature = check_signature(&parts, &body);
    log.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path_and_query().unwrap().to_string(),
        signature: signature.clone(),
        cookie: parts.headers.contains_key(header::COOKIE),
        body: body.clone(),
        headers: parts.headers.clone(),
    });
    if signature.is_err() {
        return (StatusCode::FORBIDDEN, "Forbidden").into_response();
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

struct Setup {
    proxy: SocketAddr,
    log: Log,
    client: Client<HttpConnector, Full<Bytes>>,
}

async fn listen(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// The api under a `/prod` stage behind a signature check, and the proxy in front of it.
async fn setup() -> Setup {
    let store = Arc::new(MemoryStore::new(Arc::new(SystemClock)));
    let api = api::router(api::AppState::new(store, Arc::new(SystemClock), Config::default()));
    let log = Log::default();
    let upstream = Router::new()
        .nest("/prod", api)
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&log), gateway));
    let upstream = listen(upstream).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let credentials = Credentials::new(KEY_ID, SECRET, Some(TOKEN.into()), None, "test");
    let proxy = SigningProxy::new(
        &format!("http://{upstream}/prod/"),
        "eu-west-1",
        SharedCredentialsProvider::new(credentials),
        addr,
    )
    .unwrap();
    tokio::spawn(async move { axum::serve(listener, proxy.router()).await.unwrap() });
    Setup { proxy: addr, log, client: Client::builder(TokioExecutor::new()).build_http() }
}

struct Answer {
    status: StatusCode,
    content_type: String,
    csp: Option<String>,
    text: String,
}

impl Setup {
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut request =
            axum::http::Request::builder().method(method).uri(format!("http://{}{path}", self.proxy));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let bytes = match body {
            Some(b) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(b.to_string())
            }
            None => Bytes::new(),
        };
        let response = self.client.request(request.body(Full::new(bytes)).unwrap()).await.unwrap();
        let status = response.status();
        let text_header =
            |name| response.headers().get(name).map(|v: &header::HeaderValue| v.to_str().unwrap().to_owned());
        let content_type = text_header(header::CONTENT_TYPE).unwrap_or_default();
        let csp = text_header(header::CONTENT_SECURITY_POLICY);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer { status, content_type, csp, text: String::from_utf8(body.to_vec()).unwrap() }
    }

    fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn the_dashboard_and_every_call_it_makes_arrive_signed_under_the_stage() {
    let s = setup().await;
    let page = s.send(Method::GET, "/dashboard", &[("cookie", "session=secret")], None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    assert_eq!(
        page.csp.as_deref(),
        Some(api::CONTENT_SECURITY_POLICY),
        "the page's security headers come along"
    );
    assert!(page.text.contains("dashboard/dashboard.js"));

    let script =
        s.send(Method::GET, "/dashboard/dashboard.js", &[("sec-fetch-site", "same-origin")], None).await;
    assert_eq!(script.status, StatusCode::OK);
    let status = s.send(Method::GET, "/scaling/status", &[], None).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
    assert!(
        serde_json::from_str::<Value>(&status.text).unwrap()["scaling_policies"]["detection"].is_object()
    );
    let report = s.send(Method::GET, "/cost/report?hours=24&limit=1", &[], None).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.text);

    let origin = format!("http://{}", s.proxy);
    let mark = json!({"healthy": false, "reason": "drill"});
    let marked = s
        .send(Method::PUT, "/regions/us-east-1/health", &[("origin", origin.as_str())], Some(mark.clone()))
        .await;
    assert_eq!(marked.status, StatusCode::OK, "{}", marked.text);
    let regions: Value =
        serde_json::from_str(&s.send(Method::GET, "/regions", &[], None).await.text).unwrap();
    assert_eq!(regions["regions"][0]["healthy"], false, "the change reached the api");

    let seen = s.seen();
    let paths: Vec<(&str, &str)> = seen.iter().map(|x| (x.method.as_str(), x.path.as_str())).collect();
    assert_eq!(
        paths,
        [
            ("GET", "/prod/dashboard"),
            ("GET", "/prod/dashboard/dashboard.js"),
            ("GET", "/prod/scaling/status"),
            ("GET", "/prod/cost/report?hours=24&limit=1"),
            ("PUT", "/prod/regions/us-east-1/health"),
            ("GET", "/prod/regions"),
        ]
    );
    for x in &seen {
        assert_eq!(x.signature.as_deref(), Ok("eu-west-1/execute-api"), "{} {}", x.method, x.path);
        assert!(!x.cookie, "the browser's cookies stay with the proxy");
    }
    assert_eq!(serde_json::from_slice::<Value>(&seen[4].body).unwrap(), mark, "the body as sent");
}

#[tokio::test]
async fn the_gateway_check_fails_a_request_changed_after_signing() {
    // The check above is worth something only if it can fail: the same signed request, altered.
    let s = setup().await;
    s.send(Method::PUT, "/regions/us-east-1/health", &[], Some(json!({"healthy": true}))).await;
    let signed = s.seen().pop().unwrap();
    let parts = |path: &str, headers: &header::HeaderMap| {
        let (mut parts, ()) =
            axum::http::Request::builder().method(Method::PUT).uri(path).body(()).unwrap().into_parts();
        parts.headers = headers.clone();
        parts
    };
    let original = parts(&signed.path, &signed.headers);
    assert_eq!(check_signature(&original, &signed.body).as_deref(), Ok("eu-west-1/execute-api"));
    let other_body = check_signature(&original, br#"{"healthy": false}"#);
    assert!(other_body.unwrap_err().contains("is not the"));
    let other_path = check_signature(&parts("/prod/regions/eu-west-1/health", &signed.headers), &signed.body);
    assert!(other_path.unwrap_err().contains("is not the"));
    let mut unsigned = signed.headers.clone();
    unsigned.remove("authorization");
    assert_eq!(check_signature(&parts(&signed.path, &unsigned), &signed.body), Err("not signed".into()));
}

#[tokio::test]
async fn requests_from_another_site_or_name_are_refused_unsigned() {
    let s = setup().await;
    let host = format!("evil.example:{}", s.proxy.port());
    let cases: [(&str, Headers, &str); 4] = [
        ("another site's page", vec![("origin", "https://evil.example")], "cross_site"),
        ("another site's request", vec![("sec-fetch-site", "cross-site")], "cross_site"),
        ("a rebound name", vec![("host", host.as_str())], "not_loopback"),
        ("another port", vec![("host", "127.0.0.1:1")], "not_loopback"),
    ];
    for (name, headers, code) in cases {
        let a = s.send(Method::POST, "/cost/optimize", &headers, Some(json!({}))).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{name}: {}", a.text);
        assert_eq!(a.content_type, "application/problem+json", "{name}");
        assert_eq!(serde_json::from_str::<Value>(&a.text).unwrap()["code"], code, "{name}");
    }
    assert!(s.seen().is_empty(), "nothing reached the API");
}

#[tokio::test]
async fn an_api_that_does_not_answer_is_a_bad_gateway_problem() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = listener.local_addr().unwrap();
    drop(listener);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let credentials = SharedCredentialsProvider::new(Credentials::new(KEY_ID, SECRET, None, None, "test"));
    let proxy = SigningProxy::new(&format!("http://{gone}/"), "us-east-1", credentials, addr).unwrap();
    tokio::spawn(async move { axum::serve(listener, proxy.router()).await.unwrap() });
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .request(axum::http::Request::get(format!("http://{addr}/health")).body(Full::default()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["code"], "api_unreachable");
}
