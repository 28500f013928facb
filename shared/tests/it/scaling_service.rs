//! The scaling evaluation end to end on the in-memory store, as deployed: the periodic tick over
//! every type, alarms, operators; live signals (heartbeats, or Lambda figures through the metrics
//! port); demand and its severity; the cost gate; silence and error failover; dry runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use shared::clock::{Clock, ManualClock};
use shared::domain::{AgentType, Region, ReplicaId, Severity};
use shared::error::AdapterError;
use shared::scaling::actuator::RecordActuator;
use shared::scaling::cost_gate::CostGate;
use shared::scaling::demand::DemandLedger;
use shared::scaling::records::{EventKind, MarkSource, RegionHealth, Trigger};
use shared::scaling::service::{Effect, LambdaSource, Scaler, ScalingRequest, SignalSources};
use shared::scaling::signals::{AgentMetrics, LambdaAgents, LambdaFigures, Signal};
use shared::scaling::{FleetState, ReplicaHeartbeat, ScalingPolicy};
use shared::store::{Condition, Item, Key, MemoryStore, Store};

struct World {
    scaler: Scaler,
    fleet: FleetState,
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    ledger: DemandLedger,
}

fn world() -> World {
    world_with(SignalSources::default())
}

fn world_with(signals: SignalSources) -> World {
    let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let fleet = FleetState::new(store.clone());
    let scaler =
        Scaler::new(fleet.clone(), Region::defaults(), CostGate::default(), Arc::new(RecordActuator))
            .with_signals(signals);
    let ledger = DemandLedger::new(store.clone());
    World { scaler, fleet, store, clock, ledger }
}

fn t(name: &str) -> AgentType {
    AgentType::parse(name).unwrap()
}

fn detection() -> AgentType {
    t("detection")
}

fn region(code: &str) -> Region {
    Region::parse(code).unwrap()
}

impl World {
    async fn beat(&self, agent_type: &AgentType, id: &str, region: &str, load: f64, healthy: bool) {
        let beat = ReplicaHeartbeat {
            agent_type: agent_type.clone(),
            replica_id: ReplicaId::parse(id).unwrap(),
            region: Region::parse(region).unwrap(),
            load,
            capacity: 20,
            healthy,
            performance_score: 0.9,
            draining: false,
        };
        self.fleet.record_heartbeat(&beat.at(self.clock.now()), Duration::seconds(90)).await.unwrap();
    }

    /// Brings detection's reporting replicas to what the scaler wants per region, the `load`
    /// spread evenly over them, as an agent coordinator would (replicas named by region and rank).
    async fn realise(&self, load: f64) -> u32 {
        let (state, _) = self.fleet.scaling_state(&detection()).await.unwrap();
        let total: u32 = state.desired.values().sum();
        for (region, n) in &state.desired {
            for i in 0..*n {
                let id = format!("{region}-{i}");
                self.beat(&detection(), &id, region.as_str(), load / f64::from(total.max(1)), true).await;
            }
        }
        total
    }

    async fn spend(&self, hourly: f64, emergency: bool) {
        let control = Item::new(
            Key::new("CONTROL", "COST"),
            serde_json::json!({"current_hourly_spend": hourly, "emergency_mode": emergency})
                .as_object()
                .unwrap()
                .clone(),
        );
        self.store.put(control, Condition::Always).await.unwrap();
    }
}

