//! AWS SDK set-up shared by the functions: one HTTP client (rustls with ring, the only TLS stack
//! in the build) and one `SdkConfig` per container, built in `main` and handed to every client.

pub mod agent_metrics;
pub mod alarms;
pub mod concurrency;
pub mod cost_sources;
pub mod ecs;
pub mod invoke;
pub mod lazy_client;
pub mod lazy_clients;
pub mod provisioned;
pub mod scaling;
pub mod secret_webhook;
pub mod warm_history;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
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

/// The roots AWS service endpoints' certificates chain to: every AWS endpoint serves a
/// certificate issued by Amazon Trust Services (Amazon Root CA 1-4, cross-signed by the Starfield
/// Services root G2). Compiled in, so no container reads and parses the system's certificate
/// store (well over a hundred files) before its first poll, and so the SDK trusts nothing else.
const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("amazon-trust-services-roots.pem");

/// The TLS context of every SDK client: the Amazon Trust Services roots only.
fn aws_tls_context() -> TlsContext {
    let roots = TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS.as_bytes());
    // `build` cannot fail for a trust store (it only moves it in); fall back to the default
    // (the system's roots) rather than panic should a later version start validating.
    TlsContext::builder().with_trust_store(roots).build().unwrap_or_default()
}

/// An HTTP client that takes a slot from `pool` for every request (so at most `max` are in
/// flight and the pool's gauges see each one) and keeps up to `max` idle connections per host.
pub fn pooled_http_client(pool: Arc<Pool>) -> SharedHttpClient {
    let inner = aws_smithy_http_client::Builder::new()
        .pool_max_idle_per_host(pool.limits().max as usize)
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(aws_tls_context())
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

/// A failed SDK call of an actuator: transient when the request never got an answer (dispatch,
/// timeout, an unreadable response) or when the service's own error is one a retry can outlast
/// (`transient_service_error`: the caller's judgement of its service's error kinds); otherwise
/// permanent.
pub(crate) fn call_failure<E, R>(
    service: &'static str,
    what: &str,
    err: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
    transient_service_error: bool,
) -> crate::error::AdapterError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let retryable = match err {
        SdkError::ServiceError(_) => transient_service_error,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        _ => false,
    };
    let message = format!("{what}: {}", aws_smithy_types::error::display::DisplayErrorContext(err));
    if retryable {
        crate::error::AdapterError::transient(service, message)
    } else {
        crate::error::AdapterError::permanent(service, message)
    }
}

/// Where a process's SDK settings (region, credentials, endpoint options) come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsSource {
    /// The environment only: Lambda sets `AWS_REGION` and the role's credentials as variables
    /// and has no profile files, so looking for `~/.aws/config` and `~/.aws/credentials` would
    /// only cost a container's start two file-system misses.
    Environment,
    /// The environment, then the shared profile files: an operator's machine (SSO, named
    /// profiles, credential processes).
    EnvironmentAndProfiles,
}

/// Loads region and credentials from `source` (then a container role), optionally aimed at a
/// local endpoint such as a DynamoDB-API server on loopback.
/// Every SDK client built from it shares one HTTP client, whose requests take slots from the AWS
/// pool of `pools`.
pub async fn sdk_config(endpoint: Option<&str>, pools: &Pools, source: SettingsSource) -> SdkConfig {
    loader(endpoint, pools, source).load().await
}

/// The profile files `source` reads: `None` for the SDK's default (`~/.aws/config` and
/// `~/.aws/credentials`, or where `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE` point);
/// for the environment only, an empty profile held in memory, so every setting falls through to
/// its environment variable or default and no file is opened.
fn profile_files(source: SettingsSource) -> Option<EnvConfigFiles> {
    use aws_runtime::env_config::file::EnvConfigFileKind;
    (source == SettingsSource::Environment).then(|| {
        EnvConfigFiles::builder()
            .include_default_config_file(false)
            .include_default_credentials_file(false)
            .with_contents(EnvConfigFileKind::Config, "")
            .build()
    })
}

