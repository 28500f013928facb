//! The cost sweep end to end on the in-memory store: constant store work however much usage was
//! recorded, what local mode says it could not measure, and emergency mode coming and going with
//! its effects on model selection and scaling.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use shared::clock::{Clock, ManualClock};
use shared::cost::actions::{Notification, Notifier};
use shared::cost::control::ControlChange;
use shared::cost::levels::Level;
use shared::cost::models::{CostMode, ModelRequest, select};
use shared::cost::price_book::{PriceBook, PriceSource};
use shared::cost::sources::{FunctionMetrics, MeteredSources, PricedFunction, RequestUnits};
use shared::cost::sweep::{SweepSettings, Sweeper};
use shared::cost::usage::{UsageCounters, UsageRecord};
use shared::cost::{Architecture, PriceTable, TaskType};
use shared::domain::Severity;
use shared::error::AdapterError;
use shared::scaling::FleetState;
use shared::scaling::cost_gate::{CostGate, GateOutcome, Spend};
use shared::store::{Condition, Item, Key, MemoryStore, Page, Query, Store, StoreError, Update};

/// The in-memory store, counting requests.
#[derive(Debug)]
struct Counting {
    inner: MemoryStore,
    requests: AtomicUsize,
}

impl Counting {
    fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
    fn tick(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Store for Counting {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.tick();
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.tick();
        self.inner.put(item, condition).await
    }
    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        self.tick();
        self.inner.update(key, update).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.tick();
        self.inner.query(query).await
    }
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        self.tick();
        self.inner.delete(key, condition).await
    }
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.tick();
        self.inner.batch_put(items).await
    }
}

/// A webhook stand-in that keeps what it was sent.
#[derive(Debug, Default)]
struct Inbox(Mutex<Vec<String>>);

