//! Every setting a container reads, read once at its start, each error naming its variable.
//! Capability modules take these values; none of them reads the environment.

mod performance;
mod scaling;

pub use performance::{memory_limit_mb, pools, seed_caches};
pub use scaling::scaling;

use super::cost::CostSetup;
use crate::config::{Config, ConfigError, Env, TableConfig, bad, var};
use crate::error::ValidationError;
use crate::leadership::ControlPlaneSetup;
use crate::performance::Pools;
use crate::performance::cache::SeedCaches;
use crate::scaling::setup::ScalingSetup;
use crate::telemetry::LogIdentity;

/// Why a container could not start: a setting, named.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// What the environment says, read once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    /// The DynamoDB table: required in Lambda, absent under `commander serve` (its own store).
    pub table: Option<TableConfig>,
    pub scaling: ScalingSetup,
    pub cost: CostSetup,
    /// `COMMANDER_LAMBDA_ENDPOINT`: a Lambda-API endpoint the warmer invokes instead of AWS (for
    /// example `cargo lambda watch`).
    pub lambda_endpoint: Option<String>,
    /// `COMMANDER_POOL_<SERVICE>`: the container's connection pools, one per service.
    pub pools: Pools,
    /// `COMMANDER_CACHE_<NAME>`: the seed caches' sizes and freshness.
    pub caches: SeedCaches,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`: what the memory guard holds the container to.
    pub memory_limit_mb: Option<f64>,
    /// `AWS_LAMBDA_FUNCTION_NAME`, `_MEMORY_SIZE`, `_VERSION`: what every JSON log line names
    /// (the service is the container's to fill in).
    pub log_identity: LogIdentity,
    /// `COMMANDER_CONTROL_PLANE_REGIONS`: the regions a multi-region control plane runs in
    /// (`None`: a single-region stack, no leadership lease).
    pub control_plane: Option<ControlPlaneSetup>,
}

impl Settings {
    /// A Lambda container's settings: `COMMANDER_TABLE_NAME` is required.
    pub fn lambda(env: &impl Env) -> Result<Self, StartError> {
        let config = Config::from(env)?;
        let table = TableConfig::from(env)?;
        let mut settings = Self::read(env, config, &table.table_name)?;
        settings.table = Some(table);
        Ok(settings)
    }

    /// `commander serve`'s settings: `config` as the command line adjusted it, no table.
    pub fn local(env: &impl Env, config: Config) -> Result<Self, StartError> {
        Self::read(env, config, "commander-local")
    }

    /// The defaults with `config`: nothing read from any environment (tests, embedding).
    pub fn defaults(config: Config) -> Self {
        Self {
            config,
            table: None,
            scaling: ScalingSetup::default(),
            cost: CostSetup::default(),
            lambda_endpoint: None,
            pools: Pools::default(),
            caches: SeedCaches::default(),
            memory_limit_mb: None,
            log_identity: LogIdentity::default(),
            control_plane: None,
        }
    }

    fn read(env: &impl Env, config: Config, table_name: &str) -> Result<Self, StartError> {
        let lambda_endpoint = var(env, "COMMANDER_LAMBDA_ENDPOINT");
        if let Some(endpoint) = &lambda_endpoint
            && !endpoint.starts_with("http://")
            && !endpoint.starts_with("https://")
        {
            return Err(bad("COMMANDER_LAMBDA_ENDPOINT", "must be an http:// or https:// URL").into());
        }
        Ok(Self {
            scaling: scaling(env)?,
            cost: CostSetup::from_env(env, table_name)?,
            lambda_endpoint,
            pools: pools(env)?,
            caches: seed_caches(env)?,
            memory_limit_mb: memory_limit_mb(env),
            log_identity: LogIdentity {
                service: String::new(),
                function_name: var(env, "AWS_LAMBDA_FUNCTION_NAME"),
                function_memory_size: var(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
                function_version: var(env, "AWS_LAMBDA_FUNCTION_VERSION"),
            },
            control_plane: ControlPlaneSetup::from_env(env)?,
            table: None,
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_setting_stops_the_start_naming_its_variable() {
        let cases = [
            ("COMMANDER_LAMBDA_ENDPOINT", "localhost:9001"),
            ("COMMANDER_POOL_AWS", "lots"),
            ("COMMANDER_CACHE_QUERY_RESULTS", "0/10"),
            ("COMMANDER_ACTUATOR", "magic"),
            ("COMMANDER_COST_SOURCES", "cloudwatch"),
        ];
        for (name, value) in cases {
            let env = |n: &str| (n == name).then(|| value.to_owned());
            let e = Settings::local(&env, Config::default()).unwrap_err().to_string();
            assert!(e.contains(name), "{name}: {e}");
        }
        let none = |_: &str| None::<String>;
        assert!(Settings::lambda(&none).unwrap_err().to_string().contains("COMMANDER_TABLE_NAME"));
        let lambda = |n: &str| match n {
            "COMMANDER_TABLE_NAME" => Some("commander-prod".to_owned()),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => Some("512".to_owned()),
            _ => None,
        };
        let settings = Settings::lambda(&lambda).unwrap();
        assert_eq!(settings.table.map(|t| t.table_name).as_deref(), Some("commander-prod"));
        assert_eq!(settings.cost.settings.table_name, "commander-prod");
        assert_eq!(settings.memory_limit_mb, Some(512.0));
    }
}
