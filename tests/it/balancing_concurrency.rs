//! Concurrent assignments and releases of one replica against the DynamoDB-API server: the
//! assigned and released counters are atomic adds and a release's outlier and EWMA update is
//! conditional on the version it read, so no assignment, release or failure is lost.

use std::sync::Arc;

use chrono::Duration;
use shared::balancing::Strategy;
use shared::balancing::assignments::{Assignments, ReleaseError, ReplicaLoad};
use shared::clock::Clock;
use shared::domain::{AgentType, Region, Replica, ReplicaId, Severity};
use shared::scaling::FleetState;
use shared::store::Store;

const CALLS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_releases_lose_no_outcome() {
    let Some(endpoint) = integration_tests::dynamodb_endpoint("concurrent assignments and releases") else {
        return;
    };
    let clock = integration_tests::test_clock();
    let now = clock.now();
    let store: Arc<dyn Store> =
        Arc::new(integration_tests::fresh_dynamo_store(&endpoint, clock.clone()).await);
    let agent_type = AgentType::parse("resolution").unwrap();
    let replica = Replica {
        replica_id: ReplicaId::parse("only").unwrap(),
        agent_type: agent_type.clone(),
        region: Region::parse("us-east-1").unwrap(),
        load: 0.0,
        capacity: 100,
        healthy: true,
        performance_score: 0.9,
        last_heartbeat: now,
        draining: false,
    };
    FleetState::new(store.clone()).record_heartbeat(&replica, Duration::minutes(5)).await.unwrap();

    // Each task is its own container: its own cache and balancer, one store.
    let assigned: Vec<_> = (0..CALLS)
        .map(|i| {
            let (store, agent_type) = (store.clone(), agent_type.clone());
            tokio::spawn(async move {
                Assignments::new(store, i as u64)
                    .assign(&agent_type, Severity::High, None, Strategy::LeastConnections, None, now)
                    .await
            })
        })
        .collect();
    for task in assigned {
        assert_eq!(task.await.unwrap().unwrap().replica_id, "only");
    }

    // All at once, every one a failure (the only replica is never ejected, so each adds one to
    // its consecutive failures). A release that lost the race to another reads again, so none
    // is lost.
    let released: Vec<_> = (0..CALLS)
        .map(|i| {
            let (store, agent_type) = (store.clone(), agent_type.clone());
            tokio::spawn(async move {
                let a = Assignments::new(store, 0);
                loop {
                    match a.release(&agent_type, "only", false, 0.1 * (i + 1) as f64, None, now).await {
                        Err(ReleaseError::Contended { .. }) => {}
                        other => return other,
                    }
                }
            })
        })
        .collect();
    for task in released {
        task.await.unwrap().unwrap();
    }
    let (replica, item) = FleetState::new(store.clone()).replica_items(&agent_type).await.unwrap().remove(0);
    let counters: ReplicaLoad = item.record().unwrap();
    assert_eq!((counters.assigned, counters.released), (CALLS as f64, CALLS as f64), "none lost");
    assert!(counters.in_progress(replica.load).abs() < f64::EPSILON, "every assignment released once");
    assert_eq!(item.attrs["consecutive_failures"], serde_json::json!(CALLS), "no failure lost");
    assert_eq!(item.version(), Some(CALLS as u64), "every release wrote once, in turn");
    let latency_ewma_s = item.attrs["latency_ewma_s"].as_f64().unwrap();
    assert!(
        (latency_ewma_s - 0.1 * CALLS as f64).abs() < 1e-9,
        "the peak latency was kept: {latency_ewma_s}"
    );
}
