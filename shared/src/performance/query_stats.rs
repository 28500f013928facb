//! Query statistics: every store operation timed per access pattern (`get AGENT/POLICY`,
//! `query USAGE`, ...) into an HDR histogram, so p50/p95/p99 come from every call, not a sample.
//!
//! Figures are kept per window of [`WINDOW_SECONDS`] (wall-clock aligned, by the injected clock),
//! so windows from many containers line up and merge, and a window can be compared with the one
//! before it (regressions). A finished window is kept until it has been taken for flushing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;

/// A pattern is slow when its p95 is above this, unless configured otherwise.
pub const DEFAULT_SLOW_MS: f64 = 100.0;
/// The length of a statistics window.
pub const WINDOW_SECONDS: i64 = 300;
/// Longest latency the histograms resolve, microseconds (a minute).
const MAX_MICROS: u64 = 60_000_000;
/// Stored histograms use buckets this much wider than the one before (2 %).
const STORED_BUCKET_GROWTH: f64 = 1.02;
/// Finished windows kept while no flush takes them (an hour's worth), oldest dropped first.
const MAX_FINISHED: usize = 12;

fn histogram() -> Histogram<u64> {
    // Three significant figures from 1 µs to a minute: about 25 KB a pattern.
    Histogram::new_with_bounds(1, MAX_MICROS, 3).unwrap_or_else(|_| unreachable!("valid bounds"))
}

/// One pattern's calls in one window.
#[derive(Debug, Clone)]
pub struct PatternStats {
    micros: Histogram<u64>,
    errors: u64,
    capacity_units: f64,
}

impl Default for PatternStats {
    fn default() -> Self {
        Self { micros: histogram(), errors: 0, capacity_units: 0.0 }
    }
}

/// A pattern's calls as stored in the table: the histogram's recorded values (µs) with their
/// counts, which merge exactly across containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PatternRecord {
    pub micros: Vec<(u64, u64)>,
    pub errors: u64,
    pub capacity_units: f64,
}

/// One pattern's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PatternSummary {
    pub count: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// DynamoDB capacity units the calls consumed (0 where the backend does not report them).
    pub capacity_units: f64,
    /// p95 above the threshold.
    pub slow: bool,
}

impl PatternStats {
    fn record(&mut self, micros: u64, ok: bool) {
        let _ = self.micros.record(micros.clamp(1, MAX_MICROS));
        self.errors += u64::from(!ok);
    }

    /// The histogram in 2 % buckets (each stored at its upper bound), so a pattern's record stays
    /// a few KB however widely its latencies spread and a report fits in one table item.
    pub fn to_record(&self) -> PatternRecord {
        PatternRecord {
            micros: self
                .micros
                .iter_log(1, STORED_BUCKET_GROWTH)
                .filter(|v| v.count_since_last_iteration() > 0)
                .map(|v| (v.value_iterated_to(), v.count_since_last_iteration()))
                .collect(),
            errors: self.errors,
            capacity_units: self.capacity_units,
        }
    }

    /// Adds a stored record (another container's, or another window's).
    pub fn merge(&mut self, record: &PatternRecord) {
        for &(value, count) in &record.micros {
            let _ = self.micros.record_n(value.clamp(1, MAX_MICROS), count);
        }
        self.errors += record.errors;
        self.capacity_units += record.capacity_units;
    }

    pub fn count(&self) -> u64 {
        self.micros.len()
    }

    pub fn p95_ms(&self) -> f64 {
        self.micros.value_at_quantile(0.95) as f64 / 1000.0
    }

    pub fn summary(&self, slow_ms: f64) -> PatternSummary {
        let ms = |q: f64| self.micros.value_at_quantile(q) as f64 / 1000.0;
        let p95 = self.p95_ms();
        PatternSummary {
            count: self.count(),
            errors: self.errors,
            p50_ms: ms(0.5),
            p95_ms: p95,
            p99_ms: ms(0.99),
            max_ms: self.micros.max() as f64 / 1000.0,
            capacity_units: self.capacity_units,
            slow: p95 > slow_ms,
        }
    }
}

/// Every pattern's calls in one window.
pub type Patterns = BTreeMap<String, PatternStats>;

#[derive(Debug, Default)]
struct Windows {
    current_start: i64,
    current: Patterns,
    finished: Vec<(i64, Patterns)>,
}

