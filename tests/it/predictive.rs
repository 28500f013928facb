//! Predictive scale-out through the deployed path: the scaler's tick (a scheduled event into the
//! real handler) on the DynamoDB-API server reads two recorded weeks of a type's demand, scales
//! ahead of the morning ramp, records what it saw and the forecast it made, and falls back to
//! reactive scaling once the morning turns out to be a holiday.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use integration_tests::{dynamodb_endpoint, fresh_dynamo_store};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use shared::domain::{AgentType, Region, ReplicaId};
use shared::scaling::actuator::RecordActuator;
use shared::scaling::cost_gate::CostGate;
use shared::scaling::prediction::PredictionStatus;
use shared::scaling::recorded::{DemandRecorder, MinuteRecord};
use shared::scaling::service::Scaler;
use shared::scaling::{FleetState, ReplicaHeartbeat};
use shared::store::Store;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn tick(id: &str, time: DateTime<Utc>) -> LambdaEvent<Value> {
    let event = json!({
        "version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": time.to_rfc3339(), "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/commander-tick"], "detail": {}
    });
    LambdaEvent::new(event, Context::default())
}

/// Records `minutes` minutes of `hour` at `served` incidents a minute, each two minutes' work.
async fn record_hour(
    recorder: &DemandRecorder,
    t: &AgentType,
    hour: DateTime<Utc>,
    minutes: i64,
    served: f64,
) {
    for m in 0..minutes {
        let mut seen = MinuteRecord { busy: served * 2.0, live: 2, desired: 2, ..MinuteRecord::default() };
        seen.demand.served.high = served;
        recorder.record_minute(t, hour + Duration::minutes(m), seen).await.unwrap();
    }
}

#[tokio::test]
async fn the_tick_scales_ahead_of_the_recorded_morning_ramp_and_stops_when_the_day_breaks_the_pattern() {
    let Some(endpoint) = dynamodb_endpoint("predictive scale-out") else { return };
    // Monday 08:50: the ramp starts at 09:00.
    let clock = Arc::new(ManualClock::new(at("2027-01-18T08:50:00Z")));
    let dynamo = fresh_dynamo_store(&endpoint, clock.clone()).await;
    let store: Arc<dyn Store> = Arc::new(dynamo);
    let recorder = DemandRecorder::new(Arc::clone(&store));
    let detection = AgentType::parse("detection").unwrap();
    // Two past Mondays: 35 incidents a minute from 09:00, one a minute before; this morning so far
    // like them. Only the hours the forecast reads are written (30 of their minutes: enough).
    for week in 1..=2 {
        let monday = at("2027-01-18T00:00:00Z") - Duration::weeks(week);
        record_hour(&recorder, &detection, monday + Duration::hours(9), 30, 35.0).await;
        for h in 5..8 {
            record_hour(&recorder, &detection, monday + Duration::hours(h), 30, 1.0).await;
        }
    }
    for h in 5..8 {
        record_hour(&recorder, &detection, at("2027-01-18T00:00:00Z") + Duration::hours(h), 30, 1.0).await;
    }
    let fleet = FleetState::new(Arc::clone(&store));
    let beat = |id: &str| ReplicaHeartbeat {
        agent_type: detection.clone(),
        replica_id: ReplicaId::parse(id).unwrap(),
        region: Region::parse("us-east-1").unwrap(),
        load: 2.0,
        capacity: 20,
        healthy: true,
        performance_score: 0.9,
        draining: false,
    };
    for id in ["a", "b"] {
        fleet.record_heartbeat(&beat(id).at(clock.now()), Duration::minutes(30)).await.unwrap();
    }
    let scaler =
        Scaler::new(fleet.clone(), Region::defaults(), CostGate::default(), Arc::new(RecordActuator));
    let deps = scaler::ScalerDeps {
        scaler,
        store: Arc::clone(&store),
        clock: clock.clone(),
        metrics: shared::telemetry::EmfSink::off(),
        leadership: None,
    };

    // Two replicas at 10 % would hold at the minimum; the forecast of 35 a minute at 09:00, two
    // minutes each, is 70 in progress: 5 replicas of 20 at 70 %.
    scaler::handle(&deps, tick("tick-0850", clock.now())).await.unwrap();
    let (state, _) = fleet.scaling_state(&detection).await.unwrap();
    let prediction = state.prediction.clone().unwrap();
    assert_eq!(prediction.status, PredictionStatus::Active, "{prediction:?}");
    assert_eq!((prediction.floor, state.desired_total), (Some(5), 5), "{prediction:?}");
    assert!(
        state.last_evaluation.as_ref().unwrap().reasons.iter().any(|r| r.contains("predictive scale-out")),
        "{state:?}"
    );
    // The tick recorded the minute before and kept its forecast of 09:00 to grade it.
    let nine =
        recorder.hours(&detection, &[at("2027-01-18T08:00:00Z"), at("2027-01-18T09:00:00Z")]).await.unwrap();
    assert_eq!(nine.len(), 2, "{nine:?}");
    assert_eq!(nine[0].minutes[&49].live, 2);
    assert_eq!(nine[0].minutes[&49].desired, 5);
    assert!((nine[1].forecast.unwrap() - 35.0).abs() < 1e-9, "{nine:?}");
    // A type with no history scales reactively and says why.
    let (diagnosis, _) = fleet.scaling_state(&AgentType::parse("diagnosis").unwrap()).await.unwrap();
    let waiting = diagnosis.prediction.unwrap();
    assert_eq!(waiting.status, PredictionStatus::TooLittleHistory, "{waiting:?}");
    assert!(waiting.reason.contains("0 of the 2 weeks"), "{}", waiting.reason);

    // 09:20 of a holiday: twenty minutes at 2 a minute against 35 forecast. The guard turns the
    // floor off; the replicas' low load is left to reactive scaling.
    clock.set(at("2027-01-18T09:20:00Z"));
    record_hour(&recorder, &detection, at("2027-01-18T09:00:00Z"), 20, 2.0).await;
    for id in ["a", "b", "c", "d", "e"] {
        fleet.record_heartbeat(&beat(id).at(clock.now()), Duration::minutes(30)).await.unwrap();
    }
    scaler::handle(&deps, tick("tick-0920", clock.now())).await.unwrap();
    let (after, _) = fleet.scaling_state(&detection).await.unwrap();
    let guarded = after.prediction.unwrap();
    assert_eq!(guarded.status, PredictionStatus::ErrorTooHigh, "{guarded:?}");
    assert!(guarded.error.unwrap() > 0.9, "{guarded:?}");
    assert!(guarded.reason.contains("reactive scaling only"), "{}", guarded.reason);
    assert!(after.desired_total <= 5, "the guard never adds: {}", after.desired_total);
}
