use std::sync::Arc;

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
        Self { fleet, scaler, store, clock, config: Arc::new(config) }
    }
}
