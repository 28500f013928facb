//! AWS SDK set-up shared by the functions: one HTTP client (rustls with ring, the only TLS stack
//! in the build) and one `SdkConfig` per container, built in `main` and handed to every client.

pub mod agent_metrics;
pub mod alarms;
pub mod concurrency;
pub mod cost_sources;
pub mod invoke;
pub mod provisioned;
pub mod scaling;
pub mod secret_webhook;
pub mod warm_history;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::{RuntimeComponents, RuntimeComponentsBuilder};
use aws_smithy_types::config_bag::ConfigBag;

use crate::performance::pools::{Pool, Pools, Service};

/// Bounds one call to AWS. An API request as a whole is bounded tighter (`api::REQUEST_DEADLINE`,
/// 10 s, inside its 15 s timeout); the scheduled functions have a minute or more.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(12);

/// A client for a local server at `endpoint`, taking slots from `pool`: plain HTTP for an
/// `http://` endpoint (no root certificates to load), else as for AWS.
fn local_http_client(endpoint: &str, pool: Arc<Pool>) -> SharedHttpClient {
    if !endpoint.starts_with("http://") {
        return pooled_http_client(pool);
    }
    let inner = aws_smithy_http_client::Builder::new()
        .pool_max_idle_per_host(pool.limits().max as usize)
        .build_http();
    SharedHttpClient::new(PooledClient { inner, pool })
}

/// An HTTP client that takes a slot from `pool` for every request (so at most `max` are in
/// flight and the pool's gauges see each one) and keeps up to `max` idle connections per host.
pub fn pooled_http_client(pool: Arc<Pool>) -> SharedHttpClient {
    let inner = aws_smithy_http_client::Builder::new()
        .pool_max_idle_per_host(pool.limits().max as usize)
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    SharedHttpClient::new(PooledClient { inner, pool })
}

#[derive(Debug)]
struct PooledClient {
    inner: SharedHttpClient,
    pool: Arc<Pool>,
}

impl HttpClient for PooledClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PooledConnector {
            inner: self.inner.http_connector(settings, components),
            pool: Arc::clone(&self.pool),
        })
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_base_client_config(runtime_components, cfg)
    }

    fn validate_final_config(
        &self,
        runtime_components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_final_config(runtime_components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct PooledConnector {
    inner: SharedHttpConnector,
    pool: Arc<Pool>,
}

impl HttpConnector for PooledConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, pool) = (self.inner.clone(), Arc::clone(&self.pool));
        HttpConnectorFuture::new(async move {
            // Held until the response's head arrives: the gauge counts requests awaiting AWS.
            let _slot = pool.acquire().await.map_err(|e| ConnectorError::timeout(Box::new(e)))?;
            inner.call(request).await
        })
    }
}

pub(crate) fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// A failed SDK call as the ports report it: transient when the request never got an answer
/// (dispatch, timeout, an unreadable response) or the service throttled it; not found when the
/// service says so; otherwise permanent.
pub(crate) fn sdk_failure<E, R>(
    service: &'static str,
    what: &str,
    err: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> crate::error::AdapterError
where
    E: std::error::Error + aws_smithy_types::error::metadata::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let message = format!("{what}: {}", aws_smithy_types::error::display::DisplayErrorContext(err));
    match err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            crate::error::AdapterError::transient(service, message)
        }
        SdkError::ServiceError(e) => {
            let code = e.err().code().unwrap_or_default();
            if code.contains("Throttl") || code.contains("TooManyRequests") || code.contains("LimitExceeded")
            {
                crate::error::AdapterError::transient(service, message)
            } else if code.contains("NotFound") {
                crate::error::AdapterError::not_found(service, message)
            } else {
                crate::error::AdapterError::permanent(service, message)
            }
        }
        _ => crate::error::AdapterError::permanent(service, message),
    }
}

/// Loads region and credentials the usual way (environment, profile, container role), optionally
/// aimed at a local endpoint such as a DynamoDB-API server on loopback.
/// Every SDK client built from it shares one HTTP client, whose requests take slots from the AWS
/// pool of `pools`.
pub async fn sdk_config(endpoint: Option<&str>, pools: &Pools) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(pooled_http_client(pools.get(Service::Aws)))
        .timeout_config(timeouts());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// One client per region (built by `client` from the region code), keyed by region code: the
/// functions that act in every region of the fleet build these once per container.
pub fn per_region<C>(
    regions: &[crate::domain::Region],
    client: impl Fn(&str) -> C,
) -> std::collections::BTreeMap<String, C> {
    regions.iter().map(|r| (r.to_string(), client(r.as_str()))).collect()
}

pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// A Lambda client for a Lambda-API endpoint on loopback (`cargo lambda watch`, a test server):
/// dummy credentials, `region` as given, requests taking slots from `pool` (the container's AWS
/// pool, so its figures count them).
pub fn local_lambda(endpoint: &str, region: &str, pool: Arc<Pool>) -> aws_sdk_lambda::Client {
    use aws_sdk_lambda::config::{Builder, Credentials, Region};
    aws_sdk_lambda::Client::from_conf(
        Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .http_client(local_http_client(endpoint, pool))
            .timeout_config(timeouts())
            .credentials_provider(Credentials::new("local", "local", None, None, "commander-local"))
            .region(Region::new(region.to_owned()))
            .endpoint_url(endpoint)
            .build(),
    )
}

/// A DynamoDB client for a DynamoDB-API server on loopback (tests, local development): static
/// dummy credentials and a fixed region, so nothing probes the environment or instance metadata.
pub fn local_dynamodb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::{Builder, Credentials, Region};
    let config = Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .http_client(local_http_client(endpoint, Pool::new(Service::Aws, Service::Aws.default_limits())))
        .credentials_provider(Credentials::new("local", "local", None, None, "commander-local"))
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .timeout_config(timeouts())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
