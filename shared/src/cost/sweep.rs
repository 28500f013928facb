//! The cost sweep, in four steps as scaling's evaluation is: it reads (prices the current and
//! previous hour from the usage counters and the metered sources, reprices late usage, reads the
//! hours before), assesses (`assessment`, pure: the rate, the day's projection, the level, the
//! recommendations), moves the cost controls by a conditional write (so concurrent sweeps cannot
//! undo each other), then acts: brings the emergency concurrency caps where the controls want them
//! (`caps`), records and tells what changed, and stores a snapshot. The simulation runs this same
//! sweep on its schedule.
//!
//! Its store requests do not depend on how much usage was recorded: one read of the prices, one
//! query per hour of usage counters, two reads of warming spend, one query of hourly history, a
//! read and a conditional write of the controls, two hour totals, one snapshot, and one item per
//! control change; with the AWS sources, a read and a write of the provisioned-concurrency
//! ledger, and for a source that failed, a read of each hour whose last good value it carries.
//!
//! It fails safe: a failed source's cost is its last good value carried forward and such a
//! sweep never lowers the level or clears emergency mode; the rate is taken over at least 15
//! minutes; provisioned concurrency is priced as it was allocated over time, in every region;
//! the controls it writes count as current for three sweep periods, after which readers treat
//! spend as unknown.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::actions::{ConcurrencyLimiter, Notification, Notifier};
pub use super::assessment::hourly_rate;
use super::assessment::{Assessment, Reading, assess};
use super::caps::{self, CapStatus, CapsOutcome};
use super::control::ControlChange;
use super::control::CostControl;
use super::late_usage;
use super::levels::Thresholds;
use super::price_book::PriceBook;
use super::prices::PriceTable;
use super::projection::HourSpend;
use super::provisioned_ledger::{self, ProvisionedLedger};
use super::recommend::Advisor;
use super::report::{
    self, CostReport, CurrentMetrics, HourCost, HourInputs, SourceStatus, combined, price_hour,
};
use super::sources::{MeteredSources, PricedFunction};
use super::usage::{HourUsage, UsageCounters, hour_of};
use crate::store::{Condition, Item, Key, Query, Store, StoreError};
use crate::telemetry::{Dimension, EmfSink, Unit};

/// Snapshots, hour totals and action records are kept this long.
pub const RETENTION_DAYS: i64 = 90;
/// History the projection's profile is built from.
const HISTORY_DAYS: i64 = 28;
/// Tries at the conditional write of the controls.
const CONTROL_ATTEMPTS: u32 = 4;

/// How the sweep is set up (environment, read once).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSettings {
    pub thresholds: Thresholds,
    /// Emergency mode ends once the level has stayed below critical this long.
    pub clear_emergency_after: Duration,
    pub functions: Vec<PricedFunction>,
    pub table_name: String,
    /// Reserved-concurrency cap for non-critical functions in an emergency (off: `None`).
    pub emergency_concurrency_cap: Option<u32>,
    /// How often the sweep runs: the controls it writes count as current for three periods.
    pub period: Duration,
}

impl Default for SweepSettings {
    fn default() -> Self {
        Self {
            thresholds: Thresholds::default(),
            clear_emergency_after: Duration::minutes(30),
            functions: Vec::new(),
            table_name: String::new(),
            emergency_concurrency_cap: None,
            period: Duration::minutes(15),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the cost controls kept changing under the sweep; it will run again")]
    Contended,
    /// The sweep ran and stored its report, but some functions' concurrency caps are not where
    /// the controls want them; the next sweep (or a retry) carries on.
    #[error("emergency concurrency caps are not all in place: {0}")]
    CapsIncomplete(String),
}

/// One stored hour total.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredHour {
    cost: f64,
    seconds: f64,
    by_service: BTreeMap<String, f64>,
}

/// One hour's spend as the sweeps priced it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PricedHour {
    pub hour: DateTime<Utc>,
    /// USD.
    pub cost: f64,
    /// How much of the hour the price covers, in seconds (3600 once a sweep has seen it end).
    pub seconds: f64,
    /// USD per service (`lambda`, `provisioned_concurrency`, `dynamodb`, `llm`, `warming`).
    pub by_service: BTreeMap<String, f64>,
}

