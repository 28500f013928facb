//! The warmer Lambda: configuration and clients (one Lambda client per target region) built once
//! per container, then the handler runs on every scheduled event.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::clock::SystemClock;
use shared::config::{Config, ProcessEnv, TableConfig};
use shared::cost::setup::CostSetup;
use shared::store::{DynamoStore, Store};
use warmer::WarmerDeps;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = Config::from_env()?;
    let table = TableConfig::from_env()?;
    shared::telemetry::init_logging(&config);
    let cost = CostSetup::from_env(&ProcessEnv, &table.table_name)?;
    let sdk = shared::aws::sdk_config(table.endpoint.as_deref()).await;
    let clock = Arc::new(SystemClock);
    let store: Arc<dyn Store> =
        Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), table.table_name, clock.clone()));
    let warmer = shared::warming::setup::warmer_from_env(
        &ProcessEnv,
        store.clone(),
        cost.price_book(store.clone()),
        Some(&sdk),
    )?;
    let deps = WarmerDeps { warmer, store, clock };
    let deps = &deps;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        shared::warming::ping_or(&event.payload, || warmer::handle_schedule(deps, &event.payload)).await
    }))
    .await
}
