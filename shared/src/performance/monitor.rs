//! The container's performance hub, built once in `main`: it instruments and caches the store,
//! guards memory, and flushes the container's figures to the table (at most once a minute, and
//! at the end of scheduled runs) through a write-behind buffer, as EMF metrics too.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use super::InstrumentedStore;
use super::cache::{Caches, CachingStore, SeedCaches, WriteBehind};
use super::memory::{self, MemoryReading, MemoryVerdict};
use super::pools::Pools;
use super::query_stats::{DEFAULT_SLOW_MS, QueryStats, window_of};
use super::report::{self, ContainerReport, OptimizationAction, PerformanceView};
use crate::clock::Clock;
use crate::store::{Store, StoreError};
use crate::sync::lock;
use crate::telemetry::{Dimension, EmfSink, MetricSet, Unit};

/// Figures reach the table at most this often from one container.
pub const FLUSH_EVERY_SECONDS: i64 = 60;
/// After a failed flush the next waits this long, doubling with each failure in a row...
const FLUSH_BACKOFF_SECONDS: i64 = 60;
/// ...up to this long.
const FLUSH_BACKOFF_MAX_SECONDS: i64 = 900;
/// The caches are shed again only after this long.
pub const SHED_AGAIN_AFTER_SECONDS: i64 = 300;
/// Actions a container keeps to report.
const MAX_ACTIONS: usize = 20;

type RssReader = Arc<dyn Fn() -> Option<u64> + Send + Sync>;

/// See the module documentation.
#[derive(Clone)]
pub struct Performance {
    function: &'static str,
    container: String,
    clock: Arc<dyn Clock>,
    stats: Arc<QueryStats>,
    caches: Caches,
    specs: SeedCaches,
    pools: Pools,
    memory_limit_mb: Option<f64>,
    read_rss: RssReader,
    actions: Arc<Mutex<Vec<OptimizationAction>>>,
    last_flush: Arc<Mutex<Option<DateTime<Utc>>>>,
    /// Failed flushes in a row, and when the next may try.
    backoff: Arc<Mutex<(u32, Option<DateTime<Utc>>)>>,
    /// A flush is running (one at a time per container).
    flushing: Arc<std::sync::atomic::AtomicBool>,
    last_shed: Arc<Mutex<Option<DateTime<Utc>>>>,
    buffer: WriteBehind,
    metrics: EmfSink,
}

impl std::fmt::Debug for Performance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Performance")
            .field("function", &self.function)
            .field("container", &self.container)
            .finish_non_exhaustive()
    }
}

/// A random id for this container: 128 bits straight from the OS (one `getrandom` call), not
/// through `uuid::new_v4`, whose thread-local generator costs a cold start its set-up (CPU
/// feature probes that trap to the hypervisor in a micro-VM) before the first poll.
fn container_id() -> String {
    let mut bytes = [0u8; 16];
    match getrandom::fill(&mut bytes) {
        Ok(()) => uuid::Builder::from_random_bytes(bytes).into_uuid().simple().to_string(),
        Err(_) => uuid::Uuid::new_v4().simple().to_string(),
    }
}

impl Performance {
    /// A hub for `function` whose reports go to `table` (given uninstrumented, so flushing is
    /// not itself counted). Memory is held against `memory_limit_mb`.
    pub fn new(
        function: &'static str,
        table: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        memory_limit_mb: Option<f64>,
    ) -> Self {
        let caches = Caches::new();
        Self {
            function,
            container: container_id(),
            stats: Arc::new(QueryStats::new(Arc::clone(&clock))),
            buffer: WriteBehind::new(table, &caches),
            caches,
            specs: SeedCaches::default(),
            clock,
            pools: Pools::default(),
            memory_limit_mb,
            read_rss: Arc::new(memory::resident_bytes),
            actions: Arc::default(),
            last_flush: Arc::default(),
            backoff: Arc::default(),
            flushing: Arc::default(),
            last_shed: Arc::default(),
            metrics: EmfSink::off(),
        }
    }