#[tokio::test]
async fn a_sustained_overload_keeps_growing_tick_after_tick_without_a_new_alarm() {
    let w = world();
    for (id, r) in [("us-east-1-0", "us-east-1"), ("us-west-2-0", "us-west-2")] {
        w.beat(&detection(), id, r, 50.0, true).await;
    }
    // One alarm transition, at the start; the alarm then stays in ALARM and never invokes again.
    let alarm = ScalingRequest::alarm(detection(), w.clock.now(), None);
    let first = w.scaler.evaluate(&alarm, w.clock.now()).await.unwrap();
    assert_eq!((first.trigger, first.current, first.in_force), (Trigger::Alarm, 2, 2));
    assert!(first.desired > 2, "{:?}", first.reasons);
    // 100 incidents in progress the whole time; capacity 20 per replica, target 0.7.
    let mut desired = vec![first.desired];
    let mut utilization = 1.0;
    for _ in 0..6 {
        w.clock.advance(Duration::seconds(60));
        let live = w.realise(100.0).await;
        utilization = 100.0 / (f64::from(live) * 20.0);
        let report = w.scaler.tick(w.clock.now()).await.unwrap();
        let e = report.evaluations.iter().find(|e| e.agent_type == detection()).unwrap();
        assert_eq!((e.trigger, e.current), (Trigger::Tick, live));
        desired.push(e.desired);
    }
    assert!(desired.windows(2).all(|w| w[1] >= w[0]), "never shrinks under load: {desired:?}");
    assert!(desired[1] > desired[0], "the tick goes on where the alarm left off: {desired:?}");
    assert_eq!(desired.last(), desired.get(desired.len() - 2), "settles: {desired:?}");
    assert!(utilization <= 0.7, "until utilization is at or under target: {utilization} with {desired:?}");
}

#[tokio::test]
async fn repeated_alarms_do_not_ratchet_a_count_that_never_came_up() {
    let w = world();
    for (id, r) in [("a", "us-east-1"), ("b", "us-west-2")] {
        w.beat(&detection(), id, r, 19.0, true).await;
    }
    let mut last = 0;
    for k in 0..5 {
        // A new transition each time (the alarm went OK and back), and nothing new comes up.
        let at = w.clock.now() + Duration::seconds(k);
        let e = w.scaler.evaluate(&ScalingRequest::alarm(detection(), at, None), at).await.unwrap();
        assert_eq!(e.current, 2, "the live count, not the last desired one");
        if k > 0 {
            assert_eq!(e.desired, last, "replicas asked for but not live count as idle: no ratchet");
        }
        last = e.desired;
    }
    assert!(last > 2 && last <= 4, "{last}");
}

#[tokio::test]
async fn an_alarm_repeat_or_an_older_one_changes_nothing() {
    let w = world();
    w.beat(&detection(), "a", "us-east-1", 19.0, true).await;
    w.beat(&detection(), "b", "us-west-2", 19.0, true).await;
    let t0 = w.clock.now();
    let first = w.scaler.evaluate(&ScalingRequest::alarm(detection(), t0, None), t0).await.unwrap();
    assert!(first.applied && first.desired > 2);
    let again = w.scaler.evaluate(&ScalingRequest::alarm(detection(), t0, None), t0).await.unwrap();
    assert_eq!((again.desired, again.applied), (first.desired, false), "{:?}", again.reasons);
    let older = t0 - Duration::seconds(60);
    let late = w.scaler.evaluate(&ScalingRequest::alarm(detection(), older, None), t0).await.unwrap();
    assert!(!late.applied);
    let (state, version) = w.fleet.scaling_state(&detection()).await.unwrap();
    assert_eq!((state.desired_total, version), (first.desired, 1), "one action for three deliveries");
    let events = w.fleet.events(&detection(), 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::ScaleUp);
}

/// Utilization per replica against the default thresholds (0.3, target 0.7, 0.8): the rule at
/// each boundary, from a state with 4 replicas in force (so both directions can move).
#[tokio::test]
async fn the_policys_thresholds_decide_at_each_boundary() {
    let cases = [
        (0.95, 6, "above 0.8: to the target size, ceil(4 x 0.95 / 0.7)"),
        (0.81, 5, "just above 0.8: ceil(4.63)"),
        (0.80, 4, "at 0.8: hold"),
        (0.72, 4, "between target and up: hold"),
        (0.50, 4, "between down and target: hold"),
        (0.30, 4, "at 0.3: hold"),
        (0.29, 2, "below 0.3: ceil(4 x 0.29 / 0.7) = 2"),
        (0.05, 2, "far below: min_replicas"),
    ];
    for (utilization, expected, why) in cases {
        let w = world();
        let mut policy = ScalingPolicy::default_for(&detection());
        policy.cooldown_period = 0;
        w.fleet.put_policy(&detection(), policy, 0).await.unwrap();
        for (i, r) in Region::DEFAULTS.iter().enumerate() {
            w.beat(&detection(), &format!("r{i}"), r, utilization * 20.0, true).await;
        }
        let e = w.scaler.evaluate(&ScalingRequest::tick(detection()), w.clock.now()).await.unwrap();
        assert_eq!((e.in_force, e.desired), (4, expected), "{utilization}: {why}: {:?}", e.reasons);
    }
}

