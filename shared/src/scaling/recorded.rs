//! Recorded demand: what the scaler's tick saw of each agent type, minute by minute, kept for
//! [`RETENTION`] so the forecast has weeks of history and a recorded day can be exported and
//! replayed.
//!
//! The tick notes each minute in the type's scaling state ([`Recording`], written with the
//! decision it already writes, so recording costs the tick no request), and the first tick of
//! the next hour writes the finished hour as one item, `AGENT#<type>#RECORD`/`<YYYY-MM-DDTHH>`:
//! attribute `mMM` holds minute MM as a list of [`FIELDS`] numbers (served, refused and waited per
//! severity, work in progress, utilization, live and desired replicas), `forecast` the incidents
//! per minute the forecast expected of the hour (so its error can be measured). Sixty minutes of
//! sixteen numbers stay a few kilobytes, far below DynamoDB's 400 KB item. A minute noted again
//! replaces itself and an hour written again is the same item, so retries record nothing twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use futures::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ScalingPolicy;
use super::demand::{BySeverity, DemandMinutes, MinuteDemand, minute_name, minute_named, minute_of};
use super::forecast::{self, HourDemand, HourForecast, hour_of};
use super::prediction::Fresh;
use super::signals::Observed;
use crate::domain::{AgentType, Severity};
use crate::store::{Item, Key, Query, Store, StoreError};
use crate::table;

/// How long an hour's record is kept: the forecast's four weeks, and a week more to export from.
pub const RETENTION: Duration = Duration::days(35);
/// Numbers per recorded minute.
pub const FIELDS: usize = 16;
/// The attribute of the hour's forecast.
const FORECAST: &str = "forecast";

/// What the tick saw of one type in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MinuteRecord {
    /// Selection's counters of the minute.
    pub demand: MinuteDemand,
    /// Incidents in progress on the type's replicas (and beyond its provisioned concurrency).
    pub busy: f64,
    /// Share of the live replicas' capacity in use (0 with none live).
    pub utilization: f64,
    pub live: u32,
    pub desired: u32,
}

fn severities(b: &BySeverity) -> [f64; 4] {
    Severity::ALL.map(|s| b.get(s))
}

fn by_severity(n: &[f64]) -> BySeverity {
    let mut b = BySeverity::default();
    for (s, v) in Severity::ALL.into_iter().zip(n) {
        *b.get_mut(s) = *v;
    }
    b
}

impl MinuteRecord {
    /// The compact form stored: [`FIELDS`] numbers, every one finite.
    fn to_numbers(self) -> Vec<f64> {
        let mut n = Vec::with_capacity(FIELDS);
        n.extend(severities(&self.demand.served));
        n.extend(severities(&self.demand.refused));
        n.extend(severities(&self.demand.waited));
        n.extend([self.busy, self.utilization, f64::from(self.live), f64::from(self.desired)]);
        // Three decimals are more than any count or share needs, and keep the state item (which
        // carries up to two hours of minutes, written every tick) small.
        n.into_iter()
            .map(|v| if v.is_finite() { (v.clamp(-1e12, 1e12) * 1000.0).round() / 1000.0 } else { 0.0 })
            .collect()
    }

    fn of_numbers(n: &[f64]) -> Option<Self> {
        (n.len() == FIELDS).then(|| Self {
            demand: MinuteDemand {
                served: by_severity(&n[0..4]),
                refused: by_severity(&n[4..8]),
                waited: by_severity(&n[8..12]),
            },
            busy: n[12],
            utilization: n[13],
            live: n[14].clamp(0.0, f64::from(u32::MAX)) as u32,
            desired: n[15].clamp(0.0, f64::from(u32::MAX)) as u32,
        })
    }
}

/// One type's recorded hour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HourRecord {
    pub hour: DateTime<Utc>,
    /// Minute of the hour (0-59) to what was seen in it.
    pub minutes: BTreeMap<u32, MinuteRecord>,
    /// Incidents per minute the forecast expected of the hour, if one was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<f64>,
}

