//! The warmer's settings from a function's environment, and the warmer they make.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `COMMANDER_WARM_CONFIG` | the five agent functions in the seed regions | warming targets and calendars (JSON) |
//! | `COMMANDER_LAMBDA_ENDPOINT` | AWS | a local Lambda-API endpoint to invoke instead (e.g. `cargo lambda watch`) |

use std::sync::Arc;

use crate::aws::invoke::LambdaInvoker;
use crate::config::{ConfigError, Env, bad, var};
use crate::cost::price_book::PriceBook;
use crate::domain::Region;
use crate::performance::{Pools, Service};
use crate::store::Store;
use crate::warming::config::WarmConfig;
use crate::warming::fanout::Invoker;
use crate::warming::warmer::Warmer;

/// The warming targets and calendars `COMMANDER_WARM_CONFIG` names (the seed's by default).
pub fn warm_config_from_env(env: &impl Env) -> Result<WarmConfig, ConfigError> {
    match var(env, "COMMANDER_WARM_CONFIG") {
        None => Ok(WarmConfig::default()),
        Some(json) => WarmConfig::from_json(&json).map_err(|e| bad("COMMANDER_WARM_CONFIG", e.to_string())),
    }
}

/// The warmer of `config`: invoking through the Lambda API at `lambda_endpoint` if given (its
/// requests in `pools`' AWS pool), else through AWS when `aws` is given, else nothing (it then
/// says no target is reachable).
pub fn warmer_for(
    config: WarmConfig,
    lambda_endpoint: Option<&str>,
    pools: &Pools,
    store: Arc<dyn Store>,
    prices: PriceBook,
    aws: Option<&aws_config::SdkConfig>,
) -> Warmer {
    let endpoint = lambda_endpoint;
    let mut regions: Vec<Region> = config.targets.iter().flat_map(|t| t.regions.iter().cloned()).collect();
    regions.sort();
    regions.dedup();
    let invoker: Option<Arc<dyn Invoker>> = match (endpoint, aws) {
        (Some(endpoint), _) => {
            Some(Arc::new(LambdaInvoker::local(endpoint, &regions, &pools.get(Service::Aws))))
        }
        (None, Some(sdk)) => Some(Arc::new(LambdaInvoker::new(sdk, &regions))),
        (None, None) => None,
    };
    let warmer = Warmer::new(store, config, prices, invoker);
    // History comes from CloudWatch in AWS; a local Lambda API has none.
    match (aws, endpoint) {
        (Some(sdk), None) => {
            warmer.with_history(Arc::new(crate::aws::warm_history::CloudWatchHistory::new(sdk, &regions)))
        }
        _ => warmer,
    }
}
