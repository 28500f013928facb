use std::sync::Arc;

use shared::balancing::assignments::Assignments;
use shared::clock::Clock;
use shared::config::Config;
use shared::scaling::FleetState;
use shared::scaling::actuator::{Actuator, RecordActuator};
use shared::scaling::cost_gate::CostGate;
use shared::scaling::service::Scaler;
use shared::store::Store;

/// What handlers need, built once per container in `main` and shared by every request.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub fleet: FleetState,
    pub scaler: Scaler,
    pub assignments: Assignments,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
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
        let scaler = Scaler::new(fleet.clone(), config.regions.clone(), CostGate::default(), actuator);
        // Each container balances with its own seed; under a manual clock (tests) picks repeat.
        let seed = u64::from(clock.now().timestamp_subsec_nanos()) ^ clock.now().timestamp().unsigned_abs();
        let assignments = Assignments::new(Arc::clone(&store), seed);
        Self { fleet, scaler, assignments, store, clock, config: Arc::new(config) }
    }
}
