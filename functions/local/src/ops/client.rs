//! The operator commands' way to the API: a deployed stack (every request SigV4-signed with the
//! caller's credentials) or `commander serve` on loopback (nothing to sign).

use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::http::uri::{Authority, Scheme};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use commander_client::sigv4::Signer;

/// How long one request may take, end to end (the API bounds its own work at 10 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most an answer may bring back (the largest, a cost report or the audit, are far smaller).
const MAX_ANSWER_BYTES: usize = 16 << 20;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One answer of the API: its status and JSON body (`null` when it had none).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

/// Talks to one API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    scheme: Scheme,
    authority: Authority,
    /// The API's own path (a stage, say), put before every request's path.
    prefix: String,
    signer: Option<Signer>,
    client: HttpsClient,
}

/// Whether `uri` names this machine (then it is `commander serve`, which takes unsigned requests).
fn is_loopback(uri: &Uri) -> bool {
    match uri.host() {
        Some("localhost") => true,
        Some(host) => {
            host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}

impl ApiClient {
    /// A client for the API at `api`: requests to a loopback address go unsigned, any other
    /// API is signed as the caller (see [`commander_client::sigv4::caller`]) for `region`.
    pub async fn connect(api: &str, region: Option<String>) -> anyhow::Result<Self> {
        let uri: Uri = api.parse().with_context(|| format!("--api {api:?} is not a URL"))?;
        let signer =
            if is_loopback(&uri) { None } else { Some(commander_client::sigv4::caller(&uri, region).await?) };
        Self::new(&uri, signer)
    }

    fn new(uri: &Uri, signer: Option<Signer>) -> anyhow::Result<Self> {
        let scheme =
            uri.scheme().cloned().with_context(|| format!("--api {uri} has no scheme (https://...)"))?;
        if scheme != Scheme::HTTPS && scheme != Scheme::HTTP {
            bail!("--api {uri}: only http and https");
        }
        let authority = uri.authority().cloned().with_context(|| format!("--api {uri} has no host"))?;
        if uri.query().is_some() {
            bail!("--api {uri}: the API's base URL takes no query");
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .context("no root certificates to verify the API with")?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            scheme,
            authority,
            prefix: uri.path().trim_end_matches('/').to_owned(),
            signer,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// Sends one request (`path` with its query) and answers the API's status and body; an
    /// error only when no answer came (unreachable, timed out, unsigned).
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Answer> {
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let uri = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{path}", self.prefix))
            .build()
            .with_context(|| format!("{path:?} is not a path"))?;
        let mut request = axum::http::Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(header::HOST, HeaderValue::from_str(self.authority.as_str())?)
            .header(header::ACCEPT, "application/json");
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let mut request = request.body(Full::new(bytes.clone()))?;
        if let Some(signer) = &self.signer {
            signer.sign(&mut request, &bytes).await?;
        }
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let response = self.client.request(request).await?;
            let status = response.status();
            let collected = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("the answer broke off: {e}"))?;
            anyhow::Ok((status, collected.to_bytes()))
        })
        .await
        .with_context(|| format!("{method} {path}: no answer within {} s", REQUEST_TIMEOUT.as_secs()))?
        .with_context(|| format!("{method} {path}: the API at {} did not answer", self.authority))?;
        let (status, bytes) = answer;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok(Answer { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_for_anything_but_this_machine() {
        let cases = [
            ("http://127.0.0.1:3000", true),
            ("http://localhost:3000/", true),
            ("http://[::1]:3000/", true),
            ("https://abc.execute-api.us-east-1.amazonaws.com/", false),
            ("http://10.0.0.5:3000/", false),
        ];
        for (api, loopback) in cases {
            assert_eq!(is_loopback(&api.parse().unwrap()), loopback, "{api}");
        }
    }

    #[test]
    fn refuses_an_api_it_cannot_call() {
        for (api, expected) in [
            ("ftp://example.com/", "only http and https"),
            ("https://example.com/?stage=prod", "takes no query"),
            ("/just/a/path", "no scheme"),
        ] {
            let error = ApiClient::new(&api.parse().unwrap(), None).unwrap_err();
            assert!(error.to_string().contains(expected), "{api}: {error}");
        }
    }
}