/// The container's query statistics.
#[derive(Debug)]
pub struct QueryStats {
    clock: Arc<dyn Clock>,
    windows: Mutex<Windows>,
}

/// The start (epoch seconds) of the window holding `at`.
pub fn window_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(WINDOW_SECONDS) * WINDOW_SECONDS
}

/// The table's kinds of partition (a partition key's first `#` segment).
const PARTITIONS: [&str; 11] = [
    "AGENT",
    "CACHE",
    "CATALOG",
    "CONTROL",
    "COST",
    "IDEMPOTENCY",
    "MODELS",
    "PERF",
    "REGION",
    "USAGE",
    "WARM",
];
/// The cost partitions' second segment.
const COST_PARTITIONS: [&str; 6] = ["ACTION", "HOUR", "PROVISIONED", "REPRICE", "SNAPSHOT", "WARMING"];
/// The table's kinds of sort key (its first `#` segment).
const SORT_KINDS: [&str; 15] = [
    "AGENT",
    "CAPS",
    "COST",
    "DEMAND",
    "EVENT",
    "HEALTH",
    "INCIDENT",
    "MODEL",
    "POLICY",
    "PRICES",
    "REPLICA",
    "STATE",
    "WAITING",
    "IPM",
    "SCALE_UP_REQUEST",
];

/// The access pattern of a key, from the key schema only: the partition's kind (and a cost
/// partition's sub-kind) and the sort key's kind, each one of a fixed set; anything else is `*`.
/// So `AGENT#detection`/`REPLICA#us-east-1#r-1` is `AGENT/REPLICA`, `COST#SNAPSHOT`/`<timestamp>`
/// is `COST#SNAPSHOT/*` and `USAGE#<hour>`/`MODEL#<model>#TASK#<task>` is `USAGE/MODEL#TASK`.
/// No identifier ever becomes part of one (an incident id such as `PABCDEF` would otherwise make a
/// pattern, a histogram and a metric series of its own), so patterns stay few and safe as metric
/// dimensions.
pub fn pattern_of(pk: &str, sk: Option<&str>) -> String {
    let mut pk_parts = pk.split('#');
    let kind = pk_parts.next().filter(|k| PARTITIONS.contains(k));
    let partition = match kind {
        Some("COST") => match pk_parts.next().filter(|k| COST_PARTITIONS.contains(k)) {
            Some(sub) => format!("COST#{sub}"),
            None => "COST".to_owned(),
        },
        Some(k) => k.to_owned(),
        None => "*".to_owned(),
    };
    let Some(sk) = sk else { return partition };
    let sort = match sk.split('#').next().filter(|k| SORT_KINDS.contains(k)) {
        Some("MODEL") if sk.contains("#TASK#") => "MODEL#TASK",
        Some(k) => k,
        None => "*",
    };
    format!("{partition}/{sort}")
}

