//! A container's parts, built once at its start and shared by every invocation: in Lambda from
//! the DynamoDB table, under `commander serve` from its own store, in tests from the store given.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ProcessEnv};
use crate::cost::price_book::PriceBook;
use crate::cost::sweep::Sweeper;
use crate::performance::Performance;
use crate::scaling::FleetState;
use crate::scaling::actuator::{Actuator, RecordActuator};
use crate::scaling::cost_gate::CostGate;
use crate::scaling::service::{Scaler, SignalSources};
use crate::store::{DynamoStore, Store};
use crate::telemetry::EmfSink;
use crate::warming::warmer::Warmer;

use super::{InitPhases, Settings, StartError};

/// How a container's handlers read the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// Through the seed caches (policies, prices, replica sets, traffic profiles): the api and
    /// the warmer, which read the same items on every request or run.
    Cached,
    /// Straight from the table: the scaler and the sweeper act on the latest policy and prices.
    Direct,
}

/// What every handler of one function uses.
#[derive(Debug, Clone)]
pub struct Container {
    pub settings: Settings,
    /// AWS, when the container runs there; `None` under `commander serve` and in tests.
    pub sdk: Option<aws_config::SdkConfig>,
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
        Self::lambda_timed(function, reads, &mut InitPhases::start()).await
    }

    /// [`Container::lambda`], timing its phases into `init` (logged at DEBUG before it returns).
    pub async fn lambda_timed(
        function: &'static str,
        reads: Reads,
        init: &mut InitPhases,
    ) -> Result<Self, StartError> {
        let mut settings = Settings::lambda(&ProcessEnv)?;
        settings.log_identity.service = function.to_owned();
        init.phase("settings");
        crate::telemetry::init_logging(&settings.config, &settings.log_identity);
        init.phase("logging");
        let Some(table_config) = settings.table.clone() else {
            return Err(crate::config::bad("COMMANDER_TABLE_NAME", "must name the DynamoDB table").into());
        };
        let sdk = crate::aws::sdk_config(
            table_config.endpoint.as_deref(),
            &settings.pools,
            crate::aws::SettingsSource::Environment,
        )
        .await;
        init.phase("sdk_config");
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let dynamo = DynamoStore::new(crate::aws::dynamodb(&sdk), table_config.table_name, clock.clone());
        let table: Arc<dyn Store> = Arc::new(dynamo.clone());
        let performance = performance(function, &settings, Arc::clone(&table), &clock);
        // The DynamoDB backend reports each call's consumed capacity to the performance figures.
        let measured: Arc<dyn Store> = Arc::new(dynamo.with_capacity_sink(performance.stats().clone()));
        let store = match reads {
            Reads::Cached => performance.instrument_and_cache(measured),
            Reads::Direct => performance.instrument(measured),
        };
        init.phase("store");
        init.log();
        Ok(Self { table, settings, sdk: Some(sdk), clock, performance, store })
    }

    /// `commander serve`'s container over its own `table` (embedded or in memory): the store
    /// timed and cached as the api Lambda's is, no AWS.
    pub fn local(settings: Settings, clock: Arc<dyn Clock>, table: Arc<dyn Store>) -> Self {
        let performance = performance("commander", &settings, Arc::clone(&table), &clock);
        let store = performance.instrument_and_cache(Arc::clone(&table));
        Self { settings, sdk: None, clock, performance, table, store }
    }

    /// A container over `store` exactly as given (neither timed nor cached), with the default
    /// settings and `config`: tests, and whoever embeds the suite.
    pub fn bare(config: Config, clock: Arc<dyn Clock>, store: Arc<dyn Store>) -> Self {
        let settings = Settings::defaults(config);
        let performance = performance("api", &settings, Arc::clone(&store), &clock);
        Self { settings, sdk: None, clock, performance, table: Arc::clone(&store), store }
    }

    /// The scaler: in AWS, the actuator, live signals and managed alarms the scaling settings
    /// name; elsewhere, decisions recorded in the store and heartbeats as the live signal.
    pub fn scaler(&self) -> Scaler {
        let (config, scaling) = (&self.settings.config, &self.settings.scaling);
        let Some(sdk) = &self.sdk else {
            let signals = SignalSources { default: scaling.default_signal(), lambda: None };
            return self.scaler_with(Arc::new(RecordActuator)).with_signals(signals);
        };
        let actuator = crate::aws::scaling::actuator(scaling, sdk, &config.regions);
        let scaler = self.scaler_with(actuator).with_signals(crate::aws::scaling::signals(
            scaling,
            sdk,
            &config.regions,
        ));
        match crate::aws::scaling::alarms(scaling, &config.metric_namespace, sdk, &config.regions) {
            Some(alarms) => scaler.with_alarms(alarms),
            None => scaler,
        }
    }

    /// A scaler applying its decisions with `actuator`, no live signals or alarms beyond that.
    pub fn scaler_with(&self, actuator: Arc<dyn Actuator>) -> Scaler {
        let config = &self.settings.config;
        Scaler::new(
            FleetState::new(self.store.clone()),
            config.regions.clone(),
            CostGate::default(),
            actuator,
        )
        .with_proximity(config.proximity.clone())
    }

    /// The prices in force: the base table the settings name, with the operator's overrides.
    pub fn prices(&self) -> PriceBook {
        self.settings.cost.price_book(self.store.clone())
    }

    /// The leadership of this region's control plane, where the stack runs in several regions.
    /// Each call makes its own fence: give it (`Leadership::fence`) to the scaler it gates.
    pub fn leadership(&self) -> Option<crate::leadership::Leadership> {
        let setup = self.settings.control_plane.clone()?;
        Some(crate::leadership::Leadership::new(self.store.clone(), self.clock.clone(), setup))
    }

    /// The cost sweeper, with its metrics (and, in AWS, its sources and concurrency caps).
    pub fn sweeper(&self) -> Sweeper {
        let config = &self.settings.config;
        self.settings
            .cost
            .sweeper(self.store.clone(), self.sdk.as_ref(), &config.regions, &self.settings.pools)
            .with_metrics(EmfSink::from_config(config))
    }

    /// The warmer of the settings' targets (read once, with the cost settings that advise on
    /// them), invoking through the configured Lambda API or AWS, counting its cache in this
    /// container's.
    pub fn warmer(&self) -> Warmer {
        let warmer = super::warming::warmer_for(
            self.settings.cost.warming.clone(),
            self.settings.lambda_endpoint.as_deref(),
            &self.settings.pools,
            self.store.clone(),
            self.prices(),
            self.sdk.as_ref(),
        );
        warmer.with_caches(self.performance.caches())
    }
}

/// `function`'s performance hub over `table`, as the settings size it, writing EMF as the
/// configuration says.
fn performance(
    function: &'static str,
    settings: &Settings,
    table: Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
) -> Performance {
    Performance::new(function, table, Arc::clone(clock), settings.memory_limit_mb)
        .with_pools(settings.pools.clone())
        .with_specs(settings.caches)
        .with_metrics(EmfSink::from_config(&settings.config))
}
