//! Five hundred concurrent replica selections of one agent type against the DynamoDB-API server
//! (at most sixteen calls in flight, the test server answering one at a time),
//! from fifty containers (each its own replica-set cache and balancer), then every one released:
//! no assignment or release is lost, the per-minute incident counter counts all five hundred, and
//! every replica's work in progress is back to zero.

use std::sync::Arc;

use chrono::Duration;
use shared::balancing::Strategy;
use shared::balancing::assignments::{Assignments, ReleaseError, ReplicaLoad};
use shared::clock::Clock;
use shared::domain::{AgentType, Region, Replica, ReplicaId, Severity};
use shared::scaling::FleetState;
use shared::store::Store;
use tokio::sync::Semaphore;

const SELECTIONS: usize = 500;
const CONTAINERS: usize = 50;
const REPLICAS: usize = 20;
/// Calls in flight at once. The test server answers one request at a time, so beyond this many the
/// queue there outlasts the client's 5 s attempt timeout (DynamoDB itself has no such queue); each
/// release rewrites its replica's counters at the version it read, so more releases at once only
/// add lost races, each retried.
const IN_FLIGHT: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_concurrent_selections_lose_no_count_and_release_to_zero() {
    let Some(endpoint) = integration_tests::dynamodb_endpoint("500 concurrent selections") else {
        return;
    };
    let clock = integration_tests::test_clock();
    let now = clock.now();
    let store: Arc<dyn Store> =
        Arc::new(integration_tests::fresh_dynamo_store(&endpoint, clock.clone()).await);
    let agent_type = AgentType::parse("diagnosis").unwrap();
    let fleet = FleetState::new(store.clone());
    let regions = Region::defaults();
    for i in 0..REPLICAS {
        let replica = Replica {
            replica_id: ReplicaId::parse(&format!("r{i:02}")).unwrap(),
            agent_type: agent_type.clone(),
            region: regions[i % regions.len()].clone(),
            load: 0.0,
            capacity: 30,
            healthy: true,
            performance_score: 0.9,
            last_heartbeat: now,
            draining: false,
        };
        fleet.record_heartbeat(&replica, Duration::minutes(30)).await.unwrap();
    }

    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let containers: Vec<Assignments> =
        (0..CONTAINERS).map(|c| Assignments::new(store.clone(), c as u64)).collect();
    let selections: Vec<_> = (0..SELECTIONS)
        .map(|i| {
            let (container, agent_type) = (containers[i % CONTAINERS].clone(), agent_type.clone());
            let (region, in_flight) = (regions[i % regions.len()].clone(), in_flight.clone());
            tokio::spawn(async move {
                let _slot = in_flight.acquire_owned().await.unwrap();
                container
                    .assign(
                        &agent_type,
                        Severity::Medium,
                        Some(&region),
                        Strategy::LeastConnections,
                        None,
                        now,
                    )
                    .await
            })
        })
        .collect();
    let mut assigned = Vec::new();
    for task in selections {
        assigned.push(task.await.unwrap().unwrap().replica_id);
    }

    // Work in progress per replica: what it reported (nothing) plus assigned less released.
    let active = |fleet: FleetState, agent_type: AgentType| async move {
        fleet
            .replica_items(&agent_type)
            .await
            .unwrap()
            .into_iter()
            .map(|(r, item)| {
                let counters: ReplicaLoad = item.record().unwrap();
                (r.replica_id.to_string(), counters.in_progress(r.load))
            })
            .collect::<Vec<_>>()
    };
    let counted = active(fleet.clone(), agent_type.clone()).await;
    assert_eq!(
        counted.iter().map(|(_, n)| *n).sum::<f64>() as usize,
        SELECTIONS,
        "no assignment lost: {counted:?}"
    );
    for (id, n) in &counted {
        let picked = assigned.iter().filter(|a| *a == id).count();
        assert_eq!(*n as usize, picked, "{id}: its counter is the number of incidents it was given");
    }
    let per_minute =
        containers[0].incidents_per_minute(&agent_type, now + Duration::minutes(1)).await.unwrap();
    assert_eq!(per_minute as usize, SELECTIONS, "the minute's incident counter counts every one");

    let releases: Vec<_> = assigned
        .into_iter()
        .enumerate()
        .map(|(i, replica_id)| {
            let (container, agent_type, in_flight) =
                (containers[i % CONTAINERS].clone(), agent_type.clone(), in_flight.clone());
            tokio::spawn(async move {
                let _slot = in_flight.acquire_owned().await.unwrap();
                loop {
                    match container.release(&agent_type, &replica_id, true, 1.0, None, now).await {
                        Err(ReleaseError::Contended { .. }) => {}
                        other => return other,
                    }
                }
            })
        })
        .collect();
    for task in releases {
        task.await.unwrap().unwrap();
    }
    let after = active(fleet, agent_type).await;
    assert!(after.iter().all(|(_, n)| *n == 0.0), "every active count back to zero: {after:?}");
}