impl HourRecord {
    /// An hour in which every minute saw `minute` (no forecast).
    pub fn steady(hour: DateTime<Utc>, minute: MinuteRecord) -> Self {
        Self { hour, minutes: (0..60).map(|k| (k, minute)).collect(), forecast: None }
    }

    /// What the forecast reads of the hour.
    pub fn demand(&self) -> HourDemand {
        let minutes = u32::try_from(self.minutes.len()).unwrap_or(60);
        let n = f64::from(minutes.max(1));
        let served: f64 = self.minutes.values().map(|m| m.demand.served.total()).sum();
        let busy: f64 = self.minutes.values().map(|m| m.busy).sum();
        HourDemand { hour: self.hour, minutes, served_per_minute: served / n, busy: busy / n }
    }

    fn to_item(&self, agent_type: &AgentType) -> Item {
        let mut attrs = serde_json::Map::new();
        for (minute, record) in &self.minutes {
            attrs.insert(format!("m{minute:02}"), record.to_numbers().into());
        }
        if let Some(f) = self.forecast.filter(|f| f.is_finite()) {
            attrs.insert(FORECAST.into(), f.clamp(0.0, 1e12).into());
        }
        Item::new(table::demand_record(agent_type, self.hour), attrs).with_ttl(self.hour + RETENTION)
    }

    fn of_item(item: &Item) -> Option<Self> {
        let hour = chrono::NaiveDateTime::parse_from_str(&format!("{}:00", item.key.sk), "%Y-%m-%dT%H:%M")
            .ok()?
            .and_utc();
        let minutes = item
            .attrs
            .iter()
            .filter_map(|(name, value)| {
                let minute: u32 = name.strip_prefix('m')?.parse().ok().filter(|m| *m < 60)?;
                let numbers: Vec<f64> = value.as_array()?.iter().filter_map(Value::as_f64).collect();
                Some((minute, MinuteRecord::of_numbers(&numbers)?))
            })
            .collect();
        let forecast = item.attrs.get(FORECAST).and_then(Value::as_f64);
        Some(Self { hour, minutes, forecast })
    }
}

/// What a tick at `now` records of the minute before: selection's counters of that minute (whole
/// by now), and the work in progress, live and desired replicas as the tick saw them.
pub fn minute_record(
    observed: &Observed,
    demand: &DemandMinutes,
    desired: u32,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, MinuteRecord) {
    let minute = minute_of(now) - Duration::minutes(1);
    let counted = demand.0.iter().find(|(at, _)| *at == minute).map(|(_, m)| *m).unwrap_or_default();
    let load: f64 = observed.replicas.iter().map(|r| r.load).sum();
    let capacity: f64 = observed.replicas.iter().map(|r| f64::from(r.capacity)).sum();
    let record = MinuteRecord {
        demand: counted,
        busy: load + observed.overflow.max(0.0),
        utilization: if capacity > 0.0 { load / capacity } else { 0.0 },
        live: u32::try_from(observed.replicas.len()).unwrap_or(u32::MAX),
        desired,
    };
    (minute, record)
}

/// Minutes noted in the scaling state until their hour is written, by minute name
/// (`YYYY-MM-DDTHH:MM`); at most the hour in progress and the one before are kept, so a store
/// that refuses the hour's write for a while cannot grow the state without bound.
pub type Recording = BTreeMap<String, Vec<f64>>;

/// Notes `record` of `minute` in `recording`, dropping minutes older than the hour before `now`'s.
pub fn note(recording: &mut Recording, minute: DateTime<Utc>, record: MinuteRecord, now: DateTime<Utc>) {
    recording.insert(minute_name(minute), record.to_numbers());
    let keep_from = hour_of(now) - Duration::hours(1);
    recording.retain(|name, _| minute_named(name).is_some_and(|m| m >= keep_from));
}

