//! Query statistics: every store operation timed per access pattern (`get AGENT/POLICY`,
//! `query USAGE/MODEL`, ...) into an HDR histogram, so p50/p95/p99 come from every call, not a
//! sample. Per container; flushing across containers comes with the performance endpoints.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// A pattern is slow when its p95 is above this, unless configured otherwise.
pub const DEFAULT_SLOW_MS: f64 = 100.0;
/// Longest latency the histograms resolve, microseconds (a minute).
const MAX_MICROS: u64 = 60_000_000;

#[derive(Debug)]
struct Pattern {
    micros: Histogram<u64>,
    errors: u64,
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
    /// p95 above the threshold.
    pub slow: bool,
}

#[derive(Debug, Default)]
pub struct QueryStats {
    patterns: Mutex<BTreeMap<String, Pattern>>,
}

/// The access pattern of a key: each part up to its first `#` (`AGENT#detection`/`REPLICA#...`
/// is `AGENT/REPLICA`), so patterns are few and never carry identifiers.
pub fn pattern_of(pk: &str, sk: Option<&str>) -> String {
    let head = |s: &str| s.split('#').next().unwrap_or_default().to_owned();
    match sk {
        Some(sk) => format!("{}/{}", head(pk), head(sk)),
        None => head(pk),
    }
}

impl QueryStats {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one operation.
    pub fn record(&self, pattern: String, elapsed: Duration, ok: bool) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_MICROS);
        let mut patterns = self.patterns.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = patterns.entry(pattern).or_insert_with(|| Pattern {
            // Three significant figures from 1 µs to a minute: about 25 KB a pattern.
            micros: Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .unwrap_or_else(|_| unreachable!("valid bounds")),
            errors: 0,
        });
        let _ = entry.micros.record(micros);
        entry.errors += u64::from(!ok);
    }

    /// Every pattern's figures; `slow_ms` decides which are slow.
    pub fn summary(&self, slow_ms: f64) -> BTreeMap<String, PatternSummary> {
        let patterns = self.patterns.lock().unwrap_or_else(PoisonError::into_inner);
        patterns
            .iter()
            .map(|(name, p)| {
                let ms = |q: f64| p.micros.value_at_quantile(q) as f64 / 1000.0;
                let p95 = ms(0.95);
                (
                    name.clone(),
                    PatternSummary {
                        count: p.micros.len(),
                        errors: p.errors,
                        p50_ms: ms(0.5),
                        p95_ms: p95,
                        p99_ms: ms(0.99),
                        max_ms: p.micros.max() as f64 / 1000.0,
                        slow: p95 > slow_ms,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_drop_identifiers() {
        assert_eq!(pattern_of("AGENT#detection", Some("REPLICA#us-east-1#r1")), "AGENT/REPLICA");
        assert_eq!(pattern_of("CONTROL", Some("COST")), "CONTROL/COST");
        assert_eq!(pattern_of("USAGE#2026-11-26T10", None), "USAGE");
    }

    #[test]
    fn percentiles_come_from_every_call() {
        let stats = QueryStats::new();
        for ms in 1..=100u64 {
            stats.record("get A/B".into(), Duration::from_millis(ms), true);
        }
        for _ in 0..10 {
            stats.record("query SLOW".into(), Duration::from_millis(250), false);
        }
        let s = stats.summary(DEFAULT_SLOW_MS);
        let a = &s["get A/B"];
        assert_eq!(a.count, 100);
        assert!(
            (a.p50_ms - 50.0).abs() < 0.1 && (a.p95_ms - 95.0).abs() < 0.1 && (a.max_ms - 100.0).abs() < 0.1,
            "{a:?}"
        );
        assert!(!a.slow);
        let slow = &s["query SLOW"];
        assert!(slow.slow && slow.errors == 10, "{slow:?}");
    }
}
