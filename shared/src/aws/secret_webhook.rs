//! The webhook whose URL lives in Secrets Manager: the URL is a credential (anyone holding a
//! Slack webhook URL can post to the channel), so in Lambda it never sits in an environment.
//! It is read on the first notification a container sends (not at start: most sweeps tell
//! nothing, and a cold start should not wait on Secrets Manager) and kept for the container's
//! life; a failed read is not kept, so the next notification tries again.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::OnceCell;

use super::webhook::Webhook;
use crate::cost::actions::{Notification, Notifier};
use crate::error::AdapterError;
use crate::performance::Pool;

const SERVICE: &str = "secretsmanager";

/// Where a secret's value is read from.
#[async_trait]
pub trait SecretSource: Send + Sync + std::fmt::Debug {
    /// The secret's current string value.
    async fn read(&self, secret_id: &str) -> Result<String, AdapterError>;
}

/// AWS Secrets Manager.
#[derive(Debug, Clone)]
pub struct SecretsManager(pub aws_sdk_secretsmanager::Client);

#[async_trait]
impl SecretSource for SecretsManager {
    async fn read(&self, secret_id: &str) -> Result<String, AdapterError> {
        let answer = self
            .0
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| super::sdk_failure(SERVICE, &format!("GetSecretValue {secret_id}"), &e))?;
        answer
            .secret_string
            .ok_or_else(|| AdapterError::permanent(SERVICE, format!("{secret_id} holds no SecretString")))
    }
}

/// The URL in a secret's value: the value itself, or its `url` field when it is a JSON object
/// (the shape the Secrets Manager console makes of key/value pairs).
pub fn url_in(value: &str) -> Option<String> {
    let value = value.trim();
    if value.starts_with('{') {
        let parsed: serde_json::Value = serde_json::from_str(value).ok()?;
        return parsed.get("url").and_then(|u| u.as_str()).map(|u| u.trim().to_owned());
    }
    Some(value.to_owned()).filter(|v| !v.is_empty())
}

/// A webhook whose URL is read from a secret once per container.
#[derive(Debug)]
pub struct SecretWebhook {
    secret_id: String,
    source: Arc<dyn SecretSource>,
    pool: Arc<Pool>,
    hook: OnceCell<Webhook>,
}

impl SecretWebhook {
    pub fn new(secret_id: impl Into<String>, source: Arc<dyn SecretSource>, pool: Arc<Pool>) -> Self {
        Self { secret_id: secret_id.into(), source, pool, hook: OnceCell::new() }
    }

    async fn hook(&self) -> Result<&Webhook, AdapterError> {
        self.hook
            .get_or_try_init(|| async {
                let value = self.source.read(&self.secret_id).await?;
                let url = url_in(&value).ok_or_else(|| {
                    AdapterError::permanent(
                        SERVICE,
                        format!("{} holds neither a URL nor a JSON object with a url field", self.secret_id),
                    )
                })?;
                // The URL itself is never logged or reported: it is the credential.
                Webhook::new(&url, Arc::clone(&self.pool)).map_err(|e| {
                    AdapterError::permanent(
                        SERVICE,
                        format!("the URL in {} is unusable: {}", self.secret_id, e.message),
                    )
                })
            })
            .await
    }
}

#[async_trait]
impl Notifier for SecretWebhook {
    async fn notify(&self, notification: &Notification) -> Result<(), AdapterError> {
        self.hook().await?.notify(notification).await
    }
}
