//! An API's base URL as everything that calls it needs it (this crate's client, `commander`'s
//! operator commands and its signing proxy): scheme, host, the path put before every request's,
//! and whether it is this machine (`commander serve`, which takes unsigned requests).

use axum::body::Bytes;
use axum::http::Uri;
use axum::http::uri::{Authority, Scheme};
use http_body_util::Full;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::Error;

/// An HTTP(S) client for an API, verifying its certificate against the system's roots.
pub type HttpsClient = HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client over HTTPS (or plain HTTP, for a loopback API).
pub fn https_client() -> Result<HttpsClient, Error> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| Error::Invalid(format!("no root certificates to verify the API with: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(HyperClient::builder(TokioExecutor::new()).build(connector))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiBase {
    pub scheme: Scheme,
    pub authority: Authority,
    /// The API's own path (a stage, say), put before every request's path.
    pub prefix: String,
}

impl ApiBase {
    /// `api` as a base URL: http or https, a host, no query.
    pub fn parse(api: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::Invalid(format!("{api:?} {why}"));
        let uri: Uri = api.parse().map_err(|e| invalid(&format!("is not a URL: {e}")))?;
        let scheme = uri.scheme().cloned().ok_or_else(|| invalid("has no scheme (https://...)"))?;
        if scheme != Scheme::HTTPS && scheme != Scheme::HTTP {
            return Err(invalid("is not an API: only http and https"));
        }
        let authority = uri.authority().cloned().ok_or_else(|| invalid("has no host"))?;
        if uri.query().is_some() {
            return Err(invalid("is not a base URL: the API's base URL takes no query"));
        }
        Ok(Self { scheme, authority, prefix: uri.path().trim_end_matches('/').to_owned() })
    }

    /// The URL of `path_and_query` under this base.
    pub fn uri(&self, path_and_query: &str) -> Result<Uri, Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{path_and_query}", self.prefix))
            .build()
            .map_err(|e| Error::Invalid(format!("{path_and_query:?}: {e}")))
    }

    /// Whether it names this machine.
    pub fn is_loopback(&self) -> bool {
        match self.authority.host() {
            "localhost" => true,
            host => {
                host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_for_anything_but_this_machine() {
        for (api, loopback) in [
            ("http://127.0.0.1:3000", true),
            ("http://localhost:3000/", true),
            ("http://[::1]:3000/", true),
            ("https://abc.execute-api.us-east-1.amazonaws.com/", false),
            ("http://10.0.0.5:3000/", false),
        ] {
            assert_eq!(ApiBase::parse(api).unwrap().is_loopback(), loopback, "{api}");
        }
    }

    #[test]
    fn refuses_an_api_it_cannot_call() {
        for (api, expected) in [
            ("ftp://example.com/", "only http and https"),
            ("https://example.com/?stage=prod", "takes no query"),
            ("/just/a/path", "no scheme"),
        ] {
            let error = ApiBase::parse(api).unwrap_err();
            assert!(error.to_string().contains(expected), "{api}: {error}");
        }
        let base = ApiBase::parse("https://example.com/prod/").unwrap();
        assert_eq!(base.prefix, "/prod");
        assert_eq!(base.uri("/health?x=1").unwrap().to_string(), "https://example.com/prod/health?x=1");
    }
}
