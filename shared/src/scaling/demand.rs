//! Demand as selection saw it, per agent type, minute and severity: incidents served, incidents
//! refused for lack of room, and incidents served after having been refused (they waited).
//!
//! The evaluation reads the last window: refused demand counts as load (a type scales up although
//! its replicas report little), and the most severe refused or waiting work is the severity the
//! cost gate weighs a scale-up by.
//!
//! Keys: `AGENT#<type>#DEMAND#<shard>`/`DEMAND#<YYYY-MM-DDTHH:MM>` (atomic adds, kept an hour;
//! [`SHARDS`] partitions per type, written in turn, because every selection adds to one and a
//! single item takes about 1,000 writes a second in DynamoDB; with the control plane in several
//! regions, each region writes its own share of them) and, for an
//! incident refused under its id, `AGENT#<type>`/`WAITING#<incident id>` (until it is served, at
//! most a day), so a retried refusal counts once a minute and its later success counts as waited.

use std::sync::Arc;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{AgentType, Severity};
use crate::store::{Condition, Item, Key, Store, StoreError, Update};

/// How far back an evaluation looks at demand: the minute in progress and the one before.
pub const WINDOW: Duration = Duration::minutes(2);
/// Partitions a type's demand counters are spread over (readers add them up).
pub const SHARDS: usize = 8;
/// How long a minute's counters are kept.
const COUNTER_TTL: Duration = Duration::hours(1);
/// How long an incident refused under its id is remembered as waiting.
const WAITING_TTL: Duration = Duration::hours(24);

const SEVERITIES: [Severity; 4] = Severity::ALL;

/// Counts per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BySeverity {
    #[serde(default)]
    pub critical: f64,
    #[serde(default)]
    pub high: f64,
    #[serde(default)]
    pub medium: f64,
    #[serde(default)]
    pub low: f64,
}

impl BySeverity {
    pub fn get(&self, severity: Severity) -> f64 {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
        }
    }

    pub fn get_mut(&mut self, severity: Severity) -> &mut f64 {
        match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
        }
    }

    pub fn total(&self) -> f64 {
        self.critical + self.high + self.medium + self.low
    }

    /// The most severe severity counted at all.
    pub fn most_severe(&self) -> Option<Severity> {
        SEVERITIES.into_iter().find(|s| self.get(*s) > 0.0)
    }

    fn add(&mut self, other: &Self) {
        for s in SEVERITIES {
            *self.get_mut(s) += other.get(s);
        }
    }

    fn max(&mut self, other: &Self) {
        for s in SEVERITIES {
            let mine = self.get_mut(s);
            *mine = mine.max(other.get(s));
        }
    }
}

/// One minute's counters of one type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MinuteDemand {
    #[serde(default)]
    pub served: BySeverity,
    /// Distinct incidents refused for lack of room in the minute.
    #[serde(default)]
    pub refused: BySeverity,
    /// Incidents served after having been refused.
    #[serde(default)]
    pub waited: BySeverity,
}

impl MinuteDemand {
    /// Adds another shard's counters of the same minute.
    fn add(&mut self, other: &Self) {
        self.served.add(&other.served);
        self.refused.add(&other.refused);
        self.waited.add(&other.waited);
    }
}

/// What the evaluation knows of a type's recent demand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DemandWindow {
    /// Incidents served in the window.
    pub served: BySeverity,
    /// Incidents refused for lack of room, in the busiest minute of the window (an incident
    /// refused again the next minute is still the same unmet work).
    pub refused: BySeverity,
    /// Incidents served in the window after waiting.
    pub waited: BySeverity,
}

impl DemandWindow {
    /// Adds up minutes: served and waited summed, refused by its busiest minute.
    pub fn of(minutes: &[MinuteDemand]) -> Self {
        let mut window = Self::default();
        for m in minutes {
            window.served.add(&m.served);
            window.waited.add(&m.waited);
            window.refused.max(&m.refused);
        }
        window
    }

    /// The severity a scale-up would serve: the most severe refused or waiting work; failing
    /// that, the most severe work served; with no demand at all, `low`.
    pub fn severity(&self) -> Severity {
        let mut unmet = self.refused;
        unmet.add(&self.waited);
        unmet.most_severe().or_else(|| self.served.most_severe()).unwrap_or(Severity::Low)
    }