/// One recorded control change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordedAction {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub change: ControlChange,
    /// What followed outside the table (notification, concurrency caps) and how it went.
    pub effects: Vec<String>,
}

fn hour_key(hour: DateTime<Utc>) -> Key {
    crate::table::cost_hour(hour)
}

fn control_key() -> Key {
    crate::table::cost_control()
}

fn ttl(now: DateTime<Utc>) -> i64 {
    (now + Duration::days(RETENTION_DAYS)).timestamp()
}

#[derive(Debug, Clone)]
pub struct Sweeper {
    store: Arc<dyn Store>,
    prices: PriceBook,
    usage: UsageCounters,
    metered: Option<Arc<dyn MeteredSources>>,
    notifier: Option<Arc<dyn Notifier>>,
    limiter: Option<Arc<dyn ConcurrencyLimiter>>,
    settings: SweepSettings,
    /// What the warmer keeps warm (its advice joins the recommendations).
    /// Advice from beyond the sweep's own figures (warming's pings against provisioned
    /// concurrency), joined to its recommendations.
    advisors: Vec<Arc<dyn Advisor>>,
    /// Where the sweep's figures go as EMF lines (Lambda's metrics path; off for a simulation).
    metrics: EmfSink,
}

impl Sweeper {
    pub fn new(store: Arc<dyn Store>, prices: PriceBook, settings: SweepSettings) -> Self {
        Self {
            usage: UsageCounters::new(Arc::clone(&store)),
            store,
            prices,
            metered: None,
            notifier: None,
            limiter: None,
            settings,
            advisors: Vec::new(),
            metrics: EmfSink::off(),
        }
    }

    /// The $/h lines the levels are drawn at (a chart of spend draws them too).
    pub fn thresholds(&self) -> &Thresholds {
        &self.settings.thresholds
    }

    /// Writes each sweep's figures to `metrics` (off by default).
    #[must_use]
    pub fn with_metrics(mut self, metrics: EmfSink) -> Self {
        self.metrics = metrics;
        self
    }

    /// Joins `advisor`'s recommendations to every sweep's.
    #[must_use]
    pub fn with_advisor(mut self, advisor: Arc<dyn Advisor>) -> Self {
        self.advisors.push(advisor);
        self
    }

    #[must_use]
    pub fn with_metered(mut self, metered: Arc<dyn MeteredSources>) -> Self {
        self.metered = Some(metered);
        self
    }

