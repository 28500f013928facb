//! The cost-sweeper Lambda: configuration and clients built once per container, then the handler
//! runs on every scheduled event.

use std::sync::Arc;

use cost_sweeper::SweeperDeps;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::clock::SystemClock;
use shared::config::{Config, ProcessEnv, TableConfig};
use shared::cost::setup::CostSetup;
use shared::performance::setup::{Wired, wire_dynamo};
use shared::store::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = Config::from_env()?;
    let table = TableConfig::from_env()?;
    shared::telemetry::init_logging(&config);
    let cost = CostSetup::from_env(&ProcessEnv, &table.table_name)?;
    let sdk = shared::aws::sdk_config(table.endpoint.as_deref()).await;
    let clock = Arc::new(SystemClock);
    let dynamo = DynamoStore::new(shared::aws::dynamodb(&sdk), table.table_name, clock.clone());
    let Wired { performance, store, .. } =
        wire_dynamo("cost-sweeper", dynamo, clock.clone(), &config, &ProcessEnv, false)?;
    let sweeper = cost
        .sweeper(store.clone(), Some(&sdk), &config.regions)
        .with_metrics(shared::telemetry::EmfSink::from_config(&config));
    let deps = SweeperDeps { sweeper, store, clock };
    let deps = &deps;
    let performance = &performance;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        shared::warming::ping_or(&event.payload, || {
            // The end of a run: this container's figures go to the table now.
            performance.after(
                true,
                cost_sweeper::handle_schedule(
                    deps,
                    &event.payload,
                    shared::lambda::deadline_of(&event.context),
                ),
            )
        })
        .await
    }))
    .await
}