#[tokio::test]
async fn a_policy_change_takes_effect_on_the_next_evaluation() {
    let w = world();
    for (i, r) in Region::DEFAULTS.iter().enumerate() {
        w.beat(&detection(), &format!("r{i}"), r, 15.0, true).await;
    }
    let before = w.scaler.tick(w.clock.now()).await.unwrap();
    let e = &before.evaluations[0];
    assert_eq!((e.agent_type.as_str(), e.desired), ("detection", 4), "0.75 is inside [0.3, 0.8]");
    let mut policy = w.fleet.policy(&detection()).await.unwrap().unwrap();
    policy.policy.target_utilization = 0.5;
    policy.policy.scale_up_threshold = 0.6;
    w.fleet.put_policy(&detection(), policy.policy, policy.version).await.unwrap();
    w.clock.advance(Duration::seconds(60));
    for (i, r) in Region::DEFAULTS.iter().enumerate() {
        w.beat(&detection(), &format!("r{i}"), r, 15.0, true).await;
    }
    let after = w.scaler.tick(w.clock.now()).await.unwrap();
    assert_eq!(after.evaluations[0].desired, 6, "0.75 is above the new 0.6: ceil(4 x 0.75 / 0.5)");
}

#[tokio::test]
async fn the_tick_evaluates_operator_defined_types_too() {
    let w = world();
    w.fleet.put_policy(&t("triage"), ScalingPolicy::default_for(&t("triage")), 0).await.unwrap();
    w.beat(&t("triage"), "t1", "eu-west-1", 19.0, true).await;
    let report = w.scaler.tick(w.clock.now()).await.unwrap();
    let types: Vec<&str> = report.evaluations.iter().map(|e| e.agent_type.as_str()).collect();
    assert_eq!(types, ["detection", "diagnosis", "prediction", "resolution", "communication", "triage"]);
    let triage = report.evaluations.iter().find(|e| e.agent_type == t("triage")).unwrap();
    assert!(triage.desired > 1 && triage.applied, "{:?}", triage.reasons);
}

#[tokio::test]
async fn refused_demand_is_load_and_its_severity_passes_the_cost_gate_in_an_emergency() {
    let w = world();
    w.spend(1200.0, true).await;
    for (name, severity) in [("detection", Severity::Critical), ("diagnosis", Severity::Low)] {
        for (i, r) in ["us-east-1", "us-west-2"].iter().enumerate() {
            // Replicas report little (a leak, ejections, or the wrong region's room).
            w.beat(&t(name), &format!("{name}-{i}"), r, 2.0, true).await;
        }
        for k in 0..6 {
            w.ledger
                .refused(&t(name), severity, Some(&format!("{name}-incident-{k}")), w.clock.now())
                .await
                .unwrap();
        }
    }
    let report = w.scaler.tick(w.clock.now()).await.unwrap();
    let of = |name: &str| report.evaluations.iter().find(|e| e.agent_type == t(name)).unwrap().clone();
    let critical = of("detection");
    assert_eq!(critical.severity, Severity::Critical);
    assert!(critical.desired > critical.in_force, "refused critical work scales up: {:?}", critical.reasons);
    assert!(
        critical.reasons.iter().any(|r| r.contains("refused for lack of room")),
        "{:?}",
        critical.reasons
    );
    let low = of("diagnosis");
    assert_eq!(low.severity, Severity::Low);
    assert_eq!(low.desired, low.in_force, "low-severity demand may not: {:?}", low.reasons);
    assert!(low.reasons.iter().any(|r| r.contains("emergency cost mode")), "{:?}", low.reasons);
    let events = w.fleet.events(&t("diagnosis"), 5).await.unwrap();
    assert_eq!(events[0].kind, EventKind::ScaleUpRefused);
}

