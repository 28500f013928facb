//! Performance recommendations from the fleet-wide view: each names what it is about, the
//! evidence, what to do and what it would change.

use serde::{Deserialize, Serialize};

use super::memory::{RECOMMEND_PERCENT, SHED_PERCENT};
use super::report::{PerformanceView, REGRESSION_FACTOR};

/// Caches below this hit rate are worth a look (the seed's rule)...
pub const LOW_HIT_RATE: f64 = 0.5;
/// ...once they have seen this many lookups.
pub const MIN_LOOKUPS: u64 = 20;
/// Pools whose peak use passes this share of their limit are close to making callers wait.
pub const POOL_UTILIZATION: f64 = 0.8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdviceKind {
    LowCacheHitRate,
    HighMemory,
    PoolSaturation,
    SlowQuery,
    QueryRegression,
    ScanOnRequestPath,
}

/// One recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Advice {
    pub kind: AdviceKind,
    /// The cache, pool, access pattern or resource concerned.
    pub target: String,
    pub evidence: String,
    pub suggestion: String,
    pub estimated_impact: String,
    /// `high` needs action now, `medium` soon, `low` when convenient.
    pub priority: String,
}

fn advice(
    kind: AdviceKind,
    target: &str,
    evidence: String,
    suggestion: &str,
    impact: String,
    priority: &str,
) -> Advice {
    Advice {
        kind,
        target: target.to_owned(),
        evidence,
        suggestion: suggestion.to_owned(),
        estimated_impact: impact,
        priority: priority.to_owned(),
    }
}

