//! The scaler handler with real alarm and schedule fixtures on the in-memory store: the tick
//! evaluates every type once per schedule event, alarms act only in ALARM, duplicates and late
//! alarms change nothing, events it cannot use are reported, not retried.

use std::sync::Arc;

use chrono::{DateTime, Duration};
use integration_tests::fixture;
use lambda_runtime::{Context, LambdaEvent};
use scaler::{ScalerDeps, Status, handle};
use serde_json::Value;
use shared::clock::ManualClock;
use shared::domain::{AgentType, Region, ReplicaId};
use shared::scaling::actuator::RecordActuator;
use shared::scaling::cost_gate::CostGate;
use shared::scaling::service::Scaler;
use shared::scaling::{FleetState, ReplicaHeartbeat};
use shared::store::MemoryStore;

/// A few seconds after the direct fixture's transition (2026-11-26T10:15:02.490Z).
fn fixture_time() -> DateTime<chrono::Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T10:15:05Z").unwrap().to_utc()
}

fn deps() -> (ScalerDeps, FleetState) {
    let (deps, fleet, _) = deps_with_clock();
    (deps, fleet)
}

fn deps_with_clock() -> (ScalerDeps, FleetState, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(fixture_time()));
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let fleet = FleetState::new(store.clone());
    let scaler =
        Scaler::new(fleet.clone(), Region::defaults(), CostGate::default(), Arc::new(RecordActuator));
    (
        ScalerDeps {
            scaler,
            store,
            clock: clock.clone(),
            metrics: shared::telemetry::EmfSink::off(),
            leadership: None,
        },
        fleet,
        clock,
    )
}

/// Two detection replicas at 95 % (19 of 20 incidents each).
async fn busy_detection(deps: &ScalerDeps, fleet: &FleetState) {
    for (id, region) in [("a", "us-east-1"), ("b", "us-west-2")] {
        let beat = ReplicaHeartbeat {
            agent_type: AgentType::parse("detection").unwrap(),
            replica_id: ReplicaId::parse(id).unwrap(),
            region: Region::parse(region).unwrap(),
            load: 19.0,
            capacity: 20,
            healthy: true,
            performance_score: 0.9,
            draining: false,
        };
        fleet.record_heartbeat(&beat.at(deps.clock.now()), Duration::seconds(90)).await.unwrap();
    }
}

fn event(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, Context::default())
}

#[tokio::test]
async fn one_alarm_delivered_twice_acts_once() {
    let (deps, fleet) = deps();
    busy_detection(&deps, &fleet).await;
    let alarm = fixture("cloudwatch-alarm-direct-high.json");
    let first = handle(&deps, event(alarm.clone())).await.unwrap();
    assert_eq!(first.status, Status::Applied, "{first:?}");
    let evaluation = first.evaluation.clone().unwrap();
    assert_eq!((evaluation["current"].as_u64(), evaluation["desired"].as_u64()), (Some(2), Some(3)));

    let second = handle(&deps, event(alarm)).await.unwrap();
    assert_eq!(second.status, Status::Replayed);
    assert_eq!(second.evaluation, first.evaluation, "the saved result, not a new decision");
    let (state, version) = fleet.scaling_state(&AgentType::parse("detection").unwrap()).await.unwrap();
    assert_eq!((state.desired_total, version), (3, 1));
}

#[tokio::test]
async fn an_older_alarm_after_a_newer_one_changes_nothing() {
    let (deps, fleet) = deps();
    busy_detection(&deps, &fleet).await;
    let newer = fixture("cloudwatch-alarm-direct-high.json");
    let mut older = newer.clone();
    older["alarmData"]["state"]["timestamp"] = "2026-11-26T10:14:02.490+0000".into();
    assert_eq!(handle(&deps, event(newer)).await.unwrap().status, Status::Applied);
    let late = handle(&deps, event(older)).await.unwrap();
    assert_eq!(late.status, Status::Unchanged, "{late:?}");
    assert_eq!(fleet.scaling_state(&AgentType::parse("detection").unwrap()).await.unwrap().1, 1);
}