#[tokio::test]
async fn an_alarms_severity_counts_when_it_is_more_severe_and_an_operators_as_given() {
    let w = world();
    w.spend(150.0, false).await;
    w.beat(&detection(), "a", "us-east-1", 19.0, true).await;
    w.beat(&detection(), "b", "us-west-2", 19.0, true).await;
    let now = w.clock.now();
    let mut dry = ScalingRequest::tick(detection());
    dry.effect = Effect::DryRun;
    let plain = w.scaler.evaluate(&dry, now).await.unwrap();
    assert_eq!((plain.severity, plain.desired), (Severity::Low, 2), "no demand: low, over its $100/h");
    let mut alarm = ScalingRequest::alarm(detection(), now, Some(Severity::High));
    alarm.effect = Effect::DryRun;
    let e = w.scaler.evaluate(&alarm, now).await.unwrap();
    assert_eq!(e.severity, Severity::High);
    assert!(e.desired > 2, "{:?}", e.reasons);
    let operator = w
        .scaler
        .evaluate(&ScalingRequest::operator(detection(), Some(Severity::Medium), Effect::DryRun), now)
        .await
        .unwrap();
    assert_eq!(operator.severity, Severity::Medium);
}

#[tokio::test]
async fn silent_replicas_mark_their_region_within_three_ticks_and_it_recovers_after_the_hold_down() {
    let w = world();
    let east = region("us-east-1");
    let beat_all = |skip_east: bool| {
        let w = &w;
        async move {
            for (i, r) in Region::DEFAULTS.iter().enumerate() {
                if !(skip_east && *r == "us-east-1") {
                    w.beat(&detection(), &format!("d{i}"), r, 10.0, true).await;
                }
            }
        }
    };
    beat_all(false).await;
    let first = w.scaler.tick(w.clock.now()).await.unwrap();
    assert!(first.region_changes.is_empty());
    assert_eq!(first.evaluations[0].desired_by_region["us-east-1"], 1);

    let mut marked_at = None;
    for tick in 1..=3 {
        for _ in 0..2 {
            w.clock.advance(Duration::seconds(30));
            beat_all(true).await;
        }
        let report = w.scaler.tick(w.clock.now()).await.unwrap();
        if let Some(change) = report.region_changes.first() {
            assert_eq!((&change.region, change.healthy, change.source), (&east, false, MarkSource::Silence));
            assert!(change.reason.contains("detection"), "{change:?}");
            let d = &report.evaluations[0];
            assert_eq!(d.desired_by_region.values().sum::<u32>(), d.desired + 1, "one probe on top");
            assert_eq!(d.desired_by_region["us-east-1"], 1, "the probe: {:?}", d.desired_by_region);
            marked_at = Some(tick);
            break;
        }
    }
    assert!(marked_at.is_some(), "marked within three ticks");
    let marks = w.fleet.region_marks(std::slice::from_ref(&east)).await.unwrap();
    let (mark, _) = marks[0].1.clone().unwrap();
    assert_eq!((mark.healthy, mark.source), (false, MarkSource::Silence));
    assert_eq!(w.fleet.region_events(&east, 5).await.unwrap().len(), 1, "an event for the status");

    // Back: the probe reports; healthy again only after five minutes of reports.
    let mut cleared_after = None;
    for minute in 1..=8 {
        for _ in 0..2 {
            w.clock.advance(Duration::seconds(30));
            beat_all(false).await;
        }
        let report = w.scaler.tick(w.clock.now()).await.unwrap();
        if report.region_changes.iter().any(|c| c.healthy) {
            cleared_after = Some(minute);
            break;
        }
    }
    assert_eq!(cleared_after, Some(6), "first seen well at minute 1, cleared five minutes later");
    assert!(w.fleet.region_marks(std::slice::from_ref(&east)).await.unwrap()[0].1.is_none());
    assert_eq!(w.fleet.region_events(&east, 5).await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_operator_mark_overrides_the_scaler_either_way() {
    let w = world();
    let east = region("us-east-1");
    w.fleet
        .set_region_health(
            &east,
            &RegionHealth::operator(true, 1.0, Some("maintenance".into()), w.clock.now()),
        )
        .await
        .unwrap();
    for (i, r) in Region::DEFAULTS.iter().enumerate() {
        w.beat(&detection(), &format!("d{i}"), r, 10.0, true).await;
    }
    w.scaler.tick(w.clock.now()).await.unwrap();
    for _ in 0..4 {
        w.clock.advance(Duration::seconds(60));
        for (i, r) in Region::DEFAULTS.iter().enumerate().skip(1) {
            w.beat(&detection(), &format!("d{i}"), r, 10.0, true).await;
        }
        let report = w.scaler.tick(w.clock.now()).await.unwrap();
        assert!(report.region_changes.is_empty(), "silent, but an operator said healthy");
    }
    let marks = w.fleet.region_marks(std::slice::from_ref(&east)).await.unwrap();
    assert_eq!(marks[0].1.as_ref().unwrap().0.source, MarkSource::Operator);
}

#[tokio::test]
async fn dry_runs_write_nothing() {
    let w = world();
    w.beat(&detection(), "a", "us-east-1", 19.0, true).await;
    let e = w
        .scaler
        .evaluate(&ScalingRequest::operator(detection(), None, Effect::DryRun), w.clock.now())
        .await
        .unwrap();
    assert!(!e.applied && e.dry_run && e.actions_taken.is_empty());
    assert_eq!(w.fleet.scaling_state(&detection()).await.unwrap().1, 0);
}

#[tokio::test]
async fn missing_heartbeats_are_failovers_and_replacements_go_where_they_are_due() {
    let w = world();
    for (id, r) in [("a", "us-east-1"), ("b", "us-west-2"), ("c", "eu-west-1"), ("d", "ap-southeast-1")] {
        w.beat(&detection(), id, r, 10.0, true).await;
    }
    let first = w.scaler.evaluate(&ScalingRequest::tick(detection()), w.clock.now()).await.unwrap();
    assert_eq!(first.current, 4);
    w.clock.advance(Duration::seconds(60));
    for (id, r) in [("a", "us-east-1"), ("b", "us-west-2"), ("c", "eu-west-1")] {
        w.beat(&detection(), id, r, 10.0, true).await;
    }
    w.clock.advance(Duration::seconds(31));
    let second = w.scaler.evaluate(&ScalingRequest::tick(detection()), w.clock.now()).await.unwrap();
    assert_eq!(second.failovers.len(), 1, "{:?}", second.failovers);
    assert_eq!(second.failovers[0].replica_id, "d");
    assert_eq!(second.desired_by_region["ap-southeast-1"], 1, "the replacement is due in its region");
}

#[tokio::test]
async fn unknown_types_are_an_error_not_a_decision() {
    let w = world();
    let err = w.scaler.evaluate(&ScalingRequest::tick(t("triage")), w.clock.now()).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("triage"));
}

/// Lambda agents' figures as CloudWatch and the Lambda API would give them, per region.
#[derive(Debug, Default)]
struct Figures {
    by_region: Mutex<BTreeMap<Region, LambdaFigures>>,
    calls: Mutex<Vec<(Region, Vec<String>)>>,
}

#[async_trait]
impl AgentMetrics for Figures {
    async fn lambda_figures(
        &self,
        region: &Region,
        functions: &[String],
        qualifier: &str,
        _window: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<BTreeMap<String, LambdaFigures>, AdapterError> {
        assert_eq!(qualifier, "live");
        self.calls.lock().unwrap().push((region.clone(), functions.to_vec()));
        let f = self.by_region.lock().unwrap().get(region).copied().unwrap_or_default();
        Ok(functions.iter().map(|name| (name.clone(), f)).collect())
    }
}

fn lambda_world(figures: Arc<Figures>) -> World {
    let agents = LambdaAgents {
        function_pattern: "{agent_type}-agent".into(),
        qualifier: "live".into(),
        concurrency_per_replica: 1,
    };
    world_with(SignalSources {
        default: Signal::Cloudwatch,
        lambda: Some(LambdaSource { agents, metrics: figures }),
    })
}

#[tokio::test]
async fn lambda_agents_are_live_by_allocated_concurrency_and_read_once_per_region_per_tick() {
    let figures = Arc::new(Figures::default());
    for r in Region::DEFAULTS {
        let f = LambdaFigures {
            allocated: 2,
            concurrent_max: 2.0,
            invocations: 100.0,
            ..LambdaFigures::default()
        };
        figures.by_region.lock().unwrap().insert(region(r), f);
    }
    let w = lambda_world(figures.clone());
    let report = w.scaler.tick(w.clock.now()).await.unwrap();
    assert_eq!(figures.calls.lock().unwrap().len(), 4, "one call per region for all five types");
    assert_eq!(figures.calls.lock().unwrap()[0].1.len(), 5);
    let d = &report.evaluations[0];
    assert_eq!((d.signal, d.current), (Signal::Cloudwatch, 8));
    assert!(d.desired > 8, "every provisioned environment busy: {:?}", d.reasons);
}

#[tokio::test]
async fn lambda_agents_failing_in_a_region_mark_it_for_errors() {
    let figures = Arc::new(Figures::default());
    for r in Region::DEFAULTS {
        let failing = r == "eu-west-1";
        let f = LambdaFigures {
            allocated: 1,
            concurrent_max: 0.5,
            invocations: 40.0,
            errors: if failing { 30.0 } else { 0.0 },
            throttles: 0.0,
        };
        figures.by_region.lock().unwrap().insert(region(r), f);
    }
    let w = lambda_world(figures);
    let report = w.scaler.tick(w.clock.now()).await.unwrap();
    let [change] = report.region_changes.as_slice() else { panic!("{:?}", report.region_changes) };
    assert_eq!((change.region.as_str(), change.source), ("eu-west-1", MarkSource::Errors));
    assert!(report.evaluations.iter().all(|e| e.desired_by_region["eu-west-1"] == 0), "its share moved");
}

/// Records what was applied, and holds the first application until released.
#[derive(Debug)]
struct GatedActuator {
    applied: Mutex<Vec<shared::domain::PerRegion<u32>>>,
    first_held: tokio::sync::Semaphore,
    calls: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl shared::scaling::actuator::Actuator for GatedActuator {
    async fn apply(
        &self,
        _agent_type: &AgentType,
        desired: &shared::domain::PerRegion<u32>,
    ) -> Result<Vec<String>, AdapterError> {
        if self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            let _ = self.first_held.acquire().await;
        }
        self.applied.lock().unwrap().push(desired.clone());
        Ok(vec![format!("{desired:?}")])
    }
}

/// Issue 17, item 7: two evaluations applied their results out of order, leaving the older
/// decision in force (state says B, provisioned concurrency is A).
#[tokio::test]
async fn racing_evaluations_leave_the_newest_decision_in_force() {
    let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let fleet = FleetState::new(store.clone());
    let actuator = Arc::new(GatedActuator {
        applied: Mutex::default(),
        first_held: tokio::sync::Semaphore::new(0),
        calls: std::sync::atomic::AtomicUsize::new(0),
    });
    let scaler = Scaler::new(fleet.clone(), Region::defaults(), CostGate::default(), actuator.clone());
    let w = World {
        scaler: scaler.clone(),
        fleet: fleet.clone(),
        store,
        clock: clock.clone(),
        ledger: DemandLedger::new(fleet.store()),
    };
    for (id, r) in [("a", "us-east-1"), ("b", "us-west-2")] {
        w.beat(&detection(), id, r, 19.0, true).await;
    }
    // A decides 3 and stalls in the actuator; B (more load since) decides 6 and applies first.
    let a = tokio::spawn({
        let scaler = scaler.clone();
        let now = clock.now();
        async move { scaler.evaluate(&ScalingRequest::tick(detection()), now).await }
    });
    while actuator.calls.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    clock.advance(Duration::seconds(60));
    for (id, r) in [("a", "us-east-1"), ("b", "us-west-2"), ("c", "eu-west-1")] {
        w.beat(&detection(), id, r, 19.0, true).await;
    }
    let b = scaler.evaluate(&ScalingRequest::tick(detection()), clock.now()).await.unwrap();
    actuator.first_held.add_permits(1);
    let a = a.await.unwrap().unwrap();
    assert!(b.desired > a.desired, "A {} then B {}", a.desired, b.desired);
    let applied = actuator.applied.lock().unwrap().clone();
    let (state, version) = fleet.scaling_state(&detection()).await.unwrap();
    assert_eq!(applied.last(), Some(&state.desired), "the newest decision is in force: {applied:?}");
    assert_eq!(state.desired_total, b.desired);
    assert_eq!(state.applied_version, Some(version));
}

/// The in-memory store, counting the reads made only of recorded hours (a forecast's history).
#[derive(Debug)]
struct CountingHistoryReads {
    inner: MemoryStore,
    reads: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl Store for CountingHistoryReads {
    async fn get(&self, key: &Key) -> Result<Option<Item>, shared::store::StoreError> {
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, shared::store::StoreError> {
        if keys.iter().all(|k| k.pk.ends_with("#RECORD")) {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.inner.get_many(keys).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), shared::store::StoreError> {
        self.inner.put(item, condition).await
    }
    async fn update(
        &self,
        key: &Key,
        update: shared::store::Update,
    ) -> Result<Item, shared::store::StoreError> {
        self.inner.update(key, update).await
    }
    async fn query(
        &self,
        query: &shared::store::Query,
    ) -> Result<shared::store::Page, shared::store::StoreError> {
        self.inner.query(query).await
    }
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), shared::store::StoreError> {
        self.inner.delete(key, condition).await
    }
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), shared::store::StoreError> {
        self.inner.batch_put(items).await
    }
}

/// A tick reaching a new hour reads every type's recorded history together (a few types to a
/// request, not a request each), makes the same forecast a type's own read would, and the next
/// tick of that hour reads none.
#[tokio::test]
async fn the_ticks_forecasts_read_every_types_history_together_once_an_hour() {
    use shared::scaling::recorded::{DemandRecorder, HourRecord, MinuteRecord};
    let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
    let store = Arc::new(CountingHistoryReads { inner: MemoryStore::new(clock.clone()), reads: 0.into() });
    let fleet = FleetState::new(store.clone());
    let scaler =
        Scaler::new(fleet.clone(), Region::defaults(), CostGate::default(), Arc::new(RecordActuator));
    // Twenty operator-defined types beside the five builtins.
    for i in 0..20 {
        let name = t(&format!("custom-{i:02}"));
        fleet.put_policy(&name, ScalingPolicy::default_for(&name), 0).await.unwrap();
    }
    let now = clock.now();
    let policy = ScalingPolicy::default_for(&detection());
    let lead = Duration::seconds(i64::try_from(policy.predictive().lead_seconds).unwrap());
    let target = shared::scaling::forecast::hour_of(now + lead);
    // Detection's history: every hour its forecast reads, 6 incidents a minute, 2 busy.
    let mut minute =
        MinuteRecord { busy: 2.0, utilization: 0.5, live: 3, desired: 3, ..MinuteRecord::default() };
    minute.demand.served.high = 6.0;
    let history: Vec<HourRecord> = shared::scaling::forecast::hours_read(target, now)
        .into_iter()
        .map(|hour| HourRecord::steady(hour, minute))
        .collect();
    let recorder = DemandRecorder::new(store.clone());
    recorder.put_hours(&detection(), &history).await.unwrap();
    let alone = recorder.fresh_forecast(&detection(), &policy, target, now).await.unwrap();
    let forecast = alone.forecast.expect("four weeks recorded make a forecast");
    store.reads.store(0, std::sync::atomic::Ordering::SeqCst);

    let report = scaler.tick(now).await.unwrap();
    assert_eq!(report.evaluations.len(), 25);
    let reads = store.reads.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=5).contains(&reads), "25 types' histories in {reads} requests (one each would be 25)");
    let (state, _) = fleet.scaling_state(&detection()).await.unwrap();
    let prediction = state.prediction.expect("a prediction");
    assert_eq!(prediction.made_for, Some(target));
    assert!(prediction.forecasts.contains(&forecast), "{:?} has {forecast:?}", prediction.forecasts);
    assert_eq!(prediction.service_minutes, alone.service_minutes);
    for i in [0, 19] {
        let (state, _) = fleet.scaling_state(&t(&format!("custom-{i:02}"))).await.unwrap();
        assert_eq!(state.prediction.and_then(|p| p.made_for), Some(target), "custom-{i:02} was forecast too");
    }

    store.reads.store(0, std::sync::atomic::Ordering::SeqCst);
    clock.advance(Duration::minutes(1));
    scaler.tick(clock.now()).await.unwrap();
    assert_eq!(store.reads.load(std::sync::atomic::Ordering::SeqCst), 0, "the same hour is not read again");
}