/// Everything the view gives reason to change, most urgent first.
pub fn recommend(view: &PerformanceView) -> Vec<Advice> {
    let mut out = Vec::new();
    for (name, cache) in &view.caches {
        let lookups = cache.hits + cache.misses;
        if let Some(rate) = cache.hit_rate.filter(|r| *r < LOW_HIT_RATE && lookups >= MIN_LOOKUPS) {
            out.push(advice(
                AdviceKind::LowCacheHitRate,
                name,
                format!("{} hits in {lookups} lookups ({:.0} %), {} of {} entries used", cache.hits, rate * 100.0, cache.entries, cache.capacity),
                "Raise the cache's TTL or capacity if its data allows it, or stop caching data that is read once",
                format!("up to {} fewer store reads per {lookups} lookups", cache.misses),
                "medium",
            ));
        }
    }
    if let Some(percent) = view.memory_usage_percent.filter(|p| *p > RECOMMEND_PERCENT) {
        let shed = percent > SHED_PERCENT;
        out.push(advice(
            AdviceKind::HighMemory,
            "memory",
            format!(
                "a container uses {percent:.0} % of its configured memory{}",
                if shed { "; its caches were shed" } else { "" }
            ),
            "Raise the function's memory (also buys CPU) or lower cache capacities",
            "fewer cache sheds and no out-of-memory restarts".to_owned(),
            if shed { "high" } else { "medium" },
        ));
    }
    for (service, pool) in &view.connection_pools {
        if pool.utilization > POOL_UTILIZATION {
            out.push(advice(
                AdviceKind::PoolSaturation,
                service,
                format!(
                    "{} of {} slots in flight at the peak; {} requests waited, {} gave up",
                    pool.peak_in_flight, pool.max, pool.waited, pool.exhausted
                ),
                "Raise the pool's limit (COMMANDER_POOL_<SERVICE>) or spread the calls over time",
                "no waiting for a connection at peak".to_owned(),
                if pool.exhausted > 0 { "high" } else { "medium" },
            ));
        }
    }
    for (pattern, s) in &view.query_response_times {
        if pattern.starts_with("scan ") {
            out.push(advice(
                AdviceKind::ScanOnRequestPath,
                pattern,
                format!("{} scans, p95 {:.1} ms", s.count, s.p95_ms),
                "Replace the Scan with a Query on a key or index; a Scan's cost grows with the table",
                "cost and latency independent of table size".to_owned(),
                "high",
            ));
        } else if s.slow {
            out.push(advice(
                AdviceKind::SlowQuery,
                pattern,
                format!(
                    "p95 {:.1} ms over {} calls (threshold {:.0} ms), p99 {:.1} ms",
                    s.p95_ms, s.count, view.slow_query_ms, s.p99_ms
                ),
                "Cache the result if it may be a little stale, or narrow the query",
                format!("p95 below {:.0} ms", view.slow_query_ms),
                "medium",
            ));
        }
    }
    for r in &view.regressions {
        out.push(advice(
            AdviceKind::QueryRegression,
            &r.pattern,
            format!(
                "p95 rose from {:.1} ms ({} calls) to {:.1} ms ({} calls), more than {:.0} %",
                r.previous_p95_ms,
                r.previous_count,
                r.current_p95_ms,
                r.current_count,
                (REGRESSION_FACTOR - 1.0) * 100.0
            ),
            "Look for what changed in the last window: a deploy, throttling, a growing partition",
            format!("back to p95 {:.1} ms", r.previous_p95_ms),
            "high",
        ));
    }
    out.sort_by_key(|a| match a.priority.as_str() {
        "high" => 0,
        "medium" => 1,
        _ => 2,
    });
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::performance::cache::Strategy;
    use crate::performance::query_stats::PatternSummary;
    use crate::performance::report::{CacheView, PoolView, Regression};

    fn empty_view() -> PerformanceView {
        PerformanceView {
            connection_pools: BTreeMap::new(),
            cache_hit_rates: BTreeMap::new(),
            caches: BTreeMap::new(),
            memory_usage_percent: None,
            memory_rss_mb: None,
            query_response_times: BTreeMap::new(),
            regressions: vec![],
            optimization_actions: vec![],
            containers: 1,
            window_seconds: 300,
            slow_query_ms: 100.0,
        }
    }

    fn cache(hits: u64, misses: u64) -> CacheView {
        CacheView {
            strategy: Strategy::Lru,
            hits,
            misses,
            hit_rate: crate::performance::cache::CacheStats::rate(hits, misses),
            entries: 10,
            capacity: 100,
            ttl_s: 600,
            dropped: 0,
        }
    }

    fn pattern(p95: f64, slow: bool) -> PatternSummary {
        PatternSummary {
            count: 50,
            errors: 0,
            p50_ms: 1.0,
            p95_ms: p95,
            p99_ms: p95,
            max_ms: p95,
            capacity_units: 0.0,
            slow,
        }
    }

    fn pool(peak: u64, exhausted: u64) -> PoolView {
        PoolView {
            max: 10,
            min: 1,
            timeout_s: 20,
            containers: 1,
            in_flight: 0,
            peak_in_flight: peak,
            requests: 100,
            waited: exhausted,
            exhausted,
            utilization: peak as f64 / 10.0,
        }
    }

    #[test]
    fn each_rule_fires_on_its_evidence_and_only_then() {
        type Case = (&'static str, fn(&mut PerformanceView), Vec<AdviceKind>);
        let cases: Vec<Case> = vec![
            ("nothing wrong", |_| {}, vec![]),
            (
                "low hit rate",
                |v| {
                    v.caches.insert("query_results".into(), cache(5, 45));
                },
                vec![AdviceKind::LowCacheHitRate],
            ),
            (
                "low rate, too few lookups",
                |v| {
                    v.caches.insert("query_results".into(), cache(1, 9));
                },
                vec![],
            ),
            (
                "healthy rate",
                |v| {
                    v.caches.insert("query_results".into(), cache(45, 5));
                },
                vec![],
            ),
            ("memory 82 %", |v| v.memory_usage_percent = Some(82.0), vec![AdviceKind::HighMemory]),
            ("memory 79 %", |v| v.memory_usage_percent = Some(79.0), vec![]),
            (
                "pool at 9 of 10",
                |v| {
                    v.connection_pools.insert("pagerduty".into(), pool(9, 0));
                },
                vec![AdviceKind::PoolSaturation],
            ),
            (
                "pool at 8 of 10",
                |v| {
                    v.connection_pools.insert("pagerduty".into(), pool(8, 0));
                },
                vec![],
            ),
            (
                "slow pattern",
                |v| {
                    v.query_response_times.insert("query USAGE".into(), pattern(150.0, true));
                },
                vec![AdviceKind::SlowQuery],
            ),
            (
                "a scan",
                |v| {
                    v.query_response_times.insert("scan TABLE".into(), pattern(5.0, false));
                },
                vec![AdviceKind::ScanOnRequestPath],
            ),
            (
                "a regression",
                |v| {
                    v.regressions.push(Regression {
                        pattern: "get A/B".into(),
                        previous_p95_ms: 2.0,
                        current_p95_ms: 4.0,
                        previous_count: 30,
                        current_count: 30,
                    });
                },
                vec![AdviceKind::QueryRegression],
            ),
        ];
        for (name, change, expected) in cases {
            let mut view = empty_view();
            change(&mut view);
            let kinds: Vec<AdviceKind> = recommend(&view).into_iter().map(|a| a.kind).collect();
            assert_eq!(kinds, expected, "{name}");
        }
    }

    #[test]
    fn the_urgent_come_first_and_say_why() {
        let mut view = empty_view();
        view.caches.insert("query_results".into(), cache(5, 45));
        view.connection_pools.insert("slack".into(), pool(10, 3));
        let advice = recommend(&view);
        assert_eq!(advice[0].kind, AdviceKind::PoolSaturation);
        assert_eq!(advice[0].priority, "high");
        assert!(advice[0].evidence.contains("3 gave up"), "{}", advice[0].evidence);
        assert!(advice[1].evidence.contains("5 hits in 50 lookups (10 %)"), "{}", advice[1].evidence);
    }
}
