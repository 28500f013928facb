//! A scaler over many agent types whose store requests a relay can hold and count: what the
//! tick-at-scale bench times and the tick test counts.

use std::sync::Arc;

use shared::clock::Clock;
use shared::domain::{AgentType, Region};
use shared::scaling::actuator::RecordActuator;
use shared::scaling::cost_gate::CostGate;
use shared::scaling::service::Scaler;
use shared::scaling::{FleetState, ScalingPolicy};
use shared::store::{DynamoStore, Store, StoreError};

use crate::relay::Relay;

/// A fresh table on the DynamoDB-API server at `dynamodb` defining `types` agent types besides
/// the five built-in ones (`tick-type-0000`...: policies written straight to the table, since the
/// API admits 45 of an operator's own, a limit set by the managed alarms each type carries, not
/// by the tick), and a scaler over it in the default regions whose every store request goes
/// through `relay`.
pub async fn scaler_over_types(
    dynamodb: &str,
    relay: &Relay,
    clock: Arc<dyn Clock>,
    types: usize,
) -> Result<Scaler, StoreError> {
    let direct = crate::fresh_dynamo_store(dynamodb, clock.clone()).await;
    let table = direct.table_name().to_owned();
    let fleet = FleetState::new(Arc::new(direct) as Arc<dyn Store>);
    for i in 0..types {
        let agent_type = AgentType::parse(&format!("tick-type-{i:04}"))
            .map_err(|e| StoreError::Invalid(format!("agent type {i}: {e}")))?;
        fleet.put_policy(&agent_type, ScalingPolicy::default_for(&agent_type), 0).await?;
    }
    let store: Arc<dyn Store> =
        Arc::new(DynamoStore::new(shared::aws::local_dynamodb(&relay.url), table, clock));
    Ok(Scaler::new(FleetState::new(store), Region::defaults(), CostGate::default(), Arc::new(RecordActuator)))
}
