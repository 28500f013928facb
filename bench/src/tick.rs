//! One scaler tick over many agent types, through the real evaluation and store code (the
//! DynamoDB store over the SDK, decisions recorded in the table), with every store request held
//! by the relay as a real DynamoDB round trip would hold it: how long the tick takes and how many
//! store requests it makes per type.

use std::sync::Arc;
use std::time::Instant;

use integration_tests::relay::Relay;
use shared::clock::{Clock, SystemClock};

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

/// Defines `types` agent types (see `integration_tests::tick::scaler_over_types`), then times
/// one tick through `relay`.
pub async fn tick_at_scale(dynamodb: &str, relay: &Relay, types: usize) -> anyhow::Result<TickAtScale> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let scaler = integration_tests::tick::scaler_over_types(dynamodb, relay, clock.clone(), types).await?;
    let before = relay.requests();
    let started = Instant::now();
    let report = scaler.tick(clock.now()).await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(TickAtScale {
        types: report.evaluations.len() + report.failures.len(),
        regions: scaler.regions().len(),
        seconds,
        requests: relay.requests() - before,
        evaluated: report.evaluations.len(),
        failed: report.failures.len(),
    })
}
