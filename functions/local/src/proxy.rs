//! `commander proxy`: the deployed dashboard and API, reached from a browser through a loopback
//! proxy that signs every request with the caller's own AWS credentials (SigV4 for
//! `execute-api`). The HTTP API admits only IAM-signed calls and a browser cannot sign, so this is
//! how an operator opens the dashboard of a deployed stack without opening the API to anyone.
//!
//! The proxy acts as whoever runs it, so it answers only this machine: it listens on loopback, only
//! for a loopback `Host` (a page from elsewhere cannot rebind a name to it), and refuses requests a
//! browser marks as coming from another site. It forwards only to the one API it was started for.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use aws_credential_types::provider::SharedCredentialsProvider;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use clap::Args;
use http_body_util::{BodyExt, Full, Limited};

use crate::admission::{Admission, Refusal, problem};
use commander_client::base::{ApiBase, HttpsClient, https_client};
pub use commander_client::sigv4::region_of;
use commander_client::sigv4::{SignError, Signer};

/// Larger than any body the API accepts (64 KiB), so the API, not the proxy, refuses those.
const MAX_BODY_BYTES: usize = 1 << 20;
/// What a request may carry upstream; the browser's cookies and any Authorization stay here.
const REQUEST_HEADERS: [HeaderName; 2] = [header::CONTENT_TYPE, header::ACCEPT];
/// What an answer brings back: enough for the page's security headers and the API's problems.
const RESPONSE_HEADERS: [HeaderName; 8] = [
    header::CONTENT_TYPE,
    header::CACHE_CONTROL,
    header::CONTENT_SECURITY_POLICY,
    header::X_CONTENT_TYPE_OPTIONS,
    header::REFERRER_POLICY,
    header::RETRY_AFTER,
    header::ALLOW,
    header::LOCATION,
];

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// The deployed API's base URL: the stack's `ApiUrl` output, e.g.
    /// https://abc123.execute-api.us-east-1.amazonaws.com/
    #[arg(long, env = "COMMANDER_API_URL")]
    pub api: String,
    /// Where to listen: a loopback address only.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// The API's region; by default the one in its host name.
    #[arg(long)]
    pub region: Option<String>,
}

/// Forwards to one API, signing each request.
#[derive(Debug, Clone)]
pub struct SigningProxy {
    /// The one API it forwards to (its stage path put before every forwarded path).
    base: ApiBase,
    signer: Signer,
    /// The proxy's own port: a request's `Host` must name it.
    port: u16,
    client: HttpsClient,
}

impl SigningProxy {
    /// A proxy to `api` signing for `region` with `credentials`, answering on `listen` (loopback).
    pub fn new(
        api: &str,
        region: &str,
        credentials: SharedCredentialsProvider,
        listen: SocketAddr,
    ) -> anyhow::Result<Self> {
        if region.is_empty() {
            bail!("no region to sign for: pass --region");
        }
        Self::with_signer(api, Signer::new(region, credentials), listen)
    }

    /// A proxy to `api` signing with `signer`, answering on `listen` (loopback).
    pub fn with_signer(api: &str, signer: Signer, listen: SocketAddr) -> anyhow::Result<Self> {
        if !listen.ip().is_loopback() {
            bail!(
                "{listen} is not a loopback address: the proxy signs with your AWS credentials, so whoever reaches it acts as you"
            );
        }
        let base = ApiBase::parse(api)?;
        Ok(Self { base, signer, port: listen.port(), client: https_client()? })
    }

    /// Every path and method, forwarded.
    pub fn router(self) -> Router {
        Router::new().fallback(forward).with_state(self)
    }

    /// Refuses what must not be signed: another site's request, or one sent to a name that is not
    /// this machine's.
    fn admit(&self, request: &Request) -> Result<(), Refusal> {
        Admission::loopback(self.port).admit(request.headers())
    }

