//! Who is calling: the IAM principal API Gateway verified (the HTTP API admits only SigV4-signed
//! requests), or `local` under `commander serve`, whose admission rules admit only this machine.

use axum::extract::FromRequestParts;
use axum::http::Extensions;
use axum::http::request::Parts;
use lambda_http::request::RequestContext;

/// The caller's principal, for the records of who changed what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

/// A principal is an ARN; anything longer is cut (it is recorded, not trusted).
const MAX_PRINCIPAL: usize = 512;

impl Caller {
    pub fn of(extensions: &Extensions) -> Self {
        let arn = match extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(context)) => {
                context.authorizer.as_ref().and_then(|a| a.iam.as_ref()).and_then(|iam| iam.user_arn.clone())
            }
            Some(RequestContext::ApiGatewayV1(context)) => context.identity.user_arn.clone(),
            _ => None,
        };
        let principal = arn.filter(|a| !a.is_empty()).unwrap_or_else(|| "local".to_owned());
        Self(principal.chars().take(MAX_PRINCIPAL).collect())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions))
    }
}
