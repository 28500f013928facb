//! AWS SDK set-up shared by the functions: one HTTP client (rustls with ring, the only TLS stack
//! in the build) and one `SdkConfig` per container, built in `main` and handed to every client.

pub mod concurrency;
pub mod cost_sources;
pub mod invoke;
pub mod provisioned;
pub mod warm_history;
pub mod webhook;

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// Fails a call to AWS fast enough for an API request to answer 503 rather than time out.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(12);

pub(crate) fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

pub(crate) fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// Loads region and credentials the usual way (environment, profile, container role), optionally
/// aimed at a local endpoint such as a DynamoDB-API server on loopback.
pub async fn sdk_config(endpoint: Option<&str>) -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).http_client(http_client()).timeout_config(timeouts());
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

/// A DynamoDB client for a DynamoDB-API server on loopback (tests, local development): static
/// dummy credentials and a fixed region, so nothing probes the environment or instance metadata.
pub fn local_dynamodb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::{Builder, Credentials, Region};
    let config = Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client())
        .credentials_provider(Credentials::new("local", "local", None, None, "commander-local"))
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .timeout_config(timeouts())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
