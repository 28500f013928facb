//! Usage intake: every model call adds to one counter item per model, task and hour (atomic adds),
//! so a sweep reads a handful of items however many calls were made.
//!
//! Items: `USAGE#<YYYY-MM-DDTHH>` / `MODEL#<model>#TASK#<task>`, kept 90 days. Where the control
//! plane runs in several regions over a global table, each region adds to its own items
//! (`...#FROM#<region>`): a global table resolves two regions' writes to one item by the last
//! writer, which would lose one of two additions; readers add the regions' items up.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

use super::prices::PriceTable;
use super::task::TaskType;
use crate::domain::Severity;
use crate::error::ValidationError;
use crate::store::{Query, Store, StoreError, Update};

/// Most tokens one call may report (a sanity bound: far above any model's context).
pub const MAX_TOKENS_PER_CALL: u64 = 10_000_000;
/// How long usage counters are kept.
pub const RETENTION_DAYS: i64 = 90;
/// How far back a call may be dated: later than this, the hour has been swept and reported.
pub const MAX_AGE_HOURS: i64 = 24;

/// One model call as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub model: String,
    pub task_type: TaskType,
    pub severity: Severity,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub latency_ms: Option<f64>,
    pub timestamp: DateTime<Utc>,
}

impl UsageRecord {
    /// Checks the call against the models in force and the clock.
    pub fn validate(&self, prices: &PriceTable, now: DateTime<Utc>) -> Result<(), ValidationError> {
        if prices.model(&self.model).is_none() {
            return Err(ValidationError::new(
                "model",
                format!("{:?} is not in the price table (GET /cost/prices lists the models)", self.model),
            ));
        }
        for (field, tokens) in [("input_tokens", self.input_tokens), ("output_tokens", self.output_tokens)] {
            if tokens > MAX_TOKENS_PER_CALL {
                return Err(ValidationError::new(field, format!("must be at most {MAX_TOKENS_PER_CALL}")));
            }
        }
        if let Some(ms) = self.latency_ms
            && !(ms.is_finite() && (0.0..=3_600_000.0).contains(&ms))
        {
            return Err(ValidationError::new("latency_ms", "must be between 0 and 3,600,000"));
        }
        if self.timestamp > now + Duration::minutes(5) {
            return Err(ValidationError::new("timestamp", "is in the future"));
        }
        if self.timestamp < now - Duration::hours(MAX_AGE_HOURS) {
            return Err(ValidationError::new("timestamp", format!("is more than {MAX_AGE_HOURS} hours old")));
        }
        Ok(())
    }
}

/// One hour's calls of one model for one task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HourUsage {
    pub model: String,
    pub task_type: String,
    #[serde(default)]
    pub calls: f64,
    #[serde(default)]
    pub input_tokens: f64,
    #[serde(default)]
    pub output_tokens: f64,
    #[serde(default)]
    pub latency_ms_sum: f64,
    #[serde(default)]
    pub latency_calls: f64,
    #[serde(default)]
    pub calls_critical: f64,
    #[serde(default)]
    pub calls_high: f64,
    #[serde(default)]
    pub calls_medium: f64,
    #[serde(default)]
    pub calls_low: f64,
}

impl HourUsage {
    /// Calls of one severity.
    pub fn severity_calls(&self, severity: Severity) -> f64 {
        match severity {
            Severity::Critical => self.calls_critical,
            Severity::High => self.calls_high,
            Severity::Medium => self.calls_medium,
            Severity::Low => self.calls_low,
        }
    }

    pub fn severity_calls_mut(&mut self, severity: Severity) -> &mut f64 {
        match severity {
            Severity::Critical => &mut self.calls_critical,
            Severity::High => &mut self.calls_high,
            Severity::Medium => &mut self.calls_medium,
            Severity::Low => &mut self.calls_low,
        }
    }

