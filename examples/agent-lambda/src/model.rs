//! The model call: Bedrock's Converse API with the model the commander chose. What the call
//! used (tokens, latency) comes from Bedrock's own answer, so the usage report is what Bedrock
//! bills.

use std::time::Instant;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::DisplayErrorContext;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, InferenceConfiguration, Message};

/// What one call answered and used.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub text: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub latency_ms: f64,
}

/// The model, behind a port so the incident flow can be read (and tested) apart from Bedrock.
#[async_trait]
pub trait Model: Send + Sync + std::fmt::Debug {
    /// Asks `model_id` (a Bedrock model id or inference profile) `prompt`.
    async fn converse(&self, model_id: &str, prompt: &str) -> Result<Reply, String>;
}

/// Bedrock in the function's own region.
#[derive(Debug, Clone)]
pub struct Bedrock {
    pub client: Client,
    /// Most tokens one answer may take.
    pub max_tokens: i32,
}

#[async_trait]
impl Model for Bedrock {
    async fn converse(&self, model_id: &str, prompt: &str) -> Result<Reply, String> {
        let started = Instant::now();
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(prompt.to_owned()))
            .build()
            .map_err(|e| e.to_string())?;
        let out = self
            .client
            .converse()
            .model_id(model_id)
            .messages(message)
            .inference_config(InferenceConfiguration::builder().max_tokens(self.max_tokens).build())
            .send()
            .await
            .map_err(|e| format!("{model_id}: {}", DisplayErrorContext(&e)))?;
        let text = out
            .output()
            .and_then(|o| o.as_message().ok())
            .map(|m| {
                m.content().iter().filter_map(|c| c.as_text().ok().map(String::as_str)).collect::<String>()
            })
            .unwrap_or_default();
        let tokens = |n: i32| u64::try_from(n).unwrap_or(0);
        let (input_tokens, output_tokens) =
            out.usage().map_or((0, 0), |u| (tokens(u.input_tokens()), tokens(u.output_tokens())));
        // Bedrock's own figure when it gives one (the model's time, not the network's).
        #[allow(clippy::cast_precision_loss, reason = "milliseconds of one call")]
        let latency_ms =
            out.metrics().map_or_else(|| started.elapsed().as_secs_f64() * 1000.0, |m| m.latency_ms() as f64);
        Ok(Reply { text, input_tokens, output_tokens, latency_ms })
    }
}