    /// The request as it goes upstream, signed.
    async fn signed(&self, request: Request) -> Result<axum::http::Request<Full<Bytes>>, Refusal> {
        let (parts, body) = request.into_parts();
        let body = Limited::new(body, MAX_BODY_BYTES).collect().await.map_err(|e| {
            Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("the request body: {e}"))
        })?;
        let body = body.to_bytes();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri = self
            .base
            .uri(path)
            .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "bad_request", format!("the path: {e}")))?;
        let mut outgoing = axum::http::Request::builder().method(parts.method).uri(uri);
        if let Ok(host) = HeaderValue::from_str(self.base.authority.as_str()) {
            outgoing = outgoing.header(header::HOST, host);
        }
        for name in &REQUEST_HEADERS {
            if let Some(value) = parts.headers.get(name) {
                outgoing = outgoing.header(name, value);
            }
        }
        let mut outgoing = outgoing
            .body(Full::new(body.clone()))
            .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;

        self.signer.sign(&mut outgoing, &body).await.map_err(|e| {
            let code = match e {
                SignError::NoCredentials(_) => "no_credentials",
                SignError::Failed(_) | SignError::NoRegion(_) => "signing_failed",
            };
            Refusal::new(StatusCode::BAD_GATEWAY, code, e.to_string())
        })?;
        Ok(outgoing)
    }
}

async fn forward(State(proxy): State<SigningProxy>, request: Request) -> Response {
    if let Err(refused) = proxy.admit(&request) {
        return refused.into_response();
    }
    let outgoing = match proxy.signed(request).await {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };
    let answer = match proxy.client.request(outgoing).await {
        Ok(a) => a,
        Err(e) => {
            return problem(
                StatusCode::BAD_GATEWAY,
                "api_unreachable",
                format!("the API did not answer: {e}"),
            );
        }
    };
    let (parts, body) = answer.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return problem(
                StatusCode::BAD_GATEWAY,
                "api_unreachable",
                format!("the API's answer broke off: {e}"),
            );
        }
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = parts.status;
    for name in &RESPONSE_HEADERS {
        if let Some(value) = parts.headers.get(name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

/// `commander proxy`: credentials and region the usual AWS way, then serve until Ctrl-C.
pub async fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let api: Uri = args.api.parse().with_context(|| format!("{:?} is not a URL", args.api))?;
    let signer = commander_client::sigv4::caller(&api, args.region).await?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    let region = signer.region().to_owned();
    let proxy = SigningProxy::with_signer(&args.api, signer, addr)?;
    tracing::info!(
        api = %args.api, %region,
        "signing proxy on http://{addr}/ (dashboard: http://{addr}/dashboard; Ctrl-C stops)"
    );
    axum::serve(listener, proxy.router())
        .with_graceful_shutdown(crate::serve::shutdown_signal())
        .await
        .context("proxy failed")
}

#[cfg(test)]
mod tests {
    use aws_credential_types::Credentials;

    use super::*;

    fn credentials() -> SharedCredentialsProvider {
        SharedCredentialsProvider::new(Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"))
    }

    #[test]
    fn the_region_is_read_from_an_api_gateway_host() {
        let cases = [
            ("https://abc123.execute-api.eu-west-1.amazonaws.com/", Some("eu-west-1")),
            ("https://abc123.execute-api.cn-north-1.amazonaws.com.cn/prod", Some("cn-north-1")),
            ("https://api.example.com/", None),
            ("http://127.0.0.1:3000/", None),
        ];
        for (api, region) in cases {
            assert_eq!(region_of(&api.parse().unwrap()).as_deref(), region, "{api}");
        }
    }

    #[tokio::test]
    async fn refuses_what_it_cannot_proxy_safely() {
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let cases = [
            (
                "https://abc.execute-api.us-east-1.amazonaws.com/",
                "us-east-1",
                "0.0.0.0:8080",
                "not a loopback",
            ),
            (
                "https://abc.execute-api.us-east-1.amazonaws.com/",
                "us-east-1",
                "192.168.1.4:8080",
                "not a loopback",
            ),
            ("abc.execute-api.us-east-1.amazonaws.com", "us-east-1", "127.0.0.1:8080", "no scheme"),
            ("ftp://example.com/", "us-east-1", "127.0.0.1:8080", "only http and https"),
            ("https://example.com/?stage=prod", "us-east-1", "127.0.0.1:8080", "takes no query"),
            ("https://example.com/", "", "127.0.0.1:8080", "pass --region"),
        ];
        for (api, region, listen, expected) in cases {
            let error = SigningProxy::new(api, region, credentials(), listen.parse().unwrap()).unwrap_err();
            assert!(error.to_string().contains(expected), "{api} {listen}: {error}");
        }
        let proxy =
            SigningProxy::new("https://example.com/prod/", "us-east-1", credentials(), loopback).unwrap();
        assert_eq!(proxy.base.prefix, "/prod");
    }
}
