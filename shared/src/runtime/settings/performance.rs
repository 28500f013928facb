//! The container's pools, seed caches and memory limit from the environment.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `COMMANDER_POOL_<SERVICE>` | the seed's limits | `max/min/timeout_s` of one service's pool (AWS, DATADOG, PAGERDUTY, SLACK, HTTP) |
//! | `COMMANDER_CACHE_<NAME>` | the seed's sizes | `capacity/ttl_seconds` of one seed cache (a TTL of 0: every read goes to the store) |
//! | `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` | none | set by Lambda: what the memory guard holds the container to |

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{Env, var};
use crate::error::ValidationError;
use crate::performance::cache::{CacheSpec, SeedCaches};
use crate::performance::{Pools, Service};

/// The seed's pool limits, each replaceable by `COMMANDER_POOL_<SERVICE>=max/min/timeout_s`.
pub fn pools(env: &impl Env) -> Result<Pools, ValidationError> {
    let mut limits = BTreeMap::new();
    for service in Service::ALL {
        let name = format!("COMMANDER_POOL_{}", service.as_str().to_ascii_uppercase());
        let value = match var(env, &name) {
            Some(raw) => raw.parse().map_err(|why| ValidationError::new(&name, why))?,
            None => service.default_limits(),
        };
        limits.insert(service, value);
    }
    Ok(Pools::with_limits(|s| limits[&s]))
}

/// The four seed caches' specs, each replaceable by `COMMANDER_CACHE_<NAME>`.
pub fn seed_caches(env: &impl Env) -> Result<SeedCaches, ValidationError> {
    let d = SeedCaches::default();
    Ok(SeedCaches {
        incident_patterns: cache_spec(d.incident_patterns, env)?,
        agent_configs: cache_spec(d.agent_configs, env)?,
        business_rules: cache_spec(d.business_rules, env)?,
        query_results: cache_spec(d.query_results, env)?,
    })
}

/// `spec` with capacity and TTL from `COMMANDER_CACHE_<NAME>=capacity/ttl_seconds` when set (a TTL
/// of 0 turns the cache's freshness off: every read goes to the store).
fn cache_spec(spec: CacheSpec, env: &impl Env) -> Result<CacheSpec, ValidationError> {
    let name = format!("COMMANDER_CACHE_{}", spec.name.to_ascii_uppercase());
    let Some(raw) = var(env, &name) else { return Ok(spec) };
    let bad = |why: &str| {
        ValidationError::new(&name, format!("{why} (capacity/ttl_seconds, for example 500/1800)"))
    };
    let (capacity, ttl) = raw.split_once('/').ok_or_else(|| bad("must be two numbers"))?;
    let capacity: u64 = capacity.trim().parse().map_err(|_| bad("capacity is not a whole number"))?;
    let ttl: u64 = ttl.trim().parse().map_err(|_| bad("ttl is not a whole number of seconds"))?;
    if !(1..=1_000_000).contains(&capacity) {
        return Err(bad("capacity must be 1 to 1000000"));
    }
    if ttl > 86_400 {
        return Err(bad("ttl must be at most 86400 seconds"));
    }
    Ok(CacheSpec { capacity, ttl: Duration::from_secs(ttl), ..spec })
}

/// The function's configured memory (Lambda sets `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`), if any.
pub fn memory_limit_mb(env: &impl Env) -> Option<f64> {
    var(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE").and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::performance::cache::Strategy;

    #[test]
    fn seed_limits_and_environment_overrides() {
        let env: HashMap<&str, &str> = [("COMMANDER_POOL_SLACK", "2/1/3")].into();
        let pools = pools(&|n: &str| env.get(n).map(ToString::to_string)).unwrap();
        let by_service: BTreeMap<String, (u32, u32, u64)> =
            pools.snapshot().into_iter().map(|p| (p.service, (p.max, p.min, p.timeout_s))).collect();
        assert_eq!(by_service["aws"], (50, 5, 30));
        assert_eq!(by_service["datadog"], (20, 2, 15));
        assert_eq!(by_service["pagerduty"], (10, 1, 20));
        assert_eq!(by_service["slack"], (2, 1, 3));
        assert_eq!(by_service["http"], (100, 10, 30));
        let bad = |n: &str| (n == "COMMANDER_POOL_AWS").then(|| "lots".to_owned());
        assert!(super::pools(&bad).unwrap_err().to_string().contains("COMMANDER_POOL_AWS"));
    }

    #[test]
    fn seed_specs_and_their_overrides() {
        let none = |_: &str| None::<String>;
        let seed = seed_caches(&none).unwrap();
        let figures = |s: CacheSpec| (s.name, s.strategy, s.capacity, s.ttl.as_secs());
        assert_eq!(figures(seed.incident_patterns), ("incident_patterns", Strategy::Lru, 500, 1800));
        assert_eq!(figures(seed.agent_configs), ("agent_configs", Strategy::Ttl, 100, 300));
        assert_eq!(figures(seed.business_rules), ("business_rules", Strategy::WriteThrough, 200, 3600));
        assert_eq!(figures(seed.query_results), ("query_results", Strategy::Lru, 1000, 600));
        let set = |n: &str| (n == "COMMANDER_CACHE_AGENT_CONFIGS").then(|| " 50 / 0 ".to_owned());
        assert_eq!(
            figures(seed_caches(&set).unwrap().agent_configs),
            ("agent_configs", Strategy::Ttl, 50, 0)
        );
        for bad in ["50", "0/10", "x/10", "10/100000"] {
            let env = |n: &str| (n == "COMMANDER_CACHE_QUERY_RESULTS").then(|| bad.to_owned());
            let e = seed_caches(&env).unwrap_err().to_string();
            assert!(e.contains("COMMANDER_CACHE_QUERY_RESULTS"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_memory_limit_is_lambdas_figure() {
        let set = |n: &str| (n == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE").then(|| "1024".to_owned());
        assert_eq!(memory_limit_mb(&set), Some(1024.0));
        assert_eq!(memory_limit_mb(&|_: &str| None::<String>), None);
    }
}
