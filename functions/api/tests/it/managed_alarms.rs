//! The managed alarms follow the policies through the API: an operator-defined type gets its
//! high and low alarms when its policy is created, moving a threshold updates them, deleting the
//! policy deletes them; and the type scales like any other. CloudWatch is an in-memory stand-in
//! for the `Alarms` port here (its AWS adapter's requests are tested against mocked clients in
//! `shared/tests/scaling_aws.rs`).

#![allow(clippy::float_cmp, reason = "alarm thresholds are rounded to exact values")]

use crate::common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use serde_json::json;
use shared::config::Config;
use shared::error::AdapterError;
use shared::runtime::Container;
use shared::scaling::alarms::{AlarmSettings, AlarmSpec, Alarms};
use shared::scaling::service::AlarmSync;
use shared::scaling::signals::LambdaAgents;
use shared::store::MemoryStore;

#[derive(Debug, Default)]
struct CloudWatch {
    alarms: Mutex<BTreeMap<String, AlarmSpec>>,
}

#[async_trait]
impl Alarms for CloudWatch {
    async fn list(&self, prefix: &str) -> Result<Vec<AlarmSpec>, AdapterError> {
        Ok(self.alarms.lock().unwrap().values().filter(|a| a.name.starts_with(prefix)).cloned().collect())
    }
    async fn put(&self, alarm: &AlarmSpec) -> Result<(), AdapterError> {
        self.alarms.lock().unwrap().insert(alarm.name.clone(), alarm.clone());
        Ok(())
    }
    async fn delete(&self, names: &[String]) -> Result<(), AdapterError> {
        let mut alarms = self.alarms.lock().unwrap();
        for name in names {
            alarms.remove(name);
        }
        Ok(())
    }
}

fn app(cloudwatch: Arc<CloudWatch>) -> common::App {
    let clock = integration_tests::test_clock();
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let settings = AlarmSettings {
        prefix: "commander-test-".into(),
        namespace: "IncidentCommander/test".into(),
        actions: vec!["arn:aws:lambda:us-east-1:123456789012:function:commander-test-scaler".into()],
        home_region: None,
        lambda_agents: LambdaAgents {
            function_pattern: "{agent_type}-agent".into(),
            qualifier: "live".into(),
            concurrency_per_replica: 1,
        },
    };
    let container = Container::bare(Config::default(), clock.clone(), store);
    let services = api::Services::of(&container);
    let scaler = services.scaler.with_alarms(AlarmSync { settings, cloudwatch });
    let state = api::AppState::assemble(container, api::Services { scaler, ..services });
    common::App { router: api::router(state), clock }
}

fn policy(up: f64, version: u64) -> serde_json::Value {
    json!({"min_replicas": 1, "max_replicas": 6, "target_utilization": 0.7, "scale_up_threshold": up,
           "scale_down_threshold": 0.3, "cooldown_period": 120, "capacity_per_replica": 10,
           "cost_per_replica_hour": 1.0, "version": version})
}

#[tokio::test]
async fn an_operator_defined_type_gets_its_alarms_scales_and_loses_them_with_its_policy() {
    let cloudwatch = Arc::new(CloudWatch::default());
    let app = app(cloudwatch.clone());
    let created = app.json(Method::PUT, "/scaling/policies/triage", &policy(0.8, 0)).await;
    assert_eq!(created.status, StatusCode::OK, "{:?}", created.body);
    let names = |cw: &CloudWatch| cw.alarms.lock().unwrap().keys().cloned().collect::<Vec<_>>();
    assert!(names(&cloudwatch).contains(&"commander-test-triage-utilization-high".to_owned()));
    assert_eq!(names(&cloudwatch).len(), 12, "the five builtins' and triage's: {:?}", names(&cloudwatch));
    let high = cloudwatch.alarms.lock().unwrap()["commander-test-triage-utilization-high"].clone();
    assert_eq!((high.threshold, high.evaluation_periods), (80.0, 3));
    assert_eq!(high.namespace, "IncidentCommander/test");
    let low = cloudwatch.alarms.lock().unwrap()["commander-test-triage-utilization-low"].clone();
    assert_eq!((low.threshold, low.evaluation_periods), (30.0, 2), "the cooldown of 120 s");

    let beat = json!({"agent_type": "triage", "replica_id": "t1", "region": "us-east-1", "load": 9.5,
                      "capacity": 10, "healthy": true, "performance_score": 0.9});
    assert_eq!(app.json(Method::POST, "/replicas/heartbeat", &beat).await.status, StatusCode::OK);
    let scaled = app.json(Method::POST, "/scaling/optimize", &json!({"agent_type": "triage"})).await;
    let decision = &scaled.body["decisions"][0];
    assert_eq!(
        (decision["current"].as_u64(), decision["desired"].as_u64()),
        (Some(1), Some(2)),
        "{decision}"
    );

    let moved = app.json(Method::PUT, "/scaling/policies/triage", &policy(0.9, 1)).await;
    assert_eq!(moved.status, StatusCode::OK);
    assert_eq!(cloudwatch.alarms.lock().unwrap()["commander-test-triage-utilization-high"].threshold, 90.0);

    let stale = app.send(Method::DELETE, "/scaling/policies/triage?version=1", None, Vec::new()).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{:?}", stale.body);
    let deleted = app.send(Method::DELETE, "/scaling/policies/triage?version=2", None, Vec::new()).await;
    assert_eq!(deleted.status, StatusCode::OK, "{:?}", deleted.body);
    assert_eq!(deleted.body["outcome"], "removed");
    assert!(names(&cloudwatch).iter().all(|n| !n.contains("triage")), "{:?}", names(&cloudwatch));
    assert_eq!(names(&cloudwatch).len(), 10);
    assert_eq!(app.get("/scaling/policies/triage").await.status, StatusCode::NOT_FOUND);
    let refused = app.json(Method::POST, "/replicas/heartbeat", &beat).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "the type is gone");
}

#[tokio::test]
async fn deleting_a_builtin_policy_resets_it_to_the_seed() {
    let cloudwatch = Arc::new(CloudWatch::default());
    let app = app(cloudwatch.clone());
    let mut changed = policy(0.9, 0);
    changed["capacity_per_replica"] = 20.into();
    assert_eq!(app.json(Method::PUT, "/scaling/policies/detection", &changed).await.status, StatusCode::OK);
    assert_eq!(
        cloudwatch.alarms.lock().unwrap()["commander-test-detection-utilization-high"].threshold,
        90.0
    );
    let reset = app.send(Method::DELETE, "/scaling/policies/detection?version=1", None, Vec::new()).await;
    assert_eq!(reset.body["outcome"], "reset", "{:?}", reset.body);
    let seed = app.get("/scaling/policies/detection").await.body;
    assert_eq!((seed["version"].as_u64(), seed["scale_up_threshold"].as_f64()), (Some(0), Some(0.8)));
    assert_eq!(
        cloudwatch.alarms.lock().unwrap()["commander-test-detection-utilization-high"].threshold,
        80.0
    );
    let missing = app.send(Method::DELETE, "/scaling/policies/nobody?version=1", None, Vec::new()).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let bad = app.send(Method::DELETE, "/scaling/policies/detection?version=x", None, Vec::new()).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}