    /// Adds another item's counts of the same model and task (another region's).
    fn absorb(&mut self, other: &Self) {
        self.calls += other.calls;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.latency_ms_sum += other.latency_ms_sum;
        self.latency_calls += other.latency_calls;
        self.calls_critical += other.calls_critical;
        self.calls_high += other.calls_high;
        self.calls_medium += other.calls_medium;
        self.calls_low += other.calls_low;
    }

    pub fn mean_latency_s(&self) -> Option<f64> {
        (self.latency_calls > 0.0).then(|| self.latency_ms_sum / self.latency_calls / 1000.0)
    }
}

/// The start of the hour `at` falls in.
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::hours(1)).unwrap_or(at)
}

fn partition(hour: DateTime<Utc>) -> String {
    crate::table::usage_partition(hour)
}

#[derive(Debug, Clone)]
pub struct UsageCounters {
    store: Arc<dyn Store>,
    /// The region this API adds from, where the control plane runs in several regions.
    origin: Option<crate::domain::Region>,
}

impl UsageCounters {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, origin: None }
    }

    /// Counters of a control plane in several regions: this region adds to its own items.
    #[must_use]
    pub fn from_region(mut self, region: Option<crate::domain::Region>) -> Self {
        self.origin = region;
        self
    }

    /// Adds one validated call reported at `now`; a call older than the hours the next sweep
    /// prices marks its hour to be priced again first (see [`super::late_usage`]).
    pub async fn report(&self, call: &UsageRecord, now: DateTime<Utc>) -> Result<(), StoreError> {
        let hour = hour_of(call.timestamp);
        if super::late_usage::is_late(hour, now) {
            super::late_usage::mark(self.store.as_ref(), hour).await?;
        }
        self.record(call).await
    }

    /// Adds one validated call to its hour's counters: one atomic update.
    pub async fn record(&self, call: &UsageRecord) -> Result<(), StoreError> {
        let mut one = HourUsage {
            model: call.model.clone(),
            task_type: call.task_type.to_string(),
            calls: 1.0,
            input_tokens: call.input_tokens as f64,
            output_tokens: call.output_tokens as f64,
            ..HourUsage::default()
        };
        *one.severity_calls_mut(call.severity) = 1.0;
        if let Some(ms) = call.latency_ms {
            one.latency_ms_sum = crate::domain::clamp_tiny(ms);
            one.latency_calls = 1.0;
        }
        self.add(call.timestamp, &one).await
    }

    /// Adds `totals` (calls already counted together, such as a simulation's batch) to the
    /// counters of the hour `at` falls in: one atomic update, as for a single call.
    pub async fn add(&self, at: DateTime<Utc>, totals: &HourUsage) -> Result<(), StoreError> {
        let hour = hour_of(at);
        let key = match &self.origin {
            Some(region) => crate::table::usage_from(hour, &totals.model, &totals.task_type, region),
            None => crate::table::usage(hour, &totals.model, &totals.task_type),
        };
        let mut update = Update::new()
            .set("model", totals.model.clone())
            .set("task_type", totals.task_type.clone())
            .set("ttl", (hour + Duration::days(RETENTION_DAYS)).timestamp())
            .add("calls", totals.calls)
            .add("input_tokens", totals.input_tokens)
            .add("output_tokens", totals.output_tokens);
        for severity in Severity::ALL {
            let calls = totals.severity_calls(severity);
            if calls > 0.0 {
                update = update.add(format!("calls_{severity}"), calls);
            }
        }
        if totals.latency_calls > 0.0 {
            update = update
                .add("latency_ms_sum", totals.latency_ms_sum)
                .add("latency_calls", totals.latency_calls);
        }
        self.store.update(&key, update).await.map(|_| ())
    }

    /// Every counter of the hour starting at `hour`, each region's items of one model and task
    /// added up: one query (more only past 1 MB of counters).
    pub async fn hour(&self, hour: DateTime<Utc>) -> Result<Vec<HourUsage>, StoreError> {
        let mut out: Vec<HourUsage> = Vec::new();
        let mut query = Query::partition(partition(hour_of(hour)))
            .prefix(crate::table::USAGE_PREFIX)
            .limit(Query::MAX_LIMIT);
        loop {
            let page = self.store.query(&query).await?;
            for item in page.items {
                let counted: HourUsage = item.record()?;
                match out.iter_mut().find(|u| u.model == counted.model && u.task_type == counted.task_type) {
                    Some(same) => same.absorb(&counted),
                    None => out.push(counted),
                }
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
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn two_regions_add_to_their_own_items_and_the_hour_adds_them_up() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new(Arc::new(ManualClock::new(at))));
        let call = |severity| UsageRecord {
            model: "amazon.nova-pro".into(),
            task_type: TaskType::parse("diagnosis").unwrap(),
            severity,
            input_tokens: 100,
            output_tokens: 10,
            latency_ms: Some(200.0),
            timestamp: at,
        };
        let region = |r: &str| Some(crate::domain::Region::parse(r).unwrap());
        let home = UsageCounters::new(Arc::clone(&store)).from_region(region("us-east-1"));
        let standby = UsageCounters::new(Arc::clone(&store)).from_region(region("us-west-2"));
        home.record(&call(Severity::High)).await.unwrap();
        home.record(&call(Severity::Low)).await.unwrap();
        standby.record(&call(Severity::High)).await.unwrap();
        let page = store.query(&Query::partition(partition(hour_of(at)))).await.unwrap();
        assert_eq!(page.items.len(), 2, "one item per region");
        let hour = home.hour(at).await.unwrap();
        assert_eq!(hour.len(), 1, "{hour:?}");
        assert!((hour[0].calls - 3.0).abs() < 1e-9 && (hour[0].input_tokens - 300.0).abs() < 1e-9);
        assert!((hour[0].calls_high - 2.0).abs() < 1e-9 && (hour[0].latency_calls - 3.0).abs() < 1e-9);
        // A single-region stack's items read the same way.
        UsageCounters::new(Arc::clone(&store)).record(&call(Severity::Critical)).await.unwrap();
        let all = UsageCounters::new(store).hour(at).await.unwrap();
        assert!((all[0].calls - 4.0).abs() < 1e-9, "{all:?}");
    }

    #[tokio::test]
    async fn a_batch_adds_up_to_the_same_counters_as_its_calls_one_by_one() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let counters = |store: &Arc<MemoryStore>| UsageCounters::new(Arc::clone(store) as Arc<dyn Store>);
        let (one_by_one, batched) = (
            Arc::new(MemoryStore::new(Arc::new(ManualClock::new(at)))),
            Arc::new(MemoryStore::new(Arc::new(ManualClock::new(at)))),
        );
        let calls = [
            (Severity::Critical, 100, 30, Some(800.0)),
            (Severity::Low, 50, 10, None),
            (Severity::Low, 70, 20, Some(400.0)),
        ];
        let mut batch = HourUsage {
            model: "amazon.nova-lite".into(),
            task_type: "diagnosis".into(),
            ..HourUsage::default()
        };
        for (severity, input, output, latency_ms) in calls {
            let call = UsageRecord {
                model: "amazon.nova-lite".into(),
                task_type: TaskType::parse("diagnosis").unwrap(),
                severity,
                input_tokens: input,
                output_tokens: output,
                latency_ms,
                timestamp: at,
            };
            counters(&one_by_one).record(&call).await.unwrap();
            batch.calls += 1.0;
            batch.input_tokens += input as f64;
            batch.output_tokens += output as f64;
            *batch.severity_calls_mut(severity) += 1.0;
            if let Some(ms) = latency_ms {
                batch.latency_ms_sum += ms;
                batch.latency_calls += 1.0;
            }
        }
        counters(&batched).add(at, &batch).await.unwrap();
        let read = counters(&one_by_one).hour(at).await.unwrap();
        assert_eq!(read, counters(&batched).hour(at).await.unwrap());
        assert_eq!(read, [batch]);
        assert_eq!(read[0].severity_calls(Severity::Low) as u32, 2);
    }
}
