//! Concurrent evaluations of one agent type against the DynamoDB-API server: optimistic locking
//! serialises them, so nothing is lost and the end state is the one a serial run reaches. Fifty at
//! once is more than the scaler's own attempts absorb: an evaluation that keeps losing returns a
//! retryable error having changed nothing, and Lambda invokes it again, as the tasks here do.

use std::sync::Arc;

use shared::clock::{Clock, ManualClock};
use shared::domain::{AgentType, Region, ReplicaId, Severity};
use shared::scaling::actuator::RecordActuator;
use shared::scaling::cost_gate::CostGate;
use shared::scaling::records::AgentScalingState;
use shared::scaling::service::{Effect, Scaler, ScalingError, ScalingRequest};
use shared::scaling::{FleetState, ReplicaHeartbeat};
use shared::store::Store;

const EVALUATIONS: usize = 50;
/// Invocations of one event before it is given up (the test's bound, not Lambda's).
const LAMBDA_ATTEMPTS: u32 = 12;

fn scaler(store: Arc<dyn Store>) -> Scaler {
    Scaler::new(FleetState::new(store), Region::defaults(), CostGate::default(), Arc::new(RecordActuator))
}

fn request() -> ScalingRequest {
    ScalingRequest::operator(AgentType::parse("detection").unwrap(), Some(Severity::High), Effect::Apply)
}

/// Two busy detection replicas (19 of 20 each), so every evaluation wants more.
async fn busy(store: Arc<dyn Store>, clock: &ManualClock) {
    let fleet = FleetState::new(store);
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
        fleet.record_heartbeat(&beat.at(clock.now()), chrono::Duration::seconds(90)).await.unwrap();
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
    let clock = integration_tests::test_clock();
    let now = clock.now();

    let serial: Arc<dyn Store> =
        Arc::new(integration_tests::fresh_dynamo_store(&endpoint, clock.clone()).await);
    busy(serial.clone(), &clock).await;
    let s = scaler(serial.clone());
    for _ in 0..EVALUATIONS {
        s.evaluate(&request(), now).await.unwrap();
    }

    let concurrent: Arc<dyn Store> =
        Arc::new(integration_tests::fresh_dynamo_store(&endpoint, clock.clone()).await);
    busy(concurrent.clone(), &clock).await;
    let c = scaler(concurrent.clone());
    let tasks: Vec<_> = (0..EVALUATIONS)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                // Lambda's asynchronous invocation retries a failed event (twice by default; the
                // template's alarm path allows more through EventBridge): a few here, with backoff.
                for retry in 0..LAMBDA_ATTEMPTS {
                    match c.evaluate(&request(), now).await {
                        Err(e @ ScalingError::Contention) => {
                            assert!(e.is_retryable(), "a contended evaluation asks to be retried");
                            tokio::time::sleep(std::time::Duration::from_millis(20 << retry.min(5))).await;
                        }
                        other => return (other, retry),
                    }
                }
                (Err(ScalingError::Contention), LAMBDA_ATTEMPTS)
            })
        })
        .collect();
    let mut retried = 0;
    for t in tasks {
        let (outcome, retries) = t.await.unwrap();
        outcome.unwrap();
        retried += usize::from(retries > 0);
    }
    println!("{EVALUATIONS} concurrent evaluations: {retried} needed a retry");

    let (serial_state, serial_version) = final_state(serial).await;
    let (concurrent_state, concurrent_version) = final_state(concurrent).await;
    assert_eq!(concurrent_version, EVALUATIONS as u64, "every evaluation was applied exactly once");
    assert_eq!(serial_version, EVALUATIONS as u64);
    assert_eq!(concurrent_state, serial_state, "the end state is the serial run's");
    assert!(serial_state.desired_total > 2, "the evaluations did scale: {}", serial_state.desired_total);
}
