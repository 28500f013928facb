//! The balancing simulator against known results: power-of-two-choices at load 0.9 (the
//! supermarket model) and one replica turning slow (the 2016 Finagle comparison).

use shared::balancing::Strategy;
use shared::balancing::simulation::{Scenario, StrategyResult, simulate};

fn scenario(name: &str) -> Scenario {
    let path = format!("{}/../tests/fixtures/balancing/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn result(results: &[StrategyResult], strategy: Strategy) -> &StrategyResult {
    results.iter().find(|r| r.strategy == strategy).unwrap()
}

#[test]
fn two_choices_at_load_0_9_match_the_supermarket_model() {
    let results = simulate(&scenario("p2c-load-0.9.json")).unwrap();
    let p2c = result(&results, Strategy::LeastConnections);
    // Sum over i of 0.9^(2^i - 2): 2.61 mean service times in the system (random choice: 10).
    let mean = p2c.latency_s.mean;
    assert!((mean - 2.61).abs() <= 0.261, "P2C mean time in system {mean}");
    let shares: Vec<f64> = p2c.share.values().copied().collect();
    assert!(shares.iter().all(|s| (s - 0.01).abs() < 0.002), "even spread: {shares:?}");
    assert!(p2c.requests > 130_000);
}

#[test]
fn a_slow_replica_hurts_round_robin_not_least_loaded_or_peak_ewma() {
    let results = simulate(&scenario("slow-replica.json")).unwrap();
    let rr = result(&results, Strategy::RoundRobin).success_within_timeout;
    let lc = result(&results, Strategy::LeastConnections).success_within_timeout;
    let ewma = result(&results, Strategy::PeakEwma).success_within_timeout;
    assert!((0.93..0.97).contains(&rr), "round robin about 95 %: {rr}");
    assert!(lc >= 0.99, "least connections: {lc}");
    assert!(ewma >= 0.999, "peak EWMA: {ewma}");
}

#[test]
fn the_same_scenario_gives_the_same_results() {
    let mut s = scenario("slow-replica.json");
    s.duration_s = 5.0;
    assert_eq!(simulate(&s).unwrap(), simulate(&s).unwrap());
}

#[test]
fn bad_scenarios_are_refused() {
    let mut s = scenario("slow-replica.json");
    s.duration_s = -1.0;
    assert_eq!(simulate(&s).unwrap_err().field, "duration_s");
    let mut s = scenario("slow-replica.json");
    s.replicas[0].capacity = 0;
    assert_eq!(simulate(&s).unwrap_err().field, "replicas[0]");
}
