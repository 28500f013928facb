use std::sync::Arc;

use shared::balancing::assignments::Assignments;
use shared::clock::Clock;
use shared::config::{Config, ConfigError};
use shared::cost::model_health::ModelHealthStore;
use shared::cost::price_book::PriceBook;
use shared::cost::sweep::Sweeper;
use shared::cost::usage::UsageCounters;
use shared::performance::Performance;
use shared::performance::cache::{CacheSpec, Caches};
use shared::runtime::Container;
use shared::runtime::cost::CostSetup;
use shared::scaling::FleetState;
use shared::scaling::actuator::{Actuator, RecordActuator};
use shared::scaling::cost_gate::CostGate;
use shared::scaling::service::{AlarmSync, Scaler, SignalSources};
use shared::store::Store;
use shared::telemetry::{EmfSink, SampleGate};
use shared::warming::config::WarmConfig;
use shared::warming::warmer::Warmer;

/// What handlers need, built once per container in `main` and shared by every request.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub fleet: FleetState,
    pub scaler: Scaler,
    pub assignments: Assignments,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub prices: PriceBook,
    pub usage: UsageCounters,
    pub model_health: ModelHealthStore,
    /// Runs `POST /cost/optimize` and reads the stored reports.
    pub sweeper: Sweeper,
    /// Runs `POST /lambda/warm`.
    pub warmer: Warmer,
    /// This container's pools, caches, memory guard and query statistics.
    pub performance: Performance,
    /// The table as such (neither cached nor timed): where performance reports are read from.
    pub table: Arc<dyn Store>,
    /// Where heartbeats' utilization samples go as EMF lines.
    pub metrics: EmfSink,
    /// One utilization sample per replica every half heartbeat interval, so the alarms' average
    /// weighs replicas, not how often each reports.
    pub utilization_samples: Arc<SampleGate>,
}

impl AppState {
    /// State whose scaling decisions are recorded in the store (the `record` actuator).
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: Config) -> Self {
        Self::with_actuator(store, clock, config, Arc::new(RecordActuator))
    }

    pub fn with_actuator(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: Config,
        actuator: Arc<dyn Actuator>,
    ) -> Self {
        let fleet = FleetState::new(Arc::clone(&store));
        let scaler = Scaler::new(fleet.clone(), config.regions.clone(), CostGate::default(), actuator)
            .with_proximity(config.proximity.clone());
        // Each container balances with its own seed; under a manual clock (tests) picks repeat.
        let seed = u64::from(clock.now().timestamp_subsec_nanos()) ^ clock.now().timestamp().unsigned_abs();
        let assignments = Assignments::new(Arc::clone(&store), seed)
            .with_proximity(config.proximity.clone())
            .with_caches(&Caches::new(), CacheSpec::QUERY_RESULTS, Arc::clone(&clock));
        let cost = CostSetup::default();
        Self {
            fleet,
            scaler,
            assignments,
            prices: cost.price_book(Arc::clone(&store)),
            usage: UsageCounters::new(Arc::clone(&store)),
            model_health: ModelHealthStore::new(Arc::clone(&store)),
            sweeper: cost
                .sweeper(Arc::clone(&store), None, &config.regions)
                .with_metrics(EmfSink::from_config(&config)),
            warmer: Warmer::new(
                Arc::clone(&store),
                WarmConfig::default(),
                cost.price_book(Arc::clone(&store)),
                None,
            ),
            performance: Performance::new("api", Arc::clone(&store), Arc::clone(&clock), None),
            table: Arc::clone(&store),
            metrics: EmfSink::from_config(&config),
            utilization_samples: Arc::new(SampleGate::new(
                chrono::Duration::from_std(config.heartbeat_interval / 2)
                    .unwrap_or(chrono::Duration::seconds(15)),
                10_000,
            )),
            store,
            clock,
            config: Arc::new(config),
        }
    }

    /// The api Lambda's state: every service as the container's settings set it up (the
    /// actuator, live signals and managed alarms of the scaling settings, the cost sources, the
    /// warmer's targets), reporting to the container's performance figures.
    pub fn from_container(container: Container) -> Result<Self, ConfigError> {
        let warmer = container.warmer()?;
        let Container { settings, sdk, clock, performance, table, store } = container;
        let regions = &settings.config.regions;
        let actuator = shared::aws::scaling::actuator(&settings.scaling, &sdk, regions);
        let signals = shared::aws::scaling::signals(&settings.scaling, &sdk, regions);
        let alarms =
            shared::aws::scaling::alarms(&settings.scaling, &settings.config.metric_namespace, &sdk, regions);
        Ok(Self::with_actuator(store, clock, settings.config, actuator)
            .with_signals(signals)
            .with_alarms(alarms)
            .with_cost(&settings.cost, Some(&sdk))
            .with_warmer(warmer)
            .with_performance(performance, table))
    }

    /// Reports to `performance` (built on `table`, the store before instrumentation and
    /// caching) and keeps replica sets in its `query_results` cache.
    #[must_use]
    pub fn with_performance(mut self, performance: Performance, table: Arc<dyn Store>) -> Self {
        self.assignments = self.assignments.with_caches(
            performance.caches(),
            performance.specs().query_results,
            Arc::clone(&self.clock),
        );
        self.warmer = self.warmer.with_caches(performance.caches());
        self.performance = performance;
        self.table = table;
        self
    }

    /// Reads live signals from `signals` (Lambda agents' figures, and which signal a policy
    /// without one uses).
    #[must_use]
    pub fn with_signals(mut self, signals: SignalSources) -> Self {
        self.scaler = self.scaler.with_signals(signals);
        self
    }

    /// Keeps the managed alarms in step after a policy changes (when the stack manages them).
    #[must_use]
    pub fn with_alarms(mut self, alarms: Option<AlarmSync>) -> Self {
        if let Some(alarms) = alarms {
            self.scaler = self.scaler.with_alarms(alarms);
        }
        self
    }

    /// Warms with `warmer` (its targets and its way of invoking them).
    #[must_use]
    pub fn with_warmer(mut self, warmer: Warmer) -> Self {
        self.warmer = warmer.with_caches(self.performance.caches());
        self
    }

    /// Prices and sweeps as `cost` sets them up (an operator's price file, priced functions, and
    /// with `aws` the CloudWatch and Lambda sources).
    #[must_use]
    pub fn with_cost(mut self, cost: &CostSetup, aws: Option<&aws_config::SdkConfig>) -> Self {
        self.prices = cost.price_book(Arc::clone(&self.store));
        self.sweeper = cost
            .sweeper(Arc::clone(&self.store), aws, &self.config.regions)
            .with_metrics(EmfSink::from_config(&self.config));
        self
    }
}
