//! Issue 17, item 2: emergency concurrency caps are desired state. Against the test server's
//! Lambda API (reserved concurrency kept as Lambda keeps it), with the calls that matter failing
//! once the way a throttle or a timeout would: a cap that fails is put by the next sweep, a
//! function keeps what it had reserved before the cap once emergency mode is off (the sweep
//! used to delete it), and a sweep that left a function where it should not be fails retryably.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use shared::aws::concurrency::ReservedConcurrency;
use shared::clock::ManualClock;
use shared::cost::actions::ConcurrencyLimiter;
use shared::cost::price_book::{PriceBook, PriceSource};
use shared::cost::sources::PricedFunction;
use shared::cost::sweep::{SweepError, SweepSettings, Sweeper};
use shared::cost::usage::{UsageCounters, UsageRecord};
use shared::cost::{Architecture, PriceTable, TaskType};
use shared::domain::Severity;
use shared::error::{AdapterError, Failure};
use shared::store::{Key, MemoryStore, Store};

/// The Lambda API, failing the next call of a given kind for a given function.
#[derive(Debug)]
struct Throttled {
    inner: ReservedConcurrency,
    /// (operation, function) pairs to fail once: `reserve` or `unreserve`.
    fail: Mutex<Vec<(&'static str, String)>>,
}

impl Throttled {
    fn fail_next(&self, operation: &'static str, function: &str) {
        self.fail.lock().unwrap().push((operation, function.to_owned()));
    }
    fn refuse(&self, operation: &'static str, function: &str) -> Result<(), AdapterError> {
        let mut fail = self.fail.lock().unwrap();
        match fail.iter().position(|(o, f)| *o == operation && f == function) {
            Some(i) => {
                fail.remove(i);
                Err(AdapterError::transient("Lambda concurrency", "TooManyRequestsException: Rate exceeded"))
            }
            None => Ok(()),
        }
    }
}

#[async_trait]
impl ConcurrencyLimiter for Throttled {
    async fn reserved(&self, function: &str) -> Result<Option<u32>, AdapterError> {
        self.inner.reserved(function).await
    }
    async fn reserve(&self, function: &str, limit: u32) -> Result<(), AdapterError> {
        self.refuse("reserve", function)?;
        self.inner.reserve(function, limit).await
    }
    async fn unreserve(&self, function: &str) -> Result<(), AdapterError> {
        self.refuse("unreserve", function)?;
        self.inner.unreserve(function).await
    }
}

fn function(name: &str, critical: bool) -> PricedFunction {
    PricedFunction {
        name: name.into(),
        memory_mb: 1024,
        architecture: Architecture::Arm64,
        provisioned_qualifier: None,
        critical,
    }
}

fn opus(at: DateTime<Utc>) -> UsageRecord {
    UsageRecord {
        model: "anthropic.claude-opus-4".into(),
        task_type: TaskType::parse("diagnosis").unwrap(),
        severity: Severity::High,
        input_tokens: 10_000,
        output_tokens: 2_000,
        latency_ms: Some(900.0),
        timestamp: at,
    }
}

#[tokio::test]
async fn caps_are_reconciled_every_sweep_and_restore_what_each_function_had() {
    let Some(endpoint) = integration_tests::dynamodb_endpoint("emergency caps on the Lambda API") else {
        return;
    };
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (triage, resolution, detection) =
        (format!("triage-{run}"), format!("resolution-{run}"), format!("detection-{run}"));
    // Triage had 20 reserved before any emergency; resolution none; detection is critical.
    let lambda = integration_tests::moto_function(&endpoint, &triage, Some(20)).await;
    integration_tests::moto_function(&endpoint, &resolution, None).await;
    integration_tests::moto_function(&endpoint, &detection, None).await;
    let reserved = |name: String| {
        let lambda = lambda.clone();
        async move {
            let out = lambda.get_function_concurrency().function_name(name).send().await.unwrap();
            out.reserved_concurrent_executions()
        }
    };

    let start = DateTime::parse_from_rfc3339("2026-11-26T10:30:00Z").unwrap().with_timezone(&Utc);
    let clock = Arc::new(ManualClock::new(start));
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let settings = SweepSettings {
        functions: vec![function(&triage, false), function(&resolution, false), function(&detection, true)],
        emergency_concurrency_cap: Some(5),
        ..SweepSettings::default()
    };
    let limiter =
        Arc::new(Throttled { inner: ReservedConcurrency::new(lambda.clone()), fail: Mutex::default() });
    let book = PriceBook::new(store.clone(), PriceTable::bundled(), PriceSource::Bundled);
    let sweeper = Sweeper::new(store.clone(), book, settings).with_limiter(limiter.clone());
    // Half an hour in, $600 of Opus: $1,200/h, an emergency.
    let usage = UsageCounters::new(store.clone());
    for _ in 0..2000 {
        usage.record(&opus(start)).await.unwrap();
    }

    // The first sweep's cap on triage is throttled: the sweep says so, retryably, and has
    // already capped resolution.
    limiter.fail_next("reserve", &triage);
    let first = sweeper.sweep(start).await;
    assert!(matches!(first, Err(SweepError::CapsIncomplete(ref e)) if e.contains(&triage)), "{first:?}");
    assert_eq!(reserved(triage.clone()).await, Some(20), "not capped yet");
    assert_eq!(reserved(resolution.clone()).await, Some(5));
    // The next sweep (a retry, or the next on the schedule) puts it.
    clock.advance(Duration::minutes(1));
    let second = sweeper.sweep(start + Duration::minutes(1)).await.unwrap();
    assert!(second.emergency_mode);
    assert_eq!(reserved(triage.clone()).await, Some(5), "capped at the next sweep");
    assert_eq!(reserved(detection.clone()).await, None, "critical work is never capped");
    let capped = second.concurrency_caps.iter().find(|c| c.function == triage).unwrap();
    assert_eq!((capped.want.as_str(), capped.target, capped.changed), ("capped", Some(5), true));

    // Spend stops; emergency mode clears after 30 calm minutes, and the restore of triage is
    // throttled in the sweep that clears it.
    limiter.fail_next("reserve", &triage);
    let mut cleared = None;
    for k in 0..6 {
        let now = start + Duration::hours(2) + Duration::minutes(15 * k);
        clock.set(now);
        match sweeper.sweep(now).await {
            Ok(report) => assert!(report.emergency_mode || cleared.is_some(), "sweep {k}: {report:?}"),
            Err(SweepError::CapsIncomplete(e)) => {
                assert!(e.contains(&triage), "{e}");
                assert_eq!(cleared, None, "only the one restore failed");
                cleared = Some(k);
                assert_eq!(reserved(triage.clone()).await, Some(5), "the throttled restore left the cap");
            }
            Err(e) => panic!("sweep {k}: {e}"),
        }
    }
    assert_eq!(cleared, Some(2), "emergency mode cleared at the third calm sweep");
    assert_eq!(reserved(triage.clone()).await, Some(20), "triage has its 20 back, not none at all");
    assert_eq!(reserved(resolution.clone()).await, None, "resolution draws on the account's pool again");
    let record = store.get(&Key::new("CONTROL", "CAPS")).await.unwrap().unwrap();
    assert_eq!(record.attrs["functions"], serde_json::json!({}), "nothing left to restore");
}

#[tokio::test]
async fn reserved_concurrency_is_read_put_and_deleted_through_the_lambda_api() {
    let Some(endpoint) = integration_tests::dynamodb_endpoint("reserved concurrency on the Lambda API")
    else {
        return;
    };
    let name = format!("prediction-{}", uuid::Uuid::new_v4().simple());
    let lambda = integration_tests::moto_function(&endpoint, &name, None).await;
    let limiter = ReservedConcurrency::new(lambda);
    assert_eq!(limiter.reserved(&name).await.unwrap(), None);
    limiter.reserve(&name, 5).await.unwrap();
    assert_eq!(limiter.reserved(&name).await.unwrap(), Some(5));
    limiter.unreserve(&name).await.unwrap();
    assert_eq!(limiter.reserved(&name).await.unwrap(), None);
    assert_eq!(limiter.reserved("no-such-function").await.unwrap_err().failure, Failure::NotFound);
}
