//! The api Lambda: configuration and clients built once per container, then the Router serves.

use std::sync::Arc;

use shared::clock::SystemClock;
use shared::config::{Config, TableConfig};
use shared::store::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config = Config::from_env()?;
    let table = TableConfig::from_env()?;
    shared::telemetry::init_logging(&config);
    let sdk = shared::aws::sdk_config(table.endpoint.as_deref()).await;
    let clock = Arc::new(SystemClock);
    let store = DynamoStore::new(shared::aws::dynamodb(&sdk), table.table_name.clone(), clock.clone());
    let actuator =
        shared::scaling::actuator::from_env(&|name| std::env::var(name).ok(), &sdk, &config.regions)?;
    let cost = shared::cost::setup::CostSetup::from_env(&shared::config::ProcessEnv, &table.table_name)?;
    let state =
        api::AppState::with_actuator(Arc::new(store), clock, config, actuator).with_cost(&cost, Some(&sdk));
    let app = api::router(state);
    lambda_http::run(app).await
}
