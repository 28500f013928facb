//! What warming on demand may send: each ping is a synchronous invocation that holds a container
//! (and so a unit of the region's account concurrency, 1,000 by default) while it waits, so one
//! `POST /lambda/warm` naming every target at concurrency 100 would take 2,000 at once. A call
//! sends at most [`MAX_PINGS_PER_CALL`] pings and all calls together, from every container, at
//! most [`MAX_PINGS_PER_MINUTE`] in a calendar minute (counted in the table under
//! `WARM#ON_DEMAND`/`<YYYY-MM-DDTHH:MM>`, kept an hour). Scheduled runs are planned within the
//! configuration's bounds and do not draw on this budget.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{Condition, Item, Store, StoreError};

/// Pings one on-demand call may send, over all its targets.
pub const MAX_PINGS_PER_CALL: u32 = 200;
/// Pings all on-demand calls may send in one minute.
pub const MAX_PINGS_PER_MINUTE: u32 = 400;
/// Conflicting reservations retried before the call is refused as busy.
const ATTEMPTS: usize = 5;

/// Why the minute's budget cannot take a call's pings.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error(
        "warming on demand sends at most {MAX_PINGS_PER_MINUTE} pings a minute; {used} were sent this minute and this call needs {asked}: retry in {retry_after_s} s"
    )]
    Exhausted { used: u32, asked: u32, retry_after_s: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct MinuteRecord {
    pings: u32,
}

fn minute_of(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(Duration::minutes(1)).unwrap_or(now)
}

/// Takes `pings` from the minute's budget, or refuses without taking any. A conditional
/// read-modify-write of the minute's item, so concurrent calls never overspend it.
pub async fn reserve(store: &dyn Store, pings: u32, now: DateTime<Utc>) -> Result<(), BudgetError> {
    let minute = minute_of(now);
    let key = crate::table::warm_on_demand(minute);
    for _ in 0..ATTEMPTS {
        let item = store.get(&key).await?.filter(|i| i.is_live(now));
        let version = item.as_ref().and_then(Item::version);
        let used = item.map(|i| i.record::<MinuteRecord>()).transpose()?.unwrap_or_default().pings;
        if used.saturating_add(pings) > MAX_PINGS_PER_MINUTE {
            let next = minute + Duration::minutes(1);
            let retry_after_s = u64::try_from((next - now).num_seconds().max(1)).unwrap_or(60);
            return Err(BudgetError::Exhausted { used, asked: pings, retry_after_s });
        }
        let record = MinuteRecord { pings: used + pings };
        let next_version = version.unwrap_or(0) + 1;
        let item = Item::from_record(key.clone(), &record)?
            .with_version(next_version)
            .with_ttl(minute + Duration::hours(1));
        match store.put(item, version.map_or(Condition::Absent, Condition::Version)).await {
            Ok(()) => return Ok(()),
            Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::ConditionFailed.into())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_default()
    }

    #[tokio::test]
    async fn the_minute_budget_is_shared_and_refills_the_next_minute() {
        let now = at("2026-12-04T10:15:20Z");
        let store = MemoryStore::new(Arc::new(ManualClock::new(now)));
        reserve(&store, 300, now).await.unwrap_or_else(|e| panic!("{e}"));
        reserve(&store, 100, now + Duration::seconds(5)).await.unwrap_or_else(|e| panic!("{e}"));
        match reserve(&store, 1, now + Duration::seconds(10)).await {
            Err(BudgetError::Exhausted { used: 400, asked: 1, retry_after_s: 30 }) => {}
            other => panic!("the full minute took one more ping: {other:?}"),
        }
        reserve(&store, 400, at("2026-12-04T10:16:00Z")).await.unwrap_or_else(|e| panic!("{e}"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_calls_never_overspend_the_minute() {
        let now = at("2026-12-04T10:15:20Z");
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new(Arc::new(ManualClock::new(now))));
        let calls = (0..12).map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { reserve(store.as_ref(), 50, now).await.is_ok() })
        });
        let granted =
            futures::future::join_all(calls).await.into_iter().filter(|r| matches!(r, Ok(true))).count();
        assert!((1..=8).contains(&granted), "{granted} calls of 50 pings granted in one minute of 400");
    }
}
