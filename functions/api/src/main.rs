//! The api Lambda: configuration and clients built once per container, then the Router serves.
//! Warm pings are answered before an event is read as an HTTP request, so they never reach the
//! Router (no access log, no metrics).

use std::sync::Arc;

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, LambdaEvent, Service, service_fn};
use serde_json::Value;
use shared::clock::SystemClock;
use shared::config::{Config, TableConfig};
use shared::performance::setup::{Wired, wire_dynamo};
use shared::store::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config = Config::from_env()?;
    let table = TableConfig::from_env()?;
    shared::telemetry::init_logging(&config);
    let sdk = shared::aws::sdk_config(table.endpoint.as_deref()).await;
    let clock = Arc::new(SystemClock);
    let dynamo = DynamoStore::new(shared::aws::dynamodb(&sdk), table.table_name.clone(), clock.clone());
    let Wired { performance, table: raw, store } =
        wire_dynamo("api", dynamo, clock.clone(), &config, &shared::config::ProcessEnv, true)?;
    let scaling = shared::scaling::setup::ScalingSetup::from_env(&shared::config::ProcessEnv)?;
    let actuator = shared::aws::scaling::actuator(&scaling, &sdk, &config.regions);
    let signals = shared::aws::scaling::signals(&scaling, &sdk, &config.regions);
    let alarms = shared::aws::scaling::alarms(&scaling, &config.metric_namespace, &sdk, &config.regions);
    let cost = shared::cost::setup::CostSetup::from_env(&shared::config::ProcessEnv, &table.table_name)?;
    let warmer = shared::warming::setup::warmer_from_env(
        &shared::config::ProcessEnv,
        store.clone(),
        cost.price_book(store.clone()),
        Some(&sdk),
    )?;
    let state = api::AppState::with_actuator(store, clock, config, actuator)
        .with_signals(signals)
        .with_alarms(alarms)
        .with_cost(&cost, Some(&sdk))
        .with_warmer(warmer)
        .with_performance(performance, raw);
    let app = api::router(state);
    lambda_http::lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let mut http = Adapter::from(app.clone());
        async move {
            let LambdaEvent { payload, context } = event;
            shared::warming::ping_or(&payload, || async {
                let request: LambdaRequest = serde_json::from_value(payload.clone())?;
                let response = http.call(LambdaEvent::new(request, context)).await?;
                Ok::<_, lambda_http::Error>(response)
            })
            .await
        }
    }))
    .await
}
