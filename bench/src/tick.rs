//! One scaler tick over many agent types, through the real evaluation and store code (the
//! DynamoDB store over the SDK, decisions recorded in the table), with every store request held
//! by the relay as a real DynamoDB round trip would hold it: how long the tick takes and how many
//! store requests it makes per type.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use integration_tests::relay::Relay;
use shared::clock::{Clock, SystemClock};
use shared::domain::{AgentType, Region};
use shared::scaling::FleetState;
use shared::scaling::ScalingPolicy;
use shared::scaling::actuator::RecordActuator;
use shared::scaling::cost_gate::CostGate;
use shared::scaling::service::Scaler;
use shared::store::{DynamoStore, Store};

/// What one tick over `types` agent types took.
#[derive(Debug, Clone, Copy)]
pub struct TickAtScale {
    pub types: usize,
    pub regions: usize,
    pub seconds: f64,
    pub requests: u64,
    pub evaluated: usize,
    pub failed: usize,
}

/// Defines `types` agent types (their policies written straight to the table: the API admits 45
/// of an operator's own, a limit set by the managed alarms each type carries, not by the tick),
/// then times one tick through `relay`.
pub async fn tick_at_scale(dynamodb: &str, relay: &Relay, types: usize) -> anyhow::Result<TickAtScale> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let table = integration_tests::fresh_dynamo_store(dynamodb, clock.clone()).await.table_name().to_owned();
    // Defining the types goes straight to the server; the tick goes through the relay.
    let direct = FleetState::new(Arc::new(DynamoStore::new(
        shared::aws::local_dynamodb(dynamodb),
        table.clone(),
        clock.clone(),
    )) as Arc<dyn Store>);
    for i in 0..types {
        let agent_type = AgentType::parse(&format!("bench-type-{i:04}")).context("a valid type name")?;
        direct.put_policy(&agent_type, ScalingPolicy::default_for(&agent_type), 0).await?;
    }
    let store: Arc<dyn Store> =
        Arc::new(DynamoStore::new(shared::aws::local_dynamodb(&relay.url), table, clock.clone()));
    let regions = Region::defaults();
    let scaler =
        Scaler::new(FleetState::new(store), regions.clone(), CostGate::default(), Arc::new(RecordActuator));
    let before = relay.requests();
    let started = Instant::now();
    let report = scaler.tick(clock.now()).await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(TickAtScale {
        types: report.evaluations.len() + report.failures.len(),
        regions: regions.len(),
        seconds,
        requests: relay.requests() - before,
        evaluated: report.evaluations.len(),
        failed: report.failures.len(),
    })
}
