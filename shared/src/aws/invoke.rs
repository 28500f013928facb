//! The warmer's invoker: RequestResponse invocations through per-region Lambda clients (each built
//! when its region is first warmed),
//! or through a local Lambda-API endpoint (`COMMANDER_LAMBDA_ENDPOINT`, e.g. `cargo lambda watch`).

use std::sync::Arc;

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use serde_json::Value;

use super::lazy_clients::LazyClients;
use crate::domain::Region;
use crate::error::AdapterError;
use crate::performance::Pool;

/// What the ports' errors call this service.
const SERVICE: &str = "Lambda invoke";
use crate::warming::fanout::{Invoked, Invoker, billed_ms_from_log};
use crate::warming::plan::WarmTarget;

#[derive(Debug, Clone)]
pub struct LambdaInvoker {
    clients: LazyClients<Client>,
}

impl LambdaInvoker {
    /// One client per region from the function's SDK configuration.
    pub fn new(sdk: &aws_config::SdkConfig, regions: &[Region]) -> Self {
        let sdk = sdk.clone();
        let clients = super::per_region(regions, move |r| {
            Client::from_conf(
                aws_sdk_lambda::config::Builder::from(&sdk)
                    .region(aws_sdk_lambda::config::Region::new(r.to_owned()))
                    .build(),
            )
        });
        Self { clients }
    }

    /// Clients for a local Lambda-API endpoint (dummy credentials; every region goes there).
    pub fn local(endpoint: &str, regions: &[Region], pool: &Arc<Pool>) -> Self {
        let (endpoint, pool) = (endpoint.to_owned(), Arc::clone(pool));
        Self {
            clients: super::per_region(regions, move |r| {
                super::local_lambda(&endpoint, r, Arc::clone(&pool))
            }),
        }
    }

    /// Clients given outright (tests).
    pub fn with_clients(clients: BTreeMap<String, Client>) -> Self {
        Self { clients: clients.into() }
    }
}

#[async_trait]
impl Invoker for LambdaInvoker {
    async fn invoke(&self, target: &WarmTarget, payload: &Value) -> Result<Invoked, AdapterError> {
        let client = self.clients.get(target.region.as_str()).ok_or_else(|| {
            AdapterError::permanent(SERVICE, "no Lambda client for the region").in_region(&target.region)
        })?;
        let body =
            serde_json::to_vec(payload).map_err(|e| AdapterError::permanent(SERVICE, e.to_string()))?;
        let out = client
            .invoke()
            .function_name(&target.function)
            .set_qualifier(target.qualifier.clone())
            .invocation_type(InvocationType::RequestResponse)
            .log_type(LogType::Tail)
            .payload(Blob::new(body))
            .send()
            .await
            .map_err(|e| super::sdk_failure(SERVICE, &target.function, &e).in_region(&target.region))?;
        let billed_ms = out
            .log_result()
            .and_then(|b64| aws_smithy_types::base64::decode(b64).ok())
            .and_then(|bytes| billed_ms_from_log(&String::from_utf8_lossy(&bytes)));
        let payload = out.payload().map_or(Value::Null, |p| {
            serde_json::from_slice(p.as_ref())
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(p.as_ref()).into()))
        });
        Ok(Invoked { payload, function_error: out.function_error().map(str::to_owned), billed_ms })
    }
}
