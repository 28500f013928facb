//! Usage reported late: `POST /usage` takes calls up to 24 hours old, but a sweep prices only the
//! current and the previous hour, so a call counted into an older hour would never be priced.
//! Counting it marks its hour (`COST#REPRICE`/`<YYYY-MM-DDTHH>`, versioned, kept two days), and
//! the next sweep prices the marked hours' model usage again into their stored totals, then
//! removes each mark unless more usage marked it meanwhile.

use chrono::{DateTime, Duration, Utc};

use crate::store::{Condition, Key, Query, Store, StoreError, Update};

const PARTITION: &str = crate::table::COST_REPRICE;
/// A mark outlives the 24 hours a call may be backdated, with a day to spare for failed sweeps.
const MARK_TTL: Duration = Duration::days(2);

fn key(hour: DateTime<Utc>) -> Key {
    crate::table::reprice(hour)
}

/// Whether usage counted into `hour` at `now` falls before what the next sweep prices anyway.
pub fn is_late(hour: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    hour < super::usage::hour_of(now) - Duration::hours(1)
}

/// Marks `hour` to be priced again (before its usage is counted, so a count never goes unmarked).
pub async fn mark(store: &dyn Store, hour: DateTime<Utc>) -> Result<(), StoreError> {
    let update = Update::new().add("version", 1.0).set("ttl", (hour + MARK_TTL).timestamp());
    store.update(&key(hour), update).await.map(|_| ())
}

/// The marked hours with each mark's version, oldest first (at most two days' worth).
pub async fn marked(store: &dyn Store) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError> {
    let page = store.query(&Query::partition(PARTITION).limit(100)).await?;
    Ok(page
        .items
        .iter()
        .filter_map(|item| {
            let hour = DateTime::parse_from_rfc3339(&format!("{}:00:00Z", item.key.sk)).ok()?;
            Some((hour.with_timezone(&Utc), item.version().unwrap_or(0)))
        })
        .collect())
}

/// Removes `hour`'s mark if nothing marked it again since `version` was read (then the next
/// sweep prices it once more).
pub async fn done(store: &dyn Store, hour: DateTime<Utc>, version: u64) -> Result<(), StoreError> {
    match store.delete(&key(hour), Condition::Version(version)).await {
        Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}
