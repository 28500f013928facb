//! What an evaluation reads of each agent type from the table (its scaling state, its pause, its
//! demand window and its recorded demand of the last hours), read for many types together.
//!
//! Read apart, those are ten store requests per type (a GetItem each for the state and the
//! pause, one per demand shard); every one of them is a key known in advance, so they go as
//! BatchGetItem requests of up to a hundred keys: a few types per request.

use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt as _, TryStreamExt as _};

use super::demand::{DemandMinutes, window_keys};
use super::forecast::{LEVEL_HOURS, hour_of};
use super::prediction::Fresh;
use super::recorded::{self, HourRecord};
use super::records::{AgentScalingState, Pause};
use super::state::{pause_of, scaling_state_of};
use crate::domain::AgentType;
use crate::store::{GET_MANY_BATCH, Item, Key, Store, StoreError};
use crate::table;

/// One type's reads, as of one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TypeReads {
    /// The scaler's state and its version (0: never written).
    pub state: (AgentScalingState, u64),
    /// The operator's pause, if the type is paused.
    pub pause: Option<Pause>,
    /// The demand window ending at the moment read.
    pub demand: DemandMinutes,
    /// The recorded hours among the [`RECORD_HOURS`] before the one in progress (which the state
    /// notes), with the forecasts made of them: what the prediction's guard grades.
    pub records: Vec<HourRecord>,
    /// The forecast the tick made of the hour the type's floor needs, from the history it read
    /// with the other types' (`None`: not made yet; the evaluation makes it if it is due).
    pub fresh: Option<Fresh>,
}

/// Recorded hours read with each type: the whole hours the guard grades.
pub const RECORD_HOURS: usize = LEVEL_HOURS as usize;

fn record_hours(now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    (1..=LEVEL_HOURS).rev().map(|k| hour_of(now) - Duration::hours(k)).collect()
}

/// Keys read for each type before its recorded hours and demand window: the state, then the pause.
const FIXED_KEYS: usize = 2;

/// What a read is for: an evaluation also reads the recorded hours its prediction grades; the
/// status shows the prediction the state holds and leaves them out (a status of a few types then
/// stays one store request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    Evaluation,
    Status,
}

fn keys_of(agent_type: &AgentType, now: DateTime<Utc>, reading: Reading) -> Vec<Key> {
    let mut keys = vec![table::scaling_state(agent_type), table::scaling_pause(agent_type)];
    if reading == Reading::Evaluation {
        keys.extend(recorded::keys(agent_type, &record_hours(now)));
    }
    keys.extend(window_keys(agent_type, now));
    keys
}

fn reads_of(items: &[Option<Item>], reading: Reading) -> Result<TypeReads, StoreError> {
    let demand_from = FIXED_KEYS + if reading == Reading::Evaluation { RECORD_HOURS } else { 0 };
    Ok(TypeReads {
        state: scaling_state_of(items[0].as_ref())?,
        pause: pause_of(items[1].as_ref())?,
        records: recorded::of_items(&items[FIXED_KEYS..demand_from]),
        demand: DemandMinutes::of_items(&items[demand_from..]),
        fresh: None,
    })
}

/// Every type's reads, in the order of `types`: as many types per store request as fit in one
/// BatchGetItem, at most `at_once` requests in flight.
pub async fn read_types(
    store: &dyn Store,
    types: &[&AgentType],
    now: DateTime<Utc>,
    at_once: usize,
    reading: Reading,
) -> Result<Vec<TypeReads>, StoreError> {
    let Some(first) = types.first() else { return Ok(Vec::new()) };
    let per_type = keys_of(first, now, reading).len();
    let types_per_read = (GET_MANY_BATCH / per_type).max(1);
    let reads: Vec<_> = types
        .chunks(types_per_read)
        .map(|chunk| async move {
            let keys: Vec<Key> = chunk.iter().flat_map(|t| keys_of(t, now, reading)).collect();
            let items = store.get_many(&keys).await?;
            items.chunks(per_type).map(|items| reads_of(items, reading)).collect::<Result<Vec<_>, _>>()
        })
        .collect();
    let read: Vec<Vec<TypeReads>> =
        futures::stream::iter(reads).buffered(at_once.max(1)).try_collect().await?;
    Ok(read.into_iter().flatten().collect())
}