    /// Sizes the seed caches as `specs` says.
    #[must_use]
    pub fn with_specs(mut self, specs: SeedCaches) -> Self {
        self.specs = specs;
        self
    }

    /// Also writes the figures as EMF lines to `metrics` at each flush.
    #[must_use]
    pub fn with_metrics(mut self, metrics: EmfSink) -> Self {
        self.metrics = metrics;
        self
    }

    /// Reads resident memory with `read` instead of from the OS (tests).
    #[must_use]
    pub fn with_rss_reader(mut self, read: impl Fn() -> Option<u64> + Send + Sync + 'static) -> Self {
        self.read_rss = Arc::new(read);
        self
    }

    /// Uses the container's `pools` (each built with its own otherwise).
    #[must_use]
    pub fn with_pools(mut self, pools: Pools) -> Self {
        self.pools = pools;
        self
    }

    pub fn caches(&self) -> &Caches {
        &self.caches
    }

    /// The seed caches' specs in force.
    pub fn specs(&self) -> &SeedCaches {
        &self.specs
    }

    pub fn stats(&self) -> &Arc<QueryStats> {
        &self.stats
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// `store` timed per access pattern.
    pub fn instrument(&self, store: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(InstrumentedStore::new(store, Arc::clone(&self.stats)))
    }

    /// `store` timed per access pattern, with the seed caches in front of the patterns the
    /// suite re-reads (see [`CachingStore::seeded`]).
    pub fn instrument_and_cache(&self, store: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(CachingStore::seeded(
            self.instrument(store),
            &self.caches,
            Arc::clone(&self.clock),
            &self.specs,
        ))
    }

    fn record_action(&self, kind: &str, detail: String) {
        tracing::warn!(kind, detail, "performance action");
        let mut actions = lock(&self.actions);
        actions.push(OptimizationAction {
            at: self.clock.now(),
            function: self.function.to_owned(),
            kind: kind.to_owned(),
            detail,
        });
        let excess = actions.len().saturating_sub(MAX_ACTIONS);
        actions.drain(..excess);
    }

    /// Reads memory; above the shed line, empties the caches and records that it did (at most
    /// once in [`SHED_AGAIN_AFTER_SECONDS`]: memory that stays high after a shed is not the
    /// caches', and emptying them again would only cost hits).
    pub fn guard_memory(&self) -> Option<MemoryReading> {
        let reading = MemoryReading::new((self.read_rss)()?, self.memory_limit_mb);
        let now = self.clock.now();
        let shed_lately =
            lock(&self.last_shed).is_some_and(|at| now - at < Duration::seconds(SHED_AGAIN_AFTER_SECONDS));
        if reading.verdict() == MemoryVerdict::Shed && !shed_lately {
            *lock(&self.last_shed) = Some(now);
            let dropped = self.caches.shed();
            self.record_action(
                "caches_shed",
                format!(
                    "resident memory {:.0} MB is {:.0} % of {:.0} MB (above {:.0} %): dropped {dropped} cache entries",
                    reading.rss_mb,
                    reading.percent.unwrap_or_default(),
                    reading.limit_mb.unwrap_or_default(),
                    memory::SHED_PERCENT
                ),
            );
        }
        Some(reading)
    }

    /// This container's figures, one report per window not yet flushed (finished windows are
    /// handed over: the caller must store them).
    fn take_reports(&self, memory: Option<MemoryReading>) -> Vec<ContainerReport> {
        let now = self.clock.now();
        let (pools, caches, actions) =
            (self.pools.snapshot(), self.caches.stats(), lock(&self.actions).clone());
        self.stats
            .take_for_flush()
            .into_iter()
            .map(|(window_start, patterns)| ContainerReport {
                function: self.function.to_owned(),
                container: self.container.clone(),
                window_start,
                flushed_at: now,
                patterns,
                pools: pools.clone(),
                caches: caches.clone(),
                memory,
                actions: actions.clone(),
            })
            .collect()
    }

    /// This container's current figures without flushing anything (for a view that includes
    /// the container answering it).
    pub fn live_report(&self) -> ContainerReport {
        let now = self.clock.now();
        let patterns = self.stats.current_records();
        ContainerReport {
            function: self.function.to_owned(),
            container: self.container.clone(),
            window_start: window_of(now),
            flushed_at: now,
            patterns,
            pools: self.pools.snapshot(),
            caches: self.caches.stats(),
            memory: self.guard_memory(),
            actions: lock(&self.actions).clone(),
        }
    }

    /// Runs `work`, then flushes this container's figures (`every_time`: at the end of every
    /// scheduled run; otherwise at most once a minute). A failed flush is logged and kept for
    /// the next; it never fails the work.
    pub async fn after<T>(&self, every_time: bool, work: impl Future<Output = T>) -> T {
        let outcome = work.await;
        let flushed = if every_time { self.flush().await } else { self.flush_if_due().await.map(|_| ()) };
        if let Err(e) = flushed {
            tracing::warn!(error = %e, "performance figures not flushed; kept for the next flush");
        }
        outcome
    }

    /// Runs `work` and answers at once; a flush that is due runs on its own task, off the
    /// request's path (in Lambda it carries on when the environment next runs). One flush runs
    /// at a time, and after a failure the next waits (1 minute, doubling, at most 15).
    pub async fn after_in_background<T>(&self, work: impl Future<Output = T>) -> T {
        let outcome = work.await;
        if self.due() && !self.flushing.swap(true, std::sync::atomic::Ordering::AcqRel) {
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(e) = this.flush_if_due().await {
                    tracing::warn!(error = %e, "performance figures not flushed; kept for the next flush");
                }
                this.flushing.store(false, std::sync::atomic::Ordering::Release);
            });
        }
        outcome
    }

    /// A minute has passed since the last flush (or an earlier flush left writes behind), and
    /// no failure's backoff is running.
    fn due(&self) -> bool {
        let now = self.clock.now();
        if lock(&self.backoff).1.is_some_and(|retry_at| now < retry_at) {
            return false;
        }
        let minute =
            lock(&self.last_flush).is_none_or(|at| now - at >= Duration::seconds(FLUSH_EVERY_SECONDS));
        minute || self.buffer.pending() > 0
    }

    /// Flushes if [due](Self::due). Answers whether it flushed.
    pub async fn flush_if_due(&self) -> Result<bool, StoreError> {
        if !self.due() {
            return Ok(false);
        }
        self.flush().await.map(|()| true)
    }

    /// Writes this container's figures to the table now (end of a scheduled run). A failed
    /// write stays buffered and goes with the next flush, after the backoff.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let memory = self.guard_memory();
        let reports = self.take_reports(memory);
        for report in &reports {
            self.buffer.write(report.to_item()?);
        }
        let now = self.clock.now();
        *lock(&self.last_flush) = Some(now);
        if let Some(current) = reports.last().filter(|_| self.metrics.is_on()) {
            self.emit(current);
        }
        let flushed = self.buffer.flush().await.map(|_| ());
        let mut backoff = lock(&self.backoff);
        *backoff = if flushed.is_ok() {
            (0, None)
        } else {
            let failures = backoff.0.saturating_add(1);
            let wait = FLUSH_BACKOFF_SECONDS
                .saturating_mul(1 << failures.saturating_sub(1).min(10))
                .min(FLUSH_BACKOFF_MAX_SECONDS);
            (failures, Some(now + Duration::seconds(wait)))
        };
        drop(backoff);
        flushed
    }

    fn emit(&self, report: &ContainerReport) {
        let at = self.clock.now();
        for set in self.metric_sets(report) {
            self.metrics.emit(&set, at);
        }
    }

    /// A report as EMF metric sets: per access pattern, per cache, per pool, and memory. Every
    /// dimension value is a name fixed in code (patterns are key prefixes the code builds).
    fn metric_sets(&self, report: &ContainerReport) -> Vec<MetricSet> {
        let function = Dimension::Function(self.function);
        let with = |dimension: Option<Dimension>| {
            let set = self.metrics.set().dimension(function.clone());
            match dimension {
                Some(d) => set.and_then(|m| m.dimension(d)),
                None => set,
            }
        };
        let mut sets = Vec::new();
        for (pattern, record) in &report.patterns {
            let mut stats = super::query_stats::PatternStats::default();
            stats.merge(record);
            let s = stats.summary(DEFAULT_SLOW_MS);
            sets.push(
                with(Some(Dimension::AccessPattern(pattern.clone())))
                    .and_then(|m| m.metric("QueryCount", Unit::Count, s.count as f64))
                    .and_then(|m| m.metric("QueryP50", Unit::Milliseconds, s.p50_ms))
                    .and_then(|m| m.metric("QueryP95", Unit::Milliseconds, s.p95_ms))
                    .and_then(|m| m.metric("QueryP99", Unit::Milliseconds, s.p99_ms)),
            );
        }
        for cache in &report.caches {
            let Some(name) = self.caches.registered_name(&cache.name) else { continue };
            sets.push(
                with(Some(Dimension::Cache(name)))
                    .and_then(|m| m.metric("CacheHits", Unit::Count, cache.hits as f64))
                    .and_then(|m| m.metric("CacheMisses", Unit::Count, cache.misses as f64)),
            );
        }
        for pool in &report.pools {
            let Some(service) = super::Service::ALL.into_iter().find(|s| s.as_str() == pool.service) else {
                continue;
            };
            sets.push(
                with(Some(Dimension::Pool(service.as_str())))
                    .and_then(|m| m.metric("PoolInFlight", Unit::Count, pool.in_flight as f64))
                    .and_then(|m| m.metric("PoolUtilization", Unit::Percent, pool.utilization * 100.0)),
            );
        }
        if let Some(percent) = report.memory.and_then(|m| m.percent) {
            sets.push(with(None).and_then(|m| m.metric("MemoryUsedPercent", Unit::Percent, percent)));
        }
        // The builder only refuses too many dimensions or metrics, which these never reach.
        sets.into_iter().filter_map(Result::ok).collect()
    }

    /// The fleet's view: every container's stored reports of the current and previous windows,
    /// with this container's stored ones replaced by its live figures.
    pub async fn fleet_view(&self, table: &dyn Store) -> Result<PerformanceView, StoreError> {
        let current = window_of(self.clock.now());
        let mut reports =
            report::reports_of_window(table, current - super::query_stats::WINDOW_SECONDS).await?;
        reports.extend(report::reports_of_window(table, current).await?);
        reports.retain(|r| !(r.container == self.container && r.window_start == current));
        reports.push(self.live_report());
        Ok(report::aggregate(&reports, current, DEFAULT_SLOW_MS))
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::{Key, MemoryStore, Query, Update};

    fn setup() -> (Arc<ManualClock>, Arc<dyn Store>) {
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
        let table: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
        (clock, table)
    }

    #[tokio::test]
    async fn above_the_shed_line_caches_are_emptied_and_the_action_recorded() {
        let (clock, table) = setup();
        let rss = Arc::new(std::sync::atomic::AtomicU64::new(100 * 1024 * 1024));
        let perf = Performance::new("api", table.clone(), clock.clone(), Some(128.0)).with_rss_reader({
            let rss = Arc::clone(&rss);
            move || Some(rss.load(std::sync::atomic::Ordering::Relaxed))
        });
        let store = perf.instrument_and_cache(table);
        store.get(&Key::new("AGENT#triage", "POLICY")).await.unwrap();
        store.get(&Key::new("AGENT#triage", "POLICY")).await.unwrap();
        let reading = perf.guard_memory().unwrap();
        assert!((reading.percent.unwrap() - 78.125).abs() < 1e-9);
        assert!(lock(&perf.actions).is_empty(), "78 % sheds nothing");
        rss.store(120 * 1024 * 1024, std::sync::atomic::Ordering::Relaxed);
        perf.guard_memory();
        perf.guard_memory();
        let actions = lock(&perf.actions).clone();
        assert_eq!(actions.len(), 1, "shed once, not at every reading");
        assert_eq!(actions[0].kind, "caches_shed");
        assert!(actions[0].detail.contains("94 % of 128 MB"), "{}", actions[0].detail);
        // The entry is gone: the next read misses.
        store.get(&Key::new("AGENT#triage", "POLICY")).await.unwrap();
        let configs = perf.caches().stats().into_iter().find(|c| c.name == "agent_configs").unwrap();
        assert_eq!((configs.hits, configs.misses), (1, 2));
        clock.advance(Duration::seconds(SHED_AGAIN_AFTER_SECONDS));
        perf.guard_memory();
        assert_eq!(lock(&perf.actions).len(), 2, "still high five minutes on: shed again");
    }

    #[tokio::test]
    async fn figures_become_emf_lines_with_bounded_dimensions() {
        let (clock, table) = setup();
        let perf = Performance::new("warmer", table.clone(), clock.clone(), Some(256.0))
            .with_rss_reader(|| Some(64 * 1024 * 1024));
        let store = perf.instrument_and_cache(table);
        store.get(&Key::new("AGENT#triage", "POLICY")).await.unwrap();
        let report = perf.live_report();
        let lines: Vec<serde_json::Value> =
            perf.metric_sets(&report).iter().map(|s| s.to_json(clock.now())).collect();
        let pattern = lines.iter().find(|l| l["AccessPattern"] == "get AGENT/POLICY").unwrap();
        assert_eq!(
            (pattern["Function"].as_str(), pattern["QueryCount"].as_f64()),
            (Some("warmer"), Some(1.0))
        );
        assert_eq!(
            pattern["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            serde_json::json!(["Function", "AccessPattern"])
        );
        let cache = lines.iter().find(|l| l["Cache"] == "agent_configs").unwrap();
        assert_eq!(cache["CacheMisses"], 1.0);
        assert_eq!(lines.iter().filter(|l| l.get("Pool").is_some()).count(), 5, "one line a pool");
        let memory = lines.iter().find(|l| l.get("MemoryUsedPercent").is_some()).unwrap();
        assert_eq!(memory["MemoryUsedPercent"], 25.0);
    }

    #[tokio::test]
    async fn flushes_at_most_once_a_minute_and_two_containers_merge() {
        let (clock, table) = setup();
        let one = Performance::new("api", table.clone(), clock.clone(), None);
        let two = Performance::new("scaler", table.clone(), clock.clone(), None);
        for perf in [&one, &two] {
            let store = perf.instrument(table.clone());
            for _ in 0..5 {
                store.update(&Key::new("AGENT#triage", "STATE"), Update::new().add("n", 1.0)).await.unwrap();
            }
        }
        assert!(one.flush_if_due().await.unwrap(), "the first flush is due");
        assert!(!one.flush_if_due().await.unwrap(), "not again within the minute");
        clock.advance(Duration::seconds(FLUSH_EVERY_SECONDS));
        assert!(one.flush_if_due().await.unwrap());
        two.flush().await.unwrap();
        let window = window_of(clock.now());
        let stored = table.query(&Query::partition(format!("PERF#{window}"))).await.unwrap().items;
        assert_eq!(stored.len(), 2, "one item per container and window, overwritten by each flush");
        // A third container's view: both others' figures, merged.
        let viewer = Performance::new("api", table.clone(), clock.clone(), None);
        let view = viewer.fleet_view(table.as_ref()).await.unwrap();
        assert_eq!(view.query_response_times["update AGENT/STATE"].count, 10);
        assert_eq!(view.containers, 3);
    }
}