    /// Incidents that found no room, as load the replicas could not report.
    pub fn unmet(&self) -> f64 {
        self.refused.total()
    }
}

/// The minutes of a window with their counters, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DemandMinutes(pub Vec<(DateTime<Utc>, MinuteDemand)>);

/// How a minute is named in keys and in the scaler's state.
pub fn minute_name(minute: DateTime<Utc>) -> String {
    // `%Y-%m-%dT%H:%M` written out field by field: chrono's format strings are parsed on every
    // call, and a status or a selection names many minutes.
    let (date, time) = (minute.date_naive(), minute.time());
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        date.year(),
        date.month(),
        date.day(),
        time.hour(),
        time.minute()
    )
}

impl DemandMinutes {
    /// The minutes counted in `items` (the answers to [`window_keys`]; absent shards count
    /// nothing), each minute's shards added up, oldest first.
    pub fn of_items(items: &[Option<Item>]) -> Self {
        let mut minutes: BTreeMap<DateTime<Utc>, MinuteDemand> = BTreeMap::new();
        for item in items.iter().flatten() {
            if let Some(at) = minute_of_key(&item.key.sk) {
                minutes.entry(at).or_default().add(&read_minute(item));
            }
        }
        Self(minutes.into_iter().collect())
    }

    pub fn window(&self) -> DemandWindow {
        DemandWindow::of(&self.0.iter().map(|(_, m)| *m).collect::<Vec<_>>())
    }

    /// Incidents served in the last full minute before `now`: the window (two minutes or more,
    /// ending with `now`'s) always holds it, so the status reads it here instead of again.
    pub fn served_last_minute(&self, now: DateTime<Utc>) -> f64 {
        let minute = minute_of(now) - Duration::minutes(1);
        self.0.iter().find(|(at, _)| *at == minute).map_or(0.0, |(_, m)| m.served.total())
    }

    /// Refused incidents not yet answered by a scale-up, in the busiest minute: `answered` holds
    /// the refused count of each minute that a scale-up already accounted for.
    pub fn fresh_refused(&self, answered: &BTreeMap<String, f64>) -> f64 {
        self.0
            .iter()
            .map(|(at, m)| {
                (m.refused.total() - answered.get(&minute_name(*at)).copied().unwrap_or(0.0)).max(0.0)
            })
            .fold(0.0, f64::max)
    }

    /// Every minute's refused count, to remember as answered.
    pub fn refused_by_minute(&self) -> BTreeMap<String, f64> {
        self.0.iter().map(|(at, m)| (minute_name(*at), m.refused.total())).filter(|(_, n)| *n > 0.0).collect()
    }
}

/// The counters of one minute, as items are keyed.
pub fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(at)
}

fn demand_key(agent_type: &AgentType, shard: usize, minute: DateTime<Utc>) -> Key {
    crate::table::demand(agent_type, shard, minute)
}

fn minute_of_key(sk: &str) -> Option<DateTime<Utc>> {
    minute_named(sk.strip_prefix("DEMAND#")?)
}

/// The minute [`minute_name`] named.
pub fn minute_named(name: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(name, "%Y-%m-%dT%H:%M").ok().map(|t| t.and_utc())
}

fn waiting_key(agent_type: &AgentType, incident_id: &str) -> Key {
    crate::table::waiting(agent_type, incident_id)
}

fn attribute(kind: &str, severity: Severity) -> String {
    format!("{kind}_{}", severity.as_str())
}

/// The demand counters in the store.
#[derive(Debug, Clone)]
pub struct DemandLedger {
    store: Arc<dyn Store>,
    /// The shard the next count goes to (each container's writes go round the shards).
    next_shard: Arc<std::sync::atomic::AtomicUsize>,
    /// This region's place among the control plane's regions, and how many there are: each
    /// region adds only to its own shards (`slot`, `slot + regions`, ...), so two regions counting
    /// at once never write one item (a global table's last writer would lose one addition).
    /// Readers read every shard either way.
    slot: (usize, usize),
}

