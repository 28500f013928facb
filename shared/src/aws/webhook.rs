//! Notifications to a chat webhook (Slack-compatible JSON `{"text": ...}`) over HTTPS with the
//! system's root certificates, or plain HTTP on loopback (for tests and local relays).

use std::sync::Arc;

use async_trait::async_trait;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::cost::actions::{Notification, Notifier};
use crate::error::{AdapterError, ValidationError};

/// What the ports' errors call this service.
const SERVICE: &str = "webhook";
use crate::performance::Pool;

/// A chat webhook: its requests take slots from the container's Slack pool, whose timeout bounds
/// both the wait for a slot and the request.
#[derive(Debug, Clone)]
pub struct Webhook {
    url: Uri,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    pool: Arc<Pool>,
    /// Overrides the pool's timeout for the whole exchange.
    timeout: Option<std::time::Duration>,
}

/// The most of a webhook's answer that is read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

impl Webhook {
    /// Checks `url` as [`Webhook::new`] would take it, without building a client (which loads
    /// the system's root certificates): what settings are validated with at a container's start.
    pub fn check(url: &str) -> Result<Uri, ValidationError> {
        let bad = |why: &str| ValidationError::new("COMMANDER_COST_WEBHOOK_URL", why.to_owned());
        let uri: Uri = url.parse().map_err(|_| bad("is not a URL"))?;
        let loopback = matches!(uri.host(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match uri.scheme_str() {
            Some("https") => Ok(uri),
            Some("http") if loopback => Ok(uri),
            _ => Err(bad("must be https:// (or http:// to a loopback address)")),
        }
    }

    /// `url` must be `https://`, or `http://` to a loopback address; requests take slots from
    /// `pool` (the container's Slack pool).
    pub fn new(url: &str, pool: Arc<Pool>) -> Result<Self, ValidationError> {
        let bad = |why: &str| ValidationError::new("COMMANDER_COST_WEBHOOK_URL", why.to_owned());
        let uri = Self::check(url)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| bad(&format!("no root certificates to verify it with: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(pool.limits().max as usize)
            .build(connector);
        Ok(Self { url: uri, client, pool, timeout: None })
    }

    /// Bounds the whole exchange (the request and reading the answer) by `timeout` instead of
    /// the Slack pool's.
    #[must_use]
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

#[async_trait]
impl Notifier for Webhook {
    async fn notify(&self, notification: &Notification) -> Result<(), AdapterError> {
        let permanent = |m: String| AdapterError::permanent(SERVICE, m);
        let transient = |m: String| AdapterError::transient(SERVICE, m);
        let body = serde_json::to_vec(notification).map_err(|e| permanent(e.to_string()))?;
        let request = Request::post(self.url.clone())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| permanent(e.to_string()))?;
        let timeout = self.timeout.unwrap_or(self.pool.limits().timeout);
        let _slot = self.pool.acquire().await.map_err(|e| transient(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + timeout;
        let response = tokio::time::timeout_at(deadline, self.client.request(request))
            .await
            .map_err(|_| transient(format!("no answer within {} ms", timeout.as_millis())))?
            .map_err(|e| transient(e.to_string()))?;
        let status = response.status();
        // Read the answer so the connection can be reused, but no more of it than a chat service
        // sends ("ok") and not past the deadline: an endless or stalled body drops the connection
        // instead. The status already said whether the notification was taken.
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES).collect();
        let _ = tokio::time::timeout_at(deadline, body).await;
        let answered = format!("the webhook answered {status}");
        match status {
            s if s.is_success() => Ok(()),
            s if s.is_server_error() || s.as_u16() == 429 => Err(transient(answered)),
            _ => Err(permanent(answered)),
        }
    }
}
