//! Failing models cool down: three failures in a row take a model out of selection for 5 s, twice
//! as long each further time (at most 5 minutes); a success ends the streak, and each 5 minutes
//! in selection after a cool-down makes the next one a step shorter again.
//!
//! Items: `MODELS` / `HEALTH#<model>`, versioned, so every model's state is one query away.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{Condition, Item, Key, Query, Store, StoreError};

pub const FAILURES_TO_COOL: u32 = 3;
pub const FIRST_COOLDOWN_S: i64 = 5;
pub const MAX_COOLDOWN_S: i64 = 300;
/// A model that stays in selection this long after a cool-down has its next one a step shorter.
pub const EASE_AFTER_S: i64 = 300;
/// Conditional writes a report tries before giving up on contention.
const REPORT_ATTEMPTS: u32 = 8;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelHealth {
    pub consecutive_failures: u32,
    pub times_cooled: u32,
    pub cooling_until: Option<DateTime<Utc>>,
}

impl ModelHealth {
    /// Seconds left to cool, rounded up (0 when ready).
    pub fn cooling_s(&self, now: DateTime<Utc>) -> u64 {
        self.cooling_until.map_or(0, |until| {
            let ms = (until - now).num_milliseconds();
            if ms <= 0 { 0 } else { (ms as u64).div_ceil(1000) }
        })
    }

    /// The state after one more outcome.
    #[must_use]
    pub fn after(mut self, ok: bool, now: DateTime<Utc>) -> Self {
        if ok {
            self.consecutive_failures = 0;
            return self;
        }
        if self.cooling_s(now) > 0 {
            // Calls already in flight when it cooled down say nothing new.
            return self;
        }
        self.consecutive_failures += 1;
        if self.consecutive_failures >= FAILURES_TO_COOL {
            // Each five minutes it stayed in selection since its last cool-down ended eases
            // that down by a step, so one bad hour does not make every later cool-down the
            // longest (as Envoy decrements a host's ejection multiplier while it stays healthy).
            if let Some(ended) = self.cooling_until {
                let steps = (now - ended).num_seconds().max(0) / EASE_AFTER_S;
                self.times_cooled =
                    self.times_cooled.saturating_sub(u32::try_from(steps).unwrap_or(u32::MAX));
            }
            self.times_cooled += 1;
            let seconds = (FIRST_COOLDOWN_S << (self.times_cooled - 1).min(16)).min(MAX_COOLDOWN_S);
            self.cooling_until = Some(now + Duration::seconds(seconds));
            self.consecutive_failures = 0;
        }
        self
    }
}

fn key(model: &str) -> Key {
    crate::table::model_health(model)
}

#[derive(Debug, Clone)]
pub struct ModelHealthStore {
    store: Arc<dyn Store>,
}

impl ModelHealthStore {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Records one call's outcome (a conditional read-modify-write, retried on contention).
    pub async fn report(&self, model: &str, ok: bool, now: DateTime<Utc>) -> Result<ModelHealth, StoreError> {
        for _ in 0..REPORT_ATTEMPTS {
            let item = self.store.get(&key(model)).await?;
            let (health, version) = match &item {
                Some(i) => (i.record::<ModelHealth>()?, i.version().unwrap_or(0)),
                None => (ModelHealth::default(), 0),
            };
            let next = health.after(ok, now);
            let condition = if item.is_some() { Condition::Version(version) } else { Condition::Absent };
            let record = Item::from_record(key(model), &next)?.with_version(version + 1);
            match self.store.put(record, condition).await {
                Ok(()) => return Ok(next),
                Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable {
            message: format!("reports of {model} kept racing; try again"),
            source: None,
        })
    }

    /// Every model that has been reported on, by id: one query.
    pub async fn all(&self) -> Result<HashMap<String, ModelHealth>, StoreError> {
        let mut out = HashMap::new();
        let mut query = Query::partition(crate::table::MODELS)
            .prefix(crate::table::MODEL_HEALTH_PREFIX)
            .limit(Query::MAX_LIMIT);
        loop {
            let page = self.store.query(&query).await?;
            for item in page.items {
                let id = item.key.sk.trim_start_matches(crate::table::MODEL_HEALTH_PREFIX).to_owned();
                out.insert(id, item.record()?);
            }
            match page.next {
                Some(after) => query.after = Some(after),
                None => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::store::MemoryStore;

    #[test]
    fn three_failures_cool_a_model_for_longer_each_time() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut h = ModelHealth::default();
        for _ in 0..2 {
            h = h.after(false, t0);
        }
        assert_eq!(h.cooling_s(t0), 0, "two failures are not enough");
        h = h.after(false, t0);
        assert_eq!(h.cooling_s(t0), 5);
        assert_eq!(h.after(false, t0).consecutive_failures, 0, "failures while cooling are not counted");
        let later = t0 + Duration::seconds(6);
        for _ in 0..3 {
            h = h.after(false, later);
        }
        assert_eq!(h.cooling_s(later), 10, "the second time is twice as long");
        let ok = h.after(true, later).after(false, later + Duration::seconds(11));
        assert_eq!(ok.consecutive_failures, 1, "a success ends the streak");
        let mut long = ModelHealth { times_cooled: 30, ..ModelHealth::default() };
        for _ in 0..3 {
            long = long.after(false, t0);
        }
        assert_eq!(long.cooling_s(t0), 300, "never more than five minutes");
    }

    #[test]
    fn cool_downs_ease_a_step_for_each_five_minutes_in_selection() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let cool = |mut h: ModelHealth, at| {
            for _ in 0..3 {
                h = h.after(false, at);
            }
            h
        };
        // Cooled six times: the longest, 300 s, ending at t0 + 300.
        let hot = cool(ModelHealth { times_cooled: 5, ..ModelHealth::default() }, t0);
        assert_eq!(hot.cooling_s(t0), 160);
        let hot = cool(hot, t0 + Duration::seconds(160));
        assert_eq!(hot.cooling_s(t0 + Duration::seconds(160)), 300, "failing again at once: longer");
        let ended = t0 + Duration::seconds(460);
        for (healthy_s, expected) in [(0, 300), (299, 300), (300, 300), (600, 160), (1_500, 20), (86_400, 5)]
        {
            let at = ended + Duration::seconds(healthy_s);
            assert_eq!(cool(hot, at).cooling_s(at), expected, "after {healthy_s} s in selection");
        }
    }

    #[tokio::test]
    async fn reports_are_stored_and_read_back_in_one_query() {
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
        let health = ModelHealthStore::new(Arc::new(MemoryStore::new(clock.clone())));
        for _ in 0..3 {
            health.report("amazon.nova-pro", false, clock.now()).await.unwrap();
        }
        health.report("amazon.nova-lite", true, clock.now()).await.unwrap();
        let all = health.all().await.unwrap();
        assert_eq!(all["amazon.nova-pro"].cooling_s(clock.now()), 5);
        assert_eq!(all["amazon.nova-lite"].cooling_s(clock.now()), 0);
    }
}
