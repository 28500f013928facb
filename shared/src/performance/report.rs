//! What a container reports about itself (stored under `PERF#<window>`/`<function>#<container>`)
//! and the fleet-wide view made by merging those reports: histograms merged exactly, pools and
//! caches summed over containers, memory at its worst.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::cache::CacheStats;
use super::memory::MemoryReading;
use super::pools::PoolSnapshot;
use super::query_stats::{PatternRecord, PatternStats, PatternSummary, WINDOW_SECONDS};
use crate::store::{Item, Query, Store, StoreError};

/// How long container reports are kept.
const KEEP_SECONDS: i64 = 86_400;
/// A regression needs this many calls in both windows, so a handful of calls cannot make one.
pub const MIN_CALLS_FOR_REGRESSION: u64 = 20;
/// p95 growing by more than this factor over the previous window is a regression.
pub const REGRESSION_FACTOR: f64 = 1.5;
/// Actions shown in the view, newest.
const MAX_ACTIONS: usize = 20;

/// Something the optimiser did by itself (shedding caches when memory ran short).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OptimizationAction {
    pub at: DateTime<Utc>,
    pub function: String,
    pub kind: String,
    pub detail: String,
}

/// One container's figures for one statistics window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerReport {
    pub function: String,
    pub container: String,
    /// Epoch seconds.
    pub window_start: i64,
    pub flushed_at: DateTime<Utc>,
    pub patterns: BTreeMap<String, PatternRecord>,
    pub pools: Vec<PoolSnapshot>,
    pub caches: Vec<CacheStats>,
    pub memory: Option<MemoryReading>,
    pub actions: Vec<OptimizationAction>,
}

fn window_pk(start: i64) -> String {
    crate::table::perf_window(start)
}

impl ContainerReport {
    pub fn to_item(&self) -> Result<Item, StoreError> {
        let key = crate::table::perf_report(self.window_start, &self.function, &self.container);
        let expires = DateTime::from_timestamp(self.window_start + WINDOW_SECONDS + KEEP_SECONDS, 0)
            .unwrap_or_default();
        Ok(Item::from_record(key, self)?.with_ttl(expires))
    }
}

/// The reports of every container for the window starting at `start`.
pub async fn reports_of_window(store: &dyn Store, start: i64) -> Result<Vec<ContainerReport>, StoreError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page =
            store.query(&Query::partition(window_pk(start)).limit(Query::MAX_LIMIT).after(cursor)).await?;
        for item in &page.items {
            // A report that no longer reads (an older format) is skipped, not fatal.
            if let Ok(report) = item.record::<ContainerReport>() {
                out.push(report);
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// A pool summed over containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PoolView {
    pub max: u32,
    pub min: u32,
    pub timeout_s: u64,
    pub containers: usize,
    pub in_flight: u64,
    pub peak_in_flight: u64,
    pub requests: u64,
    pub waited: u64,
    pub exhausted: u64,
    /// The highest `peak_in_flight / max` of any container.
    pub utilization: f64,
}

/// A cache summed over containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CacheView {
    pub strategy: super::cache::Strategy,
    pub hits: u64,
    pub misses: u64,
    pub hit_rate: Option<f64>,
    pub entries: u64,
    pub capacity: u64,
    pub ttl_s: u64,
    /// Writes a write-behind buffer dropped (refused by the store, or over its capacity).
    #[serde(default)]
    pub dropped: u64,
}

/// A pattern whose p95 grew by more than half over the previous window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Regression {
    pub pattern: String,
    pub previous_p95_ms: f64,
    pub current_p95_ms: f64,
    pub previous_count: u64,
    pub current_count: u64,
}

/// The fleet's performance over the current and previous windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PerformanceView {
    pub connection_pools: BTreeMap<String, PoolView>,
    /// Hit rate per cache (null before its first lookup).
    pub cache_hit_rates: BTreeMap<String, Option<f64>>,
    pub caches: BTreeMap<String, CacheView>,
    /// The highest share of configured memory any container uses; null where no limit is known.
    pub memory_usage_percent: Option<f64>,
    pub memory_rss_mb: Option<f64>,
    /// Per access pattern, both windows merged.
    pub query_response_times: BTreeMap<String, PatternSummary>,
    pub regressions: Vec<Regression>,
    pub optimization_actions: Vec<OptimizationAction>,
    /// Containers that reported in the two windows.
    pub containers: usize,
    pub window_seconds: i64,
    pub slow_query_ms: f64,
}

