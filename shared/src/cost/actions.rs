//! What emergency cost controls do outside the table: tell people (a Slack-compatible webhook)
//! and, when the operator enables it, cap the reserved concurrency of non-critical functions.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A message for the people on call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Slack's incoming-webhook field; other chat tools accept it too.
    pub text: String,
}

#[async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug {
    async fn notify(&self, notification: &Notification) -> Result<(), String>;
}

#[async_trait]
pub trait ConcurrencyLimiter: Send + Sync + std::fmt::Debug {
    /// Caps the function's reserved concurrency.
    async fn cap(&self, function: &str, limit: u32) -> Result<(), String>;
    /// Removes the cap.
    async fn uncap(&self, function: &str) -> Result<(), String>;
}
