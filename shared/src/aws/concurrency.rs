//! Emergency concurrency caps: reserved concurrency on non-critical functions (off by default),
//! read, put and deleted through the Lambda API (the SDK retries throttles; the sweep reconciles
//! whatever is left on its next run).

use async_trait::async_trait;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};

use super::lazy_client::LazyClient;
use crate::cost::actions::ConcurrencyLimiter;
use crate::error::AdapterError;

#[derive(Debug, Clone)]
pub struct ReservedConcurrency {
    client: LazyClient<Client>,
}

impl ReservedConcurrency {
    pub fn new(client: impl Into<LazyClient<Client>>) -> Self {
        Self { client: client.into() }
    }
}

/// What the ports' errors call this service.
const SERVICE: &str = "Lambda concurrency";

fn limit_error<E, R>(e: &SdkError<E, R>) -> AdapterError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    super::sdk_failure(SERVICE, "reserved concurrency", e)
}

#[async_trait]
impl ConcurrencyLimiter for ReservedConcurrency {
    async fn reserved(&self, function: &str) -> Result<Option<u32>, AdapterError> {
        let out = self
            .client
            .get()
            .get_function_concurrency()
            .function_name(function)
            .send()
            .await
            .map_err(|e| limit_error(&e))?;
        Ok(out.reserved_concurrent_executions().and_then(|n| u32::try_from(n).ok()))
    }

    async fn reserve(&self, function: &str, limit: u32) -> Result<(), AdapterError> {
        let limit = i32::try_from(limit)
            .map_err(|_| AdapterError::permanent(SERVICE, format!("{limit} is above Lambda's limits")))?;
        self.client
            .get()
            .put_function_concurrency()
            .function_name(function)
            .reserved_concurrent_executions(limit)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| limit_error(&e))
    }

    async fn unreserve(&self, function: &str) -> Result<(), AdapterError> {
        self.client
            .get()
            .delete_function_concurrency()
            .function_name(function)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| limit_error(&e))
    }
}
