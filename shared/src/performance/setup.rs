//! How each function's `main` puts its DynamoDB store and its performance hub together, the same
//! way everywhere.

use std::sync::Arc;

use super::Performance;
use crate::clock::Clock;
use crate::config::{Config, Env};
use crate::error::ValidationError;
use crate::store::{DynamoStore, Store};

/// A function's store as its handlers use it, and what reads and flushes around it.
#[derive(Debug, Clone)]
pub struct Wired {
    pub performance: Performance,
    /// The table as such: where performance reports are written and read.
    pub table: Arc<dyn Store>,
    /// The table timed per access pattern (consumed capacity too), behind the seed caches when
    /// asked for.
    pub store: Arc<dyn Store>,
}

/// How a container's handlers read the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// Through the seed caches (policies, prices, replica sets, traffic profiles): the api and
    /// the warmer, which read the same items on every request or run.
    Cached,
    /// Straight from the table: the scaler and the sweeper act on the latest policy and prices.
    Direct,
}

/// Wires `dynamo` for `function`: pool and cache limits from `env`, EMF as `config` says.
pub fn wire_dynamo(
    function: &'static str,
    dynamo: DynamoStore,
    clock: Arc<dyn Clock>,
    config: &Config,
    env: &impl Env,
    reads: Reads,
) -> Result<Wired, ValidationError> {
    super::Pools::install_from_env()?;
    let table: Arc<dyn Store> = Arc::new(dynamo.clone());
    let performance = Performance::from_env(function, Arc::clone(&table), clock, env)?
        .with_metrics(crate::telemetry::EmfSink::from_config(config));
    let measured: Arc<dyn Store> = Arc::new(dynamo.with_capacity_sink(performance.stats().clone()));
    let store = match reads {
        Reads::Cached => performance.instrument_and_cache(measured),
        Reads::Direct => performance.instrument(measured),
    };
    Ok(Wired { performance, table, store })
}