    #[must_use]
    pub fn with_notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    #[must_use]
    pub fn with_limiter(mut self, limiter: Arc<dyn ConcurrencyLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    async fn warming(&self, hour: DateTime<Utc>) -> Result<f64, StoreError> {
        let key = crate::table::warming_cost(hour);
        Ok(self
            .store
            .get(&key)
            .await?
            .and_then(|i| i.attrs.get("cost").and_then(Value::as_f64))
            .unwrap_or(0.0))
    }

    /// Everything measured over `[start, start + seconds)` but provisioned concurrency (a
    /// sample per sweep, not per hour: [`Self::provisioned`]); the services whose source failed.
    async fn measure(
        &self,
        start: DateTime<Utc>,
        seconds: f64,
        usage: Vec<HourUsage>,
        status: &mut SourceStatus,
    ) -> Result<(HourInputs, Vec<&'static str>), StoreError> {
        let end = start + Duration::milliseconds((seconds * 1000.0) as i64);
        let mut inputs = HourInputs {
            start,
            seconds,
            usage,
            warming: self.warming(start).await?,
            ..HourInputs::default()
        };
        let mut failed_services = Vec::new();
        let Some(metered) = &self.metered else {
            return Ok((inputs, failed_services));
        };
        match metered.lambda(&self.settings.functions, start, end).await {
            Ok(m) => inputs.lambda = Some(m),
            Err(e) => {
                failed(status, &e);
                failed_services.push(report::LAMBDA);
            }
        }
        match metered.dynamodb(&self.settings.table_name, start, end).await {
            Ok(u) => inputs.dynamodb = Some(u),
            Err(e) => {
                failed(status, &e);
                failed_services.push(report::DYNAMODB);
            }
        }
        Ok((inputs, failed_services))
    }

    /// Samples the provisioned concurrency allocated now (every region) into the ledger and
    /// answers it; when the read fails, the ledger carried to `now` at the last units read.
    async fn provisioned(
        &self,
        now: DateTime<Utc>,
        status: &mut SourceStatus,
    ) -> Result<Option<(ProvisionedLedger, bool)>, StoreError> {
        let Some(metered) = &self.metered else { return Ok(None) };
        let (mut ledger, version) = provisioned_ledger::load(self.store.as_ref()).await?;
        match metered.provisioned(&self.settings.functions).await {
            Ok(allocation) => {
                ledger.record(&allocation, now);
                provisioned_ledger::save(self.store.as_ref(), &ledger, version).await?;
                Ok(Some((ledger, true)))
            }
            Err(e) => {
                failed(status, &e);
                Ok(Some((ledger.carried_to(now), false)))
            }
        }
    }

    /// The cost of each of `services` in `hour` as the last good sweep priced it (a failed
    /// source's value carried forward); for an hour not priced yet, `previous`'s figure scaled to
    /// `seconds`.
    async fn carried(
        &self,
        hour: &mut HourCost,
        services: &[&'static str],
        previous: Option<&HourCost>,
    ) -> Result<(), StoreError> {
        if services.is_empty() {
            return Ok(());
        }
        let stored: Option<StoredHour> =
            self.store.get(&hour_key(hour.start)).await?.map(|i| i.record()).transpose()?;
        for service in services {
            let value = match (&stored, previous) {
                (Some(s), _) if s.by_service.contains_key(*service) => s.by_service[*service],
                (_, Some(p)) => p.by_service.get(*service).copied().unwrap_or(0.0) * hour.seconds / 3600.0,
                _ => 0.0,
            };
            hour.by_service.insert((*service).to_owned(), value);
        }
        hour.total = super::billing::total(hour.by_service.values().copied());
        Ok(())
    }

    /// Whole past hours of spend, oldest first.
    async fn history(&self, before: DateTime<Utc>) -> Result<Vec<HourSpend>, StoreError> {
        let hours =
            self.priced_hours(before - Duration::days(HISTORY_DAYS), before - Duration::hours(1)).await?;
        Ok(hours.into_iter().map(|h| HourSpend { hour: h.hour, cost: h.cost }).collect())
    }

    /// The priced hours of the last `hours` up to the current one (as far as it has been swept),
    /// oldest first: what a chart of recent spend draws.
    pub async fn hourly(&self, hours: u32, now: DateTime<Utc>) -> Result<Vec<PricedHour>, StoreError> {
        self.priced_hours(now - Duration::hours(i64::from(hours.max(1)) - 1), now).await
    }

    /// Stored hours from the hour of `from` to the hour of `to`, oldest first.
    async fn priced_hours(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<PricedHour>, StoreError> {
        let query = Query::partition(crate::table::COST_HOUR)
            .between(hour_key(from).sk, hour_key(to).sk)
            .limit(Query::MAX_LIMIT);
        let page = self.store.query(&query).await?;
        let mut out = Vec::new();
        for item in page.items {
            let Ok(hour) = DateTime::parse_from_rfc3339(&format!("{}:00:00Z", item.key.sk)) else { continue };
            let stored: StoredHour = item.record()?;
            out.push(PricedHour {
                hour: hour.with_timezone(&Utc),
                cost: stored.cost,
                seconds: stored.seconds,
                by_service: stored.by_service,
            });
        }
        Ok(out)
    }

    /// Sets (or with `None`, removes) the operator's emergency override; answers the controls
    /// before and after. In force at once for the cost gate and model selection, which read the
    /// controls at each decision; the next sweep puts caps in place (or lifts them) to match.
    pub async fn override_emergency(
        &self,
        operator_override: Option<super::control::EmergencyOverride>,
    ) -> Result<(CostControl, CostControl), SweepError> {
        let before = std::sync::Mutex::new(CostControl::default());
        let (after, _) = self
            .move_controls(|previous| {
                *before.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = previous.clone();
                (CostControl { operator_override: operator_override.clone(), ..previous.clone() }, Vec::new())
            })
            .await?;
        Ok((before.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner), after))
    }

    /// Reads the controls, applies `next`, and writes them back only if nobody else did meanwhile.
    async fn move_controls(
        &self,
        decide: impl Fn(&CostControl) -> (CostControl, Vec<ControlChange>),
    ) -> Result<(CostControl, Vec<ControlChange>), SweepError> {
        for _ in 0..CONTROL_ATTEMPTS {
            let item = self.store.get(&control_key()).await?;
            let (previous, version) = match &item {
                Some(i) => (i.record::<CostControl>()?, i.version().unwrap_or(0)),
                None => (CostControl::default(), 0),
            };
            let (next, changes) = decide(&previous);
            let condition = if item.is_some() { Condition::Version(version) } else { Condition::Absent };
            let record = Item::from_record(control_key(), &next)?.with_version(version + 1);
            match self.store.put(record, condition).await {
                Ok(()) => return Ok((next, changes)),
                Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(SweepError::Contended)
    }

    /// Carries out and records one change; an emergency change's record lists what the caps'
    /// reconciliation did.
    async fn act(
        &self,
        change: &ControlChange,
        n: usize,
        caps: &[CapStatus],
        now: DateTime<Utc>,
    ) -> Result<RecordedAction, StoreError> {
        let mut effects = Vec::new();
        if matches!(
            change,
            ControlChange::EmergencyOn { .. }
                | ControlChange::EmergencyOff { .. }
                | ControlChange::OverrideExpired { .. }
        ) {
            effects.extend(caps.iter().map(CapStatus::describe));
        }
        let worth_telling = match change {
            ControlChange::EmergencyOn { .. }
            | ControlChange::EmergencyOff { .. }
            | ControlChange::OverrideExpired { .. } => true,
            // Reaching emergency is told by the emergency-mode change itself.
            ControlChange::LevelChanged { to, .. } => {
                (super::levels::Level::High..super::levels::Level::Emergency).contains(to)
            }
            _ => false,
        };
        if worth_telling && let Some(notifier) = &self.notifier {
            let text = format!("Incident Commander cost control: {}", describe(change));
            effects.push(match notifier.notify(&Notification { text }).await {
                Ok(()) => "notified the webhook".to_owned(),
                Err(e) => format!("the webhook notification failed: {e}"),
            });
        }
        let recorded = RecordedAction { at: now, change: change.clone(), effects };
        let key = crate::table::cost_action(now, n);
        let mut item = Item::from_record(key, &recorded)?;
        item.attrs.insert("ttl".into(), ttl(now).into());
        self.store.put(item, Condition::Always).await?;
        Ok(recorded)
    }

    /// Brings the emergency caps where the controls want them: every sweep, not only when
    /// emergency mode changes, so a cap or restore that failed is carried out by the next.
    async fn reconcile_caps(&self, emergency: bool, now: DateTime<Utc>) -> Result<CapsOutcome, StoreError> {
        let Some(limiter) = &self.limiter else {
            return Ok(CapsOutcome { statuses: Vec::new(), complete: true });
        };
        let cap = self.settings.emergency_concurrency_cap.filter(|_| emergency);
        let non_critical: Vec<String> =
            self.settings.functions.iter().filter(|f| !f.critical).map(|f| f.name.clone()).collect();
        caps::reconcile(self.store.as_ref(), limiter.as_ref(), cap, &non_critical, now).await
    }

    /// Prices again the model usage of hours that usage reported late was counted into (older
    /// than the previous hour, which this sweep prices anyway), into their stored totals; the
    /// other services of such an hour stay as their own sweep priced them. Answers the hours.
    async fn reprice_late_usage(
        &self,
        prices: &PriceTable,
        now: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let mut repriced = Vec::new();
        for (hour, version) in late_usage::marked(self.store.as_ref()).await? {
            if late_usage::is_late(hour, now) {
                let inputs = HourInputs {
                    start: hour,
                    seconds: 3600.0,
                    usage: self.usage.hour(hour).await?,
                    ..HourInputs::default()
                };
                let priced = price_hour(prices, &self.settings.functions, &inputs);
                let llm = priced.by_service.get(report::LLM).copied().unwrap_or(0.0);
                let stored: Option<StoredHour> =
                    self.store.get(&hour_key(hour)).await?.map(|i| i.record()).transpose()?;
                let mut stored =
                    stored.unwrap_or(StoredHour { cost: 0.0, seconds: 3600.0, by_service: BTreeMap::new() });
                stored.by_service.insert(report::LLM.to_owned(), llm);
                stored.cost = super::billing::total(stored.by_service.values().copied());
                let mut item = Item::from_record(hour_key(hour), &stored)?;
                item.attrs.insert("ttl".into(), ttl(now).into());
                self.store.put(item, Condition::Always).await?;
                repriced.push(hour);
            }
            late_usage::done(self.store.as_ref(), hour, version).await?;
        }
        Ok(repriced)
    }

    /// Measures and prices the current hour (up to `now`) and the previous one.
    /// The reading's history is left empty: the caller reads it after repricing late usage.
    async fn price_hours(&self, prices: &PriceTable, now: DateTime<Utc>) -> Result<Reading, StoreError> {
        let current_start = hour_of(now);
        let previous_start = current_start - Duration::hours(1);
        let elapsed = ((now - current_start).num_milliseconds() as f64 / 1000.0).max(1.0);
        let mut status = SourceStatus::default();
        if self.metered.is_none() {
            status.missing = vec![
                "lambda (CloudWatch GetMetricData)".into(),
                "dynamodb (CloudWatch GetMetricData)".into(),
                "provisioned_concurrency (Lambda API)".into(),
            ];
        }
        let current_usage = self.usage.hour(current_start).await?;
        let previous_usage = self.usage.hour(previous_start).await?;
        let (mut current_inputs, current_failed) =
            self.measure(current_start, elapsed, current_usage, &mut status).await?;
        let (mut previous_inputs, previous_failed) =
            self.measure(previous_start, 3600.0, previous_usage, &mut status).await?;
        let mut carried: Vec<String> =
            current_failed.iter().chain(&previous_failed).map(|s| (*s).to_owned()).collect();
        if let Some((ledger, read)) = self.provisioned(now, &mut status).await? {
            if !read {
                carried.push(report::PROVISIONED.to_owned());
            }
            for inputs in [&mut current_inputs, &mut previous_inputs] {
                inputs.provisioned = Some(ledger.allocation());
                inputs.provisioned_unit_seconds = ledger.unit_seconds(inputs.start);
            }
        }
        let functions = &self.settings.functions;
        let mut previous = price_hour(prices, functions, &previous_inputs);
        self.carried(&mut previous, &previous_failed, None).await?;
        let mut current = price_hour(prices, functions, &current_inputs);
        self.carried(&mut current, &current_failed, Some(&previous)).await?;
        carried.sort();
        carried.dedup();
        status.carried = carried;
        Ok(Reading {
            current,
            previous,
            current_inputs,
            previous_inputs,
            status,
            elapsed,
            history: Vec::new(),
        })
    }

    /// Runs one sweep at `now`: reads (prices, both hours priced, late usage repriced, the
    /// stored hours before), assesses them (pure), moves the controls by a conditional write,
    /// acts on what changed (caps, notification, records), and stores the report.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<CostReport, SweepError> {
        let (prices, _) = self.prices.current().await?;
        let mut reading = self.price_hours(&prices, now).await?;
        let repriced_hours = self.reprice_late_usage(&prices, now).await?;
        reading.history = self.history(hour_of(now)).await?;
        let advice = self.advisors.iter().flat_map(|a| a.advise(&prices)).collect();
        let assessment = assess(&reading, &prices, &self.settings, advice, now);
        let (controls, changes) =
            self.move_controls(|previous| assessment.decide(previous, &self.settings, now)).await?;
        let caps = self.reconcile_caps(controls.emergency(now), now).await?;
        let mut actions = Vec::new();
        for (n, change) in changes.iter().enumerate() {
            actions.push(self.act(change, n, &caps.statuses, now).await?.change);
        }
        let report = report_of(reading, assessment, &controls, actions, &caps, repriced_hours, now);
        self.store_report(&report, now).await?;
        if !caps.complete {
            let failed: Vec<String> =
                caps.statuses.iter().filter(|c| c.error.is_some()).map(CapStatus::describe).collect();
            return Err(SweepError::CapsIncomplete(if failed.is_empty() {
                "another sweep changed the record of caps meanwhile".into()
            } else {
                failed.join("; ")
            }));
        }
        Ok(report)
    }

    /// Stores both hours' totals and the report as a snapshot, and writes its metrics.
    async fn store_report(&self, report: &CostReport, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.store_hour(&report.current_hour, now).await?;
        self.store_hour(&report.previous_hour, now).await?;
        let mut snapshot = Item::from_record(crate::table::cost_snapshot(now), report)?;
        snapshot.attrs.insert("ttl".into(), ttl(now).into());
        self.store.put(snapshot, Condition::Always).await?;
        if self.metrics.is_on() {
            emit_metrics(&self.metrics, report);
        }
        Ok(())
    }

    async fn store_hour(&self, hour: &HourCost, now: DateTime<Utc>) -> Result<(), StoreError> {
        let stored =
            StoredHour { cost: hour.total, seconds: hour.seconds, by_service: hour.by_service.clone() };
        let mut item = Item::from_record(hour_key(hour.start), &stored)?;
        item.attrs.insert("ttl".into(), ttl(now).into());
        self.store.put(item, Condition::Always).await
    }

    /// Stored snapshots from the last `hours`, newest first, at most `limit`.
    pub async fn snapshots(
        &self,
        hours: u32,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<(Vec<CostReport>, bool), StoreError> {
        let from = (now - Duration::hours(i64::from(hours))).to_rfc3339();
        let query = Query::partition(crate::table::COST_SNAPSHOT)
            .between(from, now.to_rfc3339())
            .descending()
            .limit(limit);
        let page = self.store.query(&query).await?;
        let reports = page.items.iter().map(Item::record).collect::<Result<Vec<CostReport>, _>>()?;
        Ok((reports, page.next.is_some()))
    }

    /// Recorded control changes from the last `hours`, newest first.
    pub async fn recorded_actions(
        &self,
        hours: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<RecordedAction>, StoreError> {
        let from = (now - Duration::hours(i64::from(hours))).to_rfc3339();
        let to = format!("{}~", now.to_rfc3339());
        let query = Query::partition(crate::table::COST_ACTION)
            .between(from, to)
            .descending()
            .limit(Query::MAX_LIMIT);
        self.store.query(&query).await?.items.iter().map(Item::record).collect()
    }
}

/// The sweep's report: what it read and concluded, and what it did.
fn report_of(
    reading: Reading,
    assessment: Assessment,
    controls: &CostControl,
    actions: Vec<ControlChange>,
    caps: &CapsOutcome,
    repriced_hours: Vec<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> CostReport {
    let Assessment { hourly, projection, recommendations, .. } = assessment;
    let Reading { current, previous, status, .. } = reading;
    CostReport {
        timestamp: now,
        current_metrics: CurrentMetrics {
            hourly_cost: hourly,
            daily_projection: projection.daily,
            cost_threshold: controls.level,
            projection,
        },
        cost_by_service: combined(&current.by_service, &previous.by_service),
        cost_by_model: combined(&current.by_model, &previous.by_model),
        potential_savings: super::billing::total(recommendations.iter().map(|r| r.estimated_monthly_savings)),
        applied_optimizations: applied(controls, &recommendations, now),
        recommendations,
        actions,
        sources: status,
        emergency_mode: controls.emergency(now),
        concurrency_caps: caps.statuses.clone(),
        repriced_hours,
        current_hour: current,
        previous_hour: previous,
    }
}

/// Notes a failed source once.
fn failed(status: &mut SourceStatus, e: &crate::error::AdapterError) {
    tracing::warn!(error = %e, "a cost source failed; its last good value is carried forward");
    if !status.failed.contains(&e.to_string()) {
        status.failed.push(e.to_string());
    }
}

/// What the controls apply by themselves: model downgrades while optimising, the emergency mode.
fn applied(
    controls: &CostControl,
    recommendations: &[super::recommend::Recommendation],
    now: DateTime<Utc>,
) -> Vec<String> {
    if controls.emergency(now) {
        vec!["emergency cost mode: every severity gets the cheapest model that meets its floor; only critical work may scale up".into()]
    } else if controls.optimizing {
        recommendations
            .iter()
            .filter(|r| r.auto_applicable)
            .map(|r| format!("{} (model selection for non-critical work)", r.title))
            .collect()
    } else {
        Vec::new()
    }
}

fn describe(change: &ControlChange) -> String {
    match change {
        ControlChange::LevelChanged { from, to, reason } => format!("level {from} -> {to} ({reason})"),
        ControlChange::OptimizationStarted { reason } => format!("optimisation started: {reason}"),
        ControlChange::OptimizationStopped { reason } => format!("optimisation stopped: {reason}"),
        ControlChange::EmergencyOn { reason } => format!("EMERGENCY MODE ON: {reason}"),
        ControlChange::EmergencyOff { reason } => format!("emergency mode off: {reason}"),
        ControlChange::OverrideExpired { reason } => format!("operator override expired: {reason}"),
    }
}

/// Written by every sweep: 1 while emergency cost mode is on, else 0.
pub const EMERGENCY_MODE_METRIC: &str = "EmergencyMode";
/// Written by every sweep: the spend rate, USD per hour.
pub const HOURLY_COST_METRIC: &str = "HourlyCost";

fn emit_metrics(metrics: &EmfSink, report: &CostReport) {
    let totals = metrics
        .set()
        .metric(HOURLY_COST_METRIC, Unit::None, report.current_metrics.hourly_cost)
        .and_then(|s| s.metric("DailyProjection", Unit::None, report.current_metrics.daily_projection))
        .and_then(|s| {
            s.metric("CostLevel", Unit::None, f64::from(report.current_metrics.cost_threshold as u8))
        })
        // The stack's EmergencyModeAlarm: ALARM while it is on, OK once a sweep turns it off.
        .and_then(|s| {
            s.metric(EMERGENCY_MODE_METRIC, Unit::Count, f64::from(u8::from(report.emergency_mode)))
        });
    if let Ok(set) = totals {
        metrics.emit(&set, report.timestamp);
    }
    for service in [report::LAMBDA, report::PROVISIONED, report::DYNAMODB, report::LLM, report::WARMING] {
        let cost = report.current_hour.by_service.get(service).copied().unwrap_or(0.0);
        if let Ok(set) = metrics
            .set()
            .dimension(Dimension::Service(service))
            .and_then(|s| s.metric("CurrentHourCost", Unit::None, cost))
        {
            metrics.emit(&set, report.timestamp);
        }
    }
}