/// The hours of `recording` that `keep` accepts, each with the forecast made of it.
fn hours_of(
    recording: &Recording,
    forecasts: &[HourForecast],
    keep: impl Fn(DateTime<Utc>) -> bool,
) -> Vec<HourRecord> {
    let mut hours: BTreeMap<DateTime<Utc>, HourRecord> = BTreeMap::new();
    for (name, numbers) in recording {
        let (Some(minute), Some(record)) = (minute_named(name), MinuteRecord::of_numbers(numbers)) else {
            continue;
        };
        let hour = hour_of(minute);
        if keep(hour) {
            let entry = hours.entry(hour).or_insert_with(|| HourRecord {
                hour,
                minutes: BTreeMap::new(),
                forecast: forecasts.iter().find(|f| f.hour == hour).map(|f| f.per_minute),
            });
            entry.minutes.insert(minute.minute(), record);
        }
    }
    hours.into_values().collect()
}

/// The hours noted in `recording` that are over at `now`: what the tick writes as items.
pub fn finished_hours(
    recording: &Recording,
    forecasts: &[HourForecast],
    now: DateTime<Utc>,
) -> Vec<HourRecord> {
    hours_of(recording, forecasts, |h| h < hour_of(now))
}

/// The hour in progress as noted so far, if any minute of it is.
pub fn hour_so_far(
    recording: &Recording,
    forecasts: &[HourForecast],
    now: DateTime<Utc>,
) -> Option<HourRecord> {
    hours_of(recording, forecasts, |h| h == hour_of(now)).pop()
}

/// Keys of `agent_type`'s records of `hours`.
pub fn keys(agent_type: &AgentType, hours: &[DateTime<Utc>]) -> Vec<Key> {
    hours.iter().map(|h| table::demand_record(agent_type, *h)).collect()
}

/// The records among `items` (answers to [`keys`]; absent ones are hours never recorded).
pub fn of_items(items: &[Option<Item>]) -> Vec<HourRecord> {
    items.iter().flatten().filter_map(HourRecord::of_item).collect()
}

/// The forecast of `target` made at `now` from `history` (the recorded ones of
/// [`forecast::hours_read`]), with the service time the same hours show.
pub fn fresh_from(
    history: &[HourRecord],
    policy: &ScalingPolicy,
    target: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Fresh {
    let history: Vec<HourDemand> = history.iter().map(HourRecord::demand).collect();
    Fresh {
        forecast: forecast::forecast(&history, target, now, policy.predictive().min_weeks),
        service_minutes: forecast::service_minutes(&history),
    }
}

/// One type whose forecast of `target` is wanted.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub agent_type: &'a AgentType,
    pub policy: &'a ScalingPolicy,
    pub target: DateTime<Utc>,
}