fn loader(endpoint: Option<&str>, pools: &Pools, source: SettingsSource) -> aws_config::ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(pooled_http_client(pools.get(Service::Aws)))
        .timeout_config(timeouts());
    if let Some(files) = profile_files(source) {
        loader = loader.profile_files(files);
    }
    if source == SettingsSource::Environment {
        let given = LambdaGiven::read(|name| std::env::var(name).ok());
        if let Some(region) = given.region {
            loader = loader.region(aws_config::Region::new(region));
        }
        if given.credentials {
            loader = loader
                .credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new());
        }
    }
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    loader
}

/// What the Lambda runtime gives a function as variables: its region (`AWS_REGION`) and its
/// execution role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, with
/// `AWS_SESSION_TOKEN`). Given them outright, the SDK's loader builds neither its region chain
/// nor its credentials chain (each with an instance-metadata client, and the latter with
/// container, web-identity and profile providers, none of which a Lambda function uses): a few
/// hundred microseconds of every cold start. Without them the chains are built as usual.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LambdaGiven {
    region: Option<String>,
    /// Both keys are set (the session token is read with them when present).
    credentials: bool,
}

impl LambdaGiven {
    fn read(var: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        Self {
            region: set("AWS_REGION"),
            credentials: set("AWS_ACCESS_KEY_ID").is_some() && set("AWS_SECRET_ACCESS_KEY").is_some(),
        }
    }
}

/// One client per region (built by `client` from the region code when something first asks for
/// that region), keyed by region code: the functions that act in every region of the fleet hold
/// these for the container's life.
pub fn per_region<C>(
    regions: &[crate::domain::Region],
    client: impl Fn(&str) -> C + Send + Sync + 'static,
) -> lazy_clients::LazyClients<C> {
    lazy_clients::LazyClients::lazy(regions, client)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_region_and_credentials_from_the_environment_only_when_lambda_gives_both_keys() {
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Vars, Option<&str>, bool); 5] = [
            (
                &[("AWS_REGION", "eu-west-1"), ("AWS_ACCESS_KEY_ID", "AK"), ("AWS_SECRET_ACCESS_KEY", "SK")],
                Some("eu-west-1"),
                true,
            ),
            (&[("AWS_REGION", "eu-west-1"), ("AWS_ACCESS_KEY_ID", "AK")], Some("eu-west-1"), false),
            (&[("AWS_ACCESS_KEY_ID", "AK"), ("AWS_SECRET_ACCESS_KEY", " ")], None, false),
            (&[("AWS_REGION", ""), ("AWS_ACCESS_KEY_ID", "AK"), ("AWS_SECRET_ACCESS_KEY", "SK")], None, true),
            (&[], None, false),
        ];
        for (vars, region, credentials) in cases {
            let given =
                LambdaGiven::read(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned()));
            assert_eq!(given, LambdaGiven { region: region.map(str::to_owned), credentials }, "{vars:?}");
        }
    }

    #[test]
    fn the_compiled_in_roots_are_the_five_amazon_trust_services_certificates() {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let certs: Vec<_> = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
            .collect::<Result<_, _>>()
            .expect("every certificate in the file parses");
        assert_eq!(certs.len(), 5);
        // Each DER certificate names its issuer: four Amazon roots and the Starfield one.
        let names =
            |needle: &[u8]| certs.iter().filter(|c| c.windows(needle.len()).any(|w| w == needle)).count();
        assert_eq!(names(b"Amazon Root CA"), 4);
        assert_eq!(names(b"Starfield Services Root Certificate Authority - G2"), 1);
    }

    /// The region the profile files of `source` name on a machine whose `~/.aws/config` names one.
    async fn profile_region(source: SettingsSource) -> Option<String> {
        use aws_types::os_shim_internal::{Env, Fs};
        let fs = Fs::from_slice(&[("/home/operator/.aws/config", "[default]\nregion = eu-north-9\n")]);
        let env = Env::from_slice(&[("HOME", "/home/operator")]);
        let files = profile_files(source).unwrap_or_default();
        let profiles = aws_config::profile::load(&fs, &env, &files, None).await.expect("profiles load");
        profiles.get("region").map(ToOwned::to_owned)
    }

    #[tokio::test]
    async fn a_lambda_container_reads_no_profile_file_and_an_operators_machine_does() {
        assert_eq!(profile_region(SettingsSource::Environment).await, None);
        assert_eq!(
            profile_region(SettingsSource::EnvironmentAndProfiles).await.as_deref(),
            Some("eu-north-9")
        );
    }
}
