//! Emergency concurrency caps: reserved concurrency on non-critical functions (off by default).

use async_trait::async_trait;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::DisplayErrorContext;

use crate::cost::actions::ConcurrencyLimiter;

#[derive(Debug, Clone)]
pub struct ReservedConcurrency {
    client: Client,
}

impl ReservedConcurrency {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl ConcurrencyLimiter for ReservedConcurrency {
    async fn cap(&self, function: &str, limit: u32) -> Result<(), String> {
        let limit = i32::try_from(limit).map_err(|_| format!("{limit} is above Lambda's limits"))?;
        self.client
            .put_function_concurrency()
            .function_name(function)
            .reserved_concurrent_executions(limit)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DisplayErrorContext(&e).to_string())
    }

    async fn uncap(&self, function: &str) -> Result<(), String> {
        self.client
            .delete_function_concurrency()
            .function_name(function)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DisplayErrorContext(&e).to_string())
    }
}