fn merged(reports: &[&ContainerReport]) -> BTreeMap<String, PatternStats> {
    let mut out: BTreeMap<String, PatternStats> = BTreeMap::new();
    for report in reports {
        for (name, record) in &report.patterns {
            out.entry(name.clone()).or_default().merge(record);
        }
    }
    out
}

/// Merges the reports of the previous and current windows (`current_start`).
pub fn aggregate(reports: &[ContainerReport], current_start: i64, slow_ms: f64) -> PerformanceView {
    let previous_start = current_start - WINDOW_SECONDS;
    let in_window = |start: i64| reports.iter().filter(|r| r.window_start == start).collect::<Vec<_>>();
    let (current, previous) = (merged(&in_window(current_start)), merged(&in_window(previous_start)));
    let recent: Vec<&ContainerReport> = reports
        .iter()
        .filter(|r| r.window_start == current_start || r.window_start == previous_start)
        .collect();
    let mut both = merged(&recent);
    let query_response_times = both.iter_mut().map(|(name, s)| (name.clone(), s.summary(slow_ms))).collect();

    let regressions = current
        .iter()
        .filter_map(|(name, now)| {
            let before = previous.get(name)?;
            let enough =
                now.count() >= MIN_CALLS_FOR_REGRESSION && before.count() >= MIN_CALLS_FOR_REGRESSION;
            (enough && now.p95_ms() > before.p95_ms() * REGRESSION_FACTOR).then(|| Regression {
                pattern: name.clone(),
                previous_p95_ms: before.p95_ms(),
                current_p95_ms: now.p95_ms(),
                previous_count: before.count(),
                current_count: now.count(),
            })
        })
        .collect();

    // Gauges and counters are per container since it started: take each container's latest.
    let mut latest: BTreeMap<(&str, &str), &ContainerReport> = BTreeMap::new();
    for r in &recent {
        let slot = latest.entry((r.function.as_str(), r.container.as_str())).or_insert(r);
        if r.flushed_at > slot.flushed_at {
            *slot = r;
        }
    }
    let mut connection_pools: BTreeMap<String, PoolView> = BTreeMap::new();
    let mut caches: BTreeMap<String, CacheView> = BTreeMap::new();
    let (mut memory_usage_percent, mut memory_rss_mb): (Option<f64>, Option<f64>) = (None, None);
    let mut optimization_actions = Vec::new();
    for r in latest.values() {
        for p in &r.pools {
            let v = connection_pools.entry(p.service.clone()).or_insert(PoolView {
                max: p.max,
                min: p.min,
                timeout_s: p.timeout_s,
                containers: 0,
                in_flight: 0,
                peak_in_flight: 0,
                requests: 0,
                waited: 0,
                exhausted: 0,
                utilization: 0.0,
            });
            v.containers += 1;
            v.in_flight += p.in_flight;
            v.peak_in_flight = v.peak_in_flight.max(p.peak_in_flight);
            v.requests += p.requests;
            v.waited += p.waited;
            v.exhausted += p.exhausted;
            v.utilization = v.utilization.max(p.utilization);
        }
        for c in &r.caches {
            let v = caches.entry(c.name.clone()).or_insert(CacheView {
                strategy: c.strategy,
                hits: 0,
                misses: 0,
                hit_rate: None,
                entries: 0,
                capacity: c.capacity,
                ttl_s: c.ttl_s,
                dropped: 0,
            });
            v.dropped += c.dropped;
            v.hits += c.hits;
            v.misses += c.misses;
            v.entries += c.entries;
            v.hit_rate = CacheStats::rate(v.hits, v.misses);
        }
        if let Some(m) = r.memory {
            memory_rss_mb = Some(memory_rss_mb.map_or(m.rss_mb, |x| x.max(m.rss_mb)));
            if let Some(p) = m.percent {
                memory_usage_percent = Some(memory_usage_percent.map_or(p, |x| x.max(p)));
            }
        }
        optimization_actions.extend(r.actions.iter().cloned());
    }
    optimization_actions.sort_by_key(|a| a.at);
    let excess = optimization_actions.len().saturating_sub(MAX_ACTIONS);
    optimization_actions.drain(..excess);
    PerformanceView {
        cache_hit_rates: caches.iter().map(|(n, c)| (n.clone(), c.hit_rate)).collect(),
        connection_pools,
        caches,
        memory_usage_percent,
        memory_rss_mb,
        query_response_times,
        regressions,
        optimization_actions,
        containers: latest.len(),
        window_seconds: WINDOW_SECONDS,
        slow_query_ms: slow_ms,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::DateTime;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::performance::query_stats::QueryStats;

    fn report(container: &str, start: i64, millis: &[u64], hits: u64, misses: u64) -> ContainerReport {
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(start, 0).unwrap()));
        let stats = QueryStats::new(clock.clone());
        for &ms in millis {
            stats.record("get AGENT/POLICY".into(), Duration::from_millis(ms), true);
        }
        let pool = |in_flight, peak| PoolSnapshot {
            service: "aws".into(),
            max: 50,
            min: 5,
            timeout_s: 30,
            in_flight,
            peak_in_flight: peak,
            requests: 10,
            waited: 0,
            exhausted: 0,
            utilization: peak as f64 / 50.0,
        };
        ContainerReport {
            function: "api".into(),
            container: container.into(),
            window_start: start,
            flushed_at: clock.now(),
            patterns: stats.take_for_flush().pop().unwrap().1,
            pools: vec![pool(1, 40)],
            caches: vec![CacheStats {
                name: "agent_configs".into(),
                strategy: crate::performance::cache::Strategy::Ttl,
                hits,
                misses,
                writes: misses,
                dropped: 0,
                hit_rate: CacheStats::rate(hits, misses),
                entries: 3,
                capacity: 100,
                ttl_s: 300,
            }],
            memory: Some(MemoryReading::new(300 * 1024 * 1024, Some(512.0))),
            actions: vec![],
        }
    }

    #[test]
    fn containers_merge_and_a_slower_window_is_a_regression() {
        let now = 1_800_000_000 - 1_800_000_000 % WINDOW_SECONDS;
        let prev = now - WINDOW_SECONDS;
        let reports = vec![
            report("a", prev, &[10; 30], 90, 10),
            report("a", now, &[20; 30], 95, 15),
            report("b", now, &[20; 30], 5, 5),
            // Too old to count.
            report("c", prev - WINDOW_SECONDS, &[1; 30], 1000, 0),
        ];
        let view = aggregate(&reports, now, 100.0);
        assert_eq!(view.containers, 2);
        assert_eq!(view.query_response_times["get AGENT/POLICY"].count, 90);
        assert_eq!(view.regressions.len(), 1, "{:?}", view.regressions);
        assert!((view.regressions[0].current_p95_ms / 20.0 - 1.0).abs() < 0.03);
        // Container a's latest counters (95/15) plus b's (5/5), not a's earlier ones as well.
        assert_eq!(view.caches["agent_configs"].hits, 100);
        assert_eq!(view.cache_hit_rates["agent_configs"], Some(100.0 / 120.0));
        let aws = &view.connection_pools["aws"];
        assert_eq!((aws.containers, aws.in_flight, aws.requests), (2, 2, 20));
        assert!((aws.utilization - 0.8).abs() < 1e-9);
        assert!((view.memory_usage_percent.unwrap() - 58.59375).abs() < 1e-6);
    }

    #[test]
    fn a_few_slow_calls_are_no_regression() {
        let now = 1_800_000_000 - 1_800_000_000 % WINDOW_SECONDS;
        let reports =
            vec![report("a", now - WINDOW_SECONDS, &[10; 30], 0, 0), report("a", now, &[100; 5], 0, 0)];
        assert!(aggregate(&reports, now, 100.0).regressions.is_empty());
    }
}
