//! One metric sample per source and interval: an average over samples then weighs sources, not
//! how often each reports. A replica heartbeating in a tight loop would otherwise own the
//! `AgentUtilization` average its type's alarms watch.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::sync::lock;

/// Remembers when each source last gave a sample, for at most `capacity` sources (past it, the
/// ones not heard from within the interval are forgotten first, then everything).
#[derive(Debug)]
pub struct SampleGate {
    every: Duration,
    capacity: usize,
    last: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl SampleGate {
    pub fn new(every: Duration, capacity: usize) -> Self {
        Self { every, capacity: capacity.max(1), last: Mutex::new(HashMap::new()) }
    }

    /// Whether `source` may give a sample at `now` (and, if so, that it did).
    pub fn admit(&self, source: &str, now: DateTime<Utc>) -> bool {
        let mut last = lock(&self.last);
        if last.get(source).is_some_and(|at| now - *at < self.every && *at <= now) {
            return false;
        }
        if last.len() >= self.capacity && !last.contains_key(source) {
            last.retain(|_, at| now - *at < self.every);
            if last.len() >= self.capacity {
                last.clear();
            }
        }
        last.insert(source.to_owned(), now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_source_and_interval_with_bounded_memory() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let gate = SampleGate::new(Duration::seconds(15), 2);
        let admitted: Vec<bool> = (0..40).map(|i| gate.admit("a", t0 + Duration::seconds(i))).collect();
        assert_eq!(admitted.iter().filter(|a| **a).count(), 3, "at 0, 15 and 30 s: {admitted:?}");
        assert!(gate.admit("b", t0));
        assert!(gate.admit("c", t0 + Duration::seconds(40)), "full: the stale ones make room");
        assert!(lock(&gate.last).len() <= 2);
    }
}
