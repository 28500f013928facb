use std::sync::Arc;

use shared::clock::Clock;
use shared::config::Config;
use shared::scaling::FleetState;
use shared::store::Store;

/// What handlers need, built once per container in `main` and shared by every request.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub fleet: FleetState,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: Config) -> Self {
        Self { fleet: FleetState::new(Arc::clone(&store)), store, clock, config: Arc::new(config) }
    }
}
