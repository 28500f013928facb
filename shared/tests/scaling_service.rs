//! The scaling evaluation end to end on the in-memory store: decisions, the cost gate, failover,
//! regions, duplicate and late alarms, dry runs.

#![allow(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use shared::clock::{Clock, ManualClock};
use shared::domain::{AgentType, Region, ReplicaId, Severity};
use shared::scaling::actuator::RecordActuator;
use shared::scaling::cost_gate::CostGate;
use shared::scaling::records::{EventKind, RegionHealth};
use shared::scaling::service::{Scaler, ScalingRequest};
use shared::scaling::{FleetState, ReplicaHeartbeat};
use shared::store::{Condition, Item, Key, MemoryStore, Store};

struct World {
    scaler: Scaler,
    fleet: FleetState,
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
}

fn world() -> World {
    let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let fleet = FleetState::new(store.clone());
    let scaler =
        Scaler::new(fleet.clone(), Region::defaults(), CostGate::default(), Arc::new(RecordActuator));
    World { scaler, fleet, store, clock }
}

fn detection() -> AgentType {
    AgentType::parse("detection").unwrap()
}

fn alarm(utilization: f64, at: DateTime<Utc>) -> ScalingRequest {
    ScalingRequest {
        agent_type: detection(),
        utilization: Some(utilization),
        severity: Severity::High,
        dry_run: false,
        alarm_at: Some(at),
    }
}

impl World {
    async fn beat(&self, id: &str, region: &str, load: f64, healthy: bool) {
        let beat = ReplicaHeartbeat {
            agent_type: detection(),
            replica_id: ReplicaId::parse(id).unwrap(),
            region: Region::parse(region).unwrap(),
            load,
            capacity: 20,
            healthy,
            performance_score: 0.9,
        };
        self.fleet.record_heartbeat(&beat.at(self.clock.now()), Duration::seconds(90)).await.unwrap();
    }
}

#[tokio::test]
async fn an_alarm_scales_and_its_repeats_change_nothing() {
    let w = world();
    let t0 = w.clock.now();
    let first = w.scaler.evaluate(&alarm(0.95, t0), t0).await.unwrap();
    assert_eq!((first.current, first.desired), (2, 3), "{:?}", first.reasons);
    assert!(first.applied);
    assert_eq!(first.desired_by_region.values().sum::<u32>(), 3);
    assert!((first.cost_impact - 2.0).abs() < 1e-9, "one detection replica costs $2/h");

    let again = w.scaler.evaluate(&alarm(0.95, t0), t0 + Duration::seconds(5)).await.unwrap();
    assert_eq!((again.current, again.desired, again.applied), (3, 3, false), "{:?}", again.reasons);
    let older =
        w.scaler.evaluate(&alarm(0.95, t0 - Duration::seconds(60)), t0 + Duration::seconds(6)).await.unwrap();
    assert_eq!((older.desired, older.applied), (3, false));

    let (state, version) = w.fleet.scaling_state(&detection()).await.unwrap();
    assert_eq!((state.desired_total, version), (3, 1), "one action for three deliveries");
    let events = w.fleet.events(&detection(), 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::ScaleUp);
    assert!(events[0].at + Duration::days(29) > t0, "kept with a TTL");
}

#[tokio::test]
async fn dry_runs_write_nothing() {
    let w = world();
    let mut request = alarm(0.95, w.clock.now());
    request.dry_run = true;
    let e = w.scaler.evaluate(&request, w.clock.now()).await.unwrap();
    assert_eq!((e.desired, e.applied, e.dry_run), (3, false, true));
    assert!(e.actions_taken.is_empty());
    assert_eq!(w.fleet.scaling_state(&detection()).await.unwrap().1, 0);
}

#[tokio::test]
async fn the_cost_gate_refuses_and_says_why() {
    let w = world();
    let control = Item::new(
        Key::new("CONTROL", "COST"),
        serde_json::json!({"current_hourly_spend": 1200.0, "emergency_mode": false})
            .as_object()
            .unwrap()
            .clone(),
    );
    w.store.put(control, Condition::Always).await.unwrap();
    let e = w.scaler.evaluate(&alarm(0.95, w.clock.now()), w.clock.now()).await.unwrap();
    assert_eq!(e.desired, 2, "held: {:?}", e.reasons);
    assert!(e.reasons.iter().any(|r| r.contains("emergency cost mode")), "{:?}", e.reasons);
    let events = w.fleet.events(&detection(), 10).await.unwrap();
    assert_eq!(events[0].kind, EventKind::ScaleUpRefused);
    assert_eq!(events[0].cost_impact_per_hour, Some(2.0));

    let mut critical = alarm(0.95, w.clock.now() + Duration::seconds(1));
    critical.severity = Severity::Critical;
    let e = w.scaler.evaluate(&critical, w.clock.now()).await.unwrap();
    assert_eq!(e.desired, 3, "critical work may scale up in an emergency");
}

#[tokio::test]
async fn missing_heartbeats_are_failovers_and_regions_share_the_load() {
    let w = world();
    for (id, region) in [("a", "us-east-1"), ("b", "us-west-2"), ("c", "eu-west-1"), ("d", "ap-southeast-1")]
    {
        w.beat(id, region, 14.0, true).await;
    }
    let quiet = ScalingRequest { utilization: None, alarm_at: None, ..alarm(0.0, w.clock.now()) };
    let first = w.scaler.evaluate(&quiet, w.clock.now()).await.unwrap();
    assert_eq!(first.current, 4, "before any decision the live replicas are in force");
    assert!(first.failovers.is_empty());

    w.clock.advance(Duration::seconds(60));
    for (id, region) in [("a", "us-east-1"), ("b", "us-west-2"), ("c", "eu-west-1")] {
        w.beat(id, region, 14.0, true).await;
    }
    w.clock.advance(Duration::seconds(31));
    let second = w.scaler.evaluate(&quiet, w.clock.now()).await.unwrap();
    assert_eq!(second.failovers.len(), 1, "{:?}", second.failovers);
    assert_eq!(second.failovers[0].replica_id, "d");
    assert_eq!(second.desired_by_region["ap-southeast-1"], 1, "the replacement is due in its region");
    let events = w.fleet.events(&detection(), 10).await.unwrap();
    assert!(events.iter().any(|e| e.kind == EventKind::Failover && e.replica_id.as_deref() == Some("d")));

    let down = RegionHealth {
        healthy: false,
        weight: 1.0,
        reason: Some("outage".into()),
        updated_at: w.clock.now(),
    };
    w.fleet.set_region_health(&Region::parse("us-east-1").unwrap(), &down).await.unwrap();
    let third = w.scaler.evaluate(&quiet, w.clock.now()).await.unwrap();
    assert_eq!(third.desired_by_region["us-east-1"], 0, "an unhealthy region gives its share away");
    assert_eq!(third.desired_by_region.values().sum::<u32>(), third.desired);
}

#[tokio::test]
async fn unknown_types_are_an_error_not_a_decision() {
    let w = world();
    let request =
        ScalingRequest { agent_type: AgentType::parse("triage").unwrap(), ..alarm(0.9, w.clock.now()) };
    let err = w.scaler.evaluate(&request, w.clock.now()).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("triage"));
}
