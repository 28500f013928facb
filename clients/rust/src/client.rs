//! The API, call by call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use shared::scaling::ReplicaHeartbeat;
use shared::wire::{
    DeregisterAnswer, DrainAnswer, HeartbeatAccepted, ModelReportResponse, ReleaseRequest, ReleaseResponse,
    ReplicaRef, ReportRequest, SelectModelRequest, SelectModelResponse, SelectRequest, SelectResponse,
    UsageRequest, UsageResponse,
};

use crate::base::{ApiBase, HttpsClient, https_client};
use crate::endpoints::{Choice, DEFAULT_RECHECK, Endpoint, Endpoints};
use crate::sigv4::{SignError, Signer};

/// How long one attempt may take (the API bounds its own work at 10 s).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// The most a server's `Retry-After` makes the client wait.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The most regional endpoints one client takes.
const MAX_ENDPOINTS: usize = 8;
/// The most an answer may bring back.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API refused it: the status and its problem document (RFC 9457).
    #[error("{status}: {}", problem["detail"].as_str().unwrap_or_default())]
    Api { status: StatusCode, problem: Value },
    /// No answer came (after the retries).
    #[error("no answer from the API: {0}")]
    Transport(String),
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The client was given something it cannot use (a URL, a body).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The API's status, for a refusal.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Exponential backoff with full jitter: attempt `n` waits a random time up to
/// `min(cap, base * 2^n)`, and at least what `Retry-After` asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 5, base: Duration::from_millis(100), cap: Duration::from_secs(5) }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.base.saturating_mul(2u32.saturating_pow(attempt)).min(self.cap);
        let jittered = ceiling.mul_f64(rand::random::<f64>());
        jittered.max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER))
    }
}

/// Which failures a call may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Sent once (a call that counts, without an id).
    Never,
    /// No answer, 429, 502-504.
    Transient,
    /// Those, and 409 (being counted right now, contended).
    TransientAndConflict,
}

#[derive(Debug)]
struct Inner {
    endpoints: Endpoints,
    http: HttpsClient,
    retry: RetryPolicy,
}

