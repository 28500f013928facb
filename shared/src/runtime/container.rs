//! A Lambda container's parts, built once at its start and shared by every invocation.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigError, ProcessEnv};
use crate::cost::sweep::Sweeper;
use crate::error::ValidationError;
use crate::performance::Performance;
pub use crate::performance::setup::Reads;
use crate::performance::setup::{Wired, wire_dynamo};
use crate::scaling::FleetState;
use crate::scaling::cost_gate::CostGate;
use crate::scaling::service::Scaler;
use crate::store::{DynamoStore, Store};
use crate::warming::warmer::Warmer;

use super::Settings;

/// Why a container could not start: a setting, named.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// What every handler of one function uses.
#[derive(Debug, Clone)]
pub struct Container {
    pub settings: Settings,
    pub sdk: aws_config::SdkConfig,
    pub clock: Arc<dyn Clock>,
    pub performance: Performance,
    /// The table as such (where performance reports go).
    pub table: Arc<dyn Store>,
    /// The table as handlers use it: timed per access pattern, cached as `Reads` says.
    pub store: Arc<dyn Store>,
}

impl Container {
    /// Reads the settings from the process environment, starts logging, and builds the SDK
    /// configuration, the pools and the store for `function`.
    pub async fn lambda(function: &'static str, reads: Reads) -> Result<Self, StartError> {
        let settings = Settings::from_env(&ProcessEnv)?;
        crate::telemetry::init_logging(&settings.config);
        let sdk = crate::aws::sdk_config(settings.table.endpoint.as_deref()).await;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let dynamo =
            DynamoStore::new(crate::aws::dynamodb(&sdk), settings.table.table_name.clone(), clock.clone());
        let Wired { performance, table, store } =
            wire_dynamo(function, dynamo, clock.clone(), &settings.config, &ProcessEnv, reads)?;
        Ok(Self { settings, sdk, clock, performance, table, store })
    }

    /// The scaler: the actuator, live signals and managed alarms the scaling settings name.
    pub fn scaler(&self) -> Scaler {
        let (config, scaling, sdk) = (&self.settings.config, &self.settings.scaling, &self.sdk);
        let actuator = crate::aws::scaling::actuator(scaling, sdk, &config.regions);
        let scaler = Scaler::new(
            FleetState::new(self.store.clone()),
            config.regions.clone(),
            CostGate::default(),
            actuator,
        )
        .with_proximity(config.proximity.clone())
        .with_signals(crate::aws::scaling::signals(scaling, sdk, &config.regions));
        match crate::aws::scaling::alarms(scaling, &config.metric_namespace, sdk, &config.regions) {
            Some(alarms) => scaler.with_alarms(alarms),
            None => scaler,
        }
    }

    /// The cost sweeper, with its metrics.
    pub fn sweeper(&self) -> Sweeper {
        let config = &self.settings.config;
        self.settings
            .cost
            .sweeper(self.store.clone(), Some(&self.sdk), &config.regions)
            .with_metrics(crate::telemetry::EmfSink::from_config(config))
    }

    /// The warmer of the settings' targets (read once, with the cost settings that advise on
    /// them), invoking through Lambda, counting its cache in this container's.
    pub fn warmer(&self) -> Result<Warmer, ConfigError> {
        let prices = self.settings.cost.price_book(self.store.clone());
        let config = self.settings.cost.warming.clone();
        let warmer =
            super::warming::warmer_for(config, &ProcessEnv, self.store.clone(), prices, Some(&self.sdk))?;
        Ok(warmer.with_caches(self.performance.caches()))
    }
}
