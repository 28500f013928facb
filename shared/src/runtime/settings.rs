//! Every setting a container reads, read once at its start, each error naming its variable.

use super::cost::CostSetup;
use crate::config::{Config, ConfigError, Env, TableConfig};
use crate::scaling::setup::ScalingSetup;

/// What the environment says, read once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    pub table: TableConfig,
    pub scaling: ScalingSetup,
    pub cost: CostSetup,
}

impl Settings {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let config = Config::from(env)?;
        let table = TableConfig::from(env)?;
        let scaling = ScalingSetup::from_env(env)?;
        let cost = CostSetup::from_env(env, &table.table_name)?;
        Ok(Self { config, table, scaling, cost })
    }
}
