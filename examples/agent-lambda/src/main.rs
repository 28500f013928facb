//! An example agent of the fleet as a Lambda function (see this crate's README): built once
//! per container from its environment, then every event goes to [`incident::Agent::handle`].

mod incident;
mod model;
mod settings;

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::aws::SettingsSource;
use shared::performance::pools::Pools;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = settings::Settings::from_env(|name| std::env::var(name).ok())?;
    let sdk = shared::aws::sdk_config(None, &Pools::default(), SettingsSource::Environment).await;
    let client =
        commander_client::Client::connect(&settings.api_url, sdk.region().map(ToString::to_string)).await?;
    let bedrock = model::Bedrock {
        client: aws_sdk_bedrockruntime::Client::new(&sdk),
        max_tokens: i32::try_from(incident::MAX_ANSWER_TOKENS).unwrap_or(i32::MAX),
    };
    let agent = Arc::new(incident::Agent::new(client, Arc::new(bedrock), settings)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let agent = Arc::clone(&agent);
        async move { agent.handle(event.payload).await }
    }))
    .await
}
