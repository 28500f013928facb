//! The scaler Lambda: configuration and clients built once per container, then the handler runs.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use scaler::ScalerDeps;
use serde_json::Value;
use shared::clock::SystemClock;
use shared::config::{Config, ProcessEnv, TableConfig};
use shared::performance::setup::{Wired, wire_dynamo};
use shared::scaling::FleetState;
use shared::scaling::cost_gate::CostGate;
use shared::scaling::service::Scaler;
use shared::store::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = Config::from_env()?;
    let table = TableConfig::from_env()?;
    shared::telemetry::init_logging(&config);
    let sdk = shared::aws::sdk_config(table.endpoint.as_deref()).await;
    let clock = Arc::new(SystemClock);
    let dynamo = DynamoStore::new(shared::aws::dynamodb(&sdk), table.table_name, clock.clone());
    let Wired { performance, store, .. } =
        wire_dynamo("scaler", dynamo, clock.clone(), &config, &ProcessEnv, false)?;
    let scaling = shared::scaling::setup::ScalingSetup::from_env(&ProcessEnv)?;
    let actuator = shared::aws::scaling::actuator(&scaling, &sdk, &config.regions);
    let scaler =
        Scaler::new(FleetState::new(store.clone()), config.regions.clone(), CostGate::default(), actuator)
            .with_proximity(config.proximity.clone())
            .with_signals(shared::aws::scaling::signals(&scaling, &sdk, &config.regions));
    let scaler = match shared::aws::scaling::alarms(&scaling, &config.metric_namespace, &sdk, &config.regions)
    {
        Some(alarms) => scaler.with_alarms(alarms),
        None => scaler,
    };
    let deps = ScalerDeps { scaler, store, clock };
    let deps = &deps;
    let performance = &performance;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        shared::warming::ping_or(&event.payload, || {
            // Ticks and alarms come often: the figures go to the table at most once a minute.
            performance.after(
                false,
                scaler::handle_event(deps, &event.payload, shared::lambda::deadline_of(&event.context)),
            )
        })
        .await
    }))
    .await
}
