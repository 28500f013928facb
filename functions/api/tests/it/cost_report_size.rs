//! Issue 17, item 14: `GET /cost/report` fits Lambda's 6 MB response however large the stored
//! snapshots are: it answers the newest that fit in 4 MB of JSON and says it left some out.

use crate::common;

use std::sync::Arc;

use chrono::{DateTime, Duration};
use shared::clock::Clock;
use shared::config::Config;
use shared::store::{Condition, Item, Key, MemoryStore, Store};

#[tokio::test]
async fn the_report_keeps_inside_lambdas_response_limit() {
    let clock = integration_tests::test_clock();
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let state = api::AppState::new(store.clone(), clock.clone(), Config::default());
    let app = common::App { router: api::router(state.clone()), clock: clock.clone() };

    // A day of sweeps every 7 minutes, each with a thousand models' costs: about 7 MB in all.
    let mut report = state.sweeper.sweep(clock.now()).await.unwrap();
    for i in 0..1_000 {
        report.cost_by_model.insert(format!("provider.some-fine-tuned-model-{i:04}"), 0.123_456);
    }
    let start = clock.now() - Duration::minutes(7 * 200);
    for n in 0..200 {
        let at = start + Duration::minutes(7 * n);
        report.timestamp = at;
        let mut item = Item::from_record(Key::new("COST#SNAPSHOT", at.to_rfc3339()), &report).unwrap();
        item.attrs.insert("ttl".into(), (at + Duration::days(7)).timestamp().into());
        store.put(item, Condition::Always).await.unwrap();
    }

    let answer = app.get("/cost/report").await;
    assert_eq!(answer.status, axum::http::StatusCode::OK, "{:?}", answer.body);
    let bytes = serde_json::to_vec(&answer.body).unwrap().len();
    assert!(bytes <= 4 * 1024 * 1024, "{bytes} bytes of JSON");
    assert_eq!(answer.body["truncated"], true);
    let snapshots = answer.body["snapshots"].as_array().unwrap();
    assert!(snapshots.len() > 50 && snapshots.len() < 200, "{} snapshots", snapshots.len());
    let newest = |at: DateTime<chrono::Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    assert_eq!(snapshots[0]["timestamp"], newest(clock.now()), "the newest first: the real sweep");
    assert_eq!(snapshots[1]["timestamp"], newest(start + Duration::minutes(7 * 199)));

    // A smaller ask that fits is answered whole.
    let few = app.get("/cost/report?limit=10").await;
    assert_eq!(
        (few.body["snapshots"].as_array().unwrap().len(), &few.body["truncated"]),
        (10, &serde_json::json!(true))
    );
    let recent = app.get("/cost/report?hours=1&limit=200").await;
    assert_eq!(recent.body["truncated"], false, "nine sweeps in the last hour fit");
}
