//! Provisioned concurrency as it was allocated over time, not as it is now.
//!
//! Lambda bills provisioned concurrency for the time it is allocated. The sweep can only sample
//! the allocation (summed over every region the scaler provisions in), so it integrates: each
//! sample's units count from that sample until the next, split at hour boundaries into
//! unit-seconds per function and hour. A sweep whose read failed prices the time since the last
//! sample at that sample's units (the last good value carried forward), and a scale-down during
//! the previous hour no longer reprices that whole hour at today's allocation.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{Condition, Item, Key, Store, StoreError};

/// Time one sample may stand for: a sweeper stopped for longer prices nothing it did not see.
const MAX_GAP: Duration = Duration::hours(2);

fn ledger_key() -> Key {
    crate::table::provisioned_ledger()
}

fn hour_name(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H").to_string()
}

/// One read of a function's allocation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub units: u32,
    pub at: DateTime<Utc>,
}

/// The last sample per function and the unit-seconds of the current and previous hours.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProvisionedLedger {
    #[serde(default)]
    pub last: BTreeMap<String, Sample>,
    /// Unit-seconds per hour (`YYYY-MM-DDTHH`) per function.
    #[serde(default)]
    pub hours: BTreeMap<String, BTreeMap<String, f64>>,
}

impl ProvisionedLedger {
    /// Counts `units` of `function` over `[from, to)`, split at hour boundaries.
    fn charge(&mut self, function: &str, units: u32, from: DateTime<Utc>, to: DateTime<Utc>) {
        let mut at = from.max(to - MAX_GAP);
        while at < to {
            let hour = super::usage::hour_of(at);
            let until = (hour + Duration::hours(1)).min(to);
            let seconds = (until - at).num_milliseconds() as f64 / 1000.0;
            *self.hours.entry(hour_name(hour)).or_default().entry(function.to_owned()).or_default() +=
                f64::from(units) * seconds;
            at = until;
        }
    }

    /// Takes a read of every function's allocation at `now`: the time since each function's last
    /// sample is counted at that sample's units (a function seen for the first time at its units
    /// since the start of the hour); functions no longer read are dropped; hours before the
    /// previous one are forgotten.
    pub fn record(&mut self, allocation: &[(String, u32)], now: DateTime<Utc>) {
        let hour = super::usage::hour_of(now);
        for (function, units) in allocation {
            let (from, counted) = match self.last.get(function) {
                Some(last) => (last.at, last.units),
                None => (hour, *units),
            };
            self.charge(function, counted, from, now);
            self.last.insert(function.clone(), Sample { units: *units, at: now });
        }
        self.last.retain(|f, _| allocation.iter().any(|(name, _)| name == f));
        let keep_from = hour_name(hour - Duration::hours(1));
        self.hours.retain(|h, _| *h >= keep_from);
    }

    /// The ledger as it would be had the allocation not changed since the last samples: what a
    /// sweep whose read failed prices.
    #[must_use]
    pub fn carried_to(&self, now: DateTime<Utc>) -> Self {
        let mut carried = self.clone();
        let last: Vec<(String, u32)> = self.last.iter().map(|(f, s)| (f.clone(), s.units)).collect();
        carried.record(&last, now);
        carried
    }

    /// Unit-seconds per function in the hour starting at `hour`.
    pub fn unit_seconds(&self, hour: DateTime<Utc>) -> BTreeMap<String, f64> {
        self.hours.get(&hour_name(hour)).cloned().unwrap_or_default()
    }

    /// The latest units read per function.
    pub fn allocation(&self) -> Vec<(String, u32)> {
        self.last.iter().map(|(f, s)| (f.clone(), s.units)).collect()
    }
}

/// The stored ledger and its version.
pub async fn load(store: &dyn Store) -> Result<(ProvisionedLedger, Option<u64>), StoreError> {
    let item = store.get(&ledger_key()).await?;
    let version = item.as_ref().and_then(Item::version);
    Ok((item.as_ref().map(Item::record).transpose()?.unwrap_or_default(), version))
}

/// Stores the ledger over `version`; a concurrent sweep that stored first wins (its samples are
/// as good), so a lost race is not an error.
pub async fn save(
    store: &dyn Store,
    ledger: &ProvisionedLedger,
    version: Option<u64>,
) -> Result<(), StoreError> {
    let item = Item::from_record(ledger_key(), ledger)?.with_version(version.unwrap_or(0) + 1);
    match store.put(item, version.map_or(Condition::Absent, Condition::Version)).await {
        Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn allocation_is_integrated_over_time_and_split_at_hours() {
        let mut ledger = ProvisionedLedger::default();
        // Seen first at 10:30 with 10 units: counted since 10:00.
        ledger.record(&[("agent".into(), 10)], at("2026-11-26T10:30:00Z"));
        // Scaled down to 2 just before 10:45; read at 10:45, then at 11:15.
        ledger.record(&[("agent".into(), 2)], at("2026-11-26T10:45:00Z"));
        ledger.record(&[("agent".into(), 2)], at("2026-11-26T11:15:00Z"));
        let ten = ledger.unit_seconds(at("2026-11-26T10:00:00Z"));
        // 10 units 10:00-10:45 (the 10:30 sample stands until 10:45), 2 units 10:45-11:00.
        assert!((ten["agent"] - (10.0 * 2700.0 + 2.0 * 900.0)).abs() < 1e-9, "{ten:?}");
        let eleven = ledger.unit_seconds(at("2026-11-26T11:00:00Z"));
        assert!((eleven["agent"] - 2.0 * 900.0).abs() < 1e-9, "{eleven:?}");
    }

    #[test]
    fn a_failed_read_carries_the_last_units_and_old_hours_go() {
        let mut ledger = ProvisionedLedger::default();
        ledger.record(&[("agent".into(), 4)], at("2026-11-26T10:00:00Z"));
        let carried = ledger.carried_to(at("2026-11-26T10:30:00Z"));
        assert!((carried.unit_seconds(at("2026-11-26T10:00:00Z"))["agent"] - 4.0 * 1800.0).abs() < 1e-9);
        assert!(ledger.unit_seconds(at("2026-11-26T10:00:00Z")).is_empty(), "the stored one is untouched");
        ledger.record(&[("agent".into(), 4)], at("2026-11-26T13:10:00Z"));
        assert_eq!(ledger.hours.len(), 2, "only the current and previous hours are kept: {:?}", ledger.hours);
        let twelve = ledger.unit_seconds(at("2026-11-26T12:00:00Z"));
        assert!((twelve["agent"] - 4.0 * 3600.0).abs() < 1e-9, "{twelve:?}");
        let thirteen = ledger.unit_seconds(at("2026-11-26T13:00:00Z"));
        let counted = twelve["agent"] + thirteen["agent"] + 4.0 * 3000.0;
        assert!((counted - 4.0 * 7200.0).abs() < 1e-9, "a gap counts at most two hours");
        ledger.record(&[], at("2026-11-26T13:20:00Z"));
        assert!(ledger.last.is_empty(), "a function no longer priced is dropped");
    }
}