#[async_trait]
impl Notifier for Inbox {
    async fn notify(&self, n: &Notification) -> Result<(), AdapterError> {
        self.0.lock().unwrap().push(n.text.clone());
        Ok(())
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn setup(now: DateTime<Utc>) -> (Arc<Counting>, Arc<ManualClock>, Sweeper) {
    let clock = Arc::new(ManualClock::new(now));
    let store = Arc::new(Counting { inner: MemoryStore::new(clock.clone()), requests: AtomicUsize::new(0) });
    let book = PriceBook::new(store.clone(), PriceTable::bundled(), PriceSource::Bundled);
    let sweeper = Sweeper::new(store.clone(), book, SweepSettings::default());
    (store, clock, sweeper)
}

fn call(model: &str, task: &str, input: u64, output: u64, at: DateTime<Utc>) -> UsageRecord {
    UsageRecord {
        model: model.into(),
        task_type: TaskType::parse(task).unwrap(),
        severity: Severity::Medium,
        input_tokens: input,
        output_tokens: output,
        latency_ms: Some(800.0),
        timestamp: at,
    }
}

async fn requests_for(calls: usize) -> usize {
    let now = at("2026-11-26T10:30:00Z");
    let (store, _, sweeper) = setup(now);
    let usage = UsageCounters::new(store.clone());
    let models = ["amazon.nova-lite", "anthropic.claude-sonnet-4", "meta.llama3-3-70b"];
    let tasks = ["detection", "diagnosis"];
    for i in 0..calls {
        let when = now - Duration::minutes((i % 80) as i64);
        usage.record(&call(models[i % 3], tasks[i % 2], 100, 20, when)).await.unwrap();
    }
    let before = store.count();
    sweeper.sweep(now).await.unwrap();
    store.count() - before
}

#[tokio::test]
async fn a_sweep_costs_the_same_store_requests_for_10_or_100000_calls() {
    let few = requests_for(10).await;
    let many = requests_for(100_000).await;
    println!("store requests per sweep: {few} after 10 calls, {many} after 100,000");
    assert_eq!(few, many);
    assert!(few <= 12, "{few}");
}

#[tokio::test]
async fn local_mode_prices_its_own_counters_and_names_what_it_could_not_measure() {
    let now = at("2026-11-26T10:30:00Z");
    let (store, _, sweeper) = setup(now);
    let usage = UsageCounters::new(store.clone());
    usage.record(&call("anthropic.claude-sonnet-4", "diagnosis", 10_000, 2_000, now)).await.unwrap();
    usage
        .record(&call("amazon.nova-lite", "detection", 1_000, 1_000, now - Duration::hours(1)))
        .await
        .unwrap();
    let report = sweeper.sweep(now).await.unwrap();
    assert!((report.cost_by_model["anthropic.claude-sonnet-4"] - 0.06).abs() < 1e-12);
    assert!((report.cost_by_model["amazon.nova-lite"] - 0.0003).abs() < 1e-12);
    assert!(
        (report.current_metrics.hourly_cost - 0.12).abs() < 1e-12,
        "half an hour in: twice the cost so far"
    );
    assert_eq!(report.sources.missing.len(), 3, "{:?}", report.sources);
    assert!(report.sources.missing.iter().any(|m| m.starts_with("lambda")));
    let (stored, _) = sweeper.snapshots(1, 10, now).await.unwrap();
    assert_eq!(stored, vec![report], "the snapshot is what the sweep answered");
}

#[tokio::test]
async fn emergency_mode_acts_on_models_and_scaling_then_clears() {
    let start = at("2026-11-26T10:30:00Z");
    let (store, clock, sweeper) = setup(start);
    let inbox = Arc::new(Inbox::default());
    let sweeper = sweeper.with_notifier(inbox.clone());
    let usage = UsageCounters::new(store.clone());
    // Half an hour in, $600 of Opus: $1,200/h.
    for _ in 0..2000 {
        usage.record(&call("anthropic.claude-opus-4", "diagnosis", 10_000, 2_000, start)).await.unwrap();
    }
    let report = sweeper.sweep(start).await.unwrap();
    assert_eq!(report.current_metrics.cost_threshold, Level::Emergency);
    assert!(report.emergency_mode);
    assert!(inbox.0.lock().unwrap().iter().any(|t| t.contains("EMERGENCY MODE ON")));
    assert!(!report.recommendations.is_empty(), "optimisation ran");

    let control = FleetState::new(store.clone()).cost_control().await.unwrap();
    assert!(control.emergency_mode && control.optimizing);
    let prices = PriceTable::bundled();
    let request = |severity| ModelRequest {
        task_type: TaskType::parse("diagnosis").unwrap(),
        severity,
        required_accuracy: None,
        max_cost_per_1k: None,
        expected_input_tokens: None,
        expected_output_tokens: None,
    };
    let mode = CostMode::from_control(&control, start);
    let low = select(&prices, &request(Severity::Low), mode, |_| 0).unwrap();
    assert_eq!(low.model, "amazon.nova-lite", "the cheapest at >= 0.80");
    let critical = select(&prices, &request(Severity::Critical), mode, |_| 0).unwrap();
    assert!(critical.accuracy >= 0.92, "the floor holds in an emergency");
    let spend = Spend::of(&control, start);
    assert!(matches!(CostGate::default().check(Severity::High, spend, 1, 2.0), GateOutcome::Refused { .. }));
    assert!(matches!(
        CostGate::default().check(Severity::Critical, spend, 1, 2.0),
        GateOutcome::Allowed { .. }
    ));

    // Two hours later spend has stopped; a sweep every 15 minutes clears emergency mode after 30.
    let mut off_at = None;
    for k in 0..6 {
        let now = start + Duration::hours(2) + Duration::minutes(15 * k);
        clock.set(now);
        let report = sweeper.sweep(now).await.unwrap();
        if !report.emergency_mode && off_at.is_none() {
            off_at = Some(k);
        }
    }
    assert_eq!(off_at, Some(2), "on at the first calm sweep, off two sweeps (30 minutes) later");
    let actions = sweeper.recorded_actions(4, clock.now()).await.unwrap();
    let switches: Vec<&ControlChange> = actions
        .iter()
        .map(|a| &a.change)
        .filter(|c| matches!(c, ControlChange::EmergencyOn { .. } | ControlChange::EmergencyOff { .. }))
        .collect();
    assert_eq!(switches.len(), 2, "the switch on and off are both recorded: {actions:?}");
    assert!(switches.iter().all(|c| !c.reason().is_empty()));
    let on = actions.iter().find(|a| matches!(a.change, ControlChange::EmergencyOn { .. })).unwrap();
    assert_eq!(on.effects, ["notified the webhook"]);
    assert!(inbox.0.lock().unwrap().iter().any(|t| t.contains("emergency mode off")));
}

/// Metered sources a test drives: Lambda duration per hour (or a failure), and provisioned
/// concurrency allocated now.
#[derive(Debug, Default)]
struct Metered {
    /// Lambda duration (ms) in the hour starting at the key.
    duration_ms: Mutex<std::collections::BTreeMap<DateTime<Utc>, f64>>,
    lambda_failing: std::sync::atomic::AtomicBool,
    allocated: Mutex<u32>,
}

#[async_trait]
impl MeteredSources for Metered {
    async fn lambda(
        &self,
        functions: &[PricedFunction],
        start: DateTime<Utc>,
        _end: DateTime<Utc>,
    ) -> Result<Vec<FunctionMetrics>, AdapterError> {
        if self.lambda_failing.load(Ordering::SeqCst) {
            return Err(AdapterError::transient("lambda", "throttled"));
        }
        let duration = self.duration_ms.lock().unwrap().get(&start).copied().unwrap_or(0.0);
        Ok(functions
            .iter()
            .map(|f| FunctionMetrics {
                name: f.name.clone(),
                invocations: if duration > 0.0 { 1000.0 } else { 0.0 },
                duration_ms_sum: duration,
                max_memory_used_mb: None,
            })
            .collect())
    }
    async fn dynamodb(
        &self,
        _: &str,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<RequestUnits, AdapterError> {
        Ok(RequestUnits::default())
    }
    async fn provisioned(&self, functions: &[PricedFunction]) -> Result<Vec<(String, u32)>, AdapterError> {
        let units = *self.allocated.lock().unwrap();
        Ok(functions.iter().map(|f| (f.name.clone(), units)).collect())
    }
}

fn metered_sweeper(now: DateTime<Utc>) -> (Arc<Counting>, Arc<Metered>, Sweeper) {
    let (store, _, _) = setup(now);
    let metered = Arc::new(Metered::default());
    let settings = SweepSettings {
        functions: vec![PricedFunction {
            name: "agent".into(),
            memory_mb: 10_240,
            architecture: Architecture::Arm64,
            provisioned_qualifier: Some("live".into()),
            critical: false,
        }],
        ..SweepSettings::default()
    };
    let book = PriceBook::new(store.clone(), PriceTable::bundled(), PriceSource::Bundled);
    let sweeper = Sweeper::new(store.clone(), book, settings).with_metered(metered.clone());
    (store, metered, sweeper)
}

/// Issue 17, item 8: ten seconds into an hour after a quiet one, $3 of usage read as $1,080/h.
#[tokio::test]
async fn a_few_seconds_of_usage_after_a_quiet_hour_are_no_emergency() {
    let now = at("2026-11-26T10:00:10Z");
    let (store, _, sweeper) = setup(now);
    let usage = UsageCounters::new(store.clone());
    // Ten Opus calls: $3.
    for _ in 0..10 {
        usage.record(&call("anthropic.claude-opus-4", "diagnosis", 10_000, 2_000, now)).await.unwrap();
    }
    let report = sweeper.sweep(now).await.unwrap();
    assert!((report.current_hour.total - 3.0).abs() < 0.5, "{}", report.current_hour.total);
    let hourly = report.current_metrics.hourly_cost;
    assert!(hourly < 15.0, "the rate is taken over at least 15 minutes: ${hourly}/h");
    assert_eq!(report.current_metrics.cost_threshold, Level::Low);
    assert!(!report.emergency_mode);
    // The rate over a window reaching back into the previous hour, at its average rate.
    for (current, previous, elapsed, expected) in [
        (3.0, 0.0, 10.0, 12.0),
        (0.0, 100.0, 1.0, 100.0 * 899.0 / 900.0),
        (150.0, 100.0, 1800.0, 300.0),
        (0.0, 400.0, 450.0, 200.0),
    ] {
        let rate = shared::cost::sweep::hourly_rate(current, previous, elapsed);
        assert!((rate - expected).abs() < 1e-9, "{current} {previous} {elapsed}: {rate}");
    }
}

/// Issue 17, item 8: a failing source counted as $0, so the level fell and emergency mode
/// cleared (and caps came off) while spend stayed high.
#[tokio::test]
async fn a_failing_source_carries_its_last_value_and_never_clears_emergency() {
    let start = at("2026-11-26T10:30:00Z");
    let (store, metered, sweeper) = metered_sweeper(start);
    // 5,000,000 s of a 10 GB arm64 function in half an hour: about $667, so $1,333/h.
    metered.duration_ms.lock().unwrap().insert(at("2026-11-26T10:00:00Z"), 5e9);
    let report = sweeper.sweep(start).await.unwrap();
    assert!(report.emergency_mode, "{:?}", report.current_metrics);
    let lambda_then = report.current_hour.by_service["lambda"];
    assert!(lambda_then > 600.0, "{lambda_then}");

    // CloudWatch fails from here on: the hour's Lambda cost is the last good value, not $0.
    metered.lambda_failing.store(true, Ordering::SeqCst);
    let now = start + Duration::minutes(15);
    let report = sweeper.sweep(now).await.unwrap();
    assert_eq!(report.sources.carried, ["lambda"]);
    assert!(
        (report.current_hour.by_service["lambda"] - lambda_then).abs() < 1e-6,
        "{:?}",
        report.current_hour
    );
    assert!(report.emergency_mode);
    // Hours later, still failing: calm-looking figures never clear emergency mode.
    for k in 0..4 {
        let now = start + Duration::hours(2) + Duration::minutes(15 * k);
        let report = sweeper.sweep(now).await.unwrap();
        assert!(report.emergency_mode, "sweep {k} with a failed source kept emergency mode");
        assert_eq!(report.current_metrics.cost_threshold, Level::Emergency, "and the level");
    }
    // The source is back and spend is low: emergency mode clears after 30 calm minutes.
    metered.lambda_failing.store(false, Ordering::SeqCst);
    let mut cleared = None;
    for k in 0..4 {
        let now = start + Duration::hours(3) + Duration::minutes(15 * k);
        if !sweeper.sweep(now).await.unwrap().emergency_mode && cleared.is_none() {
            cleared = Some(k);
        }
    }
    assert_eq!(cleared, Some(2));
    let control = FleetState::new(store).cost_control().await.unwrap();
    assert_eq!(
        control.fresh_until,
        Some(start + Duration::hours(3) + Duration::minutes(45) + Duration::minutes(45)),
        "the controls count as current for three sweep periods"
    );
}

/// Issue 17, item 8: the previous hour's provisioned concurrency was priced at the allocation
/// read now, for the whole hour.
#[tokio::test]
async fn provisioned_concurrency_is_priced_as_it_was_allocated() {
    let (_, metered, sweeper) = metered_sweeper(at("2026-11-26T10:30:00Z"));
    *metered.allocated.lock().unwrap() = 10;
    sweeper.sweep(at("2026-11-26T10:30:00Z")).await.unwrap();
    // Scaled to nothing just before 10:45.
    *metered.allocated.lock().unwrap() = 0;
    sweeper.sweep(at("2026-11-26T10:45:00Z")).await.unwrap();
    let report = sweeper.sweep(at("2026-11-26T11:05:00Z")).await.unwrap();
    let prices = PriceTable::bundled();
    // 10 units from 10:00 (first read at 10:30) until the 10:45 read.
    let expected = shared::cost::billing::provisioned_unit_seconds_cost(
        &prices,
        Architecture::Arm64,
        10_240,
        10.0 * 2700.0,
    );
    let priced = report.previous_hour.by_service["provisioned_concurrency"];
    assert!((priced - expected).abs() < 1e-9, "{priced} vs {expected}");
    assert!(priced > 0.0);
    assert!(
        report.current_hour.by_service["provisioned_concurrency"].abs() < 1e-12,
        "nothing allocated since 10:45"
    );
}