/// How long the health check of an endpoint that failed may take before it counts as down.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// One API, at one or more regional endpoints; cheap to clone (the heartbeat task and the
/// assignments share it, and with it which endpoints are down).
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// A client for the API at `api`: a loopback address goes unsigned (`commander serve`);
    /// any other API is signed as the caller (environment, profile or role credentials; the
    /// region in the API's host name, else `region`, else the profile's).
    pub async fn connect(api: &str, region: Option<String>) -> Result<Self, Error> {
        Self::connect_many(&[api], region).await
    }

    /// A client for one API deployed in several regions: `apis` are its regional base URLs in
    /// order of preference (the control plane's home region first, say). Calls go to the first
    /// that answers; one that gives no answer or a 502-504 is passed over for
    /// [`DEFAULT_RECHECK`](crate::endpoints::DEFAULT_RECHECK) and health-checked before it is
    /// used again. Each is signed for its own region (from its host name, else `region`).
    pub async fn connect_many(apis: &[&str], region: Option<String>) -> Result<Self, Error> {
        if apis.is_empty() || apis.len() > MAX_ENDPOINTS {
            return Err(Error::Invalid(format!(
                "give 1 to {MAX_ENDPOINTS} API endpoints, not {}",
                apis.len()
            )));
        }
        let mut list = Vec::with_capacity(apis.len());
        for api in apis {
            let base = ApiBase::parse(api)?;
            let signer = if base.is_loopback() {
                None
            } else {
                let uri: Uri =
                    api.parse().map_err(|e| Error::Invalid(format!("{api:?} is not a URL: {e}")))?;
                Some(crate::sigv4::caller(&uri, region.clone()).await?)
            };
            list.push(Endpoint::new(base, signer));
        }
        Self::with_endpoints(list)
    }

    /// A client for `api` signing with `signer` (`None`: unsigned).
    pub fn with_signer(api: &str, signer: Option<Signer>) -> Result<Self, Error> {
        Self::with_endpoints(vec![Endpoint::new(ApiBase::parse(api)?, signer)])
    }

    fn with_endpoints(list: Vec<Endpoint>) -> Result<Self, Error> {
        let endpoints = Endpoints { list, recheck: DEFAULT_RECHECK };
        Ok(Self {
            inner: Arc::new(Inner { endpoints, http: https_client()?, retry: RetryPolicy::default() }),
        })
    }

    fn rebuilt(self, retry: RetryPolicy, recheck: Duration) -> Self {
        let inner = &self.inner;
        let list =
            inner.endpoints.list.iter().map(|e| Endpoint::new(e.base.clone(), e.signer.clone())).collect();
        let endpoints = Endpoints { list, recheck };
        Self { inner: Arc::new(Inner { endpoints, http: inner.http.clone(), retry }) }
    }

    /// The same client retrying per `retry`.
    #[must_use]
    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        let recheck = self.inner.endpoints.recheck;
        self.rebuilt(retry, recheck)
    }

    /// The same client passing over a failed endpoint for `recheck` before checking it again.
    #[must_use]
    pub fn with_recheck(self, recheck: Duration) -> Self {
        let retry = self.inner.retry;
        self.rebuilt(retry, recheck)
    }

    /// Whether requests are signed.
    pub fn signs(&self) -> bool {
        self.inner.endpoints.list.iter().any(|e| e.signer.is_some())
    }

    /// The base URL a call made now would go to first (the first endpoint not passed over).
    pub fn endpoint(&self) -> String {
        let base = &self.inner.endpoints.preferred().base;
        format!("{}://{}{}", base.scheme, base.authority, base.prefix)
    }

    /// The endpoint for the next attempt: the first in order that is up, health-checking one
    /// that failed before once its recheck time has passed.
    async fn pick(&self) -> usize {
        let endpoints = &self.inner.endpoints;
        let mut last = 0;
        for choice in endpoints.choose(Instant::now()) {
            match choice {
                Choice::Use(i) => return i,
                Choice::CheckFirst(i) => {
                    let healthy = tokio::time::timeout(
                        HEALTH_TIMEOUT,
                        self.attempt_on(i, &Method::GET, "/health", &Bytes::new()),
                    )
                    .await
                    .is_ok_and(|answer| answer.is_ok_and(|(status, _, _)| status.is_success()));
                    if healthy {
                        endpoints.mark_up(i);
                        return i;
                    }
                    endpoints.mark_down(i, Instant::now());
                    last = i;
                }
            }
        }
        last
    }

    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        body: &Bytes,
    ) -> Result<(StatusCode, Option<Duration>, Bytes), Error> {
        let i = self.pick().await;
        let answered = self.attempt_on(i, method, path, body).await;
        // No answer, or the region's API unable to serve: the next call goes to the next endpoint.
        if answered
            .as_ref()
            .map_or_else(|e| matches!(e, Error::Transport(_)), |(s, _, _)| matches!(s.as_u16(), 502..=504))
        {
            self.inner.endpoints.mark_down(i, Instant::now());
        }
        answered
    }

    async fn attempt_on(
        &self,
        i: usize,
        method: &Method,
        path: &str,
        body: &Bytes,
    ) -> Result<(StatusCode, Option<Duration>, Bytes), Error> {
        let inner = &self.inner;
        let endpoint = &inner.endpoints.list[i];
        let uri = endpoint.base.uri(path)?;
        let host = HeaderValue::from_str(endpoint.base.authority.as_str())
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let mut request = axum::http::Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(header::HOST, host)
            .header(header::ACCEPT, "application/json");
        if !body.is_empty() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let mut request = request.body(Full::new(body.clone())).map_err(|e| Error::Invalid(e.to_string()))?;
        if let Some(signer) = &endpoint.signer {
            signer.sign(&mut request, body).await?;
        }
        let answered = tokio::time::timeout(ATTEMPT_TIMEOUT, async {
            let response = inner.http.request(request).await.map_err(|e| Error::Transport(e.to_string()))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let bytes = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| Error::Transport(format!("the answer broke off: {e}")))?
                .to_bytes();
            Ok((status, retry_after, bytes))
        })
        .await;
        answered.unwrap_or_else(|_| {
            Err(Error::Transport(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())))
        })
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        retry: Retry,
    ) -> Result<T, Error> {
        let bytes = match body {
            Some(b) => Bytes::from(serde_json::to_vec(b).map_err(|e| Error::Invalid(e.to_string()))?),
            None => Bytes::new(),
        };
        let policy = self.inner.retry;
        let attempts = if retry == Retry::Never { 1 } else { policy.attempts.max(1) };
        for attempt in 0..attempts {
            let last = attempt + 1 == attempts;
            let (status, retry_after, answer) = match self.attempt(&method, path, &bytes).await {
                Ok(answered) => answered,
                Err(Error::Transport(why)) if !last => {
                    tracing::debug!(%why, attempt, "no answer; trying again");
                    tokio::time::sleep(policy.delay(attempt, None)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if status.is_success() {
                return serde_json::from_slice(&answer).map_err(|e| {
                    Error::Invalid(format!("{method} {path}: an answer this client cannot read: {e}"))
                });
            }
            let transient = matches!(status.as_u16(), 429 | 502 | 503 | 504)
                || (retry == Retry::TransientAndConflict && status == StatusCode::CONFLICT);
            if !transient || last {
                let problem = serde_json::from_slice(&answer).unwrap_or(Value::Null);
                return Err(Error::Api { status, problem });
            }
            tokio::time::sleep(policy.delay(attempt, retry_after)).await;
        }
        Err(Error::Transport("no attempt was made".into()))
    }

    /// One attempt of any request, its answer as it is (status and JSON body, `null` when it had
    /// none or no JSON): for tools that show every answer (`commander`'s operator commands).
    /// Not retried; an error only when no answer came.
    pub async fn send_once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), Error> {
        let bytes = match body {
            Some(b) => Bytes::from(b.to_string()),
            None => Bytes::new(),
        };
        let (status, _, answer) = self.attempt(&method, path, &bytes).await?;
        Ok((status, serde_json::from_slice(&answer).unwrap_or(Value::Null)))
    }

    /// Reports a replica's heartbeat (safe to repeat: the latest report wins).
    pub async fn heartbeat(&self, beat: &ReplicaHeartbeat) -> Result<HeartbeatAccepted, Error> {
        self.call(Method::POST, "/replicas/heartbeat", Some(beat), Retry::Transient).await
    }

    /// Drains a replica: it takes no new incidents and finishes what it has (idempotent).
    pub async fn drain(&self, replica: &ReplicaRef) -> Result<DrainAnswer, Error> {
        self.call(Method::POST, "/replicas/drain", Some(replica), Retry::Transient).await
    }

    /// Deregisters a replica: gone at once (idempotent).
    pub async fn deregister(&self, replica: &ReplicaRef) -> Result<DeregisterAnswer, Error> {
        self.call(Method::POST, "/replicas/deregister", Some(replica), Retry::Transient).await
    }

    /// Assigns an incident; without an `incident_id` one is made up, so a retry answers the same
    /// replica and counts once.
    pub async fn select(&self, mut request: SelectRequest) -> Result<SelectResponse, Error> {
        request.incident_id.get_or_insert_with(|| uuid::Uuid::new_v4().to_string());
        self.call(Method::POST, "/replicas/select", Some(&request), Retry::Transient).await
    }

    /// Ends an assignment (with the selection's `incident_id`, a retry counts once).
    pub async fn release(&self, request: &ReleaseRequest) -> Result<ReleaseResponse, Error> {
        self.call(Method::POST, "/replicas/release", Some(request), Retry::TransientAndConflict).await
    }

    /// Reports one model call; without a `request_id` one is made up, so retries count once.
    pub async fn report_usage(&self, mut request: UsageRequest) -> Result<UsageResponse, Error> {
        request.request_id.get_or_insert_with(|| uuid::Uuid::new_v4().to_string());
        self.call(Method::POST, "/usage", Some(&request), Retry::TransientAndConflict).await
    }

    /// The model to use for a call.
    pub async fn select_model(&self, request: &SelectModelRequest) -> Result<SelectModelResponse, Error> {
        self.call(Method::POST, "/models/select", Some(request), Retry::Transient).await
    }

    /// How a call on a model went; sent once (failures in a row are counted).
    pub async fn report_model(&self, request: &ReportRequest) -> Result<ModelReportResponse, Error> {
        self.call(Method::POST, "/models/report", Some(request), Retry::Never).await
    }

    /// `GET /scaling/status`, as JSON.
    pub async fn status(&self) -> Result<Value, Error> {
        self.call::<(), Value>(Method::GET, "/scaling/status", None, Retry::Transient).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_with_jitter_and_honour_retry_after() {
        let policy =
            RetryPolicy { attempts: 5, base: Duration::from_millis(100), cap: Duration::from_secs(1) };
        for attempt in 0..8 {
            let ceiling = Duration::from_millis(100 * 2u64.pow(attempt)).min(Duration::from_secs(1));
            for _ in 0..50 {
                assert!(policy.delay(attempt, None) <= ceiling);
            }
        }
        assert!(policy.delay(0, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
        assert_eq!(policy.delay(0, Some(Duration::from_secs(3600))), MAX_RETRY_AFTER, "bounded");
    }
}
