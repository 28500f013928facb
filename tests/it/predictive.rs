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
use shared::scaling::prediction::{PredictionStatus, floor};
use shared::scaling::recorded::{DemandRecorder, HourRecord, MinuteRecord};
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

/// Records `minutes` minutes of `hour` at `served` incidents a minute, each two minutes' work, as
/// the tick writes a finished hour.
async fn record_hour(
    recorder: &DemandRecorder,
    t: &AgentType,
    hour: DateTime<Utc>,
    minutes: u32,
    served: f64,
) {
    let mut seen = MinuteRecord { busy: served * 2.0, live: 2, desired: 2, ..MinuteRecord::default() };
    seen.demand.served.high = served;
    let record = HourRecord { hour, minutes: (0..minutes).map(|m| (m, seen)).collect(), forecast: None };
    recorder.put_hours(t, &[record]).await.unwrap();
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
    // The tick noted the minute before in the state, and keeps its forecast of 09:00 to grade it.
    let noted = &state.recording["2027-01-18T08:49"];
    assert_eq!((noted[14], noted[15]), (2.0, 5.0), "live and desired: {noted:?}");
    assert!(
        prediction
            .forecasts
            .iter()
            .any(|f| f.hour == at("2027-01-18T09:00:00Z") && (f.per_minute - 35.0).abs() < 1e-9)
    );
    // A type with no history scales reactively and says why.
    let (diagnosis, _) = fleet.scaling_state(&AgentType::parse("diagnosis").unwrap()).await.unwrap();
    let waiting = diagnosis.prediction.unwrap();
    assert_eq!(waiting.status, PredictionStatus::TooLittleHistory, "{waiting:?}");
    assert!(waiting.reason.contains("0 of the 2 weeks"), "{}", waiting.reason);

    // A holiday: from 09:00 two incidents a minute are served instead of 35. The tick runs every
    // minute; once a quarter of the hour is noted, the guard turns the floor off.
    let ledger = shared::scaling::demand::DemandLedger::new(Arc::clone(&store));
    let mut statuses = Vec::new();
    for minute in 1..=30 {
        let now = at("2027-01-18T08:50:00Z") + Duration::minutes(minute);
        clock.set(now);
        for _ in 0..2 {
            ledger
                .served(&detection, shared::domain::Severity::High, None, now - Duration::minutes(1))
                .await
                .unwrap();
        }
        for id in ["a", "b"] {
            fleet.record_heartbeat(&beat(id).at(now), Duration::minutes(30)).await.unwrap();
        }
        scaler::handle(&deps, tick(&format!("tick-{minute}"), now)).await.unwrap();
        let (state, _) = fleet.scaling_state(&detection).await.unwrap();
        statuses.push((now, state.prediction.unwrap().status));
    }
    let turned_off = statuses.iter().find(|(_, s)| *s == PredictionStatus::ErrorTooHigh).map(|(at, _)| *at);
    assert_eq!(turned_off, Some(at("2027-01-18T09:16:00Z")), "{statuses:?}");
    assert!(
        statuses
            .iter()
            .filter(|(at, _)| *at >= turned_off.unwrap())
            .all(|(_, s)| *s == PredictionStatus::ErrorTooHigh)
    );
    let (after, _) = fleet.scaling_state(&detection).await.unwrap();
    let guarded = after.prediction.clone().unwrap();
    assert!(guarded.error.unwrap() > 0.9, "{guarded:?}");
    assert!(guarded.reason.contains("reactive scaling only"), "{}", guarded.reason);
    assert_eq!(floor(&guarded), None);
    // The first tick after 09:00 wrote 08:00's hour (with its noted minutes), and the state forgot it.
    let eight = recorder.hours(&detection, &[at("2027-01-18T08:00:00Z")]).await.unwrap();
    assert_eq!(eight[0].minutes[&49].desired, 5, "{eight:?}");
    assert!(after.recording.keys().all(|k| k.as_str() >= "2027-01-18T09:00"), "{:?}", after.recording.keys());
}
