//! `POST /scaling/replay`: yesterday's recorded demand of one type replayed under a proposed
//! policy that caps it at two replicas, beside the policy in force; and what the route refuses
//! (no such type, no records that day, a day out of range, a bad policy, a day past the budget).

use crate::common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use shared::clock::Clock;
use shared::config::Config;
use shared::domain::AgentType;
use shared::scaling::ScalingPolicy;
use shared::scaling::recorded::{DemandRecorder, HourRecord, MinuteRecord};
use shared::store::{MemoryStore, Store};

/// A day of `served` incidents a minute in business hours (09-17) and `quiet` otherwise, each
/// two minutes' work, recorded the way the tick writes its hours.
fn day_of(start: DateTime<Utc>, served: f64, quiet: f64) -> Vec<HourRecord> {
    (0..24)
        .map(|h| {
            let n = if (9..17).contains(&h) { served } else { quiet };
            let mut m = MinuteRecord { busy: n * 2.0, live: 3, desired: 3, ..MinuteRecord::default() };
            m.demand.served.medium = n;
            HourRecord::steady(start + Duration::hours(h), m)
        })
        .collect()
}

#[tokio::test]
async fn a_recorded_day_replays_under_a_proposed_policy_beside_the_one_in_force() {
    let clock = integration_tests::test_clock();
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let app = common::App {
        router: api::router(api::AppState::new(store.clone(), clock.clone(), Config::default())),
        clock: clock.clone(),
    };
    let yesterday: NaiveDate = clock.now().date_naive() - Duration::days(1);
    let start = yesterday.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let recorder = DemandRecorder::new(store.clone() as Arc<dyn Store>);
    let detection = AgentType::parse("detection").unwrap();
    recorder.put_hours(&detection, &day_of(start, 20.0, 2.0)).await.unwrap();
    // More than the route's budget of incidents: 24 x 60 x 75 = 108,000 in the whole day.
    let diagnosis = AgentType::parse("diagnosis").unwrap();
    recorder.put_hours(&diagnosis, &day_of(start, 75.0, 75.0)).await.unwrap();

    let mut capped = ScalingPolicy::default_for(&detection);
    capped.max_replicas = 2;
    // The peak hour: an hour or two fits the route's time budget (in a debug build too).
    let request = |agent_type: &str, day: NaiveDate, policy: &ScalingPolicy| json!({"agent_type": agent_type, "day": day, "policy": policy, "from_hour": 9, "hours": 1});
    let answer = app.json(Method::POST, "/scaling/replay", &request("detection", yesterday, &capped)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["incidents"], 60 * 20, "{body}");
    assert_eq!((body["from_hour"].as_u64(), body["hours"].as_u64()), (Some(9), Some(1)));
    assert_eq!(body["history_hours"], 9, "the day's hours before the window go with it: {body}");
    assert_eq!(body["current_policy"], serde_json::to_value(ScalingPolicy::default_for(&detection)).unwrap());
    assert_eq!(body["proposed_policy"]["max_replicas"], 2);
    let runs = body["runs"].as_array().unwrap();
    assert_eq!(
        runs.iter().map(|r| r["label"].as_str().unwrap()).collect::<Vec<_>>(),
        ["policy in force", "proposed policy"]
    );
    let figure = |k: usize, name: &str| runs[k][name].as_f64().unwrap();
    // 40 in progress at the peak needs 3 replicas of 20 at 70 %: the cap saves replica-hours and
    // costs waits.
    assert!(figure(1, "replica_hours") < figure(0, "replica_hours"), "{body}");
    assert!(figure(1, "waited_over_maximum_share") > figure(0, "waited_over_maximum_share"), "{body}");
    // The window ends with the last minutes' work still in progress.
    assert!(figure(0, "incidents_completed") > 0.95 * body["incidents"].as_f64().unwrap(), "{body}");
    assert!(figure(1, "incidents_completed") < figure(0, "incidents_completed"), "{body}");
    // It changed nothing, so the audit trail has nothing of it.
    let audit = app.get("/audit").await;
    assert_eq!(audit.body["entries"].as_array().map(Vec::len), Some(0), "{}", audit.body);

    let day = |d: i64| clock.now().date_naive() + Duration::days(d);
    let default = ScalingPolicy::default_for(&detection);
    let mut inverted = default.clone();
    inverted.min_replicas = 5;
    inverted.max_replicas = 2;
    let mut unknown_field = serde_json::to_value(&default).unwrap();
    unknown_field["version"] = 3.into();
    let cases: [(&str, Value, StatusCode, Option<&str>); 8] = [
        ("no such type", request("nosuch", yesterday, &default), StatusCode::NOT_FOUND, None),
        ("no records that day", request("detection", day(-2), &default), StatusCode::NOT_FOUND, None),
        (
            "after today",
            request("detection", day(1), &default),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("day"),
        ),
        (
            "past the retention",
            request("detection", day(-36), &default),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("day"),
        ),
        (
            "a bad policy",
            request("detection", yesterday, &inverted),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("policy."),
        ),
        (
            "a field the policy has not",
            json!({"agent_type": "detection", "day": yesterday, "policy": unknown_field}),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "past the incident budget",
            json!({"agent_type": "diagnosis", "day": yesterday, "policy": default}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("day"),
        ),
        (
            "past the day's end",
            json!({"agent_type": "detection", "day": yesterday, "policy": default, "from_hour": 20, "hours": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("hours"),
        ),
    ];
    for (name, body, expected, field) in cases {
        let answer = app.json(Method::POST, "/scaling/replay", &body).await;
        assert_eq!(answer.status, expected, "{name}: {}", answer.body);
        assert_eq!(answer.content_type, "application/problem+json", "{name}");
        if let Some(field) = field {
            let named = answer.body["field"].as_str().or_else(|| answer.body["errors"][0]["field"].as_str());
            assert!(named.is_some_and(|f| f.starts_with(field)), "{name}: {}", answer.body);
        }
    }

    one_replay_at_a_time(app, yesterday, &capped).await;
}

/// One replay at a time in a process: a second, while the first runs, is told to retry.
async fn one_replay_at_a_time(app: common::App, yesterday: NaiveDate, capped: &ScalingPolicy) {
    let app = Arc::new(app);
    let first = {
        let app = Arc::clone(&app);
        let body = json!({"agent_type": "detection", "day": yesterday, "policy": capped.clone(), "from_hour": 8, "hours": 2});
        tokio::spawn(async move { app.json(Method::POST, "/scaling/replay", &body).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let second = app.json(Method::POST, "/scaling/replay", &peak(yesterday, capped)).await;
    assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS, "{}", second.body);
    assert!(second.retry_after.is_some());
    // (Done, or out of its time budget on a machine busy with other tests: either way it ran.)
    let first = first.await.unwrap();
    assert!(matches!(first.status, StatusCode::OK | StatusCode::UNPROCESSABLE_ENTITY), "{}", first.body);
    // And once it is done, the next one runs.
    let third = app.json(Method::POST, "/scaling/replay", &peak(yesterday, capped)).await;
    assert_eq!(third.status, StatusCode::OK, "{}", third.body);
}

fn peak(day: NaiveDate, policy: &ScalingPolicy) -> Value {
    json!({"agent_type": "detection", "day": day, "policy": policy, "from_hour": 9, "hours": 1})
}