#[tokio::test]
async fn eventbridge_state_changes_scale_down_after_the_window() {
    let (deps, _) = deps();
    let low = integration_tests::alarm_at(fixture("eventbridge-alarm-state-change-low.json"), fixture_time());
    let outcome = handle(&deps, event(low)).await.unwrap();
    assert_eq!(outcome.status, Status::Applied);
    let e = outcome.evaluation.unwrap();
    assert_eq!(e["agent_type"], "diagnosis");
    assert_eq!(e["desired"], 2, "diagnosis stays at its minimum of 2: {e}");
}

#[tokio::test]
async fn unusable_events_are_ignored_not_retried() {
    let (deps, _) = deps();
    for payload in [
        serde_json::json!({"hello": "world"}),
        serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
        {
            let mut ok = fixture("cloudwatch-alarm-direct-high.json");
            ok["alarmData"]["state"]["value"] = "OK".into();
            ok
        },
        {
            let mut custom = fixture("cloudwatch-alarm-direct-high.json");
            custom["alarmData"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["AgentType"] =
                "triage".into();
            custom
        },
    ] {
        let outcome = handle(&deps, event(payload.clone())).await.unwrap();
        assert_eq!(outcome.status, Status::Ignored, "{payload}");
        assert!(outcome.reason.is_some());
    }
}

#[tokio::test]
async fn a_scheduled_tick_evaluates_every_type_once_per_event() {
    let (deps, fleet) = deps();
    busy_detection(&deps, &fleet).await;
    let tick = fixture("eventbridge-scheduled-event.json");
    let first = handle(&deps, event(tick.clone())).await.unwrap();
    assert_eq!(first.status, Status::Ticked, "{first:?}");
    let report = first.tick.clone().unwrap();
    let evaluations = report["evaluations"].as_array().unwrap();
    assert_eq!(evaluations.len(), 5, "every builtin type");
    assert!(evaluations.iter().all(|e| e["trigger"] == "tick"));
    let detection = evaluations.iter().find(|e| e["agent_type"] == "detection").unwrap();
    assert_eq!((detection["current"].as_u64(), detection["desired"].as_u64()), (Some(2), Some(3)));

    let again = handle(&deps, event(tick.clone())).await.unwrap();
    assert_eq!(again.status, Status::Replayed, "the same schedule event acts once");
    let (_, version) = fleet.scaling_state(&AgentType::parse("detection").unwrap()).await.unwrap();
    assert_eq!(version, 1);
    let mut next = tick;
    next["id"] = "another-minute".into();
    assert_eq!(
        handle(&deps, event(next)).await.unwrap().status,
        Status::Ticked,
        "the next event evaluates again"
    );
    assert_eq!(fleet.scaling_state(&AgentType::parse("detection").unwrap()).await.unwrap().1, 2);
}

/// Issue 17, item 6: an hour-old retried Low alarm scaled down "now", and an alarm dated in the
/// future blocked every later alarm of its type.
#[tokio::test]
async fn stale_alarms_are_ignored_and_future_dated_ones_block_nothing() {
    let (deps, fleet, clock) = deps_with_clock();
    busy_detection(&deps, &fleet).await;
    let now = fixture_time();
    let hour_old =
        integration_tests::alarm_at(fixture("cloudwatch-alarm-direct-high.json"), now - Duration::hours(1));
    let stale = handle(&deps, event(hour_old)).await.unwrap();
    assert_eq!(stale.status, Status::Ignored, "{stale:?}");
    assert!(stale.reason.unwrap().contains("too long ago"));
    assert_eq!(
        fleet.scaling_state(&AgentType::parse("detection").unwrap()).await.unwrap().1,
        0,
        "nothing changed"
    );

    let future =
        integration_tests::alarm_at(fixture("cloudwatch-alarm-direct-high.json"), now + Duration::days(30));
    assert_eq!(handle(&deps, event(future)).await.unwrap().status, Status::Applied);
    let (state, _) = fleet.scaling_state(&AgentType::parse("detection").unwrap()).await.unwrap();
    assert!(
        state.last_alarm_at.unwrap() <= now + Duration::seconds(30),
        "remembered at most the clock skew ahead"
    );
    clock.advance(Duration::seconds(60));
    busy_detection(&deps, &fleet).await;
    let later = integration_tests::alarm_at(
        fixture("cloudwatch-alarm-direct-high.json"),
        now + Duration::seconds(55),
    );
    let next = handle(&deps, event(later)).await.unwrap();
    assert_eq!(next.status, Status::Applied, "a later transition still acts: {next:?}");
}
