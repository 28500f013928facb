use std::sync::Arc;

use shared::audit::AuditTrail;
use shared::balancing::assignments::Assignments;
use shared::clock::Clock;
use shared::config::Config;
use shared::cost::model_health::ModelHealthStore;
use shared::cost::price_book::PriceBook;
use shared::cost::sweep::Sweeper;
use shared::cost::usage::UsageCounters;
use shared::performance::Performance;
use shared::runtime::Container;
use shared::scaling::FleetState;
use shared::scaling::service::Scaler;
use shared::store::Store;
use shared::telemetry::{EmfSink, SampleGate};
use shared::warming::warmer::Warmer;

/// What the handlers share, built once per container in `main`. Handlers and middleware hold it as an
/// [`AppState`], one `Arc`: axum clones the state for every middleware and handler of every
/// request, and cloning each service (their settings, region lists and maps) on every request
/// was most of the hot path's time.
#[derive(Debug)]
pub struct AppParts {
    pub store: Arc<dyn Store>,
    /// Where operator changes are recorded (`audit::record`) and read back (`GET /audit`).
    pub audit: AuditTrail,
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
    /// `GET /scaling/status`'s answer, at most a second old, dropped by this container's writes.
    pub status_snapshot: Arc<crate::snapshot::Snapshot>,
    /// The control-plane lease, where the stack runs in several regions (`GET /control-plane`).
    pub leadership: Option<shared::leadership::Leadership>,
}

/// The api's state: one pointer to its [`AppParts`], which it reads as if it were them.
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The services the api runs, as a container builds them; a test may replace one before the
/// state is made (a scaler with fake alarms, a warmer with a fake invoker).
#[derive(Debug, Clone)]
pub struct Services {
    pub scaler: Scaler,
    pub sweeper: Sweeper,
    pub warmer: Warmer,
    pub prices: PriceBook,
    pub leadership: Option<shared::leadership::Leadership>,
}

impl Services {
    /// Each service as `container`'s settings set it up.
    pub fn of(container: &Container) -> Self {
        Self {
            scaler: container.scaler(),
            sweeper: container.sweeper(),
            warmer: container.warmer(),
            prices: container.prices(),
            leadership: container.leadership(),
        }
    }
}

impl AppState {
    /// The state of the api in `container`: every service as its settings set it up.
    pub fn from_container(container: Container) -> Self {
        let services = Services::of(&container);
        Self::assemble(container, services)
    }

    /// State over `store` as given, with the default settings (scaling decisions recorded in the
    /// store): tests and embedding.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: Config) -> Self {
        Self::from_container(Container::bare(config, clock, store))
    }

    /// The state made whole, once: `services` running on `container`'s store, reporting to its
    /// performance figures and keeping replica sets in its `query_results` cache.
    pub fn assemble(container: Container, services: Services) -> Self {
        let Container { settings, clock, performance, table, store, .. } = container;
        let config = settings.config;
        // Where the control plane runs in several regions, this region's API adds usage to its
        // own counters (a global table's last writer would lose one of two regions' additions).
        let usage_region = settings.control_plane.as_ref().map(|c| c.region.clone());
        // Each container balances with its own seed; under a manual clock (tests) picks repeat.
        let seed = u64::from(clock.now().timestamp_subsec_nanos()) ^ clock.now().timestamp().unsigned_abs();
        let (slot, regions) = settings.control_plane.as_ref().map_or((0, 1), |c| {
            (c.regions.iter().position(|r| *r == c.region).unwrap_or(0), c.regions.len())
        });
        let assignments = Assignments::new(Arc::clone(&store), seed)
            .in_region(slot, regions)
            .with_proximity(config.proximity.clone())
            .with_caches(performance.caches(), performance.specs().query_results, Arc::clone(&clock));
        let Services { scaler, sweeper, warmer, prices, leadership } = services;
        Self(Arc::new(AppParts {
            fleet: FleetState::new(Arc::clone(&store)),
            audit: AuditTrail::new(Arc::clone(&store)),
            scaler,
            assignments,
            prices,
            usage: UsageCounters::new(Arc::clone(&store)).from_region(usage_region),
            model_health: ModelHealthStore::new(Arc::clone(&store)),
            sweeper,
            warmer,
            performance,
            table,
            metrics: EmfSink::from_config(&config),
            utilization_samples: Arc::new(SampleGate::new(
                chrono::Duration::from_std(config.heartbeat_interval / 2)
                    .unwrap_or(chrono::Duration::seconds(15)),
                10_000,
            )),
            status_snapshot: Arc::default(),
            leadership,
            store,
            clock,
            config: Arc::new(config),
        }))
    }
}