impl QueryStats {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let start = window_of(clock.now());
        Self { clock, windows: Mutex::new(Windows { current_start: start, ..Windows::default() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        let mut w = crate::sync::lock(&self.windows);
        let start = window_of(self.clock.now());
        if start > w.current_start {
            let done = std::mem::take(&mut w.current);
            let done_start = std::mem::replace(&mut w.current_start, start);
            if !done.is_empty() {
                w.finished.push((done_start, done));
                if w.finished.len() > MAX_FINISHED {
                    w.finished.remove(0);
                }
            }
        }
        w
    }

    /// Records one operation.
    pub fn record(&self, pattern: String, elapsed: Duration, ok: bool) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.lock().current.entry(pattern).or_default().record(micros, ok);
    }

    /// Adds the capacity units a call consumed to its pattern.
    pub fn record_capacity(&self, pattern: String, units: f64) {
        if units.is_finite() && units > 0.0 {
            self.lock().current.entry(pattern).or_default().capacity_units += units;
        }
    }

    /// The current window's figures; `slow_ms` decides which are slow.
    pub fn summary(&self, slow_ms: f64) -> BTreeMap<String, PatternSummary> {
        self.lock().current.iter().map(|(name, p)| (name.clone(), p.summary(slow_ms))).collect()
    }

    /// A copy of the current window's figures, as they would be stored.
    pub fn current_records(&self) -> BTreeMap<String, PatternRecord> {
        self.lock().current.iter().map(|(n, s)| (n.clone(), s.to_record())).collect()
    }

    /// The windows to flush: the finished ones (handed over, no longer kept) and a copy of the
    /// current one, each with its start.
    pub fn take_for_flush(&self) -> Vec<(i64, BTreeMap<String, PatternRecord>)> {
        let mut w = self.lock();
        let finished = std::mem::take(&mut w.finished);
        let records = |p: &Patterns| p.iter().map(|(n, s)| (n.clone(), s.to_record())).collect();
        let mut out: Vec<_> = finished.iter().map(|(start, p)| (*start, records(p))).collect();
        out.push((w.current_start, records(&w.current)));
        out
    }
}

/// The DynamoDB store's consumed capacity, under the access pattern an instrumented store times
/// the same call as.
impl crate::store::CapacitySink for QueryStats {
    fn consumed(&self, op: &str, pk: &str, sk: Option<&str>, units: f64) {
        self.record_capacity(format!("{op} {}", pattern_of(pk, sk)), units);
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::clock::ManualClock;

    fn clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()))
    }

    #[test]
    fn patterns_drop_identifiers() {
        assert_eq!(pattern_of("AGENT#detection", Some("REPLICA#us-east-1#r1")), "AGENT/REPLICA");
        assert_eq!(pattern_of("CONTROL", Some("COST")), "CONTROL/COST");
        assert_eq!(pattern_of("USAGE#2026-11-26T10", None), "USAGE");
        let table = [
            ("COST#SNAPSHOT", Some("2026-11-27T03:00:00+00:00"), "COST#SNAPSHOT/*"),
            ("COST#ACTION", Some("2026-11-27T03:00:00+00:00#2"), "COST#ACTION/*"),
            ("USAGE#2026-11-26T10", Some("MODEL#amazon.nova-lite#TASK#diagnosis"), "USAGE/MODEL#TASK"),
            ("CACHE#warm_profiles", Some("detection-agent#us-east-1"), "CACHE/*"),
            ("PERF#1800000000", Some("api#0f3c"), "PERF/*"),
            ("AGENT#triage", Some("SCALE_UP_REQUEST"), "AGENT/SCALE_UP_REQUEST"),
            ("IDEMPOTENCY#7bf73129-1428", Some("EVENT"), "IDEMPOTENCY/EVENT"),
        ];
        for (pk, sk, pattern) in table {
            assert_eq!(pattern_of(pk, sk), pattern, "{pk} {sk:?}");
        }
    }

    /// Issue 17, item 1: key segments that were all capitals were kept, so incident ids like
    /// `PABCDEF` and replica ids like `PRIMARY` each made a pattern of their own.
    #[test]
    fn identifiers_in_capitals_make_no_pattern() {
        let table = [
            ("AGENT#detection", Some("REPLICA#us-east-1#PRIMARY"), "AGENT/REPLICA"),
            ("AGENT#detection", Some("WAITING#PABCDEF"), "AGENT/WAITING"),
            ("IDEMPOTENCY#select#detection#PABCDEF", Some("EVENT"), "IDEMPOTENCY/EVENT"),
            ("WARM#PRIMARY-AGENT#us-east-1", Some("STATE"), "WARM/STATE"),
            ("MODELS", Some("HEALTH#ANTHROPIC.CLAUDE"), "MODELS/HEALTH"),
            ("PABCDEF", Some("PRIMARY"), "*/*"),
        ];
        for (pk, sk, pattern) in table {
            assert_eq!(pattern_of(pk, sk), pattern, "{pk} {sk:?}");
        }
    }

    proptest::proptest! {
        /// Whatever the identifiers, patterns come from a fixed set.
        #[test]
        fn patterns_are_a_fixed_set(id in "[A-Z_#a-z0-9-]{0,24}", kind in 0usize..14) {
            let kinds = ["AGENT#", "CACHE#", "CATALOG", "CONTROL", "COST#", "COST#HOUR", "IDEMPOTENCY#", "MODELS",
                "PERF#", "REGION#", "USAGE#", "WARM#", "", "X#"];
            let pattern = pattern_of(&format!("{}{id}", kinds[kind]), Some(&id));
            let (partition, sort) = pattern.split_once('/').unwrap();
            let known = |p: &str| p == "*" || PARTITIONS.contains(&p)
                || p.strip_prefix("COST#").is_some_and(|c| COST_PARTITIONS.contains(&c));
            proptest::prop_assert!(known(partition), "{pattern}");
            proptest::prop_assert!(sort == "*" || sort == "MODEL#TASK" || SORT_KINDS.contains(&sort), "{pattern}");
        }
    }

    #[test]
    fn percentiles_come_from_every_call() {
        let stats = QueryStats::new(clock());
        for ms in 1..=100u64 {
            stats.record("get A/B".into(), Duration::from_millis(ms), true);
        }
        for _ in 0..10 {
            stats.record("query SLOW".into(), Duration::from_millis(250), false);
        }
        stats.record_capacity("query SLOW".into(), 2.5);
        let s = stats.summary(DEFAULT_SLOW_MS);
        let a = &s["get A/B"];
        assert_eq!(a.count, 100);
        assert!(
            (a.p50_ms - 50.0).abs() < 0.1 && (a.p95_ms - 95.0).abs() < 0.1 && (a.max_ms - 100.0).abs() < 0.1,
            "{a:?}"
        );
        assert!(!a.slow);
        let slow = &s["query SLOW"];
        assert!(slow.slow && slow.errors == 10 && (slow.capacity_units - 2.5).abs() < 1e-9, "{slow:?}");
    }

    #[test]
    fn windows_turn_over_and_are_handed_to_the_flush_once() {
        let clock = clock();
        let stats = QueryStats::new(clock.clone());
        stats.record("get A/B".into(), Duration::from_millis(1), true);
        clock.advance(chrono::Duration::seconds(WINDOW_SECONDS));
        stats.record("get A/B".into(), Duration::from_millis(2), true);
        stats.record("get A/B".into(), Duration::from_millis(2), true);
        let windows = stats.take_for_flush();
        assert_eq!(windows.len(), 2);
        assert_eq!(windows[1].0 - windows[0].0, WINDOW_SECONDS);
        let counts: Vec<u64> =
            windows.iter().map(|(_, p)| p["get A/B"].micros.iter().map(|v| v.1).sum()).collect();
        assert_eq!(counts, vec![1, 2]);
        // The finished window went with that flush (the flush's buffer keeps it until stored).
        assert_eq!(stats.take_for_flush().len(), 1);
    }

    #[test]
    fn a_stored_record_stays_small_and_close_however_wide_the_latencies() {
        let stats = QueryStats::new(clock());
        // Latencies from 1 us to a minute, in 0.1 % steps.
        let mut micros = 1.0_f64;
        while micros < 60_000_000.0 {
            stats.record("get A/B".into(), Duration::from_micros(micros as u64), true);
            micros *= 1.001;
        }
        let exact = stats.summary(DEFAULT_SLOW_MS)["get A/B"].clone();
        let record = &stats.take_for_flush()[0].1["get A/B"];
        let bytes = serde_json::to_vec(record).unwrap().len();
        assert!(
            record.micros.len() < 1000 && bytes < 24_000,
            "{} buckets, {bytes} bytes",
            record.micros.len()
        );
        let mut merged = PatternStats::default();
        merged.merge(record);
        let stored = merged.summary(DEFAULT_SLOW_MS);
        assert_eq!(stored.count, exact.count);
        for (a, b) in
            [(stored.p50_ms, exact.p50_ms), (stored.p95_ms, exact.p95_ms), (stored.p99_ms, exact.p99_ms)]
        {
            assert!(a >= b * 0.99 && a <= b * 1.03, "stored {a} vs exact {b}");
        }
    }

    #[test]
    fn stored_records_merge_to_the_same_percentiles() {
        let (one, two) = (QueryStats::new(clock()), QueryStats::new(clock()));
        for ms in 1..=50u64 {
            one.record("get A/B".into(), Duration::from_millis(ms), true);
            two.record("get A/B".into(), Duration::from_millis(ms + 50), ms % 10 != 0);
        }
        let mut merged = PatternStats::default();
        for stats in [&one, &two] {
            merged.merge(&stats.take_for_flush()[0].1["get A/B"]);
        }
        let s = merged.summary(DEFAULT_SLOW_MS);
        assert_eq!((s.count, s.errors), (100, 5));
        assert!((s.p50_ms / 50.0 - 1.0).abs() < 0.03 && (s.p99_ms / 99.0 - 1.0).abs() < 0.03, "{s:?}");
    }
}