/// The forecasts several types want, their histories read together (a tick reaching a new hour
/// wants one for every type): every type's hours in BatchGetItem requests of up to a hundred keys,
/// about five types to a request instead of one request each, at most `at_once` in flight. The
/// answers are in `wanted`'s order.
pub async fn fresh_forecasts(
    store: &dyn Store,
    wanted: &[Wanted<'_>],
    now: DateTime<Utc>,
    at_once: usize,
) -> Result<Vec<Fresh>, StoreError> {
    let (mut all, mut counts) = (Vec::new(), Vec::with_capacity(wanted.len()));
    for w in wanted {
        let mine = keys(w.agent_type, &forecast::hours_read(w.target, now));
        counts.push(mine.len());
        all.extend(mine);
    }
    let reads: Vec<_> = all.chunks(crate::store::GET_MANY_BATCH).map(|chunk| store.get_many(chunk)).collect();
    let items: Vec<Vec<Option<Item>>> =
        futures::stream::iter(reads).buffered(at_once.max(1)).try_collect().await?;
    let mut items = items.into_iter().flatten();
    Ok(wanted
        .iter()
        .zip(counts)
        .map(|(w, count)| {
            let mine: Vec<Option<Item>> = items.by_ref().take(count).collect();
            fresh_from(&of_items(&mine), w.policy, w.target, now)
        })
        .collect())
}

/// Writes and reads the recorded demand.
#[derive(Debug, Clone)]
pub struct DemandRecorder {
    store: Arc<dyn Store>,
}

impl DemandRecorder {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Writes finished hours whole (an hour written again is the same item).
    pub async fn put_hours(&self, agent_type: &AgentType, hours: &[HourRecord]) -> Result<(), StoreError> {
        let items: Vec<Item> = hours.iter().map(|h| h.to_item(agent_type)).collect();
        if items.is_empty() {
            return Ok(());
        }
        self.store.batch_put(items).await
    }

    /// The forecast of `target` made at `now` from the recorded history, with the service time
    /// the same hours show.
    pub async fn fresh_forecast(
        &self,
        agent_type: &AgentType,
        policy: &ScalingPolicy,
        target: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Fresh, StoreError> {
        let history = self.hours(agent_type, &forecast::hours_read(target, now)).await?;
        Ok(fresh_from(&history, policy, target, now))
    }

    /// The recorded ones of `hours`.
    pub async fn hours(
        &self,
        agent_type: &AgentType,
        hours: &[DateTime<Utc>],
    ) -> Result<Vec<HourRecord>, StoreError> {
        let mut records = Vec::new();
        for chunk in hours.chunks(crate::store::MAX_GET_MANY) {
            records.extend(of_items(&self.store.get_many(&keys(agent_type, chunk)).await?));
        }
        Ok(records)
    }

    /// Every recorded hour of `agent_type` on `day` (UTC), oldest first.
    pub async fn day(&self, agent_type: &AgentType, day: NaiveDate) -> Result<Vec<HourRecord>, StoreError> {
        let from = day.and_hms_opt(0, 0, 0).map(|d| d.and_utc()).unwrap_or_default();
        let mut query = Query::partition(table::demand_record_partition(agent_type))
            .between(table::hour_name(from), table::hour_name(from + Duration::hours(23)));
        let mut records = Vec::new();
        loop {
            let page = self.store.query(&query).await?;
            records.extend(page.items.iter().filter_map(HourRecord::of_item));
            match page.next {
                Some(next) => query = query.after(Some(next)),
                None => return Ok(records),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn record(served: f64, busy: f64) -> MinuteRecord {
        let mut r = MinuteRecord { busy, utilization: 0.5, live: 3, desired: 4, ..MinuteRecord::default() };
        r.demand.served.high = served;
        r.demand.refused.critical = 1.0;
        r.demand.waited.low = 2.0;
        r
    }

    #[tokio::test]
    async fn minutes_are_kept_per_hour_and_read_back_whole() {
        let now = at("2027-01-04T09:30:00Z");
        let store = Arc::new(MemoryStore::new(Arc::new(ManualClock::new(now))));
        let recorder = DemandRecorder::new(store.clone());
        let detection = AgentType::parse("detection").unwrap();
        let hour = |h: &str, minutes: &[(u32, MinuteRecord)], forecast| HourRecord {
            hour: at(h),
            minutes: minutes.iter().copied().collect(),
            forecast,
        };
        let first = [(0, record(6.0, 12.0)), (1, record(6.0, 12.0)), (2, record(6.0, 12.0))];
        recorder.put_hours(&detection, &[hour("2027-01-04T09:00:00Z", &first, None)]).await.unwrap();
        // The same hour written again is replaced whole, never added to.
        let again = [(0, record(6.0, 12.0)), (1, record(6.0, 12.0)), (2, record(3.0, 6.0))];
        recorder
            .put_hours(
                &detection,
                &[
                    hour("2027-01-04T09:00:00Z", &again, Some(4.5)),
                    hour("2027-01-04T10:00:00Z", &[(0, record(1.0, 1.0))], None),
                ],
            )
            .await
            .unwrap();
        let hours = recorder
            .hours(&detection, &[at("2027-01-04T09:00:00Z"), at("2027-01-04T08:00:00Z")])
            .await
            .unwrap();
        assert_eq!(hours.len(), 1, "an hour never recorded is left out");
        let nine = &hours[0];
        assert_eq!(nine.minutes.len(), 3);
        assert_eq!(nine.minutes[&0], record(6.0, 12.0));
        assert_eq!(nine.minutes[&2], record(3.0, 6.0));
        assert_eq!(nine.forecast, Some(4.5));
        let demand = nine.demand();
        assert_eq!(demand.minutes, 3);
        assert!((demand.served_per_minute - 5.0).abs() < 1e-9, "{demand:?}");
        assert!((demand.busy - 10.0).abs() < 1e-9, "{demand:?}");
        let day = recorder.day(&detection, at("2027-01-04T00:00:00Z").date_naive()).await.unwrap();
        assert_eq!(
            day.iter().map(|h| h.hour).collect::<Vec<_>>(),
            [at("2027-01-04T09:00:00Z"), at("2027-01-04T10:00:00Z")]
        );
        // Another type's records are its own.
        let other = AgentType::parse("diagnosis").unwrap();
        assert!(recorder.day(&other, at("2027-01-04T00:00:00Z").date_naive()).await.unwrap().is_empty());
    }

    #[test]
    fn the_state_notes_two_hours_at_most_and_hands_over_the_finished_ones() {
        let mut recording = Recording::new();
        let forecasts =
            [HourForecast { hour: at("2027-01-04T09:00:00Z"), per_minute: 5.0, weeks: 2, level: 1.0 }];
        for minute in ["2027-01-04T08:10:00Z", "2027-01-04T08:59:00Z", "2027-01-04T09:00:00Z"] {
            note(&mut recording, at(minute), record(1.0, 1.0), at(minute) + Duration::seconds(30));
        }
        // At 09:00:30 the 08:00 hour is over and handed over; 09:00 is in progress.
        let finished = finished_hours(&recording, &forecasts, at("2027-01-04T09:00:30Z"));
        assert_eq!(finished.len(), 1);
        assert_eq!(
            (finished[0].hour, finished[0].minutes.len(), finished[0].forecast),
            (at("2027-01-04T08:00:00Z"), 2, None)
        );
        let so_far = hour_so_far(&recording, &forecasts, at("2027-01-04T09:00:30Z")).unwrap();
        assert_eq!(
            (so_far.hour, so_far.minutes.len(), so_far.forecast),
            (at("2027-01-04T09:00:00Z"), 1, Some(5.0))
        );
        // An hour on, the 08:00 minutes are dropped whether written or not; 09:59 noted again (a
        // retried tick) replaces itself.
        note(&mut recording, at("2027-01-04T09:59:00Z"), record(2.0, 2.0), at("2027-01-04T09:59:30Z"));
        note(&mut recording, at("2027-01-04T10:00:00Z"), record(2.0, 2.0), at("2027-01-04T10:00:30Z"));
        note(&mut recording, at("2027-01-04T09:59:00Z"), record(3.0, 3.0), at("2027-01-04T10:00:30Z"));
        assert_eq!(
            recording.keys().map(String::as_str).collect::<Vec<_>>(),
            ["2027-01-04T09:00", "2027-01-04T09:59", "2027-01-04T10:00"]
        );
        let finished = finished_hours(&recording, &forecasts, at("2027-01-04T10:00:30Z"));
        assert_eq!(finished.iter().map(|h| h.hour).collect::<Vec<_>>(), [at("2027-01-04T09:00:00Z")]);
        assert_eq!(finished[0].forecast, Some(5.0), "the forecast goes with its hour");
        assert_eq!(finished[0].minutes[&59], record(3.0, 3.0));
    }

    #[test]
    fn numbers_that_do_not_store_are_kept_out() {
        let mut r = record(f64::NAN, f64::INFINITY);
        r.utilization = -f64::INFINITY;
        let n = r.to_numbers();
        assert!(n.iter().all(|v| v.is_finite()), "{n:?}");
        assert!(MinuteRecord::of_numbers(&n).unwrap().busy.abs() < f64::EPSILON);
        assert_eq!(MinuteRecord::of_numbers(&n[..FIELDS - 1]), None, "a short list is no record");
    }
}
