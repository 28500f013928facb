//! Concurrent evaluations of one agent type against the DynamoDB-API server: optimistic locking
//! serialises them, so nothing is lost and the end state is the one a serial run reaches.

#![allow(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

use std::sync::Arc;

use chrono::DateTime;
use shared::clock::{Clock, ManualClock};
use shared::domain::{AgentType, Region, Severity};
use shared::scaling::FleetState;
use shared::scaling::actuator::RecordActuator;
use shared::scaling::cost_gate::CostGate;
use shared::scaling::records::AgentScalingState;
use shared::scaling::service::{Scaler, ScalingRequest};
use shared::store::Store;

const EVALUATIONS: usize = 20;

fn scaler(store: Arc<dyn Store>) -> Scaler {
    Scaler::new(FleetState::new(store), Region::defaults(), CostGate::default(), Arc::new(RecordActuator))
}

fn request() -> ScalingRequest {
    ScalingRequest {
        agent_type: AgentType::parse("detection").unwrap(),
        utilization: Some(0.95),
        severity: Severity::High,
        dry_run: false,
        alarm_at: None,
    }
}

async fn final_state(store: Arc<dyn Store>) -> (AgentScalingState, u64) {
    FleetState::new(store).scaling_state(&AgentType::parse("detection").unwrap()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_evaluations_lose_no_update() {
    let Some(endpoint) = integration_tests::dynamodb_endpoint("concurrent scaling evaluations") else {
        return;
    };
    let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
    let now = clock.now();

    let serial: Arc<dyn Store> =
        Arc::new(integration_tests::fresh_dynamo_store(&endpoint, clock.clone()).await);
    let s = scaler(serial.clone());
    for _ in 0..EVALUATIONS {
        s.evaluate(&request(), now).await.unwrap();
    }

    let concurrent: Arc<dyn Store> =
        Arc::new(integration_tests::fresh_dynamo_store(&endpoint, clock.clone()).await);
    let c = scaler(concurrent.clone());
    let tasks: Vec<_> = (0..EVALUATIONS)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.evaluate(&request(), now).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }

    let (serial_state, serial_version) = final_state(serial).await;
    let (concurrent_state, concurrent_version) = final_state(concurrent).await;
    assert_eq!(concurrent_version, EVALUATIONS as u64, "every evaluation was applied exactly once");
    assert_eq!(serial_version, EVALUATIONS as u64);
    assert_eq!(concurrent_state, serial_state, "the end state is the serial run's");
    assert!(serial_state.desired_total > 2, "the evaluations did scale: {}", serial_state.desired_total);
}