/// One type's reads for an evaluation (an alarm's or an operator's, of a single type).
pub async fn read_type(
    store: &dyn Store,
    agent_type: &AgentType,
    now: DateTime<Utc>,
) -> Result<TypeReads, StoreError> {
    let mut read = read_types(store, &[agent_type], now, 1, Reading::Evaluation).await?;
    read.pop().ok_or_else(|| StoreError::Corrupt("no reads answered for a type".into()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Duration;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::domain::Severity;
    use crate::scaling::demand::DemandLedger;
    use crate::scaling::state::FleetState;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn each_type_reads_its_own_state_pause_and_demand_in_order() {
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let fleet = FleetState::new(store.clone());
        let ledger = DemandLedger::new(store.clone());
        let now = clock.now();
        // Thirteen types: more than one request's worth, each with its own figures.
        let types: Vec<AgentType> =
            (0..13).map(|i| AgentType::parse(&format!("type-{i:02}")).unwrap()).collect();
        for (i, t) in types.iter().enumerate() {
            let count = u32::try_from(i).unwrap();
            for _ in 0..=count {
                ledger.served(t, Severity::High, None, now - Duration::minutes(1)).await.unwrap();
            }
            if i % 3 == 0 {
                let state = AgentScalingState { desired_total: count, ..AgentScalingState::default() };
                fleet.put_scaling_state(t, &state, 0).await.unwrap();
            }
            if i % 4 == 0 {
                let pause = Pause { by: format!("op-{i}"), reason: "test".into(), since: now };
                fleet.set_pause(t, &pause).await.unwrap();
            }
            // Each type's forecast of the hour before, and one of five hours ago (not read).
            let recorder = crate::scaling::recorded::DemandRecorder::new(store.clone());
            let hour = |ago: i64, forecast: f64| crate::scaling::recorded::HourRecord {
                hour: crate::scaling::forecast::hour_of(now) - Duration::hours(ago),
                minutes: std::collections::BTreeMap::new(),
                forecast: Some(forecast),
            };
            recorder.put_hours(t, &[hour(1, f64::from(count)), hour(5, 99.0)]).await.unwrap();
        }
        let refs: Vec<&AgentType> = types.iter().collect();
        let read = read_types(store.as_ref(), &refs, now, 2, Reading::Evaluation).await.unwrap();
        assert_eq!(read.len(), types.len());
        for (i, r) in read.iter().enumerate() {
            let count = u32::try_from(i).unwrap();
            if i % 3 == 0 {
                assert_eq!(
                    r.state,
                    (AgentScalingState { desired_total: count, ..AgentScalingState::default() }, 1)
                );
            } else {
                assert_eq!(r.state, (AgentScalingState::default(), 0), "type {i} never stored a state");
            }
            assert_eq!(r.pause.as_ref().map(|p| p.by.clone()), (i % 4 == 0).then(|| format!("op-{i}")));
            let served = r.demand.window().served.high;
            assert!((served - f64::from(count + 1)).abs() < 1e-9, "type {i} reads its own demand: {served}");
            let forecasts: Vec<Option<f64>> = r.records.iter().map(|h| h.forecast).collect();
            assert_eq!(forecasts, [Some(f64::from(count))], "type {i} reads its own recent records");
        }
        let status = read_types(store.as_ref(), &refs, now, 2, Reading::Status).await.unwrap();
        assert!(status.iter().all(|r| r.records.is_empty()), "a status leaves the records out");
        assert_eq!(
            status.iter().map(|r| r.state.clone()).collect::<Vec<_>>(),
            read.iter().map(|r| r.state.clone()).collect::<Vec<_>>()
        );
        assert_eq!(read_type(store.as_ref(), &types[7], now).await.unwrap(), read[7]);
        assert_eq!(read_types(store.as_ref(), &[], now, 2, Reading::Status).await.unwrap(), Vec::new());
    }
}
