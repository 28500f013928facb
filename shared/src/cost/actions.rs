//! What emergency cost controls do outside the table: tell people (a Slack-compatible webhook)
//! and, when the operator enables it, cap the reserved concurrency of non-critical functions
//! (kept as desired state and reconciled every sweep: `caps`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::AdapterError;

/// A message for the people on call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Slack's incoming-webhook field; other chat tools accept it too.
    pub text: String,
}

#[async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug {
    async fn notify(&self, notification: &Notification) -> Result<(), AdapterError>;
}

/// A function's reserved concurrency (Lambda's GetFunctionConcurrency, PutFunctionConcurrency
/// and DeleteFunctionConcurrency).
#[async_trait]
pub trait ConcurrencyLimiter: Send + Sync + std::fmt::Debug {
    /// What the function has reserved (`None`: nothing, it draws on the account's pool).
    async fn reserved(&self, function: &str) -> Result<Option<u32>, AdapterError>;
    /// Reserves `limit` for the function, which is then also its ceiling.
    async fn reserve(&self, function: &str, limit: u32) -> Result<(), AdapterError>;
    /// Removes the function's reservation.
    async fn unreserve(&self, function: &str) -> Result<(), AdapterError>;
}
