//! SigV4 signing for `execute-api`, as the deployed HTTP API requires of every request: one
//! signer for agents (this crate's client), the operator commands and `commander proxy`, with
//! the caller's own credentials.

use std::time::SystemTime;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use axum::body::Bytes;
use http_body_util::Full;

/// The signing service of API Gateway.
pub const SERVICE: &str = "execute-api";

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("no AWS credentials to sign with: {0}")]
    NoCredentials(String),
    #[error("the request could not be signed: {0}")]
    Failed(String),
    #[error("no region to sign for: {0}")]
    NoRegion(String),
}

/// The region in an API Gateway host name (`<id>.execute-api.<region>.amazonaws.com`).
pub fn region_of(api: &axum::http::Uri) -> Option<String> {
    let parts: Vec<&str> = api.host()?.split('.').collect();
    (parts.len() >= 4 && parts[1] == SERVICE).then(|| parts[2].to_owned())
}

/// Signs requests for one region with one identity.
#[derive(Debug, Clone)]
pub struct Signer {
    region: String,
    credentials: SharedCredentialsProvider,
}

impl Signer {
    pub fn new(region: &str, credentials: SharedCredentialsProvider) -> Self {
        Self { region: region.to_owned(), credentials }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Adds the signature headers to `request`, whose body is `body`; the headers already on it
    /// (`Host` included) are signed.
    pub async fn sign(
        &self,
        request: &mut axum::http::Request<Full<Bytes>>,
        body: &[u8],
    ) -> Result<(), SignError> {
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| SignError::NoCredentials(e.to_string()))?;
        let identity = credentials.into();
        let failed = |e: &dyn std::fmt::Display| SignError::Failed(e.to_string());
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed(&e))?
            .into();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned())))
            .collect();
        let method = request.method().as_str().to_owned();
        let target = request.uri().to_string();
        let signable = SignableRequest::new(
            &method,
            target.as_str(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| failed(&e))?;
        let (instructions, _signature) = sign(signable, &params).map_err(|e| failed(&e))?.into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// The caller's own signer for the API at `api`: credentials the usual AWS way (environment,
/// profiles, SSO, credential processes), the region given, else the one in the API's host name,
/// else the profile's.
pub async fn caller(api: &axum::http::Uri, region: Option<String>) -> Result<Signer, SignError> {
    let sdk = shared::aws::sdk_config(
        None,
        &shared::performance::Pools::default(),
        shared::aws::SettingsSource::EnvironmentAndProfiles,
    )
    .await;
    let credentials = sdk.credentials_provider().ok_or_else(|| {
        SignError::NoCredentials(
            "none found: set AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                .into(),
        )
    })?;
    let region = region
        .or_else(|| region_of(api))
        .or_else(|| sdk.region().map(ToString::to_string))
        .filter(|r| !r.is_empty())
        .ok_or_else(|| SignError::NoRegion("pass the region to sign for".into()))?;
    Ok(Signer::new(&region, credentials))
}
