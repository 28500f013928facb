//! The scaler handler with real alarm fixtures on the in-memory store: duplicates and late alarms
//! change nothing, events it cannot use are reported, not retried.

#![allow(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

use std::sync::Arc;

use chrono::DateTime;
use lambda_runtime::{Context, LambdaEvent};
use scaler::{ScalerDeps, handle};
use serde_json::Value;
use shared::clock::ManualClock;
use shared::domain::{AgentType, Region};
use shared::scaling::FleetState;
use shared::scaling::actuator::RecordActuator;
use shared::scaling::cost_gate::CostGate;
use shared::scaling::service::Scaler;
use shared::store::MemoryStore;

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn deps() -> (ScalerDeps, FleetState) {
    let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let fleet = FleetState::new(store.clone());
    let scaler =
        Scaler::new(fleet.clone(), Region::defaults(), CostGate::default(), Arc::new(RecordActuator));
    (ScalerDeps { scaler, store, clock }, fleet)
}

fn event(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, Context::default())
}

#[tokio::test]
async fn one_alarm_delivered_twice_acts_once() {
    let (deps, fleet) = deps();
    let alarm = fixture("cloudwatch-alarm-direct-high.json");
    let first = handle(&deps, event(alarm.clone())).await.unwrap();
    assert_eq!(first.status, "applied", "{first:?}");
    let evaluation = first.evaluation.clone().unwrap();
    assert_eq!((evaluation["current"].as_u64(), evaluation["desired"].as_u64()), (Some(2), Some(3)));

    let second = handle(&deps, event(alarm)).await.unwrap();
    assert_eq!(second.status, "replayed");
    assert_eq!(second.evaluation, first.evaluation, "the saved result, not a new decision");
    let (state, version) = fleet.scaling_state(&AgentType::parse("detection").unwrap()).await.unwrap();
    assert_eq!((state.desired_total, version), (3, 1));
}

#[tokio::test]
async fn an_older_alarm_after_a_newer_one_changes_nothing() {
    let (deps, fleet) = deps();
    let newer = fixture("cloudwatch-alarm-direct-high.json");
    let mut older = newer.clone();
    older["alarmData"]["state"]["timestamp"] = "2026-11-26T10:05:02.490+0000".into();
    assert_eq!(handle(&deps, event(newer)).await.unwrap().status, "applied");
    let late = handle(&deps, event(older)).await.unwrap();
    assert_eq!(late.status, "unchanged", "{late:?}");
    assert_eq!(fleet.scaling_state(&AgentType::parse("detection").unwrap()).await.unwrap().1, 1);
}

#[tokio::test]
async fn eventbridge_state_changes_scale_down_after_the_window() {
    let (deps, _) = deps();
    let low = fixture("eventbridge-alarm-state-change-low.json");
    let outcome = handle(&deps, event(low)).await.unwrap();
    assert_eq!(outcome.status, "applied");
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
            let mut custom = fixture("cloudwatch-alarm-direct-high.json");
            custom["alarmData"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["AgentType"] =
                "triage".into();
            custom
        },
    ] {
        let outcome = handle(&deps, event(payload.clone())).await.unwrap();
        assert_eq!(outcome.status, "ignored", "{payload}");
        assert!(outcome.reason.is_some());
    }
}