impl DemandLedger {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, next_shard: Arc::default(), slot: (0, 1) }
    }

    /// A ledger of the region at `index` of a control plane in `regions` regions (at most
    /// [`SHARDS`]; a single-region stack is index 0 of 1).
    #[must_use]
    pub fn in_region(mut self, index: usize, regions: usize) -> Self {
        let regions = regions.clamp(1, SHARDS);
        self.slot = (index % regions, regions);
        self
    }

    fn shard(&self) -> usize {
        let (slot, regions) = self.slot;
        let own = SHARDS / regions;
        slot + (self.next_shard.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % own) * regions
    }

    async fn count(
        &self,
        agent_type: &AgentType,
        kind: &str,
        severity: Severity,
        n: f64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let minute = minute_of(at);
        let update =
            Update::new().add(attribute(kind, severity), n).set("ttl", (minute + COUNTER_TTL).timestamp());
        self.store.update(&demand_key(agent_type, self.shard(), minute), update).await.map(|_| ())
    }

    /// An incident assigned to a replica. With its id, one that had been refused counts as waited.
    pub async fn served(
        &self,
        agent_type: &AgentType,
        severity: Severity,
        incident_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.count(agent_type, "served", severity, 1.0, at).await?;
        if let Some(id) = incident_id {
            match self.store.delete(&waiting_key(agent_type, id), Condition::Exists).await {
                Ok(()) => self.count(agent_type, "waited", severity, 1.0, at).await?,
                Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// An incident no replica had room for. Under its id it counts once a minute however often
    /// it is retried; without one, every refusal counts.
    pub async fn refused(
        &self,
        agent_type: &AgentType,
        severity: Severity,
        incident_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let minute = minute_of(at).timestamp();
        if let Some(id) = incident_id {
            let key = waiting_key(agent_type, id);
            let fresh = Item::from_record(key.clone(), &serde_json::json!({"since": at, "minute": minute}))?
                .with_version(1)
                .with_ttl(at + WAITING_TTL);
            match self.store.put(fresh, Condition::Absent).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed) => {
                    let Some(item) = self.store.get(&key).await? else { return Ok(()) };
                    let counted = item.attrs.get("minute").and_then(serde_json::Value::as_i64);
                    if counted == Some(minute) {
                        return Ok(());
                    }
                    let update = Update::new()
                        .set("minute", minute)
                        .add("version", 1.0)
                        .only_if(Condition::Version(item.version().unwrap_or(0)));
                    match self.store.update(&key, update).await {
                        Ok(_) => {}
                        // Another retry of the same incident counted this minute first.
                        Err(StoreError::ConditionFailed) => return Ok(()),
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        self.count(agent_type, "refused", severity, 1.0, at).await
    }

    /// Adds whole counts at once (the simulation reports a minute's demand in one write, as
    /// selection would have call by call).
    pub async fn add(
        &self,
        agent_type: &AgentType,
        minute: DateTime<Utc>,
        demand: &MinuteDemand,
    ) -> Result<(), StoreError> {
        let minute = minute_of(minute);
        let mut update = Update::new().set("ttl", (minute + COUNTER_TTL).timestamp());
        let mut any = false;
        for (kind, counts) in
            [("served", &demand.served), ("refused", &demand.refused), ("waited", &demand.waited)]
        {
            for s in SEVERITIES {
                if counts.get(s) > 0.0 {
                    update = update.add(attribute(kind, s), counts.get(s));
                    any = true;
                }
            }
        }
        if any {
            self.store.update(&demand_key(agent_type, self.shard(), minute), update).await?;
        }
        Ok(())
    }

    /// The minutes of [`WINDOW`] ending at `now`, oldest first: every shard of every minute in
    /// one store request.
    pub async fn minutes(
        &self,
        agent_type: &AgentType,
        now: DateTime<Utc>,
    ) -> Result<DemandMinutes, StoreError> {
        let keys = window_keys(agent_type, now);
        Ok(DemandMinutes::of_items(&self.store.get_many(&keys).await?))
    }

    /// The type's demand over the last [`WINDOW`].
    pub async fn window(
        &self,
        agent_type: &AgentType,
        now: DateTime<Utc>,
    ) -> Result<DemandWindow, StoreError> {
        Ok(self.minutes(agent_type, now).await?.window())
    }

    /// Incidents served in the last full minute.
    pub async fn served_last_minute(
        &self,
        agent_type: &AgentType,
        now: DateTime<Utc>,
    ) -> Result<f64, StoreError> {
        let minute = minute_of(now) - Duration::minutes(1);
        let keys: Vec<Key> = (0..SHARDS).map(|shard| demand_key(agent_type, shard, minute)).collect();
        let items = self.store.get_many(&keys).await?;
        Ok(items.iter().flatten().map(|i| read_minute(i).served.total()).sum())
    }
}

/// The keys of every shard's counters for every minute of [`WINDOW`] ending at `now`: what
/// [`DemandLedger::minutes`] reads, for a caller that reads them together with other items.
pub fn window_keys(agent_type: &AgentType, now: DateTime<Utc>) -> Vec<Key> {
    let first = minute_of(now - WINDOW + Duration::minutes(1));
    let last = minute_of(now);
    let mut keys = Vec::with_capacity(SHARDS * 2);
    let mut minute = first;
    while minute <= last {
        keys.extend((0..SHARDS).map(|shard| demand_key(agent_type, shard, minute)));
        minute += Duration::minutes(1);
    }
    keys
}

fn read_minute(item: &Item) -> MinuteDemand {
    let number = |name: String| item.attrs.get(&name).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
    let mut m = MinuteDemand::default();
    for s in SEVERITIES {
        *m.served.get_mut(s) = number(attribute("served", s));
        *m.refused.get_mut(s) = number(attribute("refused", s));
        *m.waited.get_mut(s) = number(attribute("waited", s));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Written out by hand, a minute's name is still what chrono's format made of it, and
        /// reads back as the same minute.
        #[test]
        fn a_minute_name_is_the_formatted_minute(seconds in 0_i64..253_402_300_799) {
            let minute = minute_of(DateTime::from_timestamp(seconds, 0).unwrap());
            let name = minute_name(minute);
            proptest::prop_assert_eq!(&name, &minute.format("%Y-%m-%dT%H:%M").to_string());
            proptest::prop_assert_eq!(minute_named(&name), Some(minute));
        }
    }

    #[test]
    fn each_region_writes_its_own_shards_and_together_they_cover_all() {
        let store: Arc<dyn Store> = Arc::new(crate::store::MemoryStore::new(Arc::new(
            crate::clock::ManualClock::new(DateTime::UNIX_EPOCH),
        )));
        // (regions, shards each region's ledger writes, in index order)
        let table: [(usize, [&[usize]; 2]); 3] = [
            (1, [&[0, 1, 2, 3, 4, 5, 6, 7], &[]]),
            (2, [&[0, 2, 4, 6], &[1, 3, 5, 7]]),
            (3, [&[0, 3], &[1, 4]]),
        ];
        for (regions, expected) in table {
            for (index, shards) in expected.iter().enumerate().filter(|(i, _)| *i < regions) {
                let ledger = DemandLedger::new(Arc::clone(&store)).in_region(index, regions);
                let mut seen: Vec<usize> = (0..SHARDS * 2).map(|_| ledger.shard()).collect();
                seen.sort_unstable();
                seen.dedup();
                assert_eq!(seen, *shards, "region {index} of {regions}");
            }
        }
        assert_eq!(DemandLedger::new(store).in_region(0, 99).slot, (0, SHARDS), "at most one shard each");
    }
    use crate::clock::{Clock, ManualClock};
    use crate::store::MemoryStore;

    fn setup() -> (DemandLedger, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
        (DemandLedger::new(Arc::new(MemoryStore::new(clock.clone()))), clock)
    }

    fn t() -> AgentType {
        AgentType::parse("detection").unwrap()
    }

    #[test]
    fn the_severity_is_the_most_severe_unmet_work_then_the_served() {
        let mut w = DemandWindow::default();
        assert_eq!(w.severity(), Severity::Low, "no demand at all");
        w.served.high = 5.0;
        assert_eq!(w.severity(), Severity::High);
        w.refused.low = 1.0;
        assert_eq!(w.severity(), Severity::Low, "refused work decides over served work");
        w.waited.critical = 1.0;
        assert_eq!(w.severity(), Severity::Critical);
    }

    #[test]
    fn refused_demand_is_the_busiest_minute_not_the_sum() {
        let a = MinuteDemand {
            refused: BySeverity { high: 3.0, ..BySeverity::default() },
            ..MinuteDemand::default()
        };
        let b = MinuteDemand {
            refused: BySeverity { high: 2.0, low: 1.0, ..BySeverity::default() },
            ..MinuteDemand::default()
        };
        let w = DemandWindow::of(&[a, b]);
        assert!((w.unmet() - 4.0).abs() < 1e-9, "{w:?}");
    }

    #[tokio::test]
    async fn every_selection_goes_to_the_next_shard_and_readers_add_them_up() {
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
        // Two containers, each going round the shards.
        let (a, b) = (DemandLedger::new(store.clone()), DemandLedger::new(store.clone()));
        let now = clock.now();
        for i in 0..20 {
            let ledger = if i % 2 == 0 { &a } else { &b };
            ledger.served(&t(), Severity::High, None, now).await.unwrap();
        }
        for shard in 0..SHARDS {
            let page = store
                .query(&crate::store::Query::partition(crate::table::demand_partition(&t(), shard)))
                .await
                .unwrap();
            let served: f64 = page.items.iter().map(|i| read_minute(i).served.high).sum();
            assert!((2.0..=4.0).contains(&served), "shard {shard} took {served} of 20 counts");
        }
        let w = ledger_window(&a, now).await;
        assert!((w.served.high - 20.0).abs() < 1e-9, "{w:?}");
        let next = now + Duration::minutes(1);
        assert!((a.served_last_minute(&t(), next).await.unwrap() - 20.0).abs() < 1e-9);
        // The window read a minute on holds the same count: the status reads it from there.
        let minutes = a.minutes(&t(), next).await.unwrap();
        assert!((minutes.served_last_minute(next) - 20.0).abs() < 1e-9, "{minutes:?}");
        assert!(minutes.served_last_minute(now).abs() < 1e-9, "nothing was served the minute before");
    }

    async fn ledger_window(ledger: &DemandLedger, now: DateTime<Utc>) -> DemandWindow {
        ledger.window(&t(), now).await.unwrap()
    }

    #[tokio::test]
    async fn a_retried_refusal_counts_once_a_minute_and_its_success_as_waited() {
        let (ledger, clock) = setup();
        let now = clock.now();
        for _ in 0..5 {
            ledger.refused(&t(), Severity::Critical, Some("inc-1"), now).await.unwrap();
        }
        ledger.refused(&t(), Severity::Low, None, now).await.unwrap();
        ledger.refused(&t(), Severity::Low, None, now).await.unwrap();
        let w = ledger.window(&t(), now).await.unwrap();
        assert!((w.refused.critical - 1.0).abs() < 1e-9 && (w.refused.low - 2.0).abs() < 1e-9, "{w:?}");

        let later = now + Duration::minutes(1);
        ledger.refused(&t(), Severity::Critical, Some("inc-1"), later).await.unwrap();
        ledger.served(&t(), Severity::Critical, Some("inc-1"), later).await.unwrap();
        ledger.served(&t(), Severity::Critical, Some("inc-1"), later).await.unwrap();
        let w = ledger.window(&t(), later).await.unwrap();
        assert!((w.waited.critical - 1.0).abs() < 1e-9, "waited once: {w:?}");
        assert!((w.served.critical - 2.0).abs() < 1e-9);
        assert_eq!(w.severity(), Severity::Critical);

        let minutes = ledger.minutes(&t(), later).await.unwrap();
        assert_eq!(minutes.0.len(), 2);
        let answered = minutes.refused_by_minute();
        assert!((minutes.fresh_refused(&BTreeMap::new()) - 3.0).abs() < 1e-9, "the first minute's 1 + 2");
        assert!(minutes.fresh_refused(&answered).abs() < 1e-9, "all answered");

        let much_later = later + Duration::minutes(3);
        assert_eq!(
            ledger.window(&t(), much_later).await.unwrap(),
            DemandWindow::default(),
            "out of the window"
        );
        assert!(
            (ledger.served_last_minute(&t(), later + Duration::minutes(1)).await.unwrap() - 2.0).abs() < 1e-9
        );
    }
}
